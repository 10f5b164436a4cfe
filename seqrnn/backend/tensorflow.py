"""TensorFlow's sequence kernels: Keras' cuDNN kernels on a GPU, the fused path everywhere.

The per-step cells stay the reference; the fused path computes the same function faster:

- the input projections of all steps are one large matmul (`x W` over `(steps * batch,
  features)`), so the loop holds only `h @ U` and elementwise work; the bias is added inside the
  loop, where XLA fuses it into the step's elementwise work;
- the backward pass is written by hand (`tf.custom_gradient`): the reverse loop only carries
  `dh` (and `dc`), storing the gradient of every step's pre-activations; the gradient of the
  recurrent kernel is then one large matmul over all steps, and the input projection gets its
  gradients (`dW`, `dx`) from autodiff, again as single large products. The bias gradients are
  summed in the reverse loop, step by step, while each step's gradients are in cache: summed
  afterwards, each bias was one more pass over a `(steps, batch, gates * units)` array (with the
  bias added before the loop, the bench's GRU step took 103.7 ms against 100.9, LSTM 120.5
  against 116.6).

The recurrences (`lstm`, `gru`, `vanilla`) take time-major tensors: `zx` of shape `(steps, batch,
gates * units)` (the input projections `x W`), the initial states `(batch, units)`, the recurrent
kernel `(units, gates * units)`, optionally the bias `(gates * units,)` and optionally `k`,
`(steps, batch, units)`: the fraction of each unit that updates at each step
(`h_t = k h~_t + (1 - k) h_{t-1}`, the same for `c`). `k` carries masks (0 keeps the previous
state, as Keras' masking does) and the Phased LSTM's time gate. They return the outputs of every
step `(steps, batch, units)` and the final states. With `compiled=True` the forward and backward
loops are compiled with XLA, which fuses each step's elementwise work; the kernel asks for it when
the shape of the sequence is static in a traced function and large enough to repay the
compilation (`compilable`, the layer's `jit_compile`).
"""

from __future__ import annotations

import tensorflow as tf

from seqrnn._keras_private import backend_gru, backend_lstm
from seqrnn.backend import (
    CUDNN,
    FUSED,
    Recurrence,
    Run,
    Unavailable,
    Weights,
    fused_refusals,
    keras_cudnn,
    refuse,
)


def _loop(step, num_steps, carry, num_outputs, reverse=False, compiled=False):
    """Runs `carry, outputs = step(t, carry)` over the steps; returns (carry, stacked outputs).

    A graph loop, compiled with XLA when `compiled` (see `compilable`): at `seqrnn bench`'s
    default shape that took the training step of the 256-unit LSTM from 174 to 150 ms and the
    GRU's from 198 to 115 ms here.
    """

    def run(carry):
        arrays = [tf.TensorArray(carry[0].dtype, size=num_steps) for _ in range(num_outputs)]

        def body(t, carry, arrays):
            index = num_steps - 1 - t if reverse else t
            carry, outputs = step(index, carry)
            arrays = [a.write(index, o) for a, o in zip(arrays, outputs, strict=True)]
            return t + 1, carry, arrays

        _, carry, arrays = tf.while_loop(
            lambda t, *_: t < num_steps, body, (tf.constant(0), tuple(carry), arrays)
        )
        return carry, [array.stack() for array in arrays]

    if compiled:
        run = tf.function(run, jit_compile=True, autograph=False)
    return run(tuple(carry))


#: Under jit_compile="auto", the smallest batch x steps x units compiled: a compilation takes
#: about a second here, and below this size the loop is fast either way (a 4 x 10 x 8 LSTM saves
#: 0.25 ms a call).
MIN_COMPILED_SIZE = 2**16


def compilable(shape, units: int, jit_compile: bool | str) -> bool:
    """Whether the loops over sequences of `shape` `(batch, steps, features)` compile with XLA.

    In a traced function, when the shape is static (and, under "auto", large enough). XLA fuses
    each step's elementwise work into a few kernels where a plain graph loop dispatches some
    twenty small ops per step, but it compiles once per shape: a function of fixed shapes (text
    windows, `seqrnn bench`) compiles once, while batches whose shapes change from call to call
    (bucketed sentences, under `tf.function(reduce_retracing=True)`) should run the plain loop:
    `jit_compile=False` (what `seqrnn train` builds for such tasks).
    """
    shape = tf.TensorShape(shape)
    if not jit_compile or tf.executing_eagerly() or not shape.is_fully_defined():
        return False
    return jit_compile is True or shape[0] * shape[1] * units >= MIN_COMPILED_SIZE


#: Under batch_slices="auto", the fewest samples in a slice: at batch 16, two slices of 8 still
#: took the bench's vanilla step from 13.5-13.9 to 11.3-11.8 ms and the GRU's from 29.5-30.0 to
#: 28.3 ms here.
MIN_SLICE = 8


def cores() -> int:
    """The CPU cores TensorFlow's executor runs ops on (its inter-op threads when they are set)."""
    import os

    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    return min(count or 1, threads) if threads > 0 else count or 1


def batch_slices(batch: int, setting: int | str, num_cores: int) -> list[int]:
    """The sizes of the slices of a batch of `batch` samples whose recurrences run side by side.

    `setting`: "auto" for one slice per core (of `num_cores`), each of at least MIN_SLICE samples,
    or a number of slices. XLA runs the per-step product of a compiled loop on one core when it is
    small: at `seqrnn bench`'s shape, 100 steps of 64 x 256 by 256 x 256 took 11.3 ms with one
    intra-op thread and with two, and 32 x 256 by 256 x 256 took 5.4 ms. The recurrences of
    different samples are independent, so the kernel splits the batch, one slice per core, and
    TensorFlow's executor runs the slices' loops (and their projections and weight-gradient
    products) at the same time. Alternating bench runs on a 2-core Xeon, one recurrence against
    two slices: vanilla step 43.7-44.1 -> 35.9-37.4 ms, GRU 99.3-100.7 -> 85.6-87.4 ms, LSTM
    116.0-117.2 -> 113.4-114.6 ms, Phased LSTM 140.5-144.1 -> 134.9-136.0 ms. Four slices on two
    cores were slower than two (vanilla 47.3 ms). Each slice compiles its own loops: the bench
    step's first call took about 0.4 s longer. Sizes differ by at most one; none is empty.
    """
    wanted = min(num_cores, batch // MIN_SLICE) if setting == "auto" else min(int(setting), batch)
    count = max(wanted, 1)
    size, extra = divmod(batch, count)
    return [size + 1] * extra + [size] * (count - extra)


def _previous(sequence, first):
    """The sequence shifted one step later in time, `first` at step 0: `(steps, batch, units)`."""
    return tf.concat([first[tf.newaxis], sequence[:-1]], axis=0)


def _matmul_2d(a, b):
    """`a^T b` summed over steps and batch: `(steps, batch, m)`, `(steps, batch, n)` -> `(m, n)`."""
    a = tf.reshape(a, (-1, tf.shape(a)[-1]))
    b = tf.reshape(b, (-1, tf.shape(b)[-1]))
    return tf.matmul(a, b, transpose_a=True)


def _gate_gradient(totals, new, previous):
    """Gradient of `k` in `k new + (1 - k) previous`, summed over the given state pairs."""
    return sum(d * (n - p) for d, n, p in zip(totals, new, previous, strict=True))


def _zeros_for_none(grads, like):
    """Upstream gradients with None (an output nobody used) replaced by zeros."""
    return [tf.zeros_like(x) if g is None else g for g, x in zip(grads, like, strict=True)]


def _optional(args, *present):
    """`args` with None for each argument that is not `present` (the optional inputs)."""
    args = list(args)
    return [args.pop(0) if p else None for p in present]


def _bias_sums(sums, *terms):
    """The running bias gradients `sums` plus each term's sum over the batch; () without a bias
    (no `sums` carried)."""
    if not sums:
        return ()
    return tuple(s + tf.reduce_sum(d, axis=0) for s, d in zip(sums, terms, strict=True))


def _zeros_like_optional(x):
    """`[zeros like x]`, or `[]` when x is None (the running sums of an optional bias)."""
    return [] if x is None else [tf.zeros_like(x)]


def lstm(zx, h0, c0, recurrent_kernel, k=None, bias=None, compiled=False):
    """The LSTM recurrence (gate order i, f, c, o; sigmoid gates, tanh): outputs, h_T, c_T."""
    gated, biased = k is not None, bias is not None
    args = (zx, h0, c0, recurrent_kernel, *(a for a in (bias, k) if a is not None))

    @tf.custom_gradient
    def run(*args):
        zx, h0, c0, u = args[:4]
        b, k = _optional(args[4:], biased, gated)
        num_steps = tf.shape(zx)[0]
        # (4 units,): 2 on the candidate's pre-activations, 1 on the gates'
        scale = tf.repeat(tf.constant([1.0, 1.0, 2.0, 1.0], zx.dtype), tf.shape(h0)[-1])

        def step(t, carry):
            h, c = carry
            z = zx[t] + b if biased else zx[t]
            # One sigmoid over the four gates: tanh(z) = 2 sigmoid(2 z) - 1 for the candidate
            # (about 5% off the bench's LSTM step under XLA against separate activations).
            i, f, s, o = tf.split(tf.sigmoid((z + tf.matmul(h, u)) * scale), 4, axis=-1)
            g = 2.0 * s - 1.0
            c_new = f * c + i * g
            tanh_c = tf.tanh(c_new)
            h_new = o * tanh_c
            # What the backward pass needs of this step, computed while it is in cache: the
            # derivatives of the four pre-activations by (dc~, dc~, dc~, dh~), d c~ / d h~, f.
            local = tf.concat(
                [g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g), tanh_c * o * (1.0 - o)],
                axis=-1,
            )
            outputs = (local, o * (1.0 - tanh_c * tanh_c), f)
            if gated:
                outputs += (c_new, h_new)
                c_new = k[t] * c_new + (1.0 - k[t]) * c
                h_new = k[t] * h_new + (1.0 - k[t]) * h
                outputs += (c_new,)
            return (h_new, c_new), (*outputs, h_new)

        (h_last, c_last), saved = _loop(
            step, num_steps, (h0, c0), 7 if gated else 4, compiled=compiled
        )
        hs = saved[-1]

        def grad(*upstream):
            dhs, dh_last, dc_last = _zeros_for_none(upstream, (hs, h_last, c_last))
            local, dc_from_h, f = saved[:3]
            u_t = tf.transpose(u)

            def back(t, carry):
                dh, dc = carry[:2]
                dh = dh + dhs[t]
                if gated:
                    dh_tilde, dc_tilde = k[t] * dh, k[t] * dc
                else:
                    dh_tilde, dc_tilde = dh, dc
                dc_tilde = dc_tilde + dh_tilde * dc_from_h[t]
                dz = tf.concat([dc_tilde, dc_tilde, dc_tilde, dh_tilde], axis=-1) * local[t]
                dh_prev = tf.matmul(dz, u_t)
                dc_prev = dc_tilde * f[t]
                outputs = (dz,)
                if gated:
                    dh_prev = dh_prev + (1.0 - k[t]) * dh
                    dc_prev = dc_prev + (1.0 - k[t]) * dc
                    outputs += (dh, dc)
                return (dh_prev, dc_prev, *_bias_sums(carry[2:], dz)), outputs

            (dh0, dc0, *db), back_saved = _loop(
                back,
                num_steps,
                (dh_last, dc_last, *_zeros_like_optional(b)),
                3 if gated else 1,
                reverse=True,
                compiled=compiled,
            )
            dzs = back_saved[0]
            h_prev = _previous(hs, h0)
            grads = [dzs, dh0, dc0, _matmul_2d(h_prev, dzs), *db]
            if gated:
                c_tilde, h_tilde, cs = saved[3:6]
                new, previous = (h_tilde, c_tilde), (h_prev, _previous(cs, c0))
                grads.append(_gate_gradient(back_saved[1:], new, previous))
            return grads

        return (hs, h_last, c_last), grad

    return run(*args)


def gru(zx, h0, recurrent_kernel, k=None, bias=None, compiled=False):
    """The GRU recurrence with the reset gate after the product (Keras' `reset_after=True`).

    `zx` holds `x W` in Keras' gate order (z, r, h); `bias` is Keras' `(2, 3 * units)` bias (the
    input's row, then the recurrent one's), or None. Returns the outputs and h_T.
    """
    gated, biased = k is not None, bias is not None
    args = (zx, h0, recurrent_kernel, *(a for a in (bias, k) if a is not None))

    @tf.custom_gradient
    def run(*args):
        zx, h0, u = args[:3]
        b, k = _optional(args[3:], biased, gated)
        num_steps = tf.shape(zx)[0]
        units = tf.shape(h0)[-1]

        def step(t, carry):
            (h,) = carry
            x_z, x_r, x_h = tf.split(zx[t] + b[0] if biased else zx[t], 3, axis=-1)
            inner = tf.matmul(h, u) + b[1] if biased else tf.matmul(h, u)
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
            z = tf.sigmoid(x_z + r_z)
            r = tf.sigmoid(x_r + r_r)
            n = tf.tanh(x_h + r * r_h)
            h_new = n + z * (h - n)
            # What the backward pass needs of this step, computed while it is in cache:
            # d(tanh input) / dh~, d(z input) / dh~, d(r input) / d(tanh input), r and z.
            dn_pre = (1.0 - z) * (1.0 - n * n)
            outputs = (dn_pre, (h - n) * z * (1.0 - z), r_h * r * (1.0 - r), r, z)
            if gated:
                outputs += (h_new,)
                h_new = k[t] * h_new + (1.0 - k[t]) * h
            return (h_new,), (*outputs, h_new)

        (h_last,), saved = _loop(step, num_steps, (h0,), 7 if gated else 6, compiled=compiled)
        hs = saved[-1]

        def grad(*upstream):
            dhs, dh_last = _zeros_for_none(upstream, (hs, h_last))
            dn_pre, dz_pre, dr_pre, r, z = saved[:5]
            u_t = tf.transpose(u)

            def back(t, carry):
                dh = carry[0] + dhs[t]
                dh_tilde = k[t] * dh if gated else dh
                dn = dh_tilde * dn_pre[t]
                dz, dr, dn_inner = dh_tilde * dz_pre[t], dn * dr_pre[t], dn * r[t]
                d_inner = tf.concat([dz, dr, dn_inner], axis=-1)
                dx = tf.concat([dz, dr, dn], axis=-1)
                dh_prev = tf.matmul(d_inner, u_t) + dh_tilde * z[t]
                outputs = (dx, d_inner)
                if gated:
                    dh_prev = dh_prev + (1.0 - k[t]) * dh
                    outputs += (dh,)
                # the recurrent bias's gradient is the input's for z and r: only n's is summed
                sums = _bias_sums(carry[1:], dx, dn_inner)
                return (dh_prev, *sums), outputs

            sums = [tf.zeros_like(b[0]), tf.zeros_like(b[0][:units])] if biased else []
            (dh0, *sums), back_saved = _loop(
                back,
                num_steps,
                (dh_last, *sums),
                3 if gated else 2,
                reverse=True,
                compiled=compiled,
            )
            dxs, d_inners = back_saved[:2]
            h_prev = _previous(hs, h0)
            grads = [dxs, dh0, _matmul_2d(h_prev, d_inners)]
            if biased:
                db_x, db_n = sums
                grads.append(tf.stack([db_x, tf.concat([db_x[: 2 * units], db_n], 0)]))
            if gated:
                grads.append(_gate_gradient(back_saved[2:], (saved[5],), (h_prev,)))
            return grads

        return (hs, h_last), grad

    return run(*args)


def vanilla(zx, h0, recurrent_kernel, k=None, bias=None, compiled=False, relu=False):
    """The vanilla (Elman) recurrence `h_t = tanh(zx_t + b + h_{t-1} U)` (or relu): outputs and
    h_T."""
    activation = tf.nn.relu if relu else tf.tanh
    gated, biased = k is not None, bias is not None
    args = (zx, h0, recurrent_kernel, *(a for a in (bias, k) if a is not None))

    @tf.custom_gradient
    def run(*args):
        zx, h0, u = args[:3]
        b, k = _optional(args[3:], biased, gated)
        num_steps = tf.shape(zx)[0]

        def step(t, carry):
            (h,) = carry
            h_new = activation((zx[t] + b if biased else zx[t]) + tf.matmul(h, u))
            outputs = (h_new,)
            if gated:
                h_new = k[t] * h_new + (1.0 - k[t]) * h
                outputs += (h_new,)
            return (h_new,), outputs

        (h_last,), saved = _loop(step, num_steps, (h0,), 2 if gated else 1, compiled=compiled)
        hs = saved[-1]

        def grad(*upstream):
            dhs, dh_last = _zeros_for_none(upstream, (hs, h_last))
            h_tilde = saved[0]
            h_prev = _previous(hs, h0)
            local = tf.cast(h_tilde > 0, h_tilde.dtype) if relu else 1.0 - tf.square(h_tilde)
            u_t = tf.transpose(u)

            def back(t, carry):
                dh = carry[0] + dhs[t]
                dh_tilde = k[t] * dh if gated else dh
                dz = dh_tilde * local[t]
                dh_prev = tf.matmul(dz, u_t)
                outputs = (dz,)
                if gated:
                    dh_prev = dh_prev + (1.0 - k[t]) * dh
                    outputs += (dh,)
                return (dh_prev, *_bias_sums(carry[1:], dz)), outputs

            (dh0, *db), back_saved = _loop(
                back,
                num_steps,
                (dh_last, *_zeros_like_optional(b)),
                2 if gated else 1,
                reverse=True,
                compiled=compiled,
            )
            dzs = back_saved[0]
            grads = [dzs, dh0, _matmul_2d(h_prev, dzs), *db]
            if gated:
                grads.append(_gate_gradient(back_saved[1:], (h_tilde,), (h_prev,)))
            return grads

        return (hs, h_last), grad

    return run(*args)


# --- the Phased LSTM's time gate -------------------------------------------------------------
# Elementwise over (batch, steps, units) with a few (units,) parameters: autodiff of floor-mod
# and of nested `where`s spends most of its time broadcasting and reducing each intermediate
# (about 70 ms of the bench's 300 ms Phased LSTM step); written by hand, each direction is one
# pass (one XLA fusion when compiled) plus the parameter sums.


def _maybe_compiled(function, compiled):
    return tf.function(function, jit_compile=True, autograph=False) if compiled else function


def _sum_to_units(x):
    """Sums `(..., units)` over every axis but the last."""
    return tf.reduce_sum(x, axis=tuple(range(len(x.shape) - 1)))


def time_phase(t, shift, tau, dtype, compiled=False):
    """phi = ((t - shift) mod tau) / tau, floor-mod, as `PhasedLSTMCell.phase` computes it.

    `t` `(..., 1)`, `shift` and `tau` `(units,)` (tau > 0), all of one dtype (float64 keeps large
    t exact); phi `(..., units)` is returned as `dtype`. Gradients: dphi/dt = 1/tau,
    dphi/dshift = -1/tau, dphi/dtau = -(t - shift)/tau^2 (floor((t - s)/tau) + phi = (t - s)/tau).
    """

    def forward(t, shift, tau):
        # The fractional part of (t - s) / tau: floor-mod, without a division per element.
        q = (t - shift) * (1.0 / tau)
        return tf.cast(q - tf.floor(q), dtype)

    def backward(dphi, t, shift, tau):
        # The sums over every step as products: [1, t]^T dphi gives sum(dphi) and sum(t dphi).
        units = tf.shape(dphi)[-1]
        dphi = tf.reshape(tf.cast(dphi, t.dtype), (-1, units))
        t_flat = tf.reshape(t, (-1, 1))
        sums = tf.matmul(tf.concat([tf.ones_like(t_flat), t_flat], axis=1), dphi, transpose_a=True)
        g_shift = -sums[0] / tau
        g_tau = (shift * sums[0] - sums[1]) / (tau * tau)
        g_t = tf.reshape(tf.matmul(dphi, (1.0 / tau)[:, tf.newaxis]), tf.shape(t))
        return g_t, g_shift, g_tau

    @tf.custom_gradient
    def run(t, shift, tau):
        def grad(dphi):
            return _maybe_compiled(backward, compiled)(dphi, t, shift, tau)

        return _maybe_compiled(forward, compiled)(t, shift, tau), grad

    return run(t, shift, tau)


def time_gate(phi, r_on, leak, compiled=False):
    """The openness k of every unit, as `PhasedLSTMCell.gate` computes it.

    `phi` `(..., units)` in [0, 1); `r_on` `(units,)` in (0, 1]; `leak` the slope while closed (0
    at inference). k rises as 2 phi / r_on over the first half of the open phase, falls back to 0
    over the second, and is `leak * phi` while closed.
    """

    def forward(phi, r_on):
        rising = 2.0 * phi / r_on
        return tf.where(phi < 0.5 * r_on, rising, tf.where(phi < r_on, 2.0 - rising, leak * phi))

    def backward(dk, phi, r_on):
        opening = phi < 0.5 * r_on
        closing = tf.logical_and(tf.logical_not(opening), phi < r_on)
        slope = 2.0 / r_on
        zero = tf.zeros_like(phi)
        d_phi = tf.where(opening, slope, tf.where(closing, -slope, zero + leak))
        # d(2 phi / r_on) / d r_on = -2 phi / r_on^2 while opening, the opposite while closing.
        d_r_on = tf.where(opening, -phi, tf.where(closing, phi, zero)) * (slope / r_on)
        return dk * d_phi, _sum_to_units(dk * d_r_on)

    @tf.custom_gradient
    def run(phi, r_on):
        def grad(dk):
            return _maybe_compiled(backward, compiled)(dk, phi, r_on)

        return _maybe_compiled(forward, compiled)(phi, r_on), grad

    return run(phi, r_on)


def phase(t, shift, tau, dtype, jit_compile, sequences_shape, units):
    """`time_phase`, compiled with the loops of sequences of `sequences_shape`."""
    compiled = compilable(sequences_shape, units, jit_compile)
    return time_phase(t, shift, tau, dtype, compiled=compiled)


# --- the kernels -------------------------------------------------------------------------------


def gpu_available() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def fused(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """The fused path over `sequences` `(batch, steps, features)`: Keras' `inner_loop` results.

    When the loops compile with XLA on a CPU, slices of the batch run as independent recurrences
    side by side (`batch_slices`); outputs and states are joined along the batch, and autodiff
    adds up the slices' weight gradients.
    """
    activations = ("tanh", "relu") if recurrence.cell == "vanilla" else ("tanh",)
    refuse("the fused path", fused_refusals(recurrence, activations))
    compiled = compilable(sequences.shape, recurrence.units, recurrence.jit_compile)
    dropout_mask = weights.dropout_mask
    if recurrence.go_backwards:
        sequences = tf.reverse(sequences, [1])
        mask = None if mask is None else tf.reverse(mask, [1])
    sizes = [sequences.shape[0]]
    if compiled and not gpu_available():  # on a GPU TensorFlow's kernels use every core already
        sizes = batch_slices(sequences.shape[0], recurrence.batch_slices, cores())
    if len(sizes) == 1:  # (the batch may be unknown: not through tf.split)
        slices = [(sequences, initial_state, mask, dropout_mask)]
    else:

        def split(x):
            return [None] * len(sizes) if x is None else tf.split(x, sizes, axis=0)

        states = zip(*[split(state) for state in initial_state], strict=True)
        slices = zip(split(sequences), states, split(mask), split(dropout_mask), strict=True)
    results = [
        _fused_slice(recurrence, weights, x, list(s), m, d, compiled) for x, s, m, d in slices
    ]
    outputs = tf.concat([result[0] for result in results], axis=0)
    states = [tf.concat(parts, axis=0) for parts in zip(*[r[1] for r in results], strict=True)]
    return Run(outputs[:, -1], outputs, states, FUSED, compiled, len(sizes))


def _fused_slice(recurrence, weights, sequences, initial_state, mask, dropout_mask, compiled):
    """Outputs `(batch, steps, units)` and final states of the fused path over `sequences`
    `(batch, steps, features)` (in the order they are processed, `go_backwards` applied)."""
    units = recurrence.units
    xs = tf.transpose(sequences, [1, 0, 2])  # (steps, batch, features)
    k = None  # the fraction of each state that updates: 0 at masked steps
    if mask is not None:
        k = tf.transpose(tf.cast(mask, xs.dtype))[..., tf.newaxis]  # (steps, batch, 1)
        k = tf.broadcast_to(k, (tf.shape(xs)[0], tf.shape(xs)[1], units))
    if recurrence.cell == "phased_lstm":
        # The time gate depends on the timestamps only, so all of it is computed before the loop
        # (`time_phase` and `time_gate` give tau, s and r_on their gradients); the loop blends
        # the states by it.
        phi = xs[..., -units:]
        r_on = tf.cast(weights.r_on, phi.dtype)
        gate = time_gate(phi, r_on, recurrence.leak, compiled=compiled)  # (steps, batch, units)
        k = gate if k is None else gate * k
        xs = xs[..., :-units]
        dropout_mask = None if dropout_mask is None else dropout_mask[:, :-units]
    if dropout_mask is not None:
        xs = xs * dropout_mask[tf.newaxis]
    shape = tf.shape(xs)
    kernel = tf.cast(weights.kernel, xs.dtype)
    zx = tf.matmul(tf.reshape(xs, (-1, shape[-1])), kernel)
    zx = tf.reshape(zx, (shape[0], shape[1], -1))  # (steps, batch, gates * units)
    u = tf.cast(weights.recurrent_kernel, zx.dtype)
    bias = None if weights.bias is None else tf.cast(weights.bias, zx.dtype)
    if recurrence.cell in ("lstm", "phased_lstm"):
        hs, h, c = lstm(zx, *initial_state, u, k, bias=bias, compiled=compiled)
        states = [h, c]
    elif recurrence.cell == "gru":
        hs, h = gru(zx, initial_state[0], u, k, bias=bias, compiled=compiled)
        states = [h]
    else:
        relu = recurrence.activation == "relu"
        hs, h = vanilla(zx, initial_state[0], u, k, bias=bias, compiled=compiled, relu=relu)
        states = [h]
    outputs = tf.transpose(hs, [1, 0, 2])  # (batch, steps, units)
    if mask is not None:
        # Keras' outputs: zero at masked steps (zero_output_for_mask) or the previous output,
        # which is zero before a sample's first unmasked step.
        shown = tf.cast(mask, outputs.dtype)
        if not recurrence.zero_output_for_mask:
            shown = tf.cast(tf.cumsum(shown, axis=1) > 0, outputs.dtype)
        outputs = outputs * shown[..., tf.newaxis]
    return outputs, states


def _cudnn_refusals(recurrence: Recurrence) -> list[str]:
    reasons = [r for r in fused_refusals(recurrence) if r != "reset_after=False"]
    return reasons + ([] if recurrence.use_bias else ["use_bias=False"])


def cudnn_may_run(recurrence: Recurrence) -> bool:
    """Whether `cudnn` may run these settings here (a GPU, the settings cuDNN takes)."""
    usable = recurrence.cell in ("lstm", "gru") and recurrence.use_cudnn is not False
    usable = usable and recurrence.reset_after and not _cudnn_refusals(recurrence)
    return usable and gpu_available()


def cudnn(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """Keras' cuDNN kernel (`keras.src.backend.lstm` or `gru`) on a GPU.

    A mask must be right-padded for cuDNN. Keras checks that with a `tf.Assert`, which inside a
    traced function fails when the graph runs instead of refusing while it is traced, so masks
    run cuDNN in eager calls only, where their values are known, and the fused path otherwise.
    """
    if recurrence.use_cudnn is False:
        raise Unavailable("use_cudnn=False")
    if not gpu_available():
        raise Unavailable("no GPU")
    refuse("Keras' cuDNN kernel", _cudnn_refusals(recurrence))
    if mask is not None:
        if not tf.executing_eagerly():
            raise NotImplementedError(
                "Keras' cuDNN kernel takes masks only in eager calls here (inside a traced "
                "function a mask that is not right-padded fails when the graph runs)"
            )
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        padded = tf.range(tf.shape(mask)[1])[tf.newaxis] < lengths[:, tf.newaxis]
        if not bool(tf.reduce_all(tf.equal(tf.cast(mask, tf.bool), padded))) or not bool(
            tf.reduce_all(lengths > 0)
        ):
            raise NotImplementedError(
                "Keras' cuDNN kernel takes right-padded masks with a valid step in every sample"
            )
    function = backend_gru if recurrence.cell == "gru" else backend_lstm
    try:
        last, outputs, states = keras_cudnn(
            function, recurrence, sequences, initial_state, mask, weights
        )
    except NotImplementedError:
        raise NotImplementedError(
            "Keras' cuDNN kernel refused these settings (it needs reset_after=True and "
            "right-padded masks)"
        ) from None
    return Run(last, outputs, list(states), CUDNN)


KERNELS = {
    "vanilla": [fused],
    "lstm": [cudnn, fused],
    "gru": [cudnn, fused],
    "phased_lstm": [fused],
}
