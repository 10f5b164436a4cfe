"""The Phased LSTM's phases and time gate with hand-derived gradients, compiled with the loops."""

from __future__ import annotations

import tensorflow as tf


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
