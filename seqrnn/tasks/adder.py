"""The RNN adder of seed 002: two numbers added digit by digit, least significant digit first.

Each step reads one digit of each operand (the model embeds both and concatenates them) and
predicts the digit of the sum at that position, so the model must carry. A number of n digits
is read as n steps plus one step of (0, 0), at which the final carry comes out. Example:
57 + 68 = 125 reads (7, 8), (5, 6), (0, 0) and must answer 5, 2, 1. Operands in a batch have
different lengths: shorter ones are padded with zeros and those steps carry weight 0.

Training draws each operand's digit count uniformly from `train_digits`, validation likewise,
test from `test_digits`, so a model trained on short numbers is judged on far longer ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from seqrnn.tasks.base import Batch, Task, check_int, check_range, pad, setting


def random_digits(rng: np.random.Generator, num_digits: int) -> np.ndarray:
    """A uniformly random number of exactly `num_digits` digits, least significant first."""
    digits = rng.integers(0, 10, size=num_digits)
    if num_digits > 1:
        digits[-1] = rng.integers(1, 10)
    return digits


def add_digits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The digits of a + b, least significant first, one longer than the longer operand."""
    n = max(len(a), len(b)) + 1
    total = np.zeros(n, dtype=np.int64)
    carry = 0
    for i in range(n):
        s = (a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) + carry
        total[i], carry = s % 10, s // 10
    return total


def to_int(digits) -> int:
    """The integer whose digits, least significant first, are `digits`."""
    return int("".join(str(int(d)) for d in reversed(list(digits))) or "0")


@dataclass
class AdderTask(Task):
    """Add two integers digit by digit."""

    train_digits: tuple[int, int] = setting(
        (1, 5), "digits of each training and validation operand, drawn uniformly in low..high"
    )
    test_digits: tuple[int, int] = setting(
        (1, 100), "digits of each test operand, drawn uniformly in low..high"
    )
    num_eval_batches: int = setting(10, "batches in each validation and test pass")

    name: ClassVar[str] = "adder"
    summary: ClassVar[str] = (
        "add two integers digit by digit, least significant first; exact-match and digit accuracy"
    )
    input_kind: ClassVar[str] = "digit_pairs"
    per_step: ClassVar[bool] = True
    num_classes: ClassVar[int] = 10
    vocab_size: ClassVar[int] = 10

    def __post_init__(self) -> None:
        self.train_digits = check_range("train_digits", self.train_digits, 1)
        self.test_digits = check_range("test_digits", self.test_digits, 1)
        check_int("num_eval_batches", self.num_eval_batches, 1)

    def batch(self, rng: np.random.Generator, batch_size: int, digits: tuple[int, int]) -> Batch:
        pairs, sums = [], []
        for _ in range(batch_size):
            a = random_digits(rng, int(rng.integers(digits[0], digits[1] + 1)))
            b = random_digits(rng, int(rng.integers(digits[0], digits[1] + 1)))
            total = add_digits(a, b)
            steps = len(total)
            pair = np.zeros((steps, 2), dtype=np.int32)
            pair[: len(a), 0], pair[: len(b), 1] = a, b
            pairs.append(pair)
            sums.append(total.astype(np.int32))
        weights = pad([np.ones(len(s), np.float32) for s in sums], 0.0)
        return {"digits": pad(pairs)}, pad(sums), weights

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        digits = self.test_digits if split == "test" else self.train_digits
        return batch_size, digits[1] + 1

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        digits = self.test_digits if split == "test" else self.train_digits
        return self.generated(split, seed, lambda rng: self.batch(rng, batch_size, digits))

    shown_metrics: ClassVar[dict[str, str]] = {"exact_match": "exact"}

    def count(self, predicted: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> dict:
        rows = len(targets)
        exact = round(adder_accuracy(predicted, targets, weights)["exact_match"] * rows)
        return {"exact": exact, "rows": rows}

    def metrics(self, loss: float, counts: dict[str, float]) -> dict[str, float]:
        """The exact-match rate of whole sums."""
        return {"exact_match": counts.get("exact", 0) / max(counts.get("rows", 0), 1)}

    def serving(self, kit):
        """`serving_default`: "a+b" in, the sum out as a string."""
        import tensorflow as tf

        model = kit.model

        def serve(text):
            parts = tf.strings.split(text, "+")
            check = tf.debugging.Assert(tf.size(parts) == 2, ["expected a+b, got:", text])
            with tf.control_dependencies([check]):
                a, b = tf.reverse(kit.digits(parts[0]), [0]), tf.reverse(kit.digits(parts[1]), [0])
            steps = tf.maximum(tf.size(a), tf.size(b)) + 1
            pairs = tf.stack(
                [tf.pad(a, [[0, steps - tf.size(a)]]), tf.pad(b, [[0, steps - tf.size(b)]])], 1
            )
            digits = tf.argmax(model({"digits": pairs[None]})[0], -1, output_type=tf.int32)
            text_out = tf.strings.reduce_join(tf.strings.as_string(tf.reverse(digits, [0])))
            stripped = tf.strings.regex_replace(text_out, "^0+", "")
            return {"sum": tf.where(stripped == "", "0", stripped)}

        return serve, [tf.TensorSpec([], tf.string, name="text")]


def adder_accuracy(predicted: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> dict:
    """Exact-match accuracy of whole sums and accuracy per digit (padding excluded)."""
    correct = (predicted == targets) | (weights == 0)
    digits = float(((predicted == targets) & (weights > 0)).sum() / max(weights.sum(), 1))
    return {"exact_match": float(correct.all(axis=1).mean()), "digit_accuracy": digits}
