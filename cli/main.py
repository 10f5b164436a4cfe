"""The `seqrnn` application and its entry point.

Commands import TensorFlow and seqrnn inside their functions, so `seqrnn --help` and
`seqrnn --version` answer without loading either. Errors are handled here, once: a command
raises, `main` prints one red line on stderr and exits with 2 (usage) or 1 (failure);
`SEQRNN_DEBUG=1` shows the traceback instead.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cli.help import Command, Group, split_examples

app = typer.Typer(
    name="seqrnn",
    help="Recurrent sequence models for Keras 3: vanilla RNN, LSTM, GRU and Phased LSTM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,
)

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)
# The command this process runs (its flags name the settings) and the words typed after it.
_running: dict = {"command": "", "typed": ()}


def _register_commands() -> None:
    from cli import bench, data, evaluate, experiment, export, gradcheck, tasks, train

    commands = [
        (train.train, None),
        (evaluate.evaluate, "eval"),
        (evaluate.plot, None),
        (gradcheck.gradcheck, None),
        (export.export, None),
        (export.sample, None),
        (tasks.tasks, None),
        (bench.bench, None),
        (experiment.experiment, None),
    ]
    for function, name in commands:
        help_text, examples = split_examples(function.__doc__)
        app.command(name=name, help=help_text, epilog=examples, cls=Command)(function)
    help_text, examples = split_examples(data.fetch.__doc__)
    data.app.command(help=help_text, epilog=examples, cls=Command)(data.fetch)
    app.add_typer(data.app, name="data")


def _package_version() -> str:
    try:
        return version("seqrnn")
    except PackageNotFoundError:
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"seqrnn {_package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Recurrent sequence models for Keras 3: vanilla RNN, LSTM, GRU and Phased LSTM."""


def _fail(message: str, code: int) -> int:
    _stderr.print(f"[bold red]seqrnn: error:[/] {escape(message)}", markup=True)
    return code


# What to do about an operating-system error, by errno; the path comes first in the line.
_OS_ADVICE = {
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose a path whose folders "
    "are folders",
    errno.EISDIR: "is a folder, not a file; give the path of a file",
    errno.EACCES: "permission denied; choose a place you may write to (or read from), or "
    "change its permissions",
    errno.EPERM: "operation not permitted; choose a place you may write to, or change its "
    "permissions",
    errno.EROFS: "the file system is read-only; choose a place on a writable one",
    errno.ENOSPC: "no space left on the device; free some space or write somewhere else",
    errno.EDQUOT: "disk quota exceeded; free some space or write somewhere else",
    errno.ENOENT: "no such file or folder; check the path",
    errno.EEXIST: "already exists; choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ELOOP: "too many symbolic links; check the path",
    errno.ENXIO: "not a regular file (a device or a FIFO with no writer); give a regular file",
    errno.EIO: "input/output error; the disk may be failing, try another place",
}


def describe_os_error(error: OSError) -> str:
    """One line for an operating-system error: the path, what went wrong, what to do."""
    advice = _OS_ADVICE.get(error.errno) or (error.strerror or str(error)).rstrip(".").lower()
    path = error.filename if error.filename is not None else None
    if path is None:
        return f"{advice} ({error.strerror or error})" if error.errno in _OS_ADVICE else advice
    if error.filename2 is not None:
        path = f"{path} -> {error.filename2}"
    return f"{path}: {advice}"


def _describe_tensorflow_error(error: Exception) -> str | None:
    """One line for TensorFlow's file-system errors (writing checkpoints, summaries, a
    SavedModel into a place that refuses it); None for any other error, which is a bug."""
    import tensorflow as tf

    if not isinstance(error, tf.errors.OpError):
        return None
    message = (error.message or str(error)).strip().splitlines()[0]
    message = re.sub(r"^\{\{[^}]*\}\}\s*", "", message)  # {{function_node ...}}
    lowered = message.lower()
    for words, code in (
        ("permission denied", errno.EACCES),
        ("read-only file system", errno.EROFS),
        ("no space left", errno.ENOSPC),
        ("not a directory", errno.ENOTDIR),
    ):
        if words in lowered:
            return f"{message.split(';')[0]}: {_OS_ADVICE[code]}"
    if isinstance(error, tf.errors.PermissionDeniedError):
        return f"{message}: {_OS_ADVICE[errno.EACCES]}"
    if isinstance(error, tf.errors.DataLossError):
        return f"a file is damaged ({message}); restore it or start again"
    return None


def flag_for(setting: str, command: str) -> str:
    """The flag that sets the library's `setting` in `command`: in `seqrnn train` a field of
    TrainConfig is its own option, the text task's path is --data, and any other task setting
    is --set KEY; elsewhere a setting is the option of its name."""
    option = "--" + setting.replace("_", "-")
    if command != "train":
        return option
    from cli.settings import library_settings
    from cli.train import TEXT_OPTIONS

    by_setting = {key: name for name, key in TEXT_OPTIONS.items()}
    if setting in by_setting:
        return "--" + by_setting[setting].replace("_", "-")
    known = {item.name for item in library_settings().flag_fields()}
    known |= {"out", "resume", "force", "export", "cpu_devices"}
    return option if setting in known else f"--set {setting}"


def typed_on_command_line(ctx, name: str) -> bool:
    """Whether the user gave the option (or argument) `name` on the command line."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def with_flags(message: str, settings, command: str, typed=()) -> str:
    """`message` with each of the library's `settings` it names written as `command`'s flag.

    Only whole words are rewritten, never inside a path (`runs/out`, `seq_len.txt`) nor a
    value the user `typed` as a word of its own (a folder typed as `out` stays `out`)."""
    kept = sorted((t for t in typed if t and not t.startswith("-") and t in message), key=len)
    # Masks of private-use characters: no typed word (a number, say) can match inside one.
    masks = {f"\ue000{chr(0xE100 + i)}\ue000": token for i, token in enumerate(reversed(kept))}
    for mask, token in masks.items():
        message = re.sub(rf"(?<!\w){re.escape(token)}(?!\w)", mask, message)
    for setting in settings or ():
        flag = flag_for(setting, command)
        pattern = rf"(?<![\w\-=/.]){re.escape(setting)}(?![\w\-/]|\.\w)"
        message = re.sub(pattern, lambda match, flag=flag: flag, message)
    for mask, token in masks.items():
        message = message.replace(mask, token)
    return message


def _command(args: list[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with stderr muted: its C++ start-up lines (no CUDA here, CPU
    features) are printed before any log level applies and would bury our one-line messages.
    If the import fails, what it printed is shown after all."""
    if "tensorflow" in sys.modules:
        return
    if os.environ.get("SEQRNN_DEBUG", "") not in ("", "0"):
        import tensorflow  # what it prints is shown, as debugging wants

        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def choose_process_settings(environ: dict[str, str]) -> None:
    """The settings of a process seqrnn owns (the command line), unless `environ` has its own.

    TensorFlow's CPU memory comes from its BFC allocator, which keeps freed buffers for reuse: the
    default allocator gives large buffers back to the system, and each training step then faults
    their pages in again. In alternating `seqrnn bench` runs on a 2-core AMD EPYC the LSTM step
    went from 159-184 to 144-149 ms and the GRU's from 149-165 to 112-125 ms (on a Xeon: LSTM
    139-152 -> 126-129 ms). TensorFlow reads it when it allocates its first tensor. Importing
    the library sets nothing: a library user's program chooses for itself (README: "The fused
    sequence path").
    """
    environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    if "KERAS_BACKEND" not in environ and not _installed("tensorflow"):
        # `seqrnn bench --backend jax` on a machine with JAX and no TensorFlow (a GPU machine):
        # Keras must load on some backend before the bench starts its processes.
        environ["KERAS_BACKEND"] = next(
            (b for b in ("jax", "torch") if _installed(b)), "tensorflow"
        )


# The commands that run on TensorFlow whatever Keras backend the environment names: training is a
# GradientTape loop under tf.distribute, checkpoints are tf.train.Checkpoints, exports
# SavedModels. (`bench` runs each backend in a process of its own; plot, tasks and data load no
# model.)
TENSORFLOW_COMMANDS = ("train", "eval", "sample", "export", "gradcheck", "experiment")


def run_on_tensorflow(command: str, environ: dict[str, str]) -> str | None:
    """Points Keras at TensorFlow for `command` when it needs it and the environment names
    another backend (a JAX or PyTorch user's KERAS_BACKEND); returns the warning to show then."""
    backend = environ.get("KERAS_BACKEND", "tensorflow")
    if command not in TENSORFLOW_COMMANDS or backend == "tensorflow":
        return None
    if not _installed("tensorflow"):
        return None  # the command says that TensorFlow is missing
    environ["KERAS_BACKEND"] = "tensorflow"
    return (
        f"seqrnn {command} runs on TensorFlow: KERAS_BACKEND={backend} applies to your own "
        f"Keras programs, not here (seqrnn bench --backend {backend} measures the layers on it)."
    )


def _show_warnings() -> None:
    """The library's warnings (`SeqrnnWarning`: a damaged checkpoint skipped, ...) as one line
    on stderr; other warnings as Python shows them."""
    import warnings

    shown = warnings.showwarning
    if getattr(shown, "seqrnn", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        # By name: importing seqrnn.errors would import seqrnn (Keras) for `seqrnn --help`.
        if any(c.__module__ == "seqrnn.errors" for c in category.__mro__):
            settings = getattr(message, "settings", ())
            text = with_flags(str(message), settings, _running["command"], _running["typed"])
            _stderr.print(f"[bold yellow]seqrnn: warning:[/] {escape(text)}", markup=True)
        else:
            shown(message, category, filename, lineno, file, line)

    show.seqrnn = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Runs the app; returns (and, as a console script, exits with) the exit code."""
    choose_process_settings(os.environ)
    _show_warnings()
    debug = os.environ.get("SEQRNN_DEBUG", "") not in ("", "0")
    args = sys.argv[1:] if argv is None else argv
    _running["command"] = command = _command(args)
    _running["typed"] = tuple(args)
    wants_help = any(a in ("--help", "-h", "--version") for a in args)
    if not wants_help and (note := run_on_tensorflow(command, os.environ)):
        _stderr.print(f"[bold yellow]seqrnn: warning:[/] {escape(note)}", markup=True)
    if not debug:  # TensorFlow's C++ start-up chatter (no CUDA, CPU features) hides our output
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        runs = not wants_help and any(not a.startswith("-") for a in args)
        # Every command uses TensorFlow (bench: where installed); train first checks what
        # it can without it, and imports it itself.
        if runs and command != "train" and _installed("tensorflow"):
            import_tensorflow_quietly()
    try:
        result = app(args=argv, prog_name="seqrnn", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Abort:
        code = _fail("interrupted.", 130)
    except typer.TyperException as error:  # usage errors found while parsing the command line
        if debug:
            raise
        ctx = getattr(error, "ctx", None)
        command = ctx.command_path if ctx is not None else "seqrnn"
        message = error.format_message()
        if message:
            code = _fail(f"{message} (see '{command} --help')", error.exit_code)
        else:  # no command given: the help was shown, and an empty error line would follow
            code = error.exit_code
    except ModuleNotFoundError as error:
        if debug or error.name not in ("tensorflow", "keras"):
            raise
        code = _fail(f"{error.name} is not installed; seqrnn needs it (pip install -e .)", 1)
    except OSError as error:
        if debug:
            raise
        code = _fail(describe_os_error(error), 1)
    except Exception as error:
        from seqrnn.errors import SeqrnnError, UsageError

        if debug:
            raise
        if not isinstance(error, (SeqrnnError, ValueError)):
            line = _describe_tensorflow_error(error) if "tensorflow" in sys.modules else None
            if line is None:
                raise
            error = SeqrnnError(line)
        from seqrnn.errors import Interrupted

        message = with_flags(str(error), getattr(error, "settings", ()), command, tuple(args))
        if isinstance(error, Interrupted):
            if error.run is not None:
                message += f"; continue with seqrnn train --resume {error.run}"
            code = _fail(message, 130)
        else:
            code = _fail(message, 2 if isinstance(error, (UsageError, ValueError)) else 1)
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code


_register_commands()

if __name__ == "__main__":
    main()
