"""The library's exception types.

The library never prints or exits: it raises these (or `ValueError` for bad arguments) and the
command line turns them into one line on stderr and an exit code.

Messages name settings as the library knows them (`batch_size`, `num_chunks`), never as flags:
an error lists the settings its message names in `settings`, and the command line writes each
as the flag its user typed (`--batch-size`, `--set num_chunks=N`).
"""


class SeqrnnError(Exception):
    """A failure the user can act on; the message says what happened and what to do.

    `settings`: the names of the settings the message mentions (words of the message)."""

    def __init__(self, message: str = "", *settings: str) -> None:
        super().__init__(message)
        self.settings = settings


class UsageError(SeqrnnError, ValueError):
    """The user asked for something that cannot be done as asked (exit code 2 on the CLI)."""


class SeqrnnWarning(UserWarning):
    """Something the user should know that did not stop the work (the command line prints it as
    one line on stderr); `settings` as for `SeqrnnError`."""

    def __init__(self, message: str = "", *settings: str) -> None:
        super().__init__(message)
        self.settings = settings


class Interrupted(SeqrnnError):
    """Training stopped by Ctrl-C (exit code 130 on the CLI); `run` is the folder to resume."""

    def __init__(self, message: str = "", run=None) -> None:
        super().__init__(message)
        self.run = run


class NonFinite(SeqrnnError):
    """The loss or the gradient norm became NaN or infinite."""
