"""PhasedLSTM as a layer: references, the open gate, masking, timestamps and their errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import seqrnn
from tests import reference
from tests.conftest import F64_TOL, loss_and_grads, to_numpy

BATCH, STEPS, FEATURES, UNITS = 3, 7, 4, 5


def set_random_weights(layer, rng, tau, shift, r_on):
    weights = [rng.normal(0.0, 0.5, w.shape) for w in layer.get_weights()]
    weights[3:6] = [np.broadcast_to(v, (UNITS,)).astype("float64") for v in (tau, shift, r_on)]
    layer.set_weights(weights)
    return weights


def far_from_zero(rng, t0, tau, shift, r_on, **layer_kwargs):
    """A Phased LSTM with these tau, s and r_on and random weights, timestamps from `t0` on, and
    the weights as float32 holds them (for the float64 reference)."""
    phased = seqrnn.PhasedLSTM(UNITS, return_sequences=True, **layer_kwargs)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    t = t0 + np.cumsum(rng.uniform(0.1, 1.0, size=(BATCH, STEPS)), axis=1)
    phased([x, t])
    weights = set_random_weights(phased, rng, tau, shift, r_on)
    return phased, x, t, [w.astype("float32").astype("float64") for w in weights]


class TestAgainstReferences:
    def test_open_gate_equals_keras_lstm(self, rng):
        # tau = 10, s = 0, r_on = 0.2 and t = 1 + 10 n put every step at phi = 0.1 = r_on / 2,
        # the top of the triangle: k = 1, so the layer must be a plain LSTM.
        phased = seqrnn.PhasedLSTM(UNITS, return_sequences=True)
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        t = np.broadcast_to(1.0 + 10.0 * np.arange(STEPS), (BATCH, STEPS)).astype("float32")
        phased([x, t])
        weights = set_random_weights(phased, rng, 10.0, 0.0, 0.2)
        np.testing.assert_array_equal(to_numpy(phased.cell.time_gate(t[..., None])), 1.0)
        lstm = keras.layers.LSTM(UNITS, return_sequences=True)
        lstm(x)
        lstm.set_weights(weights[:3])
        for training in (False, True):
            np.testing.assert_allclose(
                to_numpy(phased([x, t], training=training)), to_numpy(lstm(x)), atol=1e-5
            )

    def test_open_gate_equals_peephole_lstm(self, rng):
        phased = seqrnn.PhasedLSTM(
            UNITS, use_peepholes=True, return_sequences=True, dtype="float64"
        )
        x = rng.normal(size=(BATCH, STEPS, FEATURES))
        t = np.broadcast_to(1.0 + 10.0 * np.arange(STEPS), (BATCH, STEPS))
        phased([x, t])
        weights = set_random_weights(phased, rng, 10.0, 0.0, 0.2)
        h = np.zeros((BATCH, UNITS))
        c = np.zeros((BATCH, UNITS))
        expected = []
        for step in range(STEPS):
            h, c = reference.lstm_step(x[:, step], h, c, *weights[:3], weights[6:9])
            expected.append(h)
        np.testing.assert_allclose(
            to_numpy(phased([x, t])), np.stack(expected, axis=1), atol=F64_TOL
        )

    @pytest.mark.parametrize("training", [False, True])
    def test_asynchronous_timestamps_match_numpy(self, rng, training):
        phased = seqrnn.PhasedLSTM(
            UNITS, use_peepholes=True, return_sequences=True, dtype="float64"
        )
        x = rng.normal(size=(BATCH, STEPS, FEATURES))
        # Every sample has its own irregular clock, starting before the shifts (t - s < 0).
        t = np.cumsum(rng.uniform(0.05, 3.0, size=(BATCH, STEPS)), axis=1) - 4.0
        phased([x, t])
        tau = np.exp(rng.uniform(0.0, np.log(8.0), UNITS))
        weights = set_random_weights(
            phased, rng, tau, rng.uniform(0, 1, UNITS) * tau, rng.uniform(0.2, 0.9, UNITS)
        )
        leak = 1e-3 if training else 0.0
        expected = reference.phased_lstm(x, t, weights, leak=leak, peepholes=True)
        got = to_numpy(phased([x, t[..., None]], training=training))
        np.testing.assert_allclose(got, expected, atol=F64_TOL)

    def test_float64_timestamps_far_from_zero(self, rng):
        tau = np.array([1.5, 2.0, 3.0, 5.0, 7.0])
        phased, x, t, weights = far_from_zero(rng, 1e8, tau, 0.25 * tau, 0.6)
        expected = reference.phased_lstm(x.astype("float64"), t, weights)
        np.testing.assert_allclose(to_numpy(phased([x, t])), expected, atol=1e-5)

    @pytest.mark.parametrize(
        "policy, tolerance", [("mixed_float16", 5e-3), ("mixed_bfloat16", 3e-2)]
    )
    def test_mixed_precision_keeps_the_phase(self, rng, policy, tolerance):
        # Under a mixed policy Keras hands a layer's float32 variables to `call` in float16 or
        # bfloat16. The phase must come from tau and s in float32: a period of 1.2 rounded to
        # float16 (1.2002) is a fifth of a period off after 1000 time units. The rest computes
        # in the compute dtype, hence the tolerance (measured on the three backends: up to 6e-4 in
        # float16 and 7e-3 in bfloat16, where tau and s rounded gave 0.13 and 0.24).
        tau = np.array([1.2, 1.7, 3.1, 5.3, 7.9])
        phased, x, t, weights = far_from_zero(rng, 1000.0, tau, 0.3 * tau, 0.6, dtype=policy)
        expected = reference.phased_lstm(x.astype("float64"), t, weights)
        assert np.abs(expected).max() > 0.3  # the gates open: the outputs are not all near 0
        got = phased([x, t])
        assert keras.backend.standardize_dtype(got.dtype) == policy.removeprefix("mixed_")
        assert {keras.backend.standardize_dtype(w.dtype) for w in phased.weights} == {"float32"}
        np.testing.assert_allclose(to_numpy(got).astype("float64"), expected, atol=tolerance)

    @pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
    def test_mixed_precision_gradients(self, policy):
        # Against the same layer in float32, norm-wise. Measured on the three backends: float16
        # within 2.1e-3 for every gradient; bfloat16 within 1.5e-2 for the LSTM's weights and
        # the features, but 0.13-0.38 for tau, s and r_on: the phase reaches the gate in
        # bfloat16 (steps of 2^-9 near 0.5), which moves phases across the triangle's corners.
        grads = {}
        for dtype in ("float32", policy):
            rng = np.random.default_rng(5)
            tau = np.array([1.2, 1.7, 3.1, 5.3, 7.9])
            phased, x, t, _ = far_from_zero(rng, 1000.0, tau, 0.3 * tau, 0.6, dtype=dtype)
            upstream = rng.normal(size=(BATCH, STEPS, UNITS))
            _, g = loss_and_grads(phased, [x, t], upstream, training=True)
            names = ["x", "t", *(w.name for w in phased.trainable_weights)]
            grads[dtype] = dict(zip(names, g, strict=True))
        tolerance = 5e-3 if policy == "mixed_float16" else 5e-2
        for name, want in grads["float32"].items():
            got = grads[policy][name]
            assert got.dtype == want.dtype and np.isfinite(got).all(), name
            if policy == "mixed_bfloat16" and name in ("t", "tau", "shift", "r_on"):
                continue  # (bfloat16's phase, above)
            error = np.linalg.norm(got - want) / np.linalg.norm(want)
            assert error < tolerance, (name, error)


class TestGateBehaviour:
    def test_closed_gate_keeps_the_state_at_inference(self, rng):
        # r_on = 0.1 and every step at phi = 0.5: all units closed, k = 0 at inference.
        phased = seqrnn.PhasedLSTM(UNITS, return_sequences=True, return_state=True)
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        t = np.broadcast_to(5.0 + 10.0 * np.arange(STEPS), (BATCH, STEPS)).astype("float32")
        phased([x, t])
        set_random_weights(phased, rng, 10.0, 0.0, 0.1)
        start = [rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(2)]
        _, h, c = phased([x, t], initial_state=start)
        np.testing.assert_array_equal(to_numpy(h), start[0])
        np.testing.assert_array_equal(to_numpy(c), start[1])
        leaked = phased([x, t], initial_state=start, training=True)[1]
        drift = np.abs(to_numpy(leaked) - start[0]).max()
        assert 0.0 < drift < 0.05  # alpha = 1e-3 lets a little through, only while training

    def test_masked_steps_copy_both_states(self, rng):
        phased = seqrnn.PhasedLSTM(
            UNITS,
            return_sequences=True,
            return_state=True,
            tau_range=(1.0, 4.0),
            r_on_init=0.5,
            seed=0,
        )
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        t = np.cumsum(rng.uniform(0.2, 1.0, size=(BATCH, STEPS)), axis=1).astype("float32")
        lengths = [STEPS, 3, 5]
        mask = np.arange(STEPS)[None, :] < np.array(lengths)[:, None]
        outputs, h, c = phased([x, t], mask=mask)
        outputs = to_numpy(outputs)
        for sample, length in enumerate(lengths):
            alone = phased([x[sample : sample + 1, :length], t[sample : sample + 1, :length]])
            np.testing.assert_allclose(to_numpy(alone[1])[0], to_numpy(h)[sample], atol=1e-6)
            np.testing.assert_allclose(to_numpy(alone[2])[0], to_numpy(c)[sample], atol=1e-6)
            # After the sequence ends the output repeats the last one (Keras' convention).
            np.testing.assert_array_equal(
                outputs[sample, length:],
                np.repeat(outputs[sample, length - 1 : length], STEPS - length, axis=0),
            )

    def test_tau_shift_r_on_get_finite_gradients(self, rng):
        phased = seqrnn.PhasedLSTM(UNITS, tau_range=(1.0, 4.0), r_on_init=0.5, seed=2)
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        t = np.cumsum(rng.uniform(0.2, 1.0, size=(BATCH, STEPS)), axis=1).astype("float32")
        phased([x, t])
        _, grads = loss_and_grads(phased, [x, t], rng.normal(size=(BATCH, UNITS)), training=True)
        by_name = dict(zip([w.name for w in phased.trainable_weights], grads[2:], strict=True))
        for name in ("tau", "shift", "r_on"):
            assert np.isfinite(by_name[name]).all() and np.abs(by_name[name]).max() > 0, name


class TestModels:
    def test_bidirectional_and_stacked(self, rng):
        x_in = keras.Input((None, FEATURES))
        t_in = keras.Input((None,), dtype="float64")
        both = keras.layers.Bidirectional(
            seqrnn.PhasedLSTM(UNITS, return_sequences=True, tau_range=(1.0, 4.0))
        )([x_in, t_in])
        top = seqrnn.PhasedLSTM(UNITS, tau_range=(1.0, 4.0))([both, t_in])
        model = keras.Model([x_in, t_in], top)
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        t = np.cumsum(rng.uniform(0.2, 1.0, size=(BATCH, STEPS)), axis=1)
        assert tuple(model([x, t]).shape) == (BATCH, UNITS)
        assert model.layers[2].backward_layer.go_backwards


class TestBadTimestamps:
    @pytest.mark.parametrize(
        "t_shape", [(BATCH, STEPS, 2), (BATCH,), (BATCH, STEPS + 1), (BATCH, STEPS, 1, 1)]
    )
    def test_wrong_shape(self, t_shape):
        layer = seqrnn.PhasedLSTM(UNITS)
        x = np.zeros((BATCH, STEPS, FEATURES), "float32")
        with pytest.raises(ValueError) as caught:
            layer([x, np.zeros(t_shape, "float32")])
        message = str(caught.value)
        assert "argument timestamps" in message and str(t_shape) in message
        assert "(batch, steps) or (batch, steps, 1)" in message

    def test_wrong_shape_in_a_functional_model(self):
        with pytest.raises(ValueError, match="argument timestamps"):
            seqrnn.PhasedLSTM(UNITS)([keras.Input((None, 3)), keras.Input((None, 2))])

    def test_missing_timestamps(self):
        with pytest.raises(ValueError, match=r"expected a list \[x, t\]"):
            seqrnn.PhasedLSTM(UNITS)(np.zeros((BATCH, STEPS, FEATURES), "float32"))
