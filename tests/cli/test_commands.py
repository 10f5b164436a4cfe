"""Every command added with the training loop, through Typer's CliRunner: one success each and
a bad input that Typer itself refuses (exit 2, usage shown)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app, main

pytestmark = pytest.mark.tf_only
runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "ndfa", "--units", "6", "--embedding-dim", "3", "--batch-size", "4"]
    assert main([*args, "--steps", "3", "--no-export", "--out", str(out)]) == 0
    return out


def test_eval_plot_export_and_sample_succeed(run, tmp_path):
    result = runner.invoke(app, ["eval", str(run), "--json", "--samples", "5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 3
    result = runner.invoke(app, ["plot", str(run), "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 0 and (tmp_path / "c.png").exists()
    result = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "model")])
    assert result.exit_code == 0 and (tmp_path / "model" / "saved_model.pb").exists()
    result = runner.invoke(app, ["sample", str(tmp_path / "model"), "--num-samples", "2"])
    assert result.exit_code == 0 and "--- temperature 1, sample 2 ---" in result.stdout
    last = tmp_path / "last"
    result = runner.invoke(app, ["export", str(run), "--out", str(last), "--weights", "last"])
    assert (
        result.exit_code == 0
        and json.loads((last / "assets" / "seqrnn.json").read_text())["weights"] == "last"
    )


def test_train_with_a_schedule_epochs_and_patience_succeeds(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("".join(chr(97 + (i * 5) % 26) for i in range(1500)), encoding="utf-8")
    args = ["train", "text", "--data", str(text), "--units", "6", "--embedding-dim", "3"]
    args += ["--batch-size", "4", "--epochs", "1", "--schedule", "cosine", "--warmup-steps", "2"]
    args += ["--eval-every", "4", "--patience", "3", "--export-weights", "last", "--no-export"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["best_step"] is not None and summary["step"] >= 4


def test_gradcheck_succeeds():
    result = runner.invoke(app, ["gradcheck", "--cell", "vanilla", "--seq-lens", "3"])
    assert result.exit_code == 0, result.output
    assert "vanilla (fused path)" in result.stdout and "pass" in result.stdout
    result = runner.invoke(
        app, ["gradcheck", "--cell", "gru", "--seq-lens", "3", "--path", "per-step"]
    )
    assert result.exit_code == 0, result.output
    assert "gru (per-step path)" in result.stdout


def test_gradcheck_refuses_an_unknown_path(capsys):
    assert main(["gradcheck", "--path", "diagonal"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown path 'diagonal'" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["eval"],
        ["plot"],
        ["export"],
        ["sample"],
        ["sample", ".", "--length", "many"],
        ["gradcheck", "--units", "five"],
        ["experiment"],
        ["bench", "--units", "many"],
        ["eval", ".", "--samples", "1.5"],
        ["train", "--schedule", "linear"],
        ["train", "--epochs", "two"],
        ["train", "--export-weights", "middle"],
        ["export", ".", "--weights", "middle"],
    ],
)
def test_typer_refuses_malformed_commands_with_exit_2(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert (
        "Usage" in result.output or "Invalid value" in result.output or "Missing" in result.output
    )
