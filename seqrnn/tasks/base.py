"""What a task is: data with its encoding, seeded pipelines, the head it needs, its metric."""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from seqrnn.errors import UsageError

SPLITS = ("train", "validation", "test")

# A batch: (inputs by name, integer targets, float weights shaped like the targets; 0 = padding).
Batch = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]


def setting(default: Any, meaning: str) -> Any:
    """A task setting with its meaning, which `seqrnn tasks NAME` shows beside the default."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: default, metadata={"meaning": meaning})
    return dataclasses.field(default=default, metadata={"meaning": meaning})


def check_int(name: str, value: Any, minimum: int) -> int:
    """`value` as an int if it is an integer >= minimum, else a `UsageError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_range(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """A pair (low, high) of integers with minimum <= low <= high."""
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    if not ok or not minimum <= value[0] <= value[1]:
        raise UsageError(
            f"{name} must be two integers low..high with {minimum} <= low <= high, got {value!r}"
        )
    return int(value[0]), int(value[1])


def rng_for(seed: int, split: str) -> np.random.Generator:
    """The random stream of one split: independent across splits, the same for the same seed."""
    return np.random.default_rng([seed, SPLITS.index(split)])


def pad(rows: list[np.ndarray], value=0, dtype=None, length: int | None = None) -> np.ndarray:
    """Stacks 1-D (or (n, k)) arrays of different lengths, padding the ends with `value`.

    To the longest row, or to `length` when given (a fixed shape; no row may be longer).
    """
    longest = max(len(r) for r in rows)
    if length is not None:
        if longest > length:
            raise ValueError(f"a row of {longest} steps does not fit a length of {length}")
        longest = length
    out = np.full((len(rows), longest, *rows[0].shape[1:]), value, dtype=dtype or rows[0].dtype)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


class Task:
    """A data set and what it takes to learn it.

    Subclasses set the class attributes and implement `batches`. The trainer and the model
    builder know nothing about a particular task: they read these attributes.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    #: "tokens" (int ids, `vocab_size`), "digit_pairs" (two digits a step) or "timed" (values
    #: with timestamps and a step mask).
    input_kind: ClassVar[str]
    #: whether the head predicts at every step (language models) or once, after the last step
    per_step: ClassVar[bool]
    #: whether the trainer carries the recurrent state from one batch to the next
    carries_state: ClassVar[bool] = False
    #: whether id 0 is padding (to be masked)
    padded: ClassVar[bool] = False
    #: whether every batch of a split has the same shape (text windows, palindromes); only then
    #: do the models of `build_model` compile their fused loops with XLA, once for that shape
    fixed_shapes: ClassVar[bool] = False
    num_classes: int
    vocab_size: int

    def settings(self) -> dict[str, Any]:
        """Every setting of the task, as plain JSON types (a run saves it in config.json)."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)  # type: ignore[arg-type]
            if not field.name.startswith("_")
        }

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        """Numpy batches of one split: endless for "train", a fixed list otherwise."""
        raise NotImplementedError

    def eval_batch_count(self, split: str, batch_size: int) -> int:
        """How many batches a validation or test pass reads (its progress bar's total)."""
        return self.num_eval_batches  # type: ignore[attr-defined]

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        """(rows, steps) that bound every batch of `batch_size` of `split` (the memory
        estimate's input)."""
        raise NotImplementedError

    def generated(
        self, split: str, seed: int, make_batch: Callable[[np.random.Generator], Batch]
    ) -> Iterator[Batch]:
        """Batches drawn by `make_batch`: endless for "train", `num_eval_batches` otherwise."""
        rng = rng_for(seed, split)
        count = itertools.count() if split == "train" else range(self.num_eval_batches)
        return (make_batch(rng) for _ in count)

    def input_signature(self) -> dict[str, tuple[tuple, str]]:
        """Name -> (shape without batch, dtype) of each model input."""
        if self.input_kind == "tokens":
            return {"tokens": ((None,), "int32")}
        if self.input_kind == "digit_pairs":
            return {"digits": ((None, 2), "int32")}
        return {
            "values": ((None, 1), "float32"),
            "times": ((None,), "float64"),
            "mask": ((None,), "bool"),
        }

    def dataset(self, split: str, batch_size: int, seed: int):
        """The split as a `tf.data.Dataset` of (inputs, targets, weights), deterministic in seed."""
        import tensorflow as tf

        if split not in SPLITS:
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        check_int("batch size", batch_size, 1)
        target_shape = (None, None) if self.per_step else (None,)
        signature = (
            {
                name: tf.TensorSpec((None, *shape), dtype, name=name)
                for name, (shape, dtype) in self.input_signature().items()
            },
            tf.TensorSpec(target_shape, "int32"),
            tf.TensorSpec(target_shape, "float32"),
        )
        return tf.data.Dataset.from_generator(
            lambda: self.batches(split, batch_size, seed), output_signature=signature
        )
