"""The palindrome memory task of seed 004.

A palindrome of T digits 0-9 (the first ceil(T / 2) drawn at random, the rest mirrored); the
model reads the first T - 1 digits and predicts the last, which equals the first: it must
remember one digit across T - 1 steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from seqrnn.tasks.base import Batch, Task, check_int, setting


def palindromes(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """`count` random palindromes of `length` digits: (count, length)."""
    half = rng.integers(0, 10, size=(count, (length + 1) // 2))
    return np.concatenate([half, half[:, : length // 2][:, ::-1]], axis=1).astype(np.int32)


@dataclass
class PalindromeTask(Task):
    """Predict the last digit of a palindrome from the others."""

    length: int = setting(10, "digits of each palindrome; the first is recalled after length - 1")
    num_eval_batches: int = setting(10, "batches in each validation and test pass")

    name: ClassVar[str] = "palindrome"
    summary: ClassVar[str] = "read T - 1 digits of a palindrome, predict the last; accuracy"
    input_kind: ClassVar[str] = "tokens"
    per_step: ClassVar[bool] = False
    fixed_shapes: ClassVar[bool] = True
    num_classes: ClassVar[int] = 10
    vocab_size: ClassVar[int] = 10

    def __post_init__(self) -> None:
        check_int("length (T)", self.length, 2)
        check_int("num_eval_batches", self.num_eval_batches, 1)

    def batch(self, rng: np.random.Generator, batch_size: int) -> Batch:
        digits = palindromes(rng, batch_size, self.length)
        targets = digits[:, -1]
        return {"tokens": digits[:, :-1]}, targets, np.ones(targets.shape, np.float32)

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        return batch_size, self.length - 1

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        return self.generated(split, seed, lambda rng: self.batch(rng, batch_size))

    def serving(self, kit):
        """`serving_default`: the first T - 1 digits in, the last digit out."""
        import tensorflow as tf

        def serve(text):
            logits = kit.model({"tokens": kit.digits(text)[None]})[0]
            return {
                "digit": tf.strings.as_string(tf.argmax(logits, output_type=tf.int32)),
                "probabilities": tf.nn.softmax(logits),
            }

        return serve, [tf.TensorSpec([], tf.string, name="text")]
