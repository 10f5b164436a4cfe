"""Frequency discrimination, the Phased LSTM paper's first task (Neil et al., 2016, 4.1).

Each sample is a sine wave sin(2 pi (t - start) / P + phase) with period P log-uniform in
[1, 100] ms; class 1 when 5 <= P <= 6 ms. Half of every batch is drawn with P uniform in
[5, 6], so the classes are balanced. A sample lasts D ~ U(15, 125) ms from a start time
uniform in [0, 100) ms, with a phase uniform in [0, 2 pi). Three ways to observe it:

- `1ms`: every 1 ms; `0.1ms`: every 0.1 ms (high resolution);
- `async`: N ~ U(15, 125) times drawn uniformly within the sample's span, sorted.

Inputs are the values, their timestamps in ms and a mask (samples differ in length; padded
steps are masked). Every batch is padded to the longest sample the regime can draw (125 steps,
1250 at 0.1 ms): the shapes stay fixed, so training compiles the recurrent loops with XLA once,
and masked steps leave the state as it was, so the padding changes no output.

A Phased LSTM reads the timestamps with its time gate; other cells get scaled time features
beside the value (`seqrnn.models.TimeFeatures`), chosen by the setting
`time_features`: `elapsed+gap` (default: time since the first observation / 100 ms and the gap
since the previous one in ms) or `elapsed` (the time alone, as the paper's LSTM read its
timestamp).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from seqrnn.errors import UsageError
from seqrnn.tasks.base import Batch, Task, check_int, pad, setting

REGIMES = {"1ms": 1.0, "0.1ms": 0.1, "async": None}
#: The longest sample of each regime: durations are below 125 ms, async draws 15-125 times.
MAX_STEPS = {"1ms": 125, "0.1ms": 1250, "async": 125}
TARGET_PERIOD = (5.0, 6.0)
TIME_FEATURES = ("elapsed+gap", "elapsed")


def draw_periods(rng: np.random.Generator, count: int) -> np.ndarray:
    """Periods in ms: the first half uniform in the target band, the rest log-uniform [1, 100]."""
    forced = count // 2
    return np.concatenate(
        [
            rng.uniform(*TARGET_PERIOD, size=forced),
            np.exp(rng.uniform(np.log(1.0), np.log(100.0), size=count - forced)),
        ]
    )


def label(periods: np.ndarray) -> np.ndarray:
    return ((periods >= TARGET_PERIOD[0]) & (periods <= TARGET_PERIOD[1])).astype(np.int32)


@dataclass
class FrequencyTask(Task):
    """Tell sine waves of period 5-6 ms from the others, however they are sampled."""

    regime: str = setting("async", "how the waves are sampled: 1ms, 0.1ms or async")
    num_eval_batches: int = setting(10, "batches in each validation and test pass")
    time_features: str = setting(
        "elapsed+gap", "what cells other than the Phased LSTM read of time: elapsed+gap or elapsed"
    )

    name: ClassVar[str] = "frequency"
    summary: ClassVar[str] = (
        "is a sine wave's period within 5-6 ms? sampled every 1 ms, 0.1 ms or at random; accuracy"
    )
    input_kind: ClassVar[str] = "timed"
    per_step: ClassVar[bool] = False
    num_classes: ClassVar[int] = 2
    vocab_size: ClassVar[int] = 0
    fixed_shapes: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise UsageError(f"regime must be one of {', '.join(REGIMES)}, got {self.regime!r}")
        check_int("num_eval_batches", self.num_eval_batches, 1)
        if self.time_features not in TIME_FEATURES:
            raise UsageError(
                f"time_features must be one of {', '.join(TIME_FEATURES)}, "
                f"got {self.time_features!r}"
            )

    def sample_batch(self, rng: np.random.Generator, batch_size: int):
        """(inputs, targets, weights) plus the periods the labels were computed from."""
        periods = draw_periods(rng, batch_size)
        times, values = [], []
        step = REGIMES[self.regime]
        for period in periods:
            start = rng.uniform(0.0, 100.0)
            duration = rng.uniform(15.0, 125.0)
            phase = rng.uniform(0.0, 2 * np.pi)
            if step is None:
                t = np.sort(rng.uniform(start, start + duration, size=int(rng.integers(15, 126))))
            else:
                t = start + np.arange(0.0, duration, step)
            times.append(t)
            values.append(np.sin(2 * np.pi * (t - start) / period + phase))
        order = rng.permutation(batch_size)  # forced and free periods interleaved
        length = MAX_STEPS[self.regime]
        mask = pad([np.ones(len(times[i]), bool) for i in order], False, length=length)
        inputs = {
            "values": pad([values[i].astype(np.float32) for i in order], 0.0, length=length)[
                ..., None
            ],
            "times": pad([times[i] for i in order], 0.0, length=length),
            "mask": mask,
        }
        targets = label(periods[order])
        return (inputs, targets, np.ones(batch_size, np.float32)), periods[order]

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        return batch_size, MAX_STEPS[self.regime]

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        return self.generated(split, seed, lambda rng: self.sample_batch(rng, batch_size)[0])

    def serving(self, kit):
        """`serving_default`: the class probabilities of `values`, `times`, `mask`."""
        import tensorflow as tf

        def serve(values, times, mask):
            logits = kit.model({"values": values, "times": times, "mask": mask})
            return {"probabilities": tf.nn.softmax(logits)}

        signature = [
            tf.TensorSpec([None, None, 1], tf.float32, name="values"),
            tf.TensorSpec([None, None], tf.float64, name="times"),
            tf.TensorSpec([None, None], tf.bool, name="mask"),
        ]
        return serve, signature
