"""seqrnn's VanillaRNN, LSTM and GRU against Keras' built-in layers with the same weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import seqrnn
from tests.conftest import BACKEND, loss_and_grads, to_numpy

TOLERANCE = 1e-5
# Gradients of a relu RNN reach magnitudes of about 60, where float32 holds 7 digits: summed in
# another order (seqrnn's fused loop, Keras' per-step one) they differ by a few units in the
# last place (1.1e-5 at 57.5 on an AMD EPYC, 2e-7 relative). Absolute for small values,
# relative for large ones.
RELATIVE = 1e-6

CASES = [
    pytest.param(seqrnn.VanillaRNN, keras.layers.SimpleRNN, {}, id="vanilla-tanh"),
    pytest.param(
        seqrnn.VanillaRNN, keras.layers.SimpleRNN, {"activation": "relu"}, id="vanilla-relu"
    ),
    pytest.param(seqrnn.LSTM, keras.layers.LSTM, {}, id="lstm"),
    pytest.param(
        seqrnn.LSTM, keras.layers.LSTM, {"unit_forget_bias": False}, id="lstm-no-forget-bias"
    ),
    pytest.param(seqrnn.GRU, keras.layers.GRU, {"reset_after": True}, id="gru-reset-after"),
    pytest.param(seqrnn.GRU, keras.layers.GRU, {"reset_after": False}, id="gru-textbook"),
]

BATCH, STEPS, FEATURES, UNITS = 4, 9, 5, 6


def make_layer(layer_class, kwargs, rng, **layer_kwargs):
    """A layer built on the test's input, with random (not initial) weights."""
    layer = layer_class(UNITS, **kwargs, **layer_kwargs)
    layer.build((BATCH, STEPS, FEATURES))
    layer.set_weights(
        [rng.normal(0.0, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    )
    return layer


def make_pair(ours_class, keras_class, kwargs, rng, **layer_kwargs):
    """Both layers built on the same input, with the same random (not initial) weights."""
    ours = make_layer(ours_class, kwargs, rng, **layer_kwargs)
    theirs = keras_class(UNITS, **kwargs, **layer_kwargs)
    theirs.build((BATCH, STEPS, FEATURES))
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def mask_for(rng):
    """Random lengths per sample, including a sample masked from its first step on."""
    lengths = np.array([STEPS, 1, 5, 0])
    mask = np.arange(STEPS)[None, :] < lengths[:, None]
    # Also hole-punch a middle step of the first sample: masking need not be a suffix.
    mask[0, 3] = False
    return mask


def expected_path(kwargs, masked):
    """fused (TensorFlow, JAX) or native (PyTorch, right-padded masks only); GRU(reset_after=False)
    runs the per-step cell everywhere."""
    if not kwargs.get("reset_after", True):
        return "per-step"
    if BACKEND == "torch":
        return "per-step" if masked else "native"  # mask_for punches a hole
    return "fused" if BACKEND in ("tensorflow", "jax") else "per-step"


@pytest.mark.parametrize("ours_class, keras_class, kwargs", CASES)
class TestSameAsKeras:
    @pytest.mark.parametrize("go_backwards", [False, True])
    @pytest.mark.parametrize("masked", [False, True])
    def test_outputs_and_gradients(self, ours_class, keras_class, kwargs, go_backwards, masked):
        rng = np.random.default_rng(7)
        ours, theirs = make_pair(
            ours_class, keras_class, kwargs, rng, return_sequences=True, go_backwards=go_backwards
        )
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        call_kwargs = {"mask": mask_for(rng)} if masked else {}
        weights_of_output = rng.normal(size=(BATCH, STEPS, UNITS))
        out_ours, grads_ours = loss_and_grads(ours, x, weights_of_output, **call_kwargs)
        out_theirs, grads_theirs = loss_and_grads(theirs, x, weights_of_output, **call_kwargs)
        np.testing.assert_allclose(out_ours, out_theirs, rtol=0, atol=TOLERANCE)
        assert ours.path == expected_path(kwargs, masked)
        assert len(grads_ours) == len(grads_theirs) == 1 + len(ours.trainable_weights)
        for g_ours, g_theirs in zip(grads_ours, grads_theirs, strict=True):
            np.testing.assert_allclose(g_ours, g_theirs, rtol=RELATIVE, atol=TOLERANCE)
        assert np.abs(grads_ours[0]).max() > 0  # the comparison is not between two zeros

    def test_return_state_with_initial_state(self, ours_class, keras_class, kwargs):
        rng = np.random.default_rng(11)
        ours, theirs = make_pair(ours_class, keras_class, kwargs, rng, return_state=True)
        x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
        states = [
            rng.normal(size=(BATCH, UNITS)).astype("float32")
            for _ in ours.cell.get_initial_state(1)
        ]
        got = ours(x, initial_state=states)
        want = theirs(x, initial_state=states)
        assert len(got) == len(want) == 1 + len(states)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=0, atol=TOLERANCE)

    def test_stateful_continuation(self, ours_class, keras_class, kwargs):
        rng = np.random.default_rng(13)
        ours, theirs = make_pair(
            ours_class, keras_class, kwargs, rng, stateful=True, return_sequences=True
        )
        first, second = (
            rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32") for _ in range(2)
        )
        whole = make_layer(ours_class, kwargs, np.random.default_rng(13), return_sequences=True)
        for layer in (ours, theirs):
            a = to_numpy(layer(first))
            b = to_numpy(layer(second))
            # The second call continues from the first: the same as one call on both halves.
            both = to_numpy(whole(np.concatenate([first, second], axis=1)))
            np.testing.assert_allclose(np.concatenate([a, b], axis=1), both, atol=TOLERANCE)
            layer.reset_state()
            np.testing.assert_allclose(to_numpy(layer(first)), a, rtol=0, atol=TOLERANCE)


# Mixed precision (variables in float32, products in the compute dtype) against Keras' layer in
# float32 with the same weights. Norm-wise relative errors measured on TensorFlow, JAX and
# PyTorch: float16 up to 8e-4 (outputs) and 1.6e-3 (gradients), bfloat16 up to 6e-3 and 1.9e-2,
# the same as those of Keras' own layers in mixed precision; a cast in the wrong place (a state
# or a bias rounded to the compute dtype between steps, the gates in float32) is off by more.
MIXED = {"mixed_float16": 5e-3, "mixed_bfloat16": 5e-2}


def relative_error(got, want):
    want = np.asarray(want, np.float64)
    return np.linalg.norm(np.asarray(got, np.float64) - want) / np.linalg.norm(want)


@pytest.mark.parametrize("policy", sorted(MIXED))
@pytest.mark.parametrize("ours_class, keras_class, kwargs", CASES)
def test_mixed_precision_against_keras_in_float32(ours_class, keras_class, kwargs, policy):
    compute = policy.removeprefix("mixed_")
    ours = make_layer(
        ours_class, kwargs, np.random.default_rng(17), return_sequences=True, dtype=policy
    )
    rng = np.random.default_rng(17)
    theirs = make_layer(keras_class, kwargs, rng, return_sequences=True)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    weights_of_output = rng.normal(size=(BATCH, STEPS, UNITS))
    assert ours.compute_dtype == compute
    assert {keras.backend.standardize_dtype(w.dtype) for w in ours.weights} == {"float32"}
    assert keras.backend.standardize_dtype(ours(x).dtype) == compute
    out_ours, grads_ours = loss_and_grads(ours, x, weights_of_output)
    out_theirs, grads_theirs = loss_and_grads(theirs, x, weights_of_output)
    assert ours.path == expected_path(kwargs, masked=False)
    assert relative_error(out_ours, out_theirs) < MIXED[policy]
    assert len(grads_ours) == len(grads_theirs) == 1 + len(ours.trainable_weights)
    for g_ours, g_theirs in zip(grads_ours, grads_theirs, strict=True):
        assert keras.backend.standardize_dtype(g_ours.dtype) == "float32"  # as the variables
        assert relative_error(g_ours, g_theirs) < MIXED[policy]


@pytest.mark.parametrize("policy", sorted(MIXED))
@pytest.mark.parametrize("ours_class, keras_class, kwargs", CASES)
def test_mixed_precision_stateful_continuation(ours_class, keras_class, kwargs, policy):
    # The second call continues from the states the first left, in the compute dtype: the
    # same as one call on both halves. (On PyTorch, Keras 3.15's own layers keep their
    # states at zero under mixed precision: assigning them inside the call does nothing.)
    rng = np.random.default_rng(19)
    first, second = (rng.normal(size=(BATCH, STEPS, FEATURES)).astype("float32") for _ in "ab")
    stateful, whole = (
        make_layer(ours_class, kwargs, np.random.default_rng(19), dtype=policy, **extra)
        for extra in ({"stateful": True, "return_sequences": True}, {"return_sequences": True})
    )
    halves = np.concatenate([to_numpy(stateful(first)), to_numpy(stateful(second))], axis=1)
    both = to_numpy(whole(np.concatenate([first, second], axis=1)))
    np.testing.assert_allclose(halves.astype("float32"), both.astype("float32"), atol=1e-3)
    assert {keras.backend.standardize_dtype(s.dtype) for s in stateful.states} == {"float32"}
