"""A tiny model makes real progress on every task: the validation loss falls well below the
untrained loss within a few hundred steps (trained with model.fit on the task's tf.data)."""

from __future__ import annotations

import keras
import pytest

from seqrnn.models import build_model
from seqrnn.tasks import make_task
from tests.conftest import BACKEND, shakespeare

# task, settings, cell, units, batch size, steps, largest allowed ratio after / before
CASES = [
    pytest.param("text", {"mode": "random", "seq_len": 32}, "lstm", 32, 32, 200, 0.7, id="text"),
    pytest.param("adder", {}, "lstm", 32, 32, 300, 0.3, id="adder"),
    pytest.param("palindrome", {"length": 5}, "gru", 32, 32, 300, 0.3, id="palindrome"),
    pytest.param("ndfa", {}, "lstm", 32, 16, 100, 0.3, id="ndfa"),
    pytest.param("brackets", {}, "vanilla", 32, 16, 100, 0.5, id="brackets"),
    pytest.param("toy", {}, "lstm", 32, 16, 100, 0.5, id="toy"),
    pytest.param(
        "frequency",
        {"regime": "async"},
        "phased",
        64,
        32,
        300,
        0.85,
        id="frequency",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.tf_only
@pytest.mark.parametrize("name, settings, cell, units, batch, steps, ratio", CASES)
def test_a_tiny_model_learns(name, settings, cell, units, batch, steps, ratio):
    if name == "text":
        settings = {**settings, "path": shakespeare()}
    keras.utils.set_random_seed(0)
    task = make_task(name, **settings)
    model = build_model(task, cell, units=units, embedding_dim=16)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01, clipnorm=5.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
    )
    validation = task.dataset("validation", batch, seed=1).take(5)
    before = model.evaluate(validation, verbose=0)
    model.fit(task.dataset("train", batch, seed=0).take(steps), verbose=0)
    after = model.evaluate(validation, verbose=0)
    assert after < ratio * before, (BACKEND, before, after)
