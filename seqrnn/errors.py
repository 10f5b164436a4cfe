"""The library's exception types.

The library never prints or exits: it raises these (or `ValueError` for bad arguments) and the
command line turns them into one line on stderr and an exit code.
"""


class SeqrnnError(Exception):
    """A failure the user can act on; the message says what happened and what to do."""


class UsageError(SeqrnnError, ValueError):
    """The user asked for something that cannot be done as asked (exit code 2 on the CLI)."""


class SeqrnnWarning(UserWarning):
    """Something the user should know that did not stop the work (the command line prints it as
    one line on stderr)."""


class Interrupted(SeqrnnError):
    """Training stopped by Ctrl-C after saving a checkpoint (exit code 130 on the CLI)."""


class NonFinite(SeqrnnError):
    """The loss or the gradient norm became NaN or infinite."""
