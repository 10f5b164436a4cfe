"""seqrnn's layers as drop-ins for Keras' own: every argument Keras takes, the inputs Keras takes,
and keras.layers.Bidirectional with every merge mode and return_state, on the active backend."""

from __future__ import annotations

import inspect
import warnings

import keras
import numpy as np
import pytest

import seqrnn
from seqrnn.layers._base import _cell_arguments
from tests.conftest import on_gpu, to_numpy

PAIRS = [
    pytest.param(seqrnn.VanillaRNN, keras.layers.SimpleRNN, id="vanilla"),
    pytest.param(seqrnn.LSTM, keras.layers.LSTM, id="lstm"),
    pytest.param(seqrnn.GRU, keras.layers.GRU, id="gru"),
]
BATCH, STEPS, FEATURES, UNITS = 3, 6, 4, 5


def _arguments(function) -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(function).parameters
    return {
        n: p for n, p in parameters.items() if n != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    }


def _pair(ours_class, keras_class, rng, **kwargs):
    """Both layers built, with the same random weights."""
    ours, theirs = ours_class(UNITS, **kwargs), keras_class(UNITS, **kwargs)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    ours(x), theirs(x)
    weights = [rng.normal(0.0, 0.5, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs, x


@pytest.mark.parametrize(("ours_class", "keras_class"), PAIRS)
def test_every_argument_keras_takes_is_taken_and_kept(ours_class, keras_class):
    theirs = _arguments(keras_class.__init__)
    ours = set(_arguments(ours_class.__init__)) | set(_cell_arguments(ours_class.cell_class))
    ours |= set(_arguments(seqrnn.layers._base.CellLayer.__init__))
    ours.add("activity_regularizer")  # keras.layers.Layer's, through **kwargs
    assert set(theirs) - ours == set()
    # Keras' defaults, passed by name, build the same layer as Keras'.
    defaults = {n: p.default for n, p in theirs.items() if p.default is not p.empty}
    layer = ours_class(UNITS, **defaults)
    config = layer.get_config()
    for name in defaults.keys() - {"activity_regularizer", "seed"}:
        assert name in config, name
    assert ours_class.from_config(config).get_config() == config


@pytest.mark.parametrize(("ours_class", "keras_class"), PAIRS[1:])
def test_implementation_and_use_cudnn_are_accepted_kept_and_change_nothing(
    ours_class, keras_class, rng
):
    plain, _, x = _pair(ours_class, keras_class, rng)
    other = ours_class(UNITS, implementation=1, use_cudnn=False)
    other(x)
    other.set_weights(plain.get_weights())
    assert other.get_config()["implementation"] == 1 and other.get_config()["use_cudnn"] is False
    # (on a GPU one of the two runs cuDNN, which may compute in TF32)
    np.testing.assert_allclose(
        to_numpy(other(x)), to_numpy(plain(x)), atol=2e-3 if on_gpu() else 1e-6
    )
    keras_class(UNITS, implementation=1)  # what Keras accepts


CELL_PAIRS = [
    pytest.param(seqrnn.cells.LSTMCell, keras.layers.LSTMCell, {}, id="lstm"),
    pytest.param(seqrnn.cells.GRUCell, keras.layers.GRUCell, {}, id="gru"),
    pytest.param(
        seqrnn.cells.GRUCell, keras.layers.GRUCell, {"reset_after": False}, id="gru-reset-before"
    ),
]


@pytest.mark.parametrize(("ours_class", "keras_class", "kwargs"), CELL_PAIRS)
def test_implementation_1_drops_each_gate_with_a_mask_of_its_own_as_keras_does(
    ours_class, keras_class, kwargs, rng
):
    """Keras' implementation 1 (which recurrent dropout implies) draws a mask per gate for the
    inputs and for the state; with the same masks and weights, the same step."""
    rates = {"dropout": 0.3, "recurrent_dropout": 0.4, "seed": 1, **kwargs}
    ours, theirs = ours_class(UNITS, **rates), keras_class(UNITS, **rates)
    assert ours.implementation == theirs.implementation == 1  # (forced by recurrent_dropout)
    x = rng.normal(size=(BATCH, FEATURES)).astype("float32")
    count = len(ours.state_size) if isinstance(ours.state_size, list) else 1  # (h, c) or h
    states = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(count)]
    ours.build((BATCH, FEATURES)), theirs.build((BATCH, FEATURES))
    weights = [rng.normal(0.0, 0.5, w.shape).astype("float32") for w in ours.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    drawn = [to_numpy(m) for m in ours.get_recurrent_dropout_mask(keras.ops.ones((BATCH, UNITS)))]
    assert len(drawn) == ours.num_gates and not np.array_equal(drawn[0], drawn[1])
    gates = ours.num_gates
    inputs_masks = [(rng.random((BATCH, FEATURES)) > 0.3) / 0.7 for _ in range(gates)]
    state_masks = [(rng.random((BATCH, UNITS)) > 0.4) / 0.6 for _ in range(gates)]
    for cell in (ours, theirs):
        cell._dropout_mask = [keras.ops.convert_to_tensor(m, "float32") for m in inputs_masks]
        cell._recurrent_dropout_mask = [
            keras.ops.convert_to_tensor(m, "float32") for m in state_masks
        ]
    got, _ = ours(x, states, training=True)
    want, _ = theirs(x, states, training=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(want), rtol=1e-5, atol=1e-6)
    single = ours_class(UNITS, dropout=0.3, **kwargs)  # implementation 2: one mask for all
    assert single.implementation == 2 and single.get_config()["implementation"] == 2
    assert ours_class.from_config(ours.get_config()).implementation == 1


@pytest.mark.parametrize(
    ("ours_class", "keras_class"),
    [
        pytest.param(seqrnn.SimpleRNN, keras.layers.SimpleRNN, id="simple_rnn"),
        *PAIRS[1:],
    ],
)
def test_weights_files_of_keras_layers_load_into_seqrnn_layers_and_back(
    ours_class, keras_class, rng, tmp_path
):
    """A `.weights.h5` of a model with Keras' layer loads into the model with seqrnn's layer of
    the same class name (Keras addresses a layer's variables by it), and the other way round."""

    def model(layer_class):
        inputs = keras.Input((STEPS, FEATURES))
        h = layer_class(UNITS, return_sequences=True)(inputs)
        return keras.Model(inputs, keras.layers.Dense(2)(h))

    theirs, ours = model(keras_class), model(ours_class)
    theirs.set_weights([rng.normal(0.0, 0.5, w.shape) for w in theirs.get_weights()])
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    expected = to_numpy(theirs(x))
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(to_numpy(ours(x)), expected, rtol=1e-5, atol=1e-6)
    again = model(keras_class)
    ours.save_weights(tmp_path / "seqrnn.weights.h5")
    again.load_weights(tmp_path / "seqrnn.weights.h5")
    np.testing.assert_allclose(to_numpy(again(x)), expected, rtol=1e-5, atol=1e-6)


def test_simple_rnn_is_the_vanilla_rnn_under_keras_name_and_loads_as_itself(rng, tmp_path):
    layer = seqrnn.SimpleRNN(UNITS, return_sequences=True)
    assert isinstance(layer, seqrnn.VanillaRNN)
    assert isinstance(seqrnn.SimpleRNNCell(UNITS), seqrnn.VanillaRNNCell)
    inputs = keras.Input((STEPS, FEATURES))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "simple.keras")
    loaded = keras.models.load_model(tmp_path / "simple.keras")
    assert type(loaded.layers[-1]) is seqrnn.SimpleRNN
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)


@pytest.mark.parametrize(("ours_class", "keras_class"), PAIRS)
def test_integer_inputs_are_taken_as_keras_takes_them(ours_class, keras_class, rng):
    ours, theirs, _ = _pair(ours_class, keras_class, rng)
    integers = rng.integers(-2, 3, (BATCH, STEPS, FEATURES)).astype("int32")
    got = ours(integers)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(got), to_numpy(theirs(integers)), atol=1e-5)
    np.testing.assert_allclose(to_numpy(got), to_numpy(ours(integers.astype("float32"))))


@pytest.mark.parametrize(("ours_class", "keras_class"), PAIRS)
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_bidirectional_with_every_merge_mode_and_return_state(
    ours_class, keras_class, merge_mode, masked, rng
):
    layers = []
    for layer_class in (ours_class, keras_class):
        keras.utils.set_random_seed(4)
        layer = keras.layers.Bidirectional(
            layer_class(UNITS, return_sequences=True, return_state=True), merge_mode=merge_mode
        )
        layers.append(layer)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    mask = None
    if masked:  # right-padded, a different length per sample
        mask = np.arange(STEPS)[None, :] < np.array([STEPS, 2, 4])[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = (layer(x, mask=mask) for layer in layers)
        layers[0].set_weights(layers[1].get_weights())
        ours = layers[0](x, mask=mask)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=1e-5)
    assert layers[0].forward_layer.path == layers[0].backward_layer.path
