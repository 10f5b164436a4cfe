"""Samples begin well: a model trained with its state carried from window to window (text in
sequential mode) rarely saw the zero state a sample starts from; the generator's burn-in puts
it in a state like those of training first, and without a prime the sample continues the
burnt-in text. Measured as the model's next-character entropy along its own samples: over the
first 20 characters it is within 10% of its entropy over characters 100-200 (averaged over 20
samples)."""

from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import tensorflow as tf

from cli.main import main
from seqrnn.errors import UsageError
from seqrnn.generation import Generator, generator_for, sample_texts
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
        steps=200, lr=0.01, eval_every=1000, sample_every=1000, log_every=100,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("runs") / "seq"
    run = RunFolder.open(path, resume=False, force=False)
    try:
        trainer = Trainer(config, run)
        trainer.train()
    finally:
        run.unlock()
    return trainer.model, trainer.task, path


def entropies(generator: Generator, prime, samples: int = 20, length: int = 200) -> np.ndarray:
    """(samples, length): the entropy (nats) of the model's next-character distribution at
    each character of its own samples, replayed from the state the sampling started in."""
    prime = tf.constant(prime, tf.int32)
    seed = tf.constant([7, 0], tf.int64)
    ids, _ = generator.generate_ids(prime, length, 1.0, 0, 1.0, seed, samples, -1)
    logits, states, start = generator._start(prime, samples, seed)
    rows = []
    for t in range(length):
        p = tf.nn.softmax(logits)
        rows.append(-tf.reduce_sum(p * tf.math.log(p + 1e-12), axis=-1).numpy())
        logits, states = generator.step(ids[:, t], states, tf.cast(start + t, tf.float32))
    return np.stack(rows, axis=1)


def test_the_first_characters_of_a_sample_are_as_sure_as_later_ones(sequential_model):
    model, task, _ = sequential_model
    assert task.burn_in > 0  # sequential text: the generator burns in
    assert task.default_prime_text() == "" and task.default_prime().size == 0
    generator = generator_for(model, task, compiled=False)
    warmed = entropies(generator, task.default_prime())
    first, later = warmed[:, :20].mean(), warmed[:, 100:200].mean()
    assert abs(first - later) / later < 0.10, (first, later)
    # From the zero state, after a space, the start is measurably less sure (the noise the
    # burn-in removes). (An empty prime there would start from even odds: a rigged baseline.)
    cold = entropies(Generator(model, compiled=False), task.prime_ids(" ")[0])
    cold_gap = abs(cold[:, :20].mean() - cold[:, 100:200].mean()) / cold[:, 100:200].mean()
    assert cold_gap > abs(first - later) / later, (cold_gap, first, later)


def test_without_a_prime_the_sample_continues_the_burnt_in_text(sequential_model, tmp_path):
    model, task, run = sequential_model
    generator = generator_for(model, task, compiled=False)
    empty = tf.constant([], tf.int32)
    logits, _, start = generator._start(empty, 4, tf.constant([0, 0], tf.int64))
    assert int(start) == generator.burn_in_chunks * 64
    # The first character is drawn from the model's prediction after the burn-in (surer on
    # average than the log(65) nats of the zero logits an empty prime alone would leave).
    p = tf.nn.softmax(logits).numpy()
    first = -(p * np.log(p + 1e-12)).sum(axis=-1)
    assert first.mean() < np.log(task.vocab_size) - 1.0, first
    # The CLI and the SavedModel take an empty prime for such a model and sample all the same.
    out = tmp_path / "s.txt"
    args = ["sample", str(run), "--prime", "", "--length", "80", "--seed", "2", "--output"]
    assert main([*args, str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").strip()) > 40
    saved = tmp_path / "saved"
    assert main(["export", str(run), "--out", str(saved)]) == 0
    marker = json.loads((saved / "assets" / "seqrnn.json").read_text(encoding="utf-8"))
    assert marker["default_prime"] == "" and marker["needs_prime"] is False
    loaded = tf.saved_model.load(str(saved))
    texts = loaded.signatures["generate"](
        prime=tf.constant(""), length=tf.constant(60), temperature=tf.constant(1.0),
        top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant([1, 2], tf.int64),
        num_samples=tf.constant(3),
    )["samples"].numpy()  # fmt: skip
    assert [len(t.decode("utf-8")) for t in texts] == [60, 60, 60]


def test_each_seed_continues_a_burn_in_of_its_own_and_a_prime_keeps_one(sequential_model):
    model, task, _ = sequential_model
    generator = generator_for(model, task, compiled=False)

    def after_start(prime, seed):
        logits, _, _ = generator._start(tf.constant(prime, tf.int32), 2, tf.constant(seed))
        return logits.numpy()

    empty = task.default_prime()
    one, two = after_start(empty, [1, 0]), after_start(empty, [2, 0])
    assert np.abs(one - two).max() > 0.1  # elsewhere in the text: another distribution
    assert np.array_equal(one, after_start(empty, [1, 0]))  # and the same for the same seed
    # After a prime the burn-in is the same for every seed, so greedy samples stay greedy.
    space = task.prime_ids(" ")[0]
    assert np.array_equal(after_start(space, [1, 0]), after_start(space, [2, 0]))
    texts = {
        seed: sample_texts(generator, task, empty, 30, temperature=0.0, seed=(seed, 0))[0]
        for seed in (1, 2, 3)
    }
    assert len(set(texts.values())) == 3, texts  # greedy from an empty prime: a seed's start


def test_random_windows_need_no_burn_in_and_start_from_the_most_frequent_character():
    task = make_task("text", path=str(shakespeare()), mode="random")
    assert task.burn_in == 0 and make_task("toy").burn_in == 0
    counts = collections.Counter(task.decode(task.part("train")))
    assert task.default_prime_text() == counts.most_common(1)[0][0] == " "
    with pytest.raises(UsageError, match="the prime is empty"):
        task.prime_ids("")
