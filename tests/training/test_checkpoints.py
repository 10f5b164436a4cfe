"""The best checkpoint: the lowest validation loss's weights, kept beside the latest through a
kill and a resume, and what model.keras, the export and `seqrnn eval` use by default; the
patience that stops a run which no longer improves."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cli.main import main
from seqrnn.errors import Interrupted
from seqrnn.export import read_marker
from seqrnn.restore import load_run
from seqrnn.settings import TrainConfig
from seqrnn.training import RunFolder, Trainer
from tests.training.helpers import metric_rows

pytestmark = pytest.mark.tf_only
# A learning rate high enough that the validation loss rises again before the last step.
BOUNCY = dict(
    task="adder", units=16, steps=40, eval_every=5,
    log_every=5, checkpoint_every=10, lr=0.2,
)  # fmt: skip


def train(out, resume=False, stop_at=None, **settings):
    def on_event(kind, data):
        if kind == "log" and data["step"] == stop_at:
            raise KeyboardInterrupt  # a second Ctrl-C: the last checkpoint stays, no new one

    run = RunFolder.open(out, resume=resume, force=False)
    try:
        return Trainer(TrainConfig(**{**BOUNCY, **settings}), run, resume, on_event).train()
    finally:
        run.unlock()


def lowest_validation(run) -> tuple[int, float]:
    rows = [(int(r["step"]), float(r["val_loss"])) for r in metric_rows(run) if r["val_loss"]]
    return min(rows, key=lambda row: row[1])


def test_eval_of_a_run_that_exports_its_last_weights_shows_its_best_beside_them(tmp_path, capsys):
    run = tmp_path / "run"
    train(run, export_weights="last")
    step, _ = lowest_validation(run)
    assert step < 40
    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["weights"], result["step"], result["best"]["step"]) == ("last", 40, step)
    assert main(["eval", str(run)]) == 0
    table = capsys.readouterr().out
    assert "last (step 40)" in table and f"best (step {step})" in table


def test_the_best_checkpoint_is_the_lowest_validation_and_every_command_uses_it(
    tmp_path, monkeypatch, capsys
):
    run = tmp_path / "run"
    summary = train(run)
    step, loss = lowest_validation(run)
    assert step < 40  # the loss rose after its best: best and last differ
    assert (summary.best_step, summary.best_val_loss) == (step, pytest.approx(loss, abs=1e-6))
    best, last = load_run(run, "best"), load_run(run, "last")
    assert (best.step, best.weights, last.step, last.weights) == (step, "best", 40, "last")
    for saved, want in zip(
        keras.models.load_model(run / "model.keras").get_weights(),
        best.model.get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(saved, want)  # model.keras holds the best weights

    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["weights"], result["step"], result["last"]["step"]) == ("best", step, 40)
    assert result["loss"] != result["last"]["loss"]
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(run), "--out", "best"]) == 0
    assert main(["export", str(run), "--out", "last", "--weights", "last"]) == 0
    assert (read_marker("best")["step"], read_marker("best")["weights"]) == (step, "best")
    assert (read_marker("last")["step"], read_marker("last")["weights"]) == (40, "last")


def test_the_best_checkpoint_survives_a_kill_and_a_resume(tmp_path):
    train(tmp_path / "whole", log_every=1)
    step, _ = lowest_validation(tmp_path / "whole")
    assert step % 10  # a best between two checkpoints: the resumed run starts before it
    with pytest.raises(Interrupted):
        train(tmp_path / "cut", stop_at=step + 2, log_every=1)
    assert load_run(tmp_path / "cut", "best").step == step
    train(tmp_path / "cut", resume=True, log_every=1)
    whole, cut = load_run(tmp_path / "whole", "best"), load_run(tmp_path / "cut", "best")
    assert cut.step == whole.step == step
    for a, b in zip(whole.model.get_weights(), cut.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_patience_stops_a_run_that_no_longer_improves_and_says_why(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "adder", "--units", "16"]
    args += ["--lr", "0.2", "--steps", "400", "--eval-every", "5", "--patience", "2"]
    assert main([*args, "--out", str(run), "--no-export"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    validations = [
        (int(r["step"]), float(r["val_loss"])) for r in metric_rows(run) if r["val_loss"]
    ]
    best_step, best = lowest_validation(run)
    after = [loss for s, loss in validations if s > best_step]
    assert len(after) == 2 and min(after) >= best  # two validations without a lower loss
    assert result["step"] == validations[-1][0] < 400 and result["best_step"] == best_step
    assert f"stopped at step {result['step']}: no lower validation loss in 2 validations" in (
        captured.err
    )
    rows = (run / "metrics.csv").read_text(encoding="utf-8")
    assert main(["train", "--resume", str(run), "--no-export"]) == 0  # its patience is spent
    assert (run / "metrics.csv").read_text(encoding="utf-8") == rows  # no step trained again
    assert f"stopped at step {result['step']}" in capsys.readouterr().err


def test_patience_without_a_validation_to_count_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    command = ["train", "--steps", "100", "--eval-every", "200", "--patience", "2"]
    assert main([*command, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--patience counts validations" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
