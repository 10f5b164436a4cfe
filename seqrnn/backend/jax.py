"""JAX's sequence kernels: cuDNN on a GPU (LSTM, Keras' kernel), the fused path everywhere.

The fused path is TensorFlow's (seqrnn/backend/tensorflow/) in JAX's terms: the input
projections of all steps are one product outside the loop; `lax.scan` runs only `h @ U` and the
step's elementwise work; the backward pass is a hand-written reverse scan (`jax.custom_vjp`) that
carries only `dh` (and `dc`) and recomputes each step's local derivatives from the gate values
the forward scan kept, and the recurrent kernel's gradient is one large product afterwards. Under
`jax.jit` (what `model.fit` runs) XLA compiles the scans with the rest of the step.

Keeping the gate values rather than the derivatives matters here: the LSTM's forward scan took 41
ms at `seqrnn bench`'s shape when it kept the sigmoids and the cell state (5 x units a step), 92 ms
when it kept the four products of the derivatives and two more arrays, as the TensorFlow path does
(whose loops XLA compiles differently, one slice of the batch at a time).

The recurrences take time-major arrays, as TensorFlow's do: `zx` `(steps, batch, gates * units)`,
the initial states `(batch, units)`, the recurrent kernel `(units, gates * units)`, the bias (or
None) and `k` `(steps, batch, units)` or None: the fraction of each unit that updates at each step
(masks and the Phased LSTM's time gate).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from seqrnn._keras_private import backend_lstm
from seqrnn.backend import (
    CUDNN,
    FUSED,
    Recurrence,
    Run,
    Unavailable,
    Weights,
    cpu_cores,
    fused_refusals,
    keras_cudnn,
    refuse,
    slices_wanted,
)


def _previous(sequence, first):
    """The sequence one step later in time, `first` at step 0: `(steps, batch, units)`."""
    return jnp.concatenate([first[None], sequence[:-1]], axis=0)


def _product_over_steps(a, b):
    """`a^T b` summed over steps and batch: `(steps, batch, m)`, `(steps, batch, n)` -> `(m, n)`."""
    return a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1])


def _blend(k, new, old):
    return new if k is None else k * new + (1.0 - k) * old


def _zeros_or_none(like):
    return None if like is None else jnp.zeros(like.shape[-1:], like.dtype)


def chains(batch: int, setting: int | str, cell: str, num_cores: int) -> int:
    """How many chains of the batch the scans of `cell` run (see `_scan`): a divisor of `batch`.

    `setting` is the layer's `batch_slices`: "auto" gives the GRU one chain per core (each of at
    least MIN_SLICE samples) on a CPU and every other case one chain; a number asks for at most
    that many, and the largest divisor of the batch not above it runs; a batch of unknown size
    (symbolic, as `jax.export` traces it) runs in one chain. Alternating `train_on_batch` runs at
    `seqrnn bench`'s shape on a 2-core AMD EPYC: the GRU's step took 103-120 ms in one chain,
    97-100 in two and 94-97 in four; the LSTM's 130-133 in one and 126-143 in two (its gradient
    alone 94-109 ms against 97-116, XLA already splits its wider product across the cores), the
    vanilla RNN's 50-54 against 51-57 (its step in two chains is 7 thunks, and XLA's CPU executor
    runs a loop body of at most 8 one after another).
    """
    if not isinstance(batch, int):
        return 1
    if setting == "auto" and (cell != "gru" or gpu_available()):
        return 1
    wanted = slices_wanted(batch, setting, num_cores)
    return max(d for d in range(1, wanted + 1) if batch % d == 0)


def _chain(x_t, p):
    """Chain p's inputs of a step: `(parts, n, ...)` leaves -> `(n, ...)`."""
    return jax.tree_util.tree_map(lambda x: x[p], x_t)


def _scan(step, carry, xs, parts, reverse=False, shared=0):
    """`lax.scan(step, carry, xs)` with the batch cut into `parts` independent chains, which each
    step advances one after another, so that XLA's executor runs one chain's recurrent product
    beside another's (on a CPU it runs a small product on one core). The last `shared` carries
    are sums over the batch (each chain's starts at zero; they are added at the end); the other
    carries have the batch as their first axis, and every input and output as its second, after
    time. `parts` divides the batch (`chains`)."""
    if parts == 1:
        return lax.scan(step, carry, xs, reverse=reverse)
    batch = jax.tree_util.tree_leaves(xs)[0].shape[1]
    n, count = batch // parts, len(carry) - shared  # count: the carries with a batch axis
    carries = tuple(
        (*(x[p * n : (p + 1) * n] for x in carry[:count]), *carry[count:]) for p in range(parts)
    )
    xs = jax.tree_util.tree_map(lambda x: x.reshape(x.shape[0], parts, n, *x.shape[2:]), xs)

    def body(carries, x_t):
        steps = [step(c, _chain(x_t, p)) for p, c in enumerate(carries)]
        outputs = jax.tree_util.tree_map(lambda *o: jnp.stack(o), *(o for _, o in steps))
        return tuple(c for c, _ in steps), outputs  # outputs: (parts, n, ...) a step

    def merge(i, column):
        if i < count:
            return jnp.concatenate(column, axis=0)
        return None if column[0] is None else sum(column[1:], column[0])

    carries, outs = lax.scan(body, carries, xs, reverse=reverse)
    merged = tuple(merge(i, [c[i] for c in carries]) for i in range(len(carry)))
    outs = jax.tree_util.tree_map(lambda o: o.reshape(o.shape[0], batch, *o.shape[3:]), outs)
    return merged, outs


@functools.cache
def _lstm(biased: bool, gated: bool, parts: int = 1):
    """The LSTM recurrence (gate order i, f, c, o) with its hand-written gradient:
    `(zx, h0, c0, u, b, k) -> (hs, h_T, c_T)`; b and k are None unless `biased`, `gated`."""

    def forward(zx, h0, c0, u, b, k):
        units = h0.shape[-1]
        # One sigmoid over the four gates: tanh(z) = 2 sigmoid(2 z) - 1 for the candidate.
        scale = jnp.repeat(jnp.asarray([1.0, 1.0, 2.0, 1.0], zx.dtype), units)

        def step(carry, inputs):
            h, c = carry
            z_t, k_t = inputs
            z = z_t + h @ u
            s = jax.nn.sigmoid((z + b if biased else z) * scale)
            i, f, g, o = jnp.split(s, 4, axis=-1)
            c_tilde = f * c + i * (2.0 * g - 1.0)
            h_new = _blend(k_t, o * jnp.tanh(c_tilde), h)
            c_new = _blend(k_t, c_tilde, c)
            return (h_new, c_new), (s, c_tilde, h_new, c_new) if gated else (s, c_tilde, h_new)

        (h, c), saved = _scan(step, (h0, c0), (zx, k), parts)
        return (saved[2], h, c), (saved, h0, c0, u, b, k)

    def backward(residuals, upstream):
        saved, h0, c0, u, b, k = residuals
        gates, c_tildes, hs = saved[:3]
        cs = saved[3] if gated else c_tildes
        dhs, dh_last, dc_last = upstream
        h_prev, c_prev = _previous(hs, h0), _previous(cs, c0)

        def step(carry, inputs):
            dh, dc, db = carry
            dh_t, s, c_tilde, hp, cp, k_t = inputs
            dh = dh + dh_t
            i, f, g, o = jnp.split(s, 4, axis=-1)
            g = 2.0 * g - 1.0
            tanh_c = jnp.tanh(c_tilde)
            dh_tilde, dc_tilde = (dh, dc) if k_t is None else (k_t * dh, k_t * dc)
            dc_tilde = dc_tilde + dh_tilde * o * (1.0 - tanh_c * tanh_c)
            dz = jnp.concatenate(
                [
                    dc_tilde * g * i * (1.0 - i),
                    dc_tilde * cp * f * (1.0 - f),
                    dc_tilde * i * (1.0 - g * g),
                    dh_tilde * tanh_c * o * (1.0 - o),
                ],
                axis=-1,
            )
            dh_prev, dc_prev = dz @ u.T, dc_tilde * f
            outputs = (dz,)
            if k_t is not None:
                dh_prev = dh_prev + (1.0 - k_t) * dh
                dc_prev = dc_prev + (1.0 - k_t) * dc
                dk = dh * (o * tanh_c - hp) + dc * (c_tilde - cp)
                outputs += (dk,)
            db = None if db is None else db + dz.sum(axis=0)
            return (dh_prev, dc_prev, db), outputs

        inputs = (dhs, gates, c_tildes, h_prev, c_prev, k)
        carry = (dh_last, dc_last, _zeros_or_none(b))
        (dh0, dc0, db), outputs = _scan(step, carry, inputs, parts, reverse=True, shared=1)
        dzs = outputs[0]
        dk = outputs[1] if gated else None
        return dzs, dh0, dc0, _product_over_steps(h_prev, dzs), db, dk

    run = jax.custom_vjp(lambda *args: forward(*args)[0])
    run.defvjp(forward, backward)
    return jax.jit(run)


@functools.cache
def _gru(biased: bool, gated: bool, parts: int = 1):
    """The GRU recurrence with the reset gate after the product (Keras' `reset_after=True`, gate
    order z, r, h; bias `(2, 3 * units)`: the input's row, then the recurrent one's):
    `(zx, h0, u, b, k) -> (hs, h_T)`."""

    def forward(zx, h0, u, b, k):
        def step(carry, inputs):
            (h,), (z_t, k_t) = carry, inputs
            x_z, x_r, x_h = jnp.split(z_t + b[0] if biased else z_t, 3, axis=-1)
            inner = h @ u + b[1] if biased else h @ u
            r_z, r_r, r_h = jnp.split(inner, 3, axis=-1)
            z = jax.nn.sigmoid(x_z + r_z)
            r = jax.nn.sigmoid(x_r + r_r)
            n = jnp.tanh(x_h + r * r_h)
            h_new = _blend(k_t, n + z * (h - n), h)
            return (h_new,), (z, r, n, r_h, h_new)

        (h,), saved = _scan(step, (h0,), (zx, k), parts)
        return (saved[-1], h), (saved, h0, u, k)

    def backward(residuals, upstream):
        (zs, rs, ns, r_hs, hs), h0, u, k = residuals
        dhs, dh_last = upstream
        h_prev = _previous(hs, h0)
        units = h0.shape[-1]

        def step(carry, inputs):
            dh, db_x, db_n = carry
            dh_t, z, r, n, r_h, hp, k_t = inputs
            dh = dh + dh_t
            dh_tilde = dh if k_t is None else k_t * dh
            dn = dh_tilde * (1.0 - z) * (1.0 - n * n)
            dz = dh_tilde * (hp - n) * z * (1.0 - z)
            dr = dn * r_h * r * (1.0 - r)
            dn_inner = dn * r
            d_inner = jnp.concatenate([dz, dr, dn_inner], axis=-1)
            dx = jnp.concatenate([dz, dr, dn], axis=-1)
            dh_prev = d_inner @ u.T + dh_tilde * z
            outputs = (dx, d_inner)
            if k_t is not None:
                dh_prev = dh_prev + (1.0 - k_t) * dh
                outputs += (dh * (n + z * (hp - n) - hp),)
            if db_x is not None:  # the recurrent bias's gradient is the input's for z and r
                db_x, db_n = db_x + dx.sum(axis=0), db_n + dn_inner.sum(axis=0)
            return (dh_prev, db_x, db_n), outputs

        sums = (
            (jnp.zeros(3 * units, hs.dtype), jnp.zeros(units, hs.dtype)) if biased else (None,) * 2
        )
        inputs = (dhs, zs, rs, ns, r_hs, h_prev, k)
        carry = (dh_last, *sums)
        (dh0, db_x, db_n), outputs = _scan(step, carry, inputs, parts, reverse=True, shared=2)
        dxs, d_inners = outputs[:2]
        db = None
        if biased:
            db = jnp.stack([db_x, jnp.concatenate([db_x[: 2 * units], db_n])])
        dk = outputs[2] if gated else None
        return dxs, dh0, _product_over_steps(h_prev, d_inners), db, dk

    run = jax.custom_vjp(lambda *args: forward(*args)[0])
    run.defvjp(forward, backward)
    return jax.jit(run)


@functools.cache
def _vanilla(biased: bool, gated: bool, relu: bool, parts: int = 1):
    """The vanilla recurrence `h_t = tanh(zx_t + b + h_{t-1} U)` (or relu):
    `(zx, h0, u, b, k) -> (hs, h_T)`."""
    activation = jax.nn.relu if relu else jnp.tanh

    def forward(zx, h0, u, b, k):
        def step(carry, inputs):
            (h,), (z_t, k_t) = carry, inputs
            z = z_t + h @ u
            h_tilde = activation(z + b if biased else z)
            h_new = _blend(k_t, h_tilde, h)
            return (h_new,), (h_tilde, h_new) if gated else (h_new,)

        (h,), saved = _scan(step, (h0,), (zx, k), parts)
        return (saved[-1], h), (saved, h0, u, b, k)

    def backward(residuals, upstream):
        saved, h0, u, b, k = residuals
        h_tildes, hs = saved[0], saved[-1]
        dhs, dh_last = upstream
        h_prev = _previous(hs, h0)

        def step(carry, inputs):
            dh, db = carry
            dh_t, h_tilde, hp, k_t = inputs
            dh = dh + dh_t
            dh_tilde = dh if k_t is None else k_t * dh
            local = (h_tilde > 0).astype(h_tilde.dtype) if relu else 1.0 - h_tilde * h_tilde
            dz = dh_tilde * local
            dh_prev = dz @ u.T
            outputs = (dz,)
            if k_t is not None:
                dh_prev = dh_prev + (1.0 - k_t) * dh
                outputs += (dh * (h_tilde - hp),)
            db = None if db is None else db + dz.sum(axis=0)
            return (dh_prev, db), outputs

        inputs = (dhs, h_tildes, h_prev, k)
        carry = (dh_last, _zeros_or_none(b))
        (dh0, db), outputs = _scan(step, carry, inputs, parts, reverse=True, shared=1)
        dzs = outputs[0]
        dk = outputs[1] if gated else None
        return dzs, dh0, _product_over_steps(h_prev, dzs), db, dk

    run = jax.custom_vjp(lambda *args: forward(*args)[0])
    run.defvjp(forward, backward)
    return jax.jit(run)


def phase(t, shift, tau, dtype, jit_compile, sequences_shape, units):
    """The Phased LSTM's phase `((t - shift) mod tau) / tau` as the fractional part of
    `(t - shift) / tau`, without a division per element: `jnp.remainder` took 28.6 ms of the
    bench's 360 ms step (floor-mod with its corrections, over every step, sample and unit).
    Autodiff gives floor a zero gradient: dphi/dt = 1/tau, dphi/ds = -1/tau and
    dphi/dtau = -(t - s)/tau^2, the phase's own derivatives away from its jumps."""
    q = (jnp.asarray(t) - jnp.asarray(shift)) * (1.0 / jnp.asarray(tau))
    return (q - jnp.floor(q)).astype(dtype)


def _time_gate(phi, r_on, leak):
    """The Phased LSTM's openness k at phases phi, as `PhasedLSTMCell.gate` computes it."""
    rising = 2.0 * phi / r_on
    return jnp.where(phi < 0.5 * r_on, rising, jnp.where(phi < r_on, 2.0 - rising, leak * phi))


def fused(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """The fused path over `sequences` `(batch, steps, features)`: Keras' `inner_loop` results."""
    activations = ("tanh", "relu") if recurrence.cell == "vanilla" else ("tanh",)
    refuse("the fused path", fused_refusals(recurrence, activations))
    units = recurrence.units
    xs = jnp.swapaxes(jnp.asarray(sequences), 0, 1)  # (steps, batch, features)
    if mask is not None:
        mask = jnp.swapaxes(jnp.asarray(mask), 0, 1)  # (steps, batch)
    if recurrence.go_backwards:
        xs = jnp.flip(xs, 0)
        mask = None if mask is None else jnp.flip(mask, 0)
    dtype = xs.dtype
    k = None  # the fraction of each state that updates: 0 at masked steps
    if mask is not None:
        k = jnp.broadcast_to(mask[..., None].astype(dtype), (*mask.shape, units))
    dropout_mask = weights.dropout_mask
    if recurrence.cell == "phased_lstm":
        r_on = jnp.asarray(weights.r_on).astype(dtype)
        gate = _time_gate(xs[..., -units:], r_on, recurrence.leak)  # (steps, batch, units)
        k = gate if k is None else gate * k
        xs = xs[..., :-units]
        dropout_mask = None if dropout_mask is None else dropout_mask[:, :-units]
    if dropout_mask is not None:
        xs = xs * jnp.asarray(dropout_mask)[None]
    zx = xs @ jnp.asarray(weights.kernel).astype(dtype)  # (steps, batch, gates * units)
    u = jnp.asarray(weights.recurrent_kernel).astype(dtype)
    bias = None if weights.bias is None else jnp.asarray(weights.bias).astype(dtype)
    biased, gated = bias is not None, k is not None
    parts = chains(xs.shape[1], recurrence.batch_slices, recurrence.cell, cpu_cores())
    states = [jnp.asarray(s).astype(dtype) for s in initial_state]
    if recurrence.cell in ("lstm", "phased_lstm"):
        hs, h, c = _lstm(biased, gated, parts)(zx, *states, u, bias, k)
        states = [h, c]
    elif recurrence.cell == "gru":
        hs, h = _gru(biased, gated, parts)(zx, states[0], u, bias, k)
        states = [h]
    else:
        relu = recurrence.activation == "relu"
        hs, h = _vanilla(biased, gated, relu, parts)(zx, states[0], u, bias, k)
        states = [h]
    if mask is not None and recurrence.zero_output_for_mask:
        hs = hs * mask[..., None].astype(dtype)
    # Otherwise a masked step outputs the state it keeps, as Keras' JAX loop does (`keras.ops.rnn`
    # outputs `states[0]` there, the initial state before a sample's first unmasked step, where
    # its TensorFlow and PyTorch loops output zeros).
    outputs = jnp.swapaxes(hs, 0, 1)  # (batch, steps, units)
    # (`compiled`: the caller's jax.jit decides)
    return Run(outputs[:, -1], outputs, states, FUSED, slices=parts)


def gpu_available() -> bool:
    return jax.default_backend() == "gpu"


def cudnn(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """Keras' JAX cuDNN LSTM (`jax.experimental.rnn`) on a GPU, for sequences without a mask."""
    if recurrence.use_cudnn is False:
        raise Unavailable("use_cudnn=False")
    if not gpu_available():
        raise Unavailable("no GPU")
    reasons = fused_refusals(recurrence) + ([] if recurrence.use_bias else ["use_bias=False"])
    refuse("Keras' cuDNN kernel", reasons + (["masks"] if mask is not None else []))
    try:
        last, outputs, states = keras_cudnn(
            backend_lstm, recurrence, sequences, initial_state, None, weights
        )
    except NotImplementedError as error:
        raise NotImplementedError(f"Keras' cuDNN kernel refused these settings ({error})") from None
    if recurrence.go_backwards:  # Keras' JAX kernel gives them back in the sequence's order
        outputs = jnp.flip(outputs, axis=1)
    return Run(last, outputs, list(states), CUDNN)


KERNELS = {
    "vanilla": [fused],
    "lstm": [cudnn, fused],
    "gru": [fused],
    "phased_lstm": [fused],
}
