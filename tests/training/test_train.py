"""seqrnn train: reproducibility, exact resume after SIGKILL, mirrored = one device, bad input."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import seqrnn  # noqa: F401  (registers the layers for load_model)
from cli.main import app, main
from seqrnn.tasks import TASKS
from seqrnn.training import RunFolder, TrainConfig, Trainer
from tests.conftest import ROOT

pytestmark = pytest.mark.tf_only
runner = CliRunner()
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
TINY = ["--units", "8", "--embedding-dim", "4", "--batch-size", "8", "--log-every", "5"]


def weights_of(run: Path) -> list[np.ndarray]:
    return keras.models.load_model(run / "model.keras").get_weights()


def metric_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def seqrnn_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def train_in_process(out: Path, **settings) -> None:
    config = TrainConfig(**{"units": 8, "embedding_dim": 4, "batch_size": 8, **settings})
    run = RunFolder.open(out, resume=False, force=False)
    try:
        Trainer(config, run).train()
    finally:
        run.unlock()


def test_same_seed_same_weights_bit_for_bit(tmp_path):
    settings = {"task": "palindrome", "task_settings": {"length": 4}, "steps": 15, "dropout": 0.2}
    train_in_process(tmp_path / "a", **settings, seed=7)
    train_in_process(tmp_path / "b", **settings, seed=7)
    train_in_process(tmp_path / "c", **settings, seed=8)
    a, b, c = (weights_of(tmp_path / name) for name in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_trains_end_to_end(tmp_path, name):
    settings = {}
    if name == "text":
        if not SHAKESPEARE.exists():
            pytest.skip("../shared/data is not beside the project")
        settings = {"path": str(SHAKESPEARE), "seq_len": 10}
    cell = "phased" if name == "frequency" else "gru"
    train_in_process(
        tmp_path / name,
        task=name,
        task_settings=settings,
        cell=cell,
        steps=3,
        log_every=1,
        eval_every=3,
        checkpoint_every=3,
    )
    rows = metric_rows(tmp_path / name)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert np.isfinite(float(rows[-1]["val_loss"]))
    assert (tmp_path / name / "model.keras").exists()


@pytest.mark.slow
def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    args = ["train", "adder", *TINY, "--steps", "150", "--checkpoint-every", "10", "--seed", "3"]
    whole = seqrnn_process(*args, "--out", str(tmp_path / "whole"))
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-2000:]
    killed = seqrnn_process(*args, "--out", str(tmp_path / "killed"))
    metrics = tmp_path / "killed" / "metrics.csv"
    deadline = time.time() + 240
    while time.time() < deadline:  # kill it somewhere after the first checkpoints
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert not (tmp_path / "killed" / "model.keras").exists()  # it really did not finish
    resumed = seqrnn_process("train", "--resume", str(tmp_path / "killed"))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-2000:]
    for x, y in zip(weights_of(tmp_path / "whole"), weights_of(tmp_path / "killed"), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    rows, expected = metric_rows(tmp_path / "killed"), metric_rows(tmp_path / "whole")
    assert [int(r["step"]) for r in rows] == list(range(5, 151, 5))  # none twice, none skipped
    for got, want in zip(rows, expected, strict=True):
        for column in ("loss", "smooth_loss", "grad_norm", "val_loss"):
            assert (got[column] == "") == (want[column] == "")
            if want[column]:
                assert float(got[column]) == pytest.approx(float(want[column]), abs=1e-6)


@pytest.mark.slow
def test_mirrored_over_two_cpus_gives_the_losses_of_one_device(tmp_path):
    args = ["train", "toy", *TINY, "--steps", "20", "--seed", "1", "--dropout", "0"]
    one = seqrnn_process(*args, "--strategy", "one", "--out", str(tmp_path / "one"))
    two = seqrnn_process(
        *args, "--strategy", "mirrored", "--cpu-devices", "2", "--out", str(tmp_path / "two")
    )
    assert one.wait(timeout=300) == 0, one.stderr.read()[-2000:]
    assert two.wait(timeout=300) == 0, two.stderr.read()[-2000:]
    losses = [[float(r["loss"]) for r in metric_rows(tmp_path / name)] for name in ("one", "two")]
    assert len(losses[0]) == 4
    np.testing.assert_allclose(losses[1], losses[0], rtol=0, atol=1e-5)


class TestRunFolder:
    def test_an_existing_folder_is_never_overwritten(self, tmp_path, capsys):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "notes.txt").write_text("mine")
        assert main(["train", "palindrome", "--out", str(tmp_path / "run")]) == 2
        assert "--resume to continue it or --force" in capsys.readouterr().err
        assert (tmp_path / "run" / "notes.txt").read_text() == "mine"

    def test_force_replaces_it(self, tmp_path):
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / "notes.txt").write_text("old")
        code = main(
            [
                "train",
                "palindrome",
                *TINY,
                "--steps",
                "2",
                "--force",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        assert code == 0
        assert not (tmp_path / "run" / "notes.txt").exists()
        assert (tmp_path / "run" / "config.json").exists()

    def test_a_folder_in_use_is_refused(self, tmp_path, capsys):
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            (tmp_path / "run").mkdir()
            (tmp_path / "run" / ".lock").write_text(str(holder.pid))
            code = main(["train", "palindrome", "--force", "--out", str(tmp_path / "run")])
            assert code == 1
            assert f"in use by process {holder.pid}" in capsys.readouterr().err
        finally:
            holder.kill()

    def test_a_stale_lock_is_taken_over(self, tmp_path):
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / ".lock").write_text(str(dead.pid))
        assert (
            main(
                [
                    "train",
                    "palindrome",
                    *TINY,
                    "--steps",
                    "2",
                    "--force",
                    "--out",
                    str(tmp_path / "run"),
                ]
            )
            == 0
        )
        assert not (tmp_path / "run" / ".lock").exists()


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "adder",
            *TINY,
            "--lr",
            "1e35",
            "--clip-norm",
            "0",
            "--optimizer",
            "sgd",
            "--steps",
            "50",
            "--checkpoint-every",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is not finite at step" in err and "lower --lr" in err
    step = int(err.split("at step ")[1].split(";")[0])
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
    assert latest is None or latest.endswith(f"ckpt-{step - 1}")
    if latest:
        reader = tf.train.load_checkpoint(latest)
        assert all(
            np.isfinite(reader.get_tensor(name)).all()
            for name, dtype in reader.get_variable_to_dtype_map().items()
            if dtype.is_floating
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope"], "unknown task 'nope'; choose one of text, adder"),
        (["--cell", "cnn"], "unknown cell 'cnn'; choose one of vanilla, lstm, gru, phased"),
        (["--optimizer", "adamw"], "choose one of sgd, adagrad, adam, rmsprop"),
        (["--strategy", "tpu"], "choose one of auto, one, mirrored, multiworker"),
        (["--lr", "0"], "lr must be a positive number"),
        (["--lr", "-1"], "lr must be a positive number"),
        (["--batch-size", "0"], "batch-size must be an integer >= 1"),
        (["--steps", "0"], "steps must be an integer >= 1"),
        (["--clip-norm", "-1"], "clip-norm must be >= 0"),
        (["--clip-value", "-5"], "clip-value must be >= 0"),
        (["text", "--data", "/no/such/file.txt"], "no such file"),
        (["text", "--data", str(SHAKESPEARE), "--seq-len", "0"], "seq_len must be an integer >= 1"),
        (["text"], "the text task needs --data FILE"),
        (["palindrome", "--set", "length=1"], "length (T) must be an integer >= 2"),
        (["palindrome", "--set", "oops"], "--set takes KEY=VALUE"),
        (["--units", "abc"], "Invalid value for '--units'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not out.exists()


def test_cli_runner_trains_and_prints_the_result(tmp_path):
    result = runner.invoke(
        app, ["train", "ndfa", *TINY, "--steps", "3", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert '"step": 3' in result.stdout
