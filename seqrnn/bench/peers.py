"""The steps the bench times: seqrnn's own training step, Keras' `fit` path, and PyTorch's
`nn.RNN`/`LSTM`/`GRU` called directly."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from seqrnn.bench.harness import TORCH_PEERS, BenchConfig, torch_device


def tf_step(layer, config: BenchConfig, timed: bool) -> Callable[[], float]:
    """One Adam step of embedding -> `layer` -> dense on fixed random tokens."""
    import keras
    import tensorflow as tf

    from seqrnn.models import StepTimes

    keras.utils.set_random_seed(config.seed)
    tokens = keras.Input((config.seq_len,), dtype="int32")
    x = keras.layers.Embedding(config.vocab_size, config.embedding_dim)(tokens)
    x = layer([x, StepTimes()(x)]) if timed else layer(x)
    model = keras.Model(tokens, keras.layers.Dense(config.vocab_size)(x))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(config.seed)
    shape = (config.batch_size, config.seq_len)
    x = tf.constant(rng.integers(0, config.vocab_size, shape), tf.int32)
    y = tf.constant(rng.integers(0, config.vocab_size, shape), tf.int32)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return lambda: float(step(x, y))


def torch_step(cell: str, config: BenchConfig, embedded: bool = True) -> Callable[[], float]:
    """One Adam step of `torch.nn.RNN`/`LSTM`/`GRU` -> linear head, called directly: on tokens
    through an embedding (`embedded`, the training section's model) or on float features (the
    fit section's)."""
    import torch

    torch.manual_seed(config.seed)
    if not torch.cuda.is_available():
        torch.set_num_threads(os.cpu_count() or 1)
    device = torch_device()
    rnn = getattr(torch.nn, TORCH_PEERS[cell])(config.embedding_dim, config.units, batch_first=True)
    embed = torch.nn.Embedding(config.vocab_size, config.embedding_dim)
    head = torch.nn.Linear(config.units, config.vocab_size)
    modules = [rnn.to(device), embed.to(device), head.to(device)]
    params = [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    shape = (config.batch_size, config.seq_len)
    x = torch.randint(0, config.vocab_size, shape, device=device)
    if not embedded:
        x = torch.randn((*shape, config.embedding_dim), device=device)
    y = torch.randint(0, config.vocab_size, shape, device=device)

    def step() -> float:
        optimizer.zero_grad()
        outputs, _ = rnn(embed(x) if embedded else x)
        logits = head(outputs).reshape(-1, config.vocab_size)
        loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        loss.backward()
        loss = loss.detach()
        optimizer.step()
        return loss.item()

    return step


def fit_step(layer, config: BenchConfig, timed: bool) -> Callable[[], float]:
    """`train_on_batch` of a Keras model compiled with Keras' defaults (Adam, the loss from
    logits): `Input((seq_len, embedding_dim))` -> the layer -> `Dense(vocab_size)`."""
    import keras

    from seqrnn.models import StepTimes

    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input((config.seq_len, config.embedding_dim))
    h = layer([inputs, StepTimes()(inputs)]) if timed else layer(inputs)
    model = keras.Model(inputs, keras.layers.Dense(config.vocab_size)(h))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(config.seed)
    shape = (config.batch_size, config.seq_len)
    x = rng.normal(size=(*shape, config.embedding_dim)).astype("float32")
    y = rng.integers(0, config.vocab_size, shape).astype("int32")
    return lambda: float(model.train_on_batch(x, y))


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True
