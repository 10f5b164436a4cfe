"""The model builder: inputs and heads for every task, every cell, bad settings."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

import seqrnn
from seqrnn.errors import UsageError
from seqrnn.models import CELLS, StepTimes, TimeFeatures, build_model
from seqrnn.tasks import make_task
from tests.conftest import to_numpy

TASKS = {
    "adder": {},
    "palindrome": {"length": 6},
    "ndfa": {},
    "frequency": {"regime": "async"},
}


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("name", list(TASKS))
def test_heads_and_layers(name, cell):
    task = make_task(name, **TASKS[name])
    model = build_model(task, cell, units=8, num_layers=2, embedding_dim=4, dropout=0.1)
    inputs, targets, _ = next(iter(task.batches("train", 5, 0)))
    logits = to_numpy(model(inputs))
    assert logits.shape == (*targets.shape, task.num_classes)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    assert len(recurrent) == 2 and all(isinstance(r, CELLS[cell]) for r in recurrent)


def test_padding_does_not_change_the_outputs_of_real_steps():
    task = make_task("frequency", regime="async")
    model = build_model(task, "lstm", units=8)
    inputs, _, _ = next(iter(task.batches("train", 4, 0)))
    row = 0
    n = int(inputs["mask"][row].sum())
    alone = {k: v[row : row + 1, :n] for k, v in inputs.items()}
    np.testing.assert_allclose(to_numpy(model(inputs))[row], to_numpy(model(alone))[0], atol=1e-5)


def test_step_times():
    times = to_numpy(StepTimes()(np.zeros((2, 4, 3), "float32")))
    np.testing.assert_array_equal(times, [[0, 1, 2, 3], [0, 1, 2, 3]])


def test_cells_without_a_time_gate_read_scaled_elapsed_time_and_gaps(tmp_path):
    times = np.array([[10.0, 10.5, 13.0, 60.0], [0.0, 1.0, 2.0, 3.0]])
    features = to_numpy(TimeFeatures()(times))
    np.testing.assert_allclose(features[..., 0], (times - times[:, :1]) / 100.0, rtol=1e-6)
    np.testing.assert_allclose(features[..., 1], [[0, 0.5, 2.5, 47], [0, 1, 1, 1]], rtol=1e-6)
    elapsed = to_numpy(TimeFeatures("elapsed")(times))
    np.testing.assert_array_equal(elapsed, features[..., :1])
    # The LSTM of the frequency task sees them (its raw timestamps reach 225 ms), as its
    # time_features setting says, and the model keeps them through saving.
    for setting, width in [("elapsed+gap", 2), ("elapsed", 1)]:
        task = make_task("frequency", regime="async", time_features=setting)
        model = build_model(task, "lstm", units=4)
        (layer,) = [layer for layer in model.layers if isinstance(layer, TimeFeatures)]
        (lstm,) = [layer for layer in model.layers if isinstance(layer, seqrnn.LSTM)]
        assert layer.features == setting
        assert tuple(lstm.cell.kernel.shape) == (1 + width, 4 * 4)  # the value and the times
        inputs, _, _ = next(iter(task.batches("train", 3, 0)))
        model.save(tmp_path / "lstm.keras")
        again = keras.models.load_model(tmp_path / "lstm.keras")
        np.testing.assert_allclose(to_numpy(again(inputs)), to_numpy(model(inputs)), atol=1e-6)


def test_phased_model_reads_the_timestamps():
    task = make_task("frequency", regime="async")
    model = build_model(task, "phased", units=8)
    phased = next(layer for layer in model.layers if isinstance(layer, seqrnn.PhasedLSTM))
    assert len(phased._inbound_nodes[0].input_tensors) >= 2  # features and timestamps


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cell": "transformer"}, "unknown cell 'transformer'; choose one of vanilla, lstm"),
        ({"num_layers": 0}, "layers must be an integer >= 1, got 0"),
        ({"dropout": 1.0}, "dropout must lie in \\[0, 1\\)"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(UsageError, match=message):
        build_model(make_task("palindrome"), **kwargs)


def test_models_of_every_task_save_and_load(tmp_path):
    for name, settings in itertools.islice(TASKS.items(), 4):
        model = build_model(make_task(name, **settings), "phased", units=4)
        model.save(tmp_path / f"{name}.keras")
        again = keras.models.load_model(tmp_path / f"{name}.keras")
        assert again.count_params() == model.count_params()
