"""The three recurrences of the fused path with their hand-written gradients (see the package's
docstring): `lstm`, `gru` and `vanilla` over time-major input projections."""

from __future__ import annotations

import tensorflow as tf

from seqrnn.backend.tensorflow.loops import (
    _bias_sums,
    _gate_gradient,
    _loop,
    _matmul_2d,
    _previous,
    _with_optional,
    _zeros_for_none,
    _zeros_like_optional,
)


def lstm(zx, h0, c0, recurrent_kernel, k=None, bias=None, compiled=False):
    """The LSTM recurrence (gate order i, f, c, o; sigmoid gates, tanh): outputs, h_T, c_T."""
    gated, biased = k is not None, bias is not None
    args, unpack = _with_optional((zx, h0, c0, recurrent_kernel), bias, k)

    @tf.custom_gradient
    def run(*args):
        zx, h0, c0, u, b, k = unpack(args)
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
    args, unpack = _with_optional((zx, h0, recurrent_kernel), bias, k)

    @tf.custom_gradient
    def run(*args):
        zx, h0, u, b, k = unpack(args)
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
    args, unpack = _with_optional((zx, h0, recurrent_kernel), bias, k)

    @tf.custom_gradient
    def run(*args):
        zx, h0, u, b, k = unpack(args)
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
