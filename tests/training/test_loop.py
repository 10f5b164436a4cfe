"""The training loop: reproducibility, exact resume after SIGKILL, mirrored = one device, carried
states, non-finite losses, every task end to end."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

import seqrnn  # registers the layers for load_model
from cli.main import main
from seqrnn.tasks import TASKS
from seqrnn.training import RunFolder, TrainConfig, Trainer
from tests.conftest import shakespeare
from tests.training.helpers import TINY, metric_rows, seqrnn_process, train_in_process, weights_of

pytestmark = pytest.mark.tf_only
runner = CliRunner()


def test_same_seed_same_weights_bit_for_bit(tmp_path):
    settings = {"task": "palindrome", "task_settings": {"length": 4}, "steps": 15, "dropout": 0.2}
    train_in_process(tmp_path / "a", **settings, seed=7)
    train_in_process(tmp_path / "b", **settings, seed=7)
    train_in_process(tmp_path / "c", **settings, seed=8)
    a, b, c = (weights_of(tmp_path / name) for name in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("name", ["toy", "text", "frequency"])
def test_training_compiles_loops_only_for_tasks_of_fixed_shapes(tmp_path, monkeypatch, name):
    """XLA compiles a fused loop for one shape. Text windows and wave samples padded to the
    regime's longest keep theirs, so the training step (and validation) compile at this size;
    sentences are padded to a new length every batch, so their loops stay plain from the first
    trace on (compiling the first batch's shape cost about 4 s of every default run)."""
    settings, cell = {}, "lstm"
    if name == "frequency":
        cell = "phased"
    if name == "text":
        settings = {"path": str(shakespeare()), "seq_len": 64}
    from seqrnn.backend import tensorflow as tf_kernels

    decisions = []  # whether each traced fused loop was compiled

    def spy(shape, units, jit_compile):
        decisions.append(compilable(shape, units, jit_compile))
        return decisions[-1]

    compilable = tf_kernels.compilable
    monkeypatch.setattr(tf_kernels, "compilable", spy)
    config = TrainConfig(
        task=name,
        task_settings=settings,
        cell=cell,
        units=128,
        embedding_dim=4,
        batch_size=32,
        steps=2,
    )
    run = RunFolder.open(tmp_path / name, resume=False, force=False)
    try:
        trainer = Trainer(config, run)
        trainer.train()
    finally:
        run.unlock()
    assert trainer.task.fixed_shapes == (name != "toy")
    layer_class = seqrnn.layers.PhasedLSTM if cell == "phased" else seqrnn.layers.LSTM
    layers = [x for x in trainer.model.layers if isinstance(x, layer_class)]
    assert len(layers) == 1 and layers[0].path == "fused"
    assert layers[0].jit_compile == ("auto" if trainer.task.fixed_shapes else False)
    # text: 32 x 64 x 128 and frequency: 32 x 125 x 128 are above MIN_COMPILED_SIZE; toy: traced
    # more than once, never compiled
    assert decisions and set(decisions) == {name != "toy"}, decisions


def test_every_token_weighs_the_same_whatever_the_length_of_its_batch(tmp_path):
    """Grammar batches hold sentences of similar length: one SGD step must follow the gradient of
    the weighted loss sum over (rows x the task's mean weight per row), not over the batch's
    own weight, which would favour the characters of short sentences."""
    import tensorflow as tf

    from seqrnn.models import build_run_model
    from seqrnn.tasks import make_task
    from seqrnn.training.step import mean_weight_per_row

    settings = {"task": "toy", "optimizer": "sgd", "lr": 0.5, "clip_norm": 0.0, "steps": 1}
    train_in_process(tmp_path / "run", **settings, batch_size=4, seed=3)
    config = TrainConfig(**{"units": 8, "embedding_dim": 4, **settings, "batch_size": 4, "seed": 3})
    keras.utils.set_random_seed(3)
    task = make_task("toy")
    model = build_run_model(config, task)
    inputs, targets, weights = next(iter(task.dataset("train", 4, 3)))
    per_row = mean_weight_per_row(task, 4, 3)
    assert 40 < per_row < 50  # sentences of 43.5 characters on average, and the end token
    with tf.GradientTape() as tape:
        losses = keras.losses.sparse_categorical_crossentropy(
            targets, model(inputs, training=True), from_logits=True
        )
        weighted = tf.reduce_sum(losses * weights)
    variables = model.trainable_variables
    gradients = [tf.convert_to_tensor(g).numpy() for g in tape.gradient(weighted, variables)]
    trained = keras.models.load_model(tmp_path / "run" / "model.keras").trainable_variables
    batch_weight = float(tf.reduce_sum(weights))
    assert abs(batch_weight / 4 - per_row) > 1  # this batch's rows are not of the mean length
    for after, before, gradient in zip(trained, variables, gradients, strict=True):
        expected = before.numpy() - 0.5 * gradient / (4 * per_row)
        np.testing.assert_allclose(after.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_trains_end_to_end(tmp_path, name):
    settings = {}
    if name == "text":
        settings = {"path": str(shakespeare()), "seq_len": 10}
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
    run = tmp_path / name
    rows = metric_rows(run)
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert np.isfinite(float(rows[-1]["val_loss"]))
    assert 0.0 <= float(rows[-1]["val_accuracy"]) <= 1.0
    assert (run / "model.keras").exists()
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tags = tensorboard_tags(run)
    assert {"loss", "smooth_loss", "grad_norm", "val_loss"} <= tags
    generates = name in ("text", "ndfa", "brackets", "toy")
    assert ("sample" in tags) == generates
    assert (run / "samples.txt").exists() == generates
    if name in ("ndfa", "brackets", "toy"):
        assert 0.0 <= float(rows[-1]["val_valid"]) <= 1.0
    if name == "adder":
        assert 0.0 <= float(rows[-1]["val_exact_match"]) <= 1.0


def tensorboard_tags(run: Path) -> set[str]:
    import tensorflow as tf

    tags = set()
    for path in (run / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


@pytest.mark.slow
def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    args = ["train", "adder", *TINY, "--steps", "150", "--checkpoint-every", "10", "--seed", "3"]
    # The uninterrupted run trains beside the one that is killed (two cores, half the wait).
    whole = seqrnn_process(*args, "--out", str(tmp_path / "whole"))
    killed = seqrnn_process(*args, "--out", str(tmp_path / "killed"))
    metrics = tmp_path / "killed" / "metrics.csv"
    deadline = time.time() + 240
    while time.time() < deadline:  # kill it somewhere after the first checkpoints
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 8:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-2000:]
    assert not (tmp_path / "killed" / "model.keras").exists()  # it really did not finish
    resumed = seqrnn_process("train", "--resume", str(tmp_path / "killed"), "--no-export")
    said = resumed.communicate(timeout=300)[1]
    assert resumed.returncode == 0, said[-2000:]
    assert "WARNING" not in said, said[-2000:]  # (TensorFlow's about values left unrestored)
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
@pytest.mark.parametrize("task", ["toy", "text"])
def test_mirrored_over_two_cpus_gives_the_losses_of_one_device(tmp_path, task):
    args = ["train", task, *TINY, "--steps", "20", "--seed", "1", "--dropout", "0"]
    if task == "text":  # sequential: each replica carries the states of its streams
        args += ["--data", str(text_file(tmp_path, 3000)), "--seq-len", "8"]
    one = seqrnn_process(*args, "--strategy", "one", "--out", str(tmp_path / "one"))
    two = seqrnn_process(
        *args, "--strategy", "mirrored", "--cpu-devices", "2", "--out", str(tmp_path / "two")
    )
    assert one.wait(timeout=300) == 0, one.stderr.read()[-2000:]
    assert two.wait(timeout=300) == 0, two.stderr.read()[-2000:]
    losses = [[float(r["loss"]) for r in metric_rows(tmp_path / name)] for name in ("one", "two")]
    assert len(losses[0]) == 4
    np.testing.assert_allclose(losses[1], losses[0], rtol=0, atol=1e-5)


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "adder",
            *TINY,
            "--lr",
            "1e38",
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
            if dtype.is_floating and not name.startswith("best_loss")  # NaN: none validated yet
        )


def text_file(tmp_path: Path, length: int = 400) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "text.txt"
    path.write_text("".join(rng.choice(list("abcde \n"), size=length)), encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", ["lstm", "phased"])
def test_sequential_text_carries_the_state_and_resets_it_each_pass(tmp_path, cell):
    from seqrnn.tasks import make_task

    path = text_file(tmp_path, 200)
    settings = {"path": str(path), "seq_len": 5, "validation_fraction": 0.2}
    task = make_task("text", **settings)
    windows = task.batches_per_pass(4)
    assert windows > 2
    # A learning rate of 1e-30 leaves the weights as they were: every logged loss is then the
    # loss of the initial model on that window, given the state the trainer carried into it.
    train_in_process(
        tmp_path / "run",
        task="text",
        task_settings=settings,
        cell=cell,
        optimizer="sgd",
        lr=1e-30,
        batch_size=4,
        steps=2 * windows,
        log_every=1,
        eval_every=2 * windows,
    )
    losses = [float(r["loss"]) for r in metric_rows(tmp_path / "run")]
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    ids = task.part("train")
    stream = (len(ids) - 1) // 4
    tokens = np.stack([ids[b * stream : b * stream + windows * 5 + 1] for b in range(4)])
    tokens = tokens.astype(np.int32)
    logits = model.predict({"tokens": tokens[:, :-1]}, verbose=0)
    per_char = keras.losses.sparse_categorical_crossentropy(
        tokens[:, 1:], logits, from_logits=True
    ).numpy()
    expected = [per_char[:, w * 5 : (w + 1) * 5].mean() for w in range(windows)]
    # Carried: window w is scored after reading windows 0..w-1 of its stream.
    np.testing.assert_allclose(losses[:windows], expected, rtol=0, atol=2e-5)
    # Reset at each pass: the next pass starts from zero states, as the first did.
    np.testing.assert_allclose(losses[windows : 2 * windows], expected, rtol=0, atol=2e-5)
    fresh = model.predict({"tokens": tokens[:, 5:11]}, verbose=0)
    zero_state = keras.losses.sparse_categorical_crossentropy(
        tokens[:, 6:11], fresh[:, :5], from_logits=True
    ).numpy()
    assert abs(zero_state.mean() - losses[1]) > 1e-4  # the carried state made a difference


def test_a_resumed_sequential_text_run_continues_the_carried_state(tmp_path):
    path = text_file(tmp_path, 2000)
    settings = {
        "task": "text",
        "task_settings": {"path": str(path), "seq_len": 5},
        "batch_size": 4,
        "log_every": 1,
        "eval_every": 100,
        "checkpoint_every": 100,
    }
    train_in_process(tmp_path / "whole", steps=12, **settings)
    train_in_process(tmp_path / "half", steps=6, **settings)
    run = RunFolder.open(tmp_path / "half", resume=True, force=False)
    try:
        Trainer(
            TrainConfig(units=8, embedding_dim=4, steps=12, **settings), run, resume=True
        ).train()
    finally:
        run.unlock()
    for x, y in zip(weights_of(tmp_path / "whole"), weights_of(tmp_path / "half"), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    rows, expected = metric_rows(tmp_path / "half"), metric_rows(tmp_path / "whole")
    assert [r["loss"] for r in rows] == [r["loss"] for r in expected]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_local_workers_train_to_the_same_weights(tmp_path):
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        args = ["train", "adder", *TINY, "--steps", "20", "--lr", "0.01"]
        args += ["--strategy", "multiworker", "--out", str(tmp_path / f"w{index}")]
        processes.append(seqrnn_process(*args, env={"TF_CONFIG": json.dumps(config)}))
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()[-2000:]
    first, second = weights_of(tmp_path / "w0"), weights_of(tmp_path / "w1")
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)
    losses = [[r["loss"] for r in metric_rows(tmp_path / f"w{i}")] for i in range(2)]
    assert losses[0] == losses[1] and len(losses[0]) == 4
    assert float(losses[0][-1]) < float(losses[0][0])  # it trained


def test_the_first_ctrl_c_asks_for_a_stop_and_the_second_interrupts():
    import signal

    from seqrnn.training.loop import _StopRequest

    before = signal.getsignal(signal.SIGINT)
    stop = _StopRequest()
    try:
        assert not stop.requested
        signal.raise_signal(signal.SIGINT)  # the loop finishes its step, then saves and stops
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before  # handed back after the second
    finally:
        stop.release()
    assert signal.getsignal(signal.SIGINT) is before
