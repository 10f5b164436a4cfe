"""PhasedLSTMCell: the time gate against the paper's formula, its guards and its arguments."""

from __future__ import annotations

import numpy as np
import pytest

from seqrnn.cells import PhasedLSTMCell
from tests import reference
from tests.conftest import F64_TOL, to_numpy

UNITS = 6


def gate_cell(tau, shift, r_on, leak=1e-3):
    cell = PhasedLSTMCell(UNITS, leak=leak, dtype="float64")
    cell.build((None, 2 + UNITS))
    cell.tau.assign(np.asarray(tau, dtype="float64"))
    cell.shift.assign(np.asarray(shift, dtype="float64"))
    cell.r_on.assign(np.asarray(r_on, dtype="float64"))
    return cell


@pytest.fixture
def unit_params(rng):
    tau = np.exp(rng.uniform(np.log(0.5), np.log(50.0), UNITS))
    shift = rng.uniform(0.0, 1.0, UNITS) * tau
    r_on = rng.uniform(0.05, 1.0, UNITS)
    r_on[0] = 1.0  # always open: the gate never closes
    return tau, shift, r_on


class TestTimeGate:
    @pytest.mark.parametrize("training, leak", [(True, 1e-3), (False, 0.0)])
    def test_matches_the_formula_over_whole_periods(self, unit_params, training, leak):
        tau, shift, r_on = unit_params
        cell = gate_cell(tau, shift, r_on)
        # Three whole periods of the slowest unit on each side of 0, so t - s < 0 is included.
        t = np.linspace(-3 * tau.max(), 3 * tau.max(), 4001)[:, None]
        got = to_numpy(cell.time_gate(t, training=training))
        want = reference.time_gate(t, tau, shift, r_on, leak)
        assert got.shape == (4001, UNITS)
        np.testing.assert_allclose(got, want, rtol=F64_TOL, atol=F64_TOL)
        assert ((t - shift) < 0).any()
        assert got.min() >= 0.0 and got.max() <= 1.0

    def test_leak_is_zero_at_inference(self, unit_params):
        tau, shift, r_on = unit_params
        cell = gate_cell(tau, shift, r_on)
        t = np.linspace(0.0, 2 * tau.max(), 999)[:, None]
        phi = np.mod(t - shift, tau) / tau
        closed = phi >= r_on
        assert closed.any()
        assert (to_numpy(cell.time_gate(t, training=False))[closed] == 0.0).all()
        trained = to_numpy(cell.time_gate(t, training=True))[closed]
        np.testing.assert_allclose(trained, 1e-3 * phi[closed], rtol=F64_TOL)

    def test_shape_of_the_triangle(self):
        # tau = 6, s = 3, r_on = 0.2: the example of seed 004. Opens at t = 3, peaks at 3.6,
        # closes at 4.2, and again one period later.
        cell = gate_cell([6.0] * UNITS, [3.0] * UNITS, [0.2] * UNITS)
        t = np.array([[3.0], [3.3], [3.6], [3.9], [4.2], [5.0], [9.6], [-2.4]])
        k = to_numpy(cell.time_gate(t, training=False))[:, 0]
        np.testing.assert_allclose(k, [0.0, 0.5, 1.0, 0.5, 0.0, 0.0, 1.0, 1.0], atol=F64_TOL)

    def test_float64_timestamps_keep_the_phase_for_large_t(self, unit_params):
        tau, shift, r_on = unit_params
        cell = PhasedLSTMCell(UNITS)  # float32 weights, as in any ordinary model
        cell.build((None, 2 + UNITS))
        for variable, value in ((cell.tau, tau), (cell.shift, shift), (cell.r_on, r_on)):
            variable.assign(value.astype("float32"))
        t = 1e8 + np.linspace(0.0, 10.0, 101)[:, None]  # float32 cannot resolve these steps
        got = to_numpy(cell.time_gate(t.astype("float64"), training=False))
        want = reference.time_gate(
            t, *(v.astype("float32").astype("float64") for v in (tau, shift, r_on)), 0.0
        )
        np.testing.assert_allclose(got, want, atol=1e-4)

    @pytest.mark.parametrize(
        "tau, r_on",
        [(0.0, 0.05), (-5.0, 0.05), (10.0, 0.0), (10.0, -0.3), (10.0, 3.0), (1e-12, 1e-12)],
    )
    def test_no_nan_whatever_the_variables_hold(self, tau, r_on):
        cell = gate_cell([tau] * UNITS, [0.5] * UNITS, [r_on] * UNITS)
        t = np.linspace(-20.0, 20.0, 401)[:, None]
        k = to_numpy(cell.time_gate(t, training=True))
        assert np.isfinite(k).all() and k.min() >= 0.0 and k.max() <= 1.0


class TestPhasedLSTMCell:
    def test_step_matches_numpy(self, rng):
        cell = PhasedLSTMCell(UNITS, use_peepholes=True, dtype="float64")
        x = rng.normal(size=(3, 4))
        t = rng.uniform(-5.0, 60.0, size=(3, 1))
        cell.build((None, 4 + UNITS))
        weights = [rng.normal(0.0, 0.5, w.shape) for w in cell.get_weights()]
        weights[3] = np.exp(rng.uniform(0.0, np.log(20.0), UNITS))  # tau
        weights[4] = rng.uniform(0.0, 1.0, UNITS) * weights[3]  # shift
        weights[5] = rng.uniform(0.1, 1.0, UNITS)  # r_on
        cell.set_weights(weights)
        h_prev, c_prev = rng.normal(size=(3, UNITS)), rng.normal(size=(3, UNITS))
        step = np.concatenate([x, to_numpy(cell.phase(t))], axis=-1)
        h, (_, c) = cell(step, [h_prev, c_prev], training=False)
        h_new, c_new = reference.lstm_step(x, h_prev, c_prev, *weights[:3], weights[6:9])
        k = reference.time_gate(t, *weights[3:6], 0.0)
        assert 0.0 < k.mean() < 1.0
        np.testing.assert_allclose(to_numpy(h), k * h_new + (1 - k) * h_prev, atol=F64_TOL)
        np.testing.assert_allclose(to_numpy(c), k * c_new + (1 - k) * c_prev, atol=F64_TOL)

    def test_weights_and_initialization(self):
        cell = PhasedLSTMCell(500, tau_range=(2.0, 200.0), seed=0)
        cell.build((None, 3 + 500))
        names = [w.name for w in cell.weights]
        assert names == ["kernel", "recurrent_kernel", "bias", "tau", "shift", "r_on"]
        assert tuple(cell.kernel.shape) == (3, 4 * 500)  # the phases get no kernel
        tau, shift = to_numpy(cell.tau), to_numpy(cell.shift)
        assert tau.min() >= 2.0 and tau.max() <= 200.0
        # log-uniform: the median sits near the geometric mean of the range (20)
        assert 12.0 < np.median(tau) < 33.0
        assert (shift >= 0.0).all() and (shift <= tau).all()
        np.testing.assert_allclose(to_numpy(cell.r_on), 0.05, rtol=1e-6)
        peep = PhasedLSTMCell(4, use_peepholes=True)
        peep.build((None, 3 + 4))
        assert [w.name for w in peep.weights][-3:] == [
            "input_peephole",
            "forget_peephole",
            "output_peephole",
        ]

    def test_trainable_flags(self):
        cell = PhasedLSTMCell(4, trainable_tau=False, trainable_r_on=False)
        cell.build((None, 3 + 4))
        assert [w.name for w in cell.trainable_weights] == [
            "kernel",
            "recurrent_kernel",
            "bias",
            "shift",
        ]
        assert sorted(w.name for w in cell.non_trainable_weights) == ["r_on", "tau"]

    @pytest.mark.parametrize(
        "argument, value, expected",
        [
            ("r_on_init", 0.0, "(0, 1]"),
            ("r_on_init", 1.5, "(0, 1]"),
            ("tau_range", (0.0, 10.0), "two positive finite numbers"),
            ("tau_range", (-1.0, 10.0), "two positive finite numbers"),
            ("tau_range", (10.0, 1.0), "low <= high"),
            ("tau_range", (1.0,), "two positive"),
            ("leak", 1.0, "[0, 1)"),
        ],
    )
    def test_bad_arguments(self, argument, value, expected):
        with pytest.raises(ValueError) as caught:
            PhasedLSTMCell(4, **{argument: value})
        message = str(caught.value)
        assert f"argument {argument}" in message and repr(value) in message
        assert expected in message
