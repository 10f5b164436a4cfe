"""Each training setting is defined once, in `seqrnn.settings.TrainConfig`: the option of
`seqrnn train`, its default in --help, and what config.json holds all come from there."""

from __future__ import annotations

import dataclasses
import enum
import json
import re

import pytest

from cli.main import app, main
from seqrnn.settings import TrainConfig, flag_fields

pytestmark = pytest.mark.tf_only


def _default(item: dataclasses.Field):
    value = item.default_factory() if item.default is dataclasses.MISSING else item.default
    return value.value if isinstance(value, enum.Enum) else value


def test_every_field_is_an_option_with_the_fields_default_and_help(monkeypatch):
    import typer.main

    monkeypatch.setenv("COLUMNS", "250")  # one line per option
    command = typer.main.get_command(app).commands["train"]
    params = {param.name: param for param in command.params}
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, ["train", "--help"], terminal_width=250).output
    for item in flag_fields():
        param = params[item.name]
        default = param.default.value if isinstance(param.default, enum.Enum) else param.default
        assert default == _default(item), item.name
        flag = "--" + item.name.replace("_", "-")
        line = next(line for line in shown.splitlines() if re.search(rf"{flag}\s", line))
        shown_default = "(none)" if _default(item) is None else _default(item)
        assert f"[default: {shown_default}]" in line, line
        assert item.metadata["help"] in line, line


def test_config_json_holds_every_fields_default(tmp_path, monkeypatch, capsys):
    from seqrnn.training.loop import Summary, Trainer

    def start_only(self):  # the run's settings are written when it starts
        self._start()
        return Summary(step=0, loss=0.0, val_loss=None, seconds=0.0, metrics={})

    monkeypatch.setattr(Trainer, "train", start_only)
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--no-export"]) == 0
    saved = json.loads((run / "config.json").read_text(encoding="utf-8"))
    for item in dataclasses.fields(TrainConfig):
        assert saved[item.name] == _default(item), item.name
    assert set(saved) == {item.name for item in dataclasses.fields(TrainConfig)} | {"vocabulary"}


def test_a_setting_out_of_its_range_is_refused_by_its_flag(capsys):
    for flag, value, words in (
        ("--lr-decay", "2", "--lr-decay must lie in (0, 1], got 2.0"),
        ("--units", "0", "--units must be an integer >= 1, got 0"),
        ("--dropout", "1", "--dropout must lie in [0, 1), got 1.0"),
        ("--clip-norm", "-1", "--clip-norm must be >= 0 (0 turns it off), got -1.0"),
    ):
        assert main(["train", flag, value]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
