"""A task's metrics on one of its splits, for a model of `build_model`.

Every task gets the mean loss per weighted target (nats) and the accuracy of the most likely
class; on top, what the task's `count`, `metrics` and `sample_metrics` compute (text: bits per
character and perplexity; the adder: the exact-match rate of whole sums; grammars: the fraction
of sampled sequences their acceptor accepts). Tasks that carry their hidden state from one batch
to the next (text read as consecutive windows) are evaluated so too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: Samples drawn per evaluation of a task that judges samples (grammars), and their temperature.
SAMPLES = 100
SAMPLE_TEMPERATURE = 1.0


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
        samples: int = SAMPLES,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """The metrics on `split`; `progress(batches done, batches in all)` after each batch."""
        import tensorflow as tf

        task = self.task
        total = weight = correct = 0.0
        counts: dict[str, float] = {}
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
                    inputs["start"] = tf.fill([batch], float(task.pass_time(index)))
            loss_sum, predicted, states = self._step(inputs, targets, weights)
            predicted = predicted.numpy()
            total += float(loss_sum)
            weight += float(weights.sum())
            correct += float(((predicted == targets) & (weights > 0)).sum())
            for key, value in task.count(predicted, targets, weights).items():
                counts[key] = counts.get(key, 0.0) + value
            if progress is not None:
                progress(index + 1, count)
        mean = total / max(weight, 1.0)
        out: dict[str, Any] = {"loss": mean, "accuracy": correct / max(weight, 1.0)}
        out.update(task.metrics(mean, counts))
        if self.generator is not None and task.judges_samples and samples:
            out.update(task.sample_metrics(self.sample(samples, SAMPLE_TEMPERATURE, seed)))
        return {
            k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in out.items()
        }

    def sample(self, count: int, temperature: float, seed: int, length: int = 200):
        """`count` samples of about `length` characters from the task's default prime (as
        long as the task's `sample_length` allows: grammars run to their end token)."""
        from seqrnn.generation import sample_texts

        return sample_texts(
            self.generator,
            self.task,
            self.task.default_prime(),
            self.task.sample_length(length),
            temperature,
            num_samples=count,
            seed=(seed, 0),
        )
