"""The NumPy reference: min-char-rnn, the seeds' batch-1 vanilla RNN with AdaGrad, and the
same model as a Keras step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqrnn.bench.harness import BenchConfig


class MinCharRNN:
    """The seeds' vanilla RNN in plain NumPy, min-char-rnn style: one-hot column vectors,
    tanh, softmax, hand-derived backpropagation through time, gradients clipped to [-5, 5] and
    AdaGrad. `update` runs one window and returns its summed cross-entropy."""

    def __init__(self, vocab_size: int, units: int, lr: float = 0.1, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {
            "Wxh": rng.standard_normal((units, vocab_size)) * 0.01,
            "Whh": rng.standard_normal((units, units)) * 0.01,
            "Why": rng.standard_normal((vocab_size, units)) * 0.01,
            "bh": np.zeros((units, 1)),
            "by": np.zeros((vocab_size, 1)),
        }
        self.memory = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.h = np.zeros((units, 1))
        self.lr = lr
        self.vocab_size = vocab_size

    def loss_and_grads(self, inputs: np.ndarray, targets: np.ndarray, h: np.ndarray):
        """Summed cross-entropy of one window from state `h`, its gradients and the last state."""
        p = self.params
        xs, hs, ps = {}, {-1: h}, {}
        loss = 0.0
        for t, (i, j) in enumerate(zip(inputs, targets, strict=True)):
            xs[t] = np.zeros((self.vocab_size, 1))
            xs[t][i] = 1.0
            hs[t] = np.tanh(p["Wxh"] @ xs[t] + p["Whh"] @ hs[t - 1] + p["bh"])
            y = p["Why"] @ hs[t] + p["by"]
            e = np.exp(y - y.max())
            ps[t] = e / e.sum()
            loss -= float(np.log(ps[t][j, 0]))
        grads = {name: np.zeros_like(v) for name, v in p.items()}
        dh_next = np.zeros_like(h)
        for t in reversed(range(len(inputs))):
            dy = ps[t].copy()
            dy[targets[t]] -= 1.0
            grads["Why"] += dy @ hs[t].T
            grads["by"] += dy
            dh = p["Why"].T @ dy + dh_next
            draw = (1.0 - hs[t] * hs[t]) * dh
            grads["bh"] += draw
            grads["Wxh"] += draw @ xs[t].T
            grads["Whh"] += draw @ hs[t - 1].T
            dh_next = p["Whh"].T @ draw
        return loss, grads, hs[len(inputs) - 1]

    def update(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        loss, grads, self.h = self.loss_and_grads(inputs, targets, self.h)
        for name, grad in grads.items():
            np.clip(grad, -5.0, 5.0, out=grad)
            self.memory[name] += grad * grad
            self.params[name] -= self.lr * grad / np.sqrt(self.memory[name] + 1e-8)
        return loss


SEEDS_UNITS, SEEDS_SEQ_LEN = 100, 25


def seeds_step(config: BenchConfig, jit: bool, layer_name: str) -> Callable[[], float]:
    """The seeds' setting in TensorFlow: batch 1, one-hot inputs, summed loss, state carried."""
    import keras
    import tensorflow as tf

    from seqrnn.layers import VanillaRNN

    keras.utils.set_random_seed(config.seed)
    v = config.vocab_size
    x_in = keras.Input((SEEDS_SEQ_LEN, v))
    h_in = keras.Input((SEEDS_UNITS,))
    if layer_name == "seqrnn":
        layer = VanillaRNN(SEEDS_UNITS, return_sequences=True, return_state=True)
    else:
        layer = keras.layers.SimpleRNN(SEEDS_UNITS, return_sequences=True, return_state=True)
    outputs, h_out = layer(x_in, initial_state=[h_in])
    model = keras.Model([x_in, h_in], [keras.layers.Dense(v)(outputs), h_out])
    optimizer = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0, clipvalue=5.0)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(config.seed)
    chars = rng.integers(0, v, SEEDS_SEQ_LEN + 1)
    x = tf.constant(np.eye(v, dtype="float32")[chars[:-1]][None])
    y = tf.constant(chars[1:][None], tf.int32)
    h = tf.Variable(tf.zeros((1, SEEDS_UNITS)))

    @tf.function(jit_compile=jit)
    def loss_and_grads(x, y, h0):
        with tf.GradientTape() as tape:
            logits, h_last = model([x, h0], training=True)
            loss = tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        return loss, h_last, tape.gradient(loss, model.trainable_variables)

    @tf.function
    def step(x, y):
        loss, h_last, grads = loss_and_grads(x, y, h.read_value())
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        h.assign(h_last)
        return loss

    return lambda: float(step(x, y))


def bench_text(folder: Path, vocab_size: int, seed: int) -> Path:
    """A random text over `vocab_size` printable characters, to give the model a vocabulary."""
    alphabet = [chr(c) for c in range(33, 127)][:vocab_size]
    rng = np.random.default_rng(seed)
    path = folder / "bench.txt"
    path.write_text("".join(rng.choice(alphabet, 20_000)), encoding="utf-8")
    return path
