"""Samples begin well: a model trained with its state carried from window to window (text in
sequential mode) rarely saw the zero state a sample starts from; the generator's burn-in puts
it in a state like those of training first. Measured as the model's next-character entropy
along its own samples: over the first 20 characters it is within 10% of its entropy over
characters 100-200 (averaged over 20 samples)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seqrnn.generation import Generator, generator_for
from seqrnn.settings import TrainConfig
from seqrnn.tasks import make_task
from seqrnn.training import RunFolder, Trainer
from tests.conftest import shakespeare

pytestmark = pytest.mark.tf_only


@pytest.fixture(scope="module")
def sequential_model(tmp_path_factory):
    settings = {"path": str(shakespeare()), "mode": "sequential", "seq_len": 50}
    config = TrainConfig(
        task="text", task_settings=settings, units=128, embedding_dim=32, batch_size=32,
        steps=400, lr=0.005, eval_every=1000, sample_every=1000, log_every=100,
    )  # fmt: skip
    run = RunFolder.open(tmp_path_factory.mktemp("runs") / "seq", resume=False, force=False)
    try:
        trainer = Trainer(config, run)
        trainer.train()
    finally:
        run.unlock()
    return trainer.model, trainer.task


def entropies(generator: Generator, prime, samples: int = 20, length: int = 200) -> np.ndarray:
    """(samples, length): the entropy (nats) of the model's next-character distribution at
    each character of its own samples, replayed from the state the sampling started in."""
    prime = tf.constant(prime, tf.int32)
    seed = tf.constant([7, 0], tf.int64)
    ids, _ = generator.generate_ids(prime, length, 1.0, 0, 1.0, seed, samples, -1)
    logits, states, start = generator._start(prime, samples)
    rows = []
    for t in range(length):
        p = tf.nn.softmax(logits)
        rows.append(-tf.reduce_sum(p * tf.math.log(p + 1e-12), axis=-1).numpy())
        logits, states = generator.step(ids[:, t], states, tf.cast(start + t, tf.float32))
    return np.stack(rows, axis=1)


def test_the_first_characters_of_a_sample_are_as_sure_as_later_ones(sequential_model):
    model, task = sequential_model
    assert task.burn_in > 0  # sequential text: the generator burns in
    generator = generator_for(model, task, compiled=False)
    warmed = entropies(generator, task.default_prime())
    first, later = warmed[:, :20].mean(), warmed[:, 100:200].mean()
    assert abs(first - later) / later < 0.10, (first, later)
    # From the zero state the start is measurably less sure (the noise the burn-in removes).
    cold = entropies(Generator(model, compiled=False), task.default_prime())
    cold_gap = abs(cold[:, :20].mean() - cold[:, 100:200].mean()) / cold[:, 100:200].mean()
    assert cold_gap > abs(first - later) / later, (cold_gap, first, later)


def test_random_windows_need_no_burn_in():
    task = make_task("text", path=str(shakespeare()), mode="random")
    assert task.burn_in == 0 and make_task("toy").burn_in == 0
