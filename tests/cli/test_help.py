"""Every command's help: examples (the README's among them), words for values, defaults."""

from __future__ import annotations

import dataclasses
import re

import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from cli.main import app, main
from tests.conftest import ROOT

runner = CliRunner()
COMMANDS = [
    ["train"],
    ["eval"],
    ["plot"],
    ["gradcheck"],
    ["export"],
    ["sample"],
    ["tasks"],
    ["bench"],
    ["experiment"],
    ["data", "fetch"],
]


def readme_examples() -> dict[str, str]:
    """The example of each command in the README's table of commands (its last column)."""
    examples = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`seqrnn ") and cells[-1].startswith("`"):
            name = cells[0].strip("`").split()[1]
            if not name.startswith("-"):
                examples[name] = cells[-1].strip("`")
    return examples


def help_text(command: list[str]) -> str:
    result = runner.invoke(app, [*command, "--help"], terminal_width=250)
    assert result.exit_code == 0, result.output
    return result.stdout


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_ends_with_examples_that_include_the_readmes(command):
    text = help_text(command)
    assert "Examples:" in text
    examples = text.split("Examples:")[1]
    assert examples.strip().startswith("seqrnn " + " ".join(command))
    name = command[0]
    assert name in readme_examples(), f"the README's table has no row for seqrnn {name}"
    assert flat(readme_examples()[name]) in flat(examples)


def test_the_readme_shows_every_command():
    assert {command[0] for command in COMMANDS} <= set(readme_examples())


@pytest.mark.parametrize("command", [[], ["data"], *COMMANDS], ids=" ".join)
def test_values_are_words_and_flags_take_none(command):
    text = help_text(command)
    assert not re.search(r"<(int|str|float|bool|path|list\[[a-z]+\])>", text), text
    assert "{" not in text.split("\n\n")[0] + text.split("Usage:")[1].splitlines()[0]


@pytest.mark.parametrize("command", [[], ["data"]], ids=["seqrnn", "data"])
def test_a_group_without_its_command_shows_its_help_and_no_empty_error(command, capsys):
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert "Usage: seqrnn" in out and err == ""


def click_command(command: list[str]):
    group = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]
    return group


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_option_that_takes_a_value_shows_its_default(command):
    for param in click_command(command).params:
        if isinstance(param, TyperOption) and not param.is_flag:
            assert param.default is not None or isinstance(param.show_default, str), param.name
            assert param.show_default is not False, param.name


def test_the_text_tasks_options_point_to_the_tasks_own_defaults(capsys):
    """The text task defines its defaults once: train's help names where they are shown (no
    copy of the value that could disagree), and `seqrnn tasks text` shows the task's own."""
    from seqrnn.tasks import TextTask

    params = {p.name: p for p in click_command(["train"]).params}
    for name in ("mode", "seq_len", "val_chars"):
        assert params[name].default is None
        assert "seqrnn tasks text" in params[name].show_default
    assert main(["tasks", "text"]) == 0
    shown = capsys.readouterr().out
    for item in dataclasses.fields(TextTask):
        if item.name in ("mode", "seq_len"):
            assert re.search(rf"{item.name}\s+{item.default}\s", shown), shown


def test_tasks_name_lists_the_settings_with_defaults_and_meanings(capsys):
    from cli.main import main

    assert main(["tasks", "adder"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("adder: ")
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {"train_digits": "1..5", "test_digits": "1..100", "num_eval_batches": "10"}
