"""The step's learning rate: warm-up, exponential decay and the cosine, each equal to its
formula at chosen steps and continued exactly by a resumed run; epochs as steps."""

from __future__ import annotations

import json
import math

import keras
import pytest

from cli.main import main
from seqrnn.errors import Interrupted, UsageError
from seqrnn.settings import TrainConfig
from seqrnn.tasks import make_task
from seqrnn.training import RunFolder, Trainer
from seqrnn.training.step import learning_rate, steps_of
from tests.training.helpers import TINY, metric_rows

pytestmark = pytest.mark.tf_only


def rate_at(config: TrainConfig, n: int) -> float:
    schedule = learning_rate(config)
    return float(schedule(n)) if callable(schedule) else float(schedule)


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 55, 99, 100, 150])
def test_cosine_after_warm_up_is_its_formula(n):
    config = TrainConfig(lr=0.01, schedule="cosine", warmup_steps=10, min_lr=1e-4, steps=100)
    if n < 10:
        want = 0.01 * (n + 1) / 10
    else:
        p = min((n - 10) / 89, 1.0)  # the last update, n = 99, trains at min_lr
        want = 1e-4 + (0.01 - 1e-4) * 0.5 * (1 + math.cos(math.pi * p))
    assert rate_at(config, n) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("n", [0, 4, 5, 6, 505, 2005])
def test_exponential_after_warm_up_is_its_formula(n):
    config = TrainConfig(lr=0.002, lr_decay=0.5, lr_decay_steps=500, warmup_steps=5)
    want = 0.002 * (n + 1) / 5 if n < 5 else 0.002 * 0.5 ** ((n - 5) / 500)
    assert rate_at(config, n) == pytest.approx(want, rel=1e-6)


def test_without_warm_up_the_exponential_decay_is_keras_own():
    config = TrainConfig(lr=0.002, lr_decay=0.9, lr_decay_steps=100)
    schedule = learning_rate(config)
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    assert float(schedule(250)) == pytest.approx(0.002 * 0.9**2.5, rel=1e-6)
    assert learning_rate(TrainConfig(lr=0.003)) == 0.003  # lr_decay 1: a constant


def test_a_resumed_run_continues_the_schedule_exactly(tmp_path):
    settings = dict(
        task="adder", units=8, embedding_dim=4, batch_size=8, steps=20, log_every=1,
        eval_every=100, checkpoint_every=10, schedule="cosine", warmup_steps=6, lr=0.01,
    )  # fmt: skip

    def train(out, resume=False, stop_at=None):
        def on_event(kind, data):
            if kind == "log" and data["step"] == stop_at:
                raise KeyboardInterrupt  # as a second Ctrl-C would: the step-10 checkpoint stays

        run = RunFolder.open(out, resume=resume, force=False)
        try:
            Trainer(TrainConfig(**settings), run, resume=resume, on_event=on_event).train()
        finally:
            run.unlock()

    train(tmp_path / "whole")
    with pytest.raises(Interrupted):
        train(tmp_path / "cut", stop_at=13)
    train(tmp_path / "cut", resume=True)
    whole, cut = metric_rows(tmp_path / "whole"), metric_rows(tmp_path / "cut")
    assert [r["step"] for r in cut] == [str(s) for s in range(1, 21)]
    assert [r["lr"] for r in cut] == [r["lr"] for r in whole]
    logged = [float(r["lr"]) for r in whole]  # logged after each step: the next step's rate
    config = TrainConfig(**settings)
    assert logged == pytest.approx([rate_at(config, n) for n in range(1, 21)], rel=1e-5)


def test_epochs_end_a_text_run_after_exactly_that_many_passes(tmp_path, capsys):
    text = tmp_path / "small.txt"
    text.write_text("".join(chr(97 + (i * 7) % 26) for i in range(2000)), encoding="utf-8")
    task = make_task("text", path=str(text), seq_len=25)
    per_pass = task.batches_per_pass(8)
    assert per_pass == ((1800 - 1) // 8) // 25  # 1800 training characters
    out = tmp_path / "run"
    args = ["train", "text", "--data", str(text), *TINY, "--epochs", "2", "--eval-every", "1000"]
    assert main([*args, "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["step"] == 2 * per_pass
    assert int(metric_rows(out)[-1]["step"]) == 2 * per_pass
    saved = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert (saved["epochs"], saved["steps"]) == (2, 2 * per_pass)


def test_a_task_without_epochs_says_so():
    with pytest.raises(UsageError, match="adder draws fresh batches for ever") as error:
        steps_of(TrainConfig(task="adder", epochs=3), make_task("adder"))
    assert error.value.settings == ("steps",)
    assert steps_of(TrainConfig(task="adder", steps=7), make_task("adder")) == 7


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--epochs", "2", "--steps", "10"], "--steps and --epochs both say how long"),
        (["adder", "--epochs", "2"], "so it has no epochs; train it for a number of --steps"),
        (["--schedule", "linear"], "'linear' is not one of 'exponential', 'cosine'"),
        (["--schedule", "cosine", "--min-lr", "0.1"], "--min-lr (0.1) must be below --lr"),
        (["--warmup-steps", "-1"], "--warmup-steps must be an integer >= 0"),
    ],
)
def test_bad_schedule_and_epoch_settings_are_one_line_exit_2(tmp_path, capsys, args, words):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
