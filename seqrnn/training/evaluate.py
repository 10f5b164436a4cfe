"""A task's metrics on one of its splits, for a model of `build_model`.

Every task gets the mean loss per weighted target (nats) and the accuracy of the most likely
class. On top: text gets bits per character and perplexity; the adder the exact-match rate of
whole sums; grammars the fraction of sampled sequences their acceptor accepts. Language models of
text carry their hidden state from one window of the split to the next (the split is read as
consecutive windows), as they are trained in sequential mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: Sampled sequences per grammar evaluation, and the temperature they are drawn at.
GRAMMAR_SAMPLES = 100
GRAMMAR_TEMPERATURE = 1.0


class Evaluator:
    """Computes a task's metrics with `model`; build once, call `evaluate(split)` often."""

    def __init__(self, model, task, batch_size: int, seed: int, generator=None) -> None:
        import keras
        import tensorflow as tf

        from seqrnn.models import state_shapes, with_states

        self.model, self.task, self.batch_size, self.seed = model, task, batch_size, seed
        self.generator = generator
        self.stateful = with_states(model) if task.carries_state else None
        self.widths = [w for layer in state_shapes(model) for w in layer]
        net = self.stateful or model

        @tf.function(reduce_retracing=True, autograph=False)
        def step(inputs, targets, weights):
            outputs = net(inputs, training=False)
            logits, states = (outputs[0], outputs[1:]) if self.stateful else (outputs, [])
            losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
            return tf.reduce_sum(losses * weights), predicted, states

        self._step = step

    def evaluate(
        self,
        split: str,
        samples: int = GRAMMAR_SAMPLES,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """The metrics on `split`; `progress(batches done, batches in all)` after each batch."""
        import tensorflow as tf

        from seqrnn.tasks import text_metrics

        task = self.task
        total = weight = correct = 0.0
        exact = rows = 0
        states = None
        count = task.eval_batch_count(split, self.batch_size) if progress else 0
        for index, (inputs, targets, weights) in enumerate(
            task.batches(split, self.batch_size, self.seed)
        ):
            inputs = {k: tf.constant(v) for k, v in inputs.items()}
            if self.stateful is not None:
                batch = len(targets)
                if states is None:
                    states = [tf.zeros((batch, w)) for w in self.widths]
                inputs["states"] = list(states)
                if "start" in self.stateful.input:
                    inputs["start"] = tf.fill([batch], float(index * targets.shape[1]))
            loss_sum, predicted, states = self._step(inputs, targets, weights)
            predicted = predicted.numpy()
            total += float(loss_sum)
            weight += float(weights.sum())
            hits = (predicted == targets) & (weights > 0)
            correct += float(hits.sum())
            if task.name == "adder":
                exact += int(((predicted == targets) | (weights == 0)).all(axis=1).sum())
                rows += len(targets)
            if progress is not None:
                progress(index + 1, count)
        mean = total / max(weight, 1.0)
        out: dict[str, Any] = {"loss": mean, "accuracy": correct / max(weight, 1.0)}
        if task.name == "text":
            out.update(text_metrics(mean))
        if task.name == "adder":
            out["exact_match"] = exact / max(rows, 1)
        if self.generator is not None and hasattr(task, "valid_fraction") and samples:
            texts = self.sample(samples, GRAMMAR_TEMPERATURE, seed)
            out["valid"] = task.valid_fraction(texts)
        return {
            k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in out.items()
        }

    def sample(self, count: int, temperature: float, seed: int, length: int | None = None):
        """`count` samples from the task's default prime (grammars: until the end token)."""
        from seqrnn.generation import sample_texts

        if length is None:
            length = getattr(self.task, "max_length", 200) + 1
        return sample_texts(
            self.generator,
            self.task,
            np.asarray(self.task.default_prime()),
            length,
            temperature,
            num_samples=count,
            seed=(seed, 0),
        )
