"""NumPy references of the cells, written from the equations (float64), for the tests."""

from __future__ import annotations

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def vanilla_step(x, h, kernel, recurrent_kernel, bias, activation=np.tanh):
    return activation(x @ kernel + h @ recurrent_kernel + bias)


def lstm_step(x, h, c, kernel, recurrent_kernel, bias, peepholes=None):
    """One LSTM step, gate order i, f, c, o; peepholes = (w_i, w_f, w_o) or None."""
    z = x @ kernel + h @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    w_i, w_f, w_o = peepholes if peepholes is not None else (0.0, 0.0, 0.0)
    i = sigmoid(z_i + w_i * c)
    f = sigmoid(z_f + w_f * c)
    c_new = f * c + i * np.tanh(z_c)
    o = sigmoid(z_o + w_o * c_new)
    return o * np.tanh(c_new), c_new


def gru_step(x, h, kernel, recurrent_kernel, bias, reset_after):
    u = h.shape[-1]
    if reset_after:
        x_proj = x @ kernel + bias[0]
        inner = h @ recurrent_kernel + bias[1]
        z = sigmoid(x_proj[:, :u] + inner[:, :u])
        r = sigmoid(x_proj[:, u : 2 * u] + inner[:, u : 2 * u])
        candidate = np.tanh(x_proj[:, 2 * u :] + r * inner[:, 2 * u :])
    else:
        x_proj = x @ kernel + bias
        z = sigmoid(x_proj[:, :u] + h @ recurrent_kernel[:, :u])
        r = sigmoid(x_proj[:, u : 2 * u] + h @ recurrent_kernel[:, u : 2 * u])
        candidate = np.tanh(x_proj[:, 2 * u :] + (r * h) @ recurrent_kernel[:, 2 * u :])
    return z * h + (1.0 - z) * candidate


def time_gate(t, tau, shift, r_on, leak):
    """k for timestamps t (..., 1) and per-unit tau, shift, r_on: the paper's piecewise form."""
    phi = np.mod(t - shift, tau) / tau  # NumPy's mod is the floor-mod
    return np.where(
        phi < r_on / 2, 2 * phi / r_on, np.where(phi < r_on, 2 - 2 * phi / r_on, leak * phi)
    )


def phased_lstm(x, t, weights, leak=0.0, peepholes=False):
    """Phased LSTM over (batch, steps, features) with timestamps (batch, steps); returns all h."""
    kernel, recurrent_kernel, bias, tau, shift, r_on = weights[:6]
    holes = tuple(weights[6:9]) if peepholes else None
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for step in range(steps):
        h_new, c_new = lstm_step(x[:, step], h, c, kernel, recurrent_kernel, bias, holes)
        k = time_gate(t[:, step, None], tau, shift, r_on, leak)
        c = k * c_new + (1 - k) * c
        h = k * h_new + (1 - k) * h
        outputs.append(h)
    return np.stack(outputs, axis=1)


def greedy_with_keras(model, prime: list[int], length: int) -> list[int]:
    """Argmax decoding with a Keras character model run over the whole sequence at every step.

    The input keeps one shape: the sequence so far, then filler up to `len(prime) + length`
    tokens, and the logits are read at its last real token. A causal recurrent model's outputs
    there do not depend on later tokens, and `predict_on_batch` traces once instead of once per
    length (`predict` per character took 8 s for 120 characters, this takes 0.6 s).
    """
    sequence = list(prime)
    total = len(prime) + length
    for _ in range(length):
        tokens = np.array([sequence + [0] * (total - len(sequence))], np.int32)
        logits = model.predict_on_batch({"tokens": tokens})[0, len(sequence) - 1]
        sequence.append(int(np.argmax(logits)))
    return sequence[len(prime) :]
