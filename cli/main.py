"""The `seqrnn` application and its entry point.

Commands import TensorFlow and seqrnn inside their functions, so `seqrnn --help` and
`seqrnn --version` answer without loading either. Errors are handled here, once: a command
raises, `main` prints one red line on stderr and exits with 2 (usage) or 1 (failure);
`SEQRNN_DEBUG=1` shows the traceback instead.
"""

from __future__ import annotations

import inspect
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="seqrnn",
    help="Recurrent sequence models for Keras 3: vanilla RNN, LSTM, GRU and Phased LSTM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def reflow(text: str | None) -> str:
    """A help text with each paragraph on one line, for rich to wrap at the terminal's width
    (rich keeps the line breaks of a docstring and wraps the long lines again: ragged help)."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


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
        app.command(name=name, help=reflow(function.__doc__))(function)
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
    _stderr.print(f"[bold red]seqrnn: error:[/] {message}", markup=True)
    return code


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow with stderr muted: its C++ start-up lines (no CUDA here, CPU
    features) are printed before any log level applies and would bury our one-line messages.
    If the import fails, what it printed is shown after all."""
    if "tensorflow" in sys.modules:
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


def main(argv: list[str] | None = None) -> int:
    """Runs the app; returns (and, as a console script, exits with) the exit code."""
    choose_process_settings(os.environ)
    debug = os.environ.get("SEQRNN_DEBUG", "") not in ("", "0")
    if not debug:  # TensorFlow's C++ start-up chatter (no CUDA, CPU features) hides our output
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        args = sys.argv[1:] if argv is None else argv
        wants_help = any(a in ("--help", "-h", "--version") for a in args)
        if not wants_help and any(not a.startswith("-") for a in args) and _installed("tensorflow"):
            _import_tensorflow_quietly()  # every command uses TensorFlow (bench: where installed)
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
        code = _fail(f"{error.format_message()} (see '{command} --help')", error.exit_code)
    except ModuleNotFoundError as error:
        if debug or error.name not in ("tensorflow", "keras"):
            raise
        code = _fail(f"{error.name} is not installed; seqrnn needs it (pip install -e .)", 1)
    except Exception as error:
        from seqrnn.errors import SeqrnnError, UsageError

        if debug or not isinstance(error, (SeqrnnError, ValueError)):
            raise
        from seqrnn.training.loop import Interrupted

        if isinstance(error, Interrupted):
            code = _fail(str(error), 130)
        else:
            code = _fail(str(error), 2 if isinstance(error, (UsageError, ValueError)) else 1)
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code


_register_commands()

if __name__ == "__main__":
    main()
