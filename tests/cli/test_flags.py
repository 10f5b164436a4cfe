"""The library names settings, the command line names flags: no message the library raises
or warns holds a flag, and the CLI writes each setting an error names as the flag its user
typed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cli.main import flag_for, main, with_flags

PACKAGE = Path(__file__).resolve().parents[2] / "seqrnn"
FLAG = re.compile(r"--[a-z]")


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _messages(tree: ast.AST):
    """(line, text) of every string in what the library raises or warns."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            yield from ((node.lineno, text) for text in _strings(node.exc))
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("warn"):
            yield from ((node.lineno, text) for text in _strings(node))


def test_no_library_message_names_a_flag():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{path.name}:{line}: {text!r}" for line, text in _messages(tree) if FLAG.search(text)
        ]
        # and no string of the package starts with a flag (`grep '"--' seqrnn`)
        found += [f"{path.name}: {text!r}" for text in _strings(tree) if text.startswith("--")]
    assert not found, "\n".join(found)


def test_the_scan_sees_raised_and_warned_messages():
    tree = ast.parse(
        "def f(x):\n"
        "    warnings.warn(SeqrnnWarning(f'lower --units {x}'))\n"
        "    raise UsageError(f'got {x}; lower --lr', 'lr')\n"
    )
    assert sorted(text for _, text in _messages(tree) if FLAG.search(text)) == [
        "; lower --lr",
        "lower --units ",
    ]


@pytest.mark.parametrize(
    ("setting", "command", "flag"),
    [
        ("batch_size", "train", "--batch-size"),
        ("path", "train", "--data"),
        ("seq_len", "train", "--seq-len"),
        ("num_chunks", "train", "--set num_chunks"),
        ("length", "train", "--set length"),  # the palindrome's setting
        ("resume", "train", "--resume"),
        ("length", "sample", "--length"),
        ("num_samples", "sample", "--num-samples"),
        ("eps", "gradcheck", "--eps"),
    ],
)
def test_each_setting_is_written_as_the_flag_of_its_command(setting, command, flag):
    assert flag_for(setting, command) == flag


def test_paths_and_typed_values_are_never_rewritten():
    typed = ("train", "--out", "my_run")
    assert with_flags("my_run exists; choose another out", ("out",), "train", typed) == (
        "my_run exists; choose another --out"
    )
    # A value typed as the very word of a setting stays as typed, wherever it stands.
    assert with_flags("out exists; choose another out", ("out",), "train", ("out",)) == (
        "out exists; choose another out"
    )
    assert with_flags("runs/out is a file; lower seq_len.", ("out", "seq_len"), "train") == (
        "runs/out is a file; lower --seq-len."
    )
    assert with_flags("data/seq_len.txt: lower seq_len", ("seq_len",), "train") == (
        "data/seq_len.txt: lower --seq-len"
    )
    # Several typed numbers, one a digit of the mask of another: each comes back as typed.
    message = "top_p must lie in (0, 1] (1 keeps every token), got 0.0; 10 or 01"
    typed = ("sample", "run", "--top-p", "0", "--top-k", "1", "--seed", "10", "01")
    assert with_flags(message, ("top_p",), "sample", typed) == message.replace("top_p", "--top-p")


def test_only_the_named_settings_are_rewritten_and_only_as_words():
    message = "batch_size 64 with seq_len 25 is too big; lower batch_size (or units)"
    assert with_flags(message, ("batch_size",), "train") == (
        "--batch-size 64 with seq_len 25 is too big; lower --batch-size (or units)"
    )
    assert with_flags("max_batch_size too small", ("batch_size",), "train") == (
        "max_batch_size too small"
    )


@pytest.mark.tf_only
def test_a_task_setting_in_an_error_reads_as_set(tmp_path, capsys):
    text = tmp_path / "short.txt"
    text.write_text("abcdefghij" * 30, encoding="utf-8")
    code = main(
        ["train", "text", "--data", str(text), "--mode", "chunks", "--set", "num_chunks=10000"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "lower --set num_chunks" in err and len(err.strip().splitlines()) == 1, err
