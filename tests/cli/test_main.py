"""The command line: version, help, lazy imports and the one place errors are turned into lines."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

import seqrnn
from cli.main import app, main
from seqrnn.errors import SeqrnnError, UsageError
from tests.conftest import ROOT, run_python

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"seqrnn {seqrnn.__version__}"


def test_help_lists_the_options():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--version" in result.stdout and "Recurrent sequence models" in result.stdout


@pytest.mark.parametrize("command", ["train", "gradcheck", "bench", "experiment", "sample"])
def test_command_help_is_wrapped_to_the_terminal(command):
    """At 80 columns every line of a help paragraph but its last is filled (the docstrings'
    own line breaks used to survive rich's wrapping: lines of 20 characters between full ones)."""
    result = runner.invoke(app, [command, "--help"], terminal_width=80)
    assert result.exit_code == 0
    paragraphs: list[list[str]] = [[]]
    for line in result.stdout.split("╭")[0].splitlines():  # the text above the option boxes
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [p for p in paragraphs if p and not p[0].startswith("Usage:")]
    assert paragraphs
    for lines in paragraphs:
        assert all(len(line) > 60 for line in lines[:-1]), lines


def test_help_and_version_do_not_import_tensorflow_or_keras():
    code = (
        "import sys\n"
        "from cli.main import main\n"
        "code = main(['--version'])\n"
        "assert code == 0, code\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'seqrnn') if m in sys.modules))"
    )
    result = run_python(code, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_option_is_one_line_and_exit_2(capsys):
    assert main(["--no-such-option"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "No such option: --no-such-option" in lines[0] and "seqrnn --help" in lines[0]


@pytest.fixture
def failing_command():
    """Adds a command that raises what it is told to, and removes it afterwards."""

    def fail(kind: str) -> None:
        errors = {
            "failure": SeqrnnError("the run folder runs/x is locked by process 12; wait for it"),
            "usage": UsageError("--length must be >= 0, got -1; pass a non-negative length"),
            "value": ValueError("Received an invalid value for argument units, got 0."),
            "bug": RuntimeError("an unexpected bug"),
        }
        raise errors[kind]

    app.command("fail")(fail)
    yield
    app.registered_commands.pop()


@pytest.mark.parametrize(
    "kind, code, text",
    [
        ("failure", 1, "locked by process 12"),
        ("usage", 2, "--length must be >= 0"),
        ("value", 2, "argument units"),
    ],
)
def test_errors_become_one_line_on_stderr(failing_command, capsys, monkeypatch, kind, code, text):
    monkeypatch.delenv("SEQRNN_DEBUG", raising=False)
    assert main(["fail", kind]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqrnn: error:") and text in lines[0]


def test_debug_shows_the_traceback(failing_command, monkeypatch):
    monkeypatch.setenv("SEQRNN_DEBUG", "1")
    with pytest.raises(SeqrnnError):
        main(["fail", "failure"])


def test_bugs_are_not_hidden(failing_command, monkeypatch):
    monkeypatch.delenv("SEQRNN_DEBUG", raising=False)
    with pytest.raises(RuntimeError):
        main(["fail", "bug"])


def test_typer_exit_codes_pass_through(monkeypatch):
    def stop() -> None:
        raise typer.Exit(3)

    app.command("stop")(stop)
    try:
        assert main(["stop"]) == 3
    finally:
        app.registered_commands.pop()


@pytest.mark.parametrize(
    ("command", "backend", "runs_on", "warned"),
    [
        ("train", "jax", "tensorflow", True),
        ("sample", "torch", "tensorflow", True),
        ("gradcheck", "tensorflow", "tensorflow", False),
        ("eval", None, None, False),  # unset: Keras' default, TensorFlow
        ("bench", "jax", "jax", False),  # each backend in a process of its own
        ("tasks", "torch", "torch", False),
    ],
)
def test_the_commands_that_need_tensorflow_run_on_it_whatever_keras_backend_says(
    command, backend, runs_on, warned
):
    from cli.main import run_on_tensorflow

    environ = {} if backend is None else {"KERAS_BACKEND": backend}
    note = run_on_tensorflow(command, environ)
    assert environ.get("KERAS_BACKEND") == runs_on
    assert (note is not None) == warned
    if warned:
        assert note.startswith(f"seqrnn {command} runs on TensorFlow: KERAS_BACKEND={backend} ")


def test_a_jax_users_environment_still_runs_a_command(tmp_path):
    # Before: a traceback ("Cannot convert a symbolic tf.Tensor to a numpy array") and exit 1.
    code = (
        "import os, sys; os.environ['KERAS_BACKEND'] = 'jax'; from cli.main import main; "
        "sys.exit(main(['gradcheck', '--cell', 'vanilla', '--seq-lens', '4', '--units', '3']))"
    )
    result = run_python(code, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("seqrnn: warning: seqrnn gradcheck runs on TensorFlow") == 1
    assert "pass" in result.stdout
