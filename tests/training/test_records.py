"""What a run records: the seeds' smooth loss, and the metrics columns of each task."""

from __future__ import annotations

import csv

import pytest

from seqrnn.tasks import make_task
from seqrnn.training.records import Recorder, smooth_loss
from seqrnn.training.runs import METRICS, RunFolder


def test_smooth_loss_is_the_seeds_formula():
    smooth = smooth_loss(None, 100.0)
    assert smooth == 100.0
    assert smooth_loss(smooth, 50.0) == pytest.approx(0.999 * 100 + 0.001 * 50)


@pytest.mark.tf_only
@pytest.mark.parametrize(("task", "metric"), [("adder", "exact_match"), ("toy", "valid")])
def test_validation_columns_are_the_tasks_shown_metrics(tmp_path, task, metric):
    run = RunFolder.open(tmp_path / "run", resume=False, force=False)
    recorder = Recorder(run, make_task(task), lambda kind, data: None)
    validation = {"loss": 1.5, "accuracy": 0.25, metric: 0.5, "perplexity": 4.5}
    row = {"step": 1, **recorder.validation_columns(validation)}
    recorder.log(row, steps=1)
    recorder.close()
    with open(run.metrics, newline="", encoding="utf-8") as stream:
        (written,) = list(csv.DictReader(stream))
    assert tuple(written) == METRICS  # the header of the previous main, whatever the task
    assert written["val_loss"] == "1.500000" and written["val_accuracy"] == "0.250000"
    assert written[f"val_{metric}"] == "0.500000"
    run.unlock()
