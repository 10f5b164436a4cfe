"""Each cell, one step at a time: NumPy references with fixed weights, weights, config, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqrnn.cells import GRUCell, LSTMCell, PhasedLSTMCell, VanillaRNNCell
from tests import reference
from tests.conftest import F64_TOL, to_numpy

BATCH, FEATURES, UNITS = 3, 4, 5


def built(cell, rng, inputs):
    """Runs one step so the cell builds, then overwrites every weight with random values."""
    cell(inputs, cell.get_initial_state(BATCH))
    weights = [rng.normal(0.0, 0.5, w.shape) for w in cell.get_weights()]
    cell.set_weights(weights)
    return weights


def random_states(cell, rng):
    return [rng.normal(size=(BATCH, UNITS)) for _ in cell.get_initial_state(1)]


class TestVanillaRNNCell:
    @pytest.mark.parametrize("activation", ["tanh", "relu"])
    def test_step_matches_numpy(self, rng, activation):
        cell = VanillaRNNCell(UNITS, activation=activation, dtype="float64")
        x = rng.normal(size=(BATCH, FEATURES))
        kernel, recurrent_kernel, bias = built(cell, rng, x)
        (h_prev,) = random_states(cell, rng)
        h, states = cell(x, [h_prev])
        act = np.tanh if activation == "tanh" else (lambda v: np.maximum(v, 0.0))
        want = reference.vanilla_step(x, h_prev, kernel, recurrent_kernel, bias, act)
        np.testing.assert_allclose(to_numpy(h), want, rtol=F64_TOL, atol=F64_TOL)
        np.testing.assert_allclose(to_numpy(states[0]), want, rtol=F64_TOL, atol=F64_TOL)

    def test_weights(self):
        cell = VanillaRNNCell(UNITS)
        cell.build((None, FEATURES))
        assert [(w.name, tuple(w.shape)) for w in cell.weights] == [
            ("kernel", (FEATURES, UNITS)),
            ("recurrent_kernel", (UNITS, UNITS)),
            ("bias", (UNITS,)),
        ]
        no_bias = VanillaRNNCell(UNITS, use_bias=False)
        no_bias.build((None, FEATURES))
        assert len(no_bias.weights) == 2


class TestLSTMCell:
    def test_step_matches_numpy(self, rng):
        cell = LSTMCell(UNITS, dtype="float64")
        x = rng.normal(size=(BATCH, FEATURES))
        weights = built(cell, rng, x)
        h_prev, c_prev = random_states(cell, rng)
        h, (h_state, c_state) = cell(x, [h_prev, c_prev])
        want_h, want_c = reference.lstm_step(x, h_prev, c_prev, *weights)
        np.testing.assert_allclose(to_numpy(h), want_h, rtol=F64_TOL, atol=F64_TOL)
        np.testing.assert_allclose(to_numpy(h_state), want_h, rtol=F64_TOL, atol=F64_TOL)
        np.testing.assert_allclose(to_numpy(c_state), want_c, rtol=F64_TOL, atol=F64_TOL)

    @pytest.mark.parametrize("unit_forget_bias, forget", [(True, 1.0), (False, 0.0)])
    def test_unit_forget_bias(self, unit_forget_bias, forget):
        cell = LSTMCell(UNITS, unit_forget_bias=unit_forget_bias)
        cell.build((None, FEATURES))
        bias = to_numpy(cell.bias)
        assert bias.shape == (4 * UNITS,)
        np.testing.assert_array_equal(bias[UNITS : 2 * UNITS], forget)
        np.testing.assert_array_equal(np.delete(bias, np.s_[UNITS : 2 * UNITS]), 0.0)

    def test_weights(self):
        cell = LSTMCell(UNITS)
        cell.build((None, FEATURES))
        assert [tuple(w.shape) for w in cell.weights] == [
            (FEATURES, 4 * UNITS),
            (UNITS, 4 * UNITS),
            (4 * UNITS,),
        ]
        assert cell.state_size == [UNITS, UNITS]


class TestGRUCell:
    @pytest.mark.parametrize("reset_after", [True, False])
    def test_step_matches_numpy(self, rng, reset_after):
        cell = GRUCell(UNITS, reset_after=reset_after, dtype="float64")
        x = rng.normal(size=(BATCH, FEATURES))
        weights = built(cell, rng, x)
        (h_prev,) = random_states(cell, rng)
        h, _ = cell(x, [h_prev])
        want = reference.gru_step(x, h_prev, *weights, reset_after=reset_after)
        np.testing.assert_allclose(to_numpy(h), want, rtol=F64_TOL, atol=F64_TOL)

    def test_the_two_conventions_differ(self, rng):
        x = rng.normal(size=(BATCH, FEATURES))
        after = GRUCell(UNITS, reset_after=True, dtype="float64")
        before = GRUCell(UNITS, reset_after=False, dtype="float64")
        kernel, recurrent_kernel, bias = built(after, rng, x)
        before(x, before.get_initial_state(BATCH))
        before.set_weights([kernel, recurrent_kernel, bias[0] + bias[1]])
        (h_prev,) = random_states(after, rng)
        assert (
            np.abs(to_numpy(after(x, [h_prev])[0]) - to_numpy(before(x, [h_prev])[0])).max() > 1e-3
        )

    @pytest.mark.parametrize(
        "reset_after, bias_shape", [(True, (2, 3 * UNITS)), (False, (3 * UNITS,))]
    )
    def test_weights(self, reset_after, bias_shape):
        cell = GRUCell(UNITS, reset_after=reset_after)
        cell.build((None, FEATURES))
        assert [tuple(w.shape) for w in cell.weights] == [
            (FEATURES, 3 * UNITS),
            (UNITS, 3 * UNITS),
            bias_shape,
        ]


ALL_CELLS = [VanillaRNNCell, LSTMCell, GRUCell, PhasedLSTMCell]


@pytest.mark.parametrize("cell_class", ALL_CELLS)
class TestEveryCell:
    def test_config_round_trip(self, cell_class):
        cell = cell_class(
            7,
            activation="relu",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer="l2",
            recurrent_constraint="max_norm",
            dropout=0.25,
            recurrent_dropout=0.5,
            seed=3,
        )
        config = cell.get_config()
        clone = cell_class.from_config(config)
        assert clone.get_config() == config
        assert config["units"] == 7 and config["dropout"] == 0.25 and config["seed"] == 3
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
        assert type(again) is cell_class and again.get_config() == config

    def test_registered_under_seqrnn(self, cell_class):
        assert keras.saving.get_registered_name(cell_class) == f"seqrnn>{cell_class.__name__}"

    @pytest.mark.parametrize(
        "argument, value, expected",
        [
            ("units", 0, "positive integer"),
            ("units", -3, "positive integer"),
            ("units", 2.5, "positive integer"),
            ("activation", "no_such_activation", "activation"),
            ("dropout", 1.0, "[0, 1)"),
            ("recurrent_dropout", -0.1, "[0, 1)"),
        ],
    )
    def test_bad_arguments(self, cell_class, argument, value, expected):
        kwargs = {"units": 4, argument: value}
        with pytest.raises(ValueError) as caught:
            cell_class(**kwargs)
        message = str(caught.value)
        assert f"argument {argument}" in message and repr(value) in message
        assert expected in message


def test_recurrent_activation_is_checked():
    with pytest.raises(ValueError, match=r"argument recurrent_activation.*'sigmoidal'"):
        LSTMCell(3, recurrent_activation="sigmoidal")
    with pytest.raises(ValueError, match="argument recurrent_activation"):
        GRUCell(3, recurrent_activation=42)


@pytest.mark.parametrize("cell_class", [LSTMCell, PhasedLSTMCell, GRUCell])
@pytest.mark.parametrize("max_steps", [2, 50])
def test_chrono_init_spreads_the_keep_gate_timescales_up_to_t_max(cell_class, max_steps):
    """Tallec & Ollivier (2018): keep-gate bias log(U[1, T_max - 1]), LSTM input gate minus it."""
    units = 64
    keras.utils.set_random_seed(3)
    cell = cell_class(units, chrono_init=max_steps)
    # A Phased LSTM step reads the features followed by one phase per unit.
    cell.build((2, 5 + (units if cell_class is PhasedLSTMCell else 0)))
    bias = to_numpy(cell.bias)
    if cell_class is GRUCell:  # rows: input bias, recurrent bias; blocks z, r, h
        keep, rest = bias[0, :units], np.concatenate([bias[0, units:], bias[1]])
    else:  # blocks i, f, c, o
        keep, rest = bias[units : 2 * units], bias[2 * units :]
        np.testing.assert_allclose(bias[:units], -keep)
    # sigmoid(keep) = u / (1 + u): a leak of 1 / (1 + u), timescales 1 + u between 2 and T_max.
    timescales = 1.0 + np.exp(keep)
    assert timescales.min() >= 2.0 - 1e-5 and timescales.max() <= max_steps + 1e-4
    if max_steps > 2:
        assert np.ptp(timescales) > 0.5 * (max_steps - 2)  # spread, not one value
    np.testing.assert_array_equal(rest, 0.0)
    assert cell_class.from_config(cell.get_config()).chrono_init == max_steps


@pytest.mark.parametrize("value", [1, 0, -3, 2.5, True])
def test_chrono_init_must_be_a_number_of_steps(value):
    with pytest.raises(ValueError, match=r"chrono_init must be None or the longest dependency"):
        LSTMCell(3, chrono_init=value)
