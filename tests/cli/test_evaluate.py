"""`seqrnn eval` and `seqrnn plot`: the task's metric, the curves, bad input."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from cli.main import main
from tests.training.helpers import TINY

pytestmark = pytest.mark.tf_only
runner = CliRunner()


def test_eval_prints_the_task_metric_and_plot_redraws_the_curves(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "adder", *TINY, "--steps", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["step"] == 4 and result["split"] == "test"
    assert 0.0 <= result["exact_match"] <= result["accuracy"] <= 1.0
    (out / "curves.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "curves.png")
    assert (out / "curves.png").stat().st_size > 1000
    # the run's own curves.png is redrawn when named; any other existing file is kept
    assert main(["plot", str(out), "--out", str(out / "curves.png")]) == 0
    kept = tmp_path / "mine.png"
    kept.write_bytes(b"mine")
    assert main(["plot", str(out), "--out", str(kept)]) == 2
    assert kept.read_bytes() == b"mine"


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "missing-run"], "no such run folder"),
        (["eval", ".", "--split", "train"], "Invalid value for '--split'"),
        (["plot", "missing-run"], "not a run folder"),
    ],
)
def test_eval_and_plot_refuse_bad_input_in_one_line(tmp_path, capsys, args, message):
    os.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
