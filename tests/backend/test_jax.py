"""JAX's fused kernels (seqrnn/backend/jax.py) in float64: their hand-written reverse scans
against JAX's autodiff of the equations written plainly, step by step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="JAX's kernels run on the JAX backend")
STEPS, BATCH, UNITS = 6, 3, 4


def _reference(cell, relu=False):
    """The recurrence as the cells define it: `(zx, states, u, b, k) -> (hs, *final states)`."""
    import jax
    import jax.numpy as jnp

    def blend(k, new, old):
        return new if k is None else k * new + (1 - k) * old

    def run(zx, states, u, b, k):
        def step(carry, inputs):
            z_t, k_t = inputs
            if cell == "lstm":
                h, c = carry
                z = z_t + h @ u + (0 if b is None else b)
                i, f, g, o = jnp.split(z, 4, axis=-1)
                c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h_new = jax.nn.sigmoid(o) * jnp.tanh(c_new)
                carry = (blend(k_t, h_new, h), blend(k_t, c_new, c))
            elif cell == "gru":
                (h,) = carry
                x = z_t + (0 if b is None else b[0])
                inner = h @ u + (0 if b is None else b[1])
                x_z, x_r, x_h = jnp.split(x, 3, axis=-1)
                r_z, r_r, r_h = jnp.split(inner, 3, axis=-1)
                z, r = jax.nn.sigmoid(x_z + r_z), jax.nn.sigmoid(x_r + r_r)
                n = jnp.tanh(x_h + r * r_h)
                carry = (blend(k_t, z * h + (1 - z) * n, h),)
            else:
                (h,) = carry
                z = z_t + h @ u + (0 if b is None else b)
                carry = (blend(k_t, jax.nn.relu(z) if relu else jnp.tanh(z), h),)
            return carry, carry[0]

        final, hs = jax.lax.scan(step, tuple(states), (zx, k))
        return (hs, *final)

    return run


@pytest.mark.parametrize(
    ("cell", "biased", "gated", "relu"),
    [
        (cell, biased, gated, False)
        for cell, biased, gated in itertools.product(
            ["lstm", "gru", "vanilla"], *[[False, True]] * 2
        )
    ]
    + [("vanilla", True, True, True)],
)
@pytest.mark.parametrize("parts", [1, BATCH], ids=["one-chain", "a-chain-a-sample"])
def test_the_fused_kernels_gradients_equal_autodiff_in_float64(cell, biased, gated, relu, parts):
    import jax
    import jax.numpy as jnp

    from seqrnn.backend import jax as kernels

    assert jax.config.jax_enable_x64  # tests/conftest.py
    gates = {"lstm": 4, "gru": 3, "vanilla": 1}[cell]
    rng = np.random.default_rng(0)
    zx = jnp.asarray(rng.normal(size=(STEPS, BATCH, gates * UNITS)))
    states = [
        jnp.asarray(rng.normal(size=(BATCH, UNITS))) for _ in range(2 if cell == "lstm" else 1)
    ]
    u = jnp.asarray(rng.normal(0.0, 0.5, (UNITS, gates * UNITS)))
    b = None
    if biased:
        b = jnp.asarray(rng.normal(size=(2, 3 * UNITS) if cell == "gru" else (gates * UNITS,)))
    k = None
    if gated:  # a mask (0 and 1) times a time gate (values between)
        k = rng.uniform(0.0, 1.0, (STEPS, BATCH, UNITS)) * (
            rng.uniform(size=(STEPS, BATCH, 1)) > 0.3
        )
        k = jnp.asarray(k)
    upstream = [jnp.asarray(rng.normal(size=(STEPS, BATCH, UNITS)))]
    upstream += [jnp.asarray(rng.normal(size=(BATCH, UNITS))) for _ in states]
    if cell == "lstm":
        fused = kernels._lstm(biased, gated, parts)
    elif cell == "gru":
        fused = kernels._gru(biased, gated, parts)
    else:
        fused = kernels._vanilla(biased, gated, relu, parts)

    def loss(function, zx, states, u, b, k):
        outputs = function(zx, *states, u, b, k)
        return sum((o * w).sum() for o, w in zip(outputs, upstream, strict=True)), outputs

    reference = _reference(cell, relu)
    wrt = (0, 1, 2, 3, 4) if gated else (0, 1, 2, 3)
    got = jax.grad(lambda *a: loss(fused, *a), argnums=wrt, has_aux=True)(zx, states, u, b, k)
    expected = jax.grad(
        lambda zx, states, u, b, k: loss(
            lambda zx, *rest: reference(zx, rest[:-3], *rest[-3:]), zx, states, u, b, k
        ),
        argnums=wrt,
        has_aux=True,
    )(zx, states, u, b, k)
    leaves = jax.tree_util.tree_leaves(got)
    references = jax.tree_util.tree_leaves(expected)
    assert len(leaves) == len(references) >= 5
    for a, e in zip(leaves, references, strict=True):
        assert a.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize(
    ("batch", "setting", "cell", "cores", "expected"),
    [
        (64, "auto", "gru", 2, 2),  # one chain per core
        (64, "auto", "gru", 16, 8),  # each of at least 8 samples
        (12, "auto", "gru", 2, 1),
        (64, "auto", "lstm", 2, 1),  # only the GRU is faster in chains
        (64, "auto", "vanilla", 2, 1),
        (30, 4, "lstm", 2, 3),  # the largest divisor of the batch not above the setting
        (7, 4, "gru", 2, 1),
        (3, 8, "vanilla", 2, 3),
        (64, 1, "gru", 2, 1),
    ],
)
def test_the_chains_of_a_batch(batch, setting, cell, cores, expected):
    from seqrnn.backend import jax as kernels

    assert kernels.chains(batch, setting, cell, cores) == expected


def test_the_phase_kernel_equals_floor_mod_and_its_gradients_in_float64():
    """phi = frac((t - s) / tau) against `PhasedLSTMCell.phase` (floor-mod) under autodiff, with
    negative t - s and t up to 1e5: values and the gradients of t, s and tau."""
    import jax
    import jax.numpy as jnp

    from seqrnn.backend import jax as kernels
    from seqrnn.cells import PhasedLSTMCell

    rng = np.random.default_rng(1)
    t = jnp.asarray(rng.uniform(-50.0, 1e5, (3, 40, 1)))
    tau = jnp.asarray(np.exp(rng.uniform(0.0, np.log(1000.0), 16)))
    shift = jnp.asarray(rng.uniform(0.0, 1.0, 16)) * tau
    upstream = jnp.asarray(rng.normal(size=(3, 40, 16)))

    def via_kernel(t, shift, tau):
        return (kernels.phase(t, shift, tau, "float64", "auto", (3, 40, 1), 16) * upstream).sum()

    def via_floor_mod(t, shift, tau):
        return ((jnp.mod(t - shift, tau) / tau) * upstream).sum()

    got = jax.value_and_grad(via_kernel, argnums=(0, 1, 2))(t, shift, tau)
    expected = jax.value_and_grad(via_floor_mod, argnums=(0, 1, 2))(t, shift, tau)
    for a, e in zip(
        jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected), strict=True
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-9, atol=1e-9)
    cell = PhasedLSTMCell(16, dtype="float64")
    cell.build((None, 1 + 16))
    cell.tau.assign(tau)
    cell.shift.assign(shift)
    phi = kernels.phase(*cell.phase_parameters(t), "float64", "auto", (3, 40, 1), 16)
    np.testing.assert_allclose(np.asarray(phi), np.asarray(cell.phase(t)), rtol=1e-9, atol=1e-9)


def test_on_a_gpu_keras_cudnn_lstm_runs_unmasked_in_the_order_of_processing(monkeypatch):
    """No GPU here: pretend there is one and stand in for Keras' JAX cuDNN kernel, which gives
    its outputs back in the sequence's order under go_backwards (step 0 first)."""
    import warnings

    import jax.numpy as jnp

    import seqrnn
    from seqrnn.backend import jax as kernels

    calls = []

    def cudnn(sequences, h, c, mask, **kwargs):
        calls.append(kwargs)
        # The output of the sequence's step t holds t, in the sequence's order (step 0 first),
        # as Keras' kernel gives them back even when it processed them last to first.
        steps = jnp.arange(sequences.shape[1], dtype=sequences.dtype)
        outputs = jnp.broadcast_to(steps[None, :, None], (*sequences.shape[:2], UNITS))
        return outputs[:, 0 if kwargs["go_backwards"] else -1], outputs, [h, c]

    monkeypatch.setattr(kernels, "gpu_available", lambda: True)
    monkeypatch.setattr(kernels, "backend_lstm", cudnn)
    x = np.ones((BATCH, STEPS, 2), "float32")
    layer = seqrnn.LSTM(UNITS, return_sequences=True, go_backwards=True)
    outputs = np.asarray(layer(x))
    assert layer.path == "cudnn" and len(calls) == 1
    # Keras' order of processing: the output of the last step comes first
    np.testing.assert_array_equal(outputs[0, :, 0], np.arange(STEPS)[::-1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masked = seqrnn.LSTM(UNITS)
        masked(x, mask=np.ones((BATCH, STEPS), bool))
    assert masked.path == "fused" and len(calls) == 1
    assert any("instead of cuDNN" in str(w.message) for w in caught)
    without = seqrnn.LSTM(UNITS, use_cudnn=False)
    without(x)
    assert without.path == "fused" and len(calls) == 1
