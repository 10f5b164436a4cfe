"""What a task is: data with its encoding, seeded pipelines, the head it needs, its metric."""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from seqrnn.errors import SeqrnnError, UsageError
from seqrnn.settings import Split

SPLITS = tuple(split.value for split in Split)

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
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}", name.split()[0])
    return int(value)


def check_range(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """A pair (low, high) of integers with minimum <= low <= high."""
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    if not ok or not minimum <= value[0] <= value[1]:
        raise UsageError(
            f"{name} must be two integers low..high with {minimum} <= low <= high, got {value!r}",
            name,
        )
    return int(value[0]), int(value[1])


def check_prime(prime: str, characters, needs_prime: bool = False) -> None:
    """A `UsageError` naming the characters of `prime` that are not among `characters` (a
    model's vocabulary), or for an empty prime where the model has nothing else to start from
    (`needs_prime`); the same words for a run and for a SavedModel."""
    known = set(characters)
    unknown = sorted({c for c in prime if c not in known})
    if unknown:
        raise UsageError(
            f"the prime holds characters outside the model's vocabulary: {''.join(unknown)!r}; "
            "use only characters of the training text",
            "prime",
        )
    if needs_prime and not prime:
        raise UsageError(
            "the prime is empty, and this model has neither a start token nor a burn-in to "
            "begin from; give prime some text to continue",
            "prime",
        )


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

    Subclasses set the class attributes and implement `batches`; what else differs between
    tasks (metrics, prompts, serving) is a method here with a default that subclasses override.
    The trainer, the evaluator, the exporter, the sampler and the command line call only what
    this class declares, so a new task is one module and one `register` call.
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
    #: what cells without a time gate read of a timed input's timestamps ("elapsed+gap" or
    #: "elapsed"; a setting of the frequency task)
    time_features: ClassVar[str] = "elapsed+gap"
    num_classes: int
    vocab_size: int
    #: batches in a validation or test pass of the tasks that draw their data
    num_eval_batches: int
    #: the strings the token ids stand for (a corpus's characters; a grammar's special tokens
    #: and alphabet), saved in config.json, where a changed corpus is noticed; None: digits
    vocabulary: ClassVar[Any] = None
    #: ids at the start of `token_names()` that stand for no character (a grammar's padding,
    #: start and end); the first ones a prime's characters cannot name
    special_tokens: ClassVar[int] = 0
    #: the id that ends a generated sample (-1: none, samples run to their length)
    stop_id: ClassVar[int] = -1
    #: ids a generator never draws (padding, start)
    forbidden_ids: ClassVar[tuple[int, ...]] = ()
    #: the task's own metrics (keys of `metrics` and `sample_metrics`) that a progress line
    #: shows, with their short labels; shown as percentages
    shown_metrics: ClassVar[dict[str, str]] = {}
    #: whether `sample_metrics` judges samples drawn at each validation (the grammars)
    judges_samples: ClassVar[bool] = False
    #: tokens a generator draws and discards before a sample (see `seqrnn.generation`): for
    #: models trained with the state carried, which rarely saw the zero state samples start from
    burn_in: ClassVar[int] = 0

    @property
    def generates(self) -> bool:
        """Whether the task's models generate text: they read tokens and predict every next one."""
        return self.input_kind == "tokens" and self.per_step

    def token_names(self) -> list[str]:
        """The strings the token ids stand for, by id: the vocabulary, or digits for the
        numeric tasks."""
        if self.vocabulary is not None:
            return list(self.vocabulary)
        return [str(d) for d in range(10)]

    def decode(self, ids) -> str:
        """The characters of token ids (special tokens left out)."""
        names = self.token_names()
        return "".join(names[i] for i in ids if i >= self.special_tokens)

    def prime_prefix(self) -> list[int]:
        """The ids every sample reads before its prime's characters (a grammar's start)."""
        return []

    def default_prime_text(self) -> str:
        """The characters samples continue when no prime is given."""
        return ""

    @property
    def starts_without_prime(self) -> bool:
        """Whether a sample may start from an empty prime: the task reads a start token first
        (`prime_prefix`), or its generator burns in (`burn_in`) and continues that text."""
        return bool(self.prime_prefix()) or self.burn_in > 0

    def default_prime(self) -> np.ndarray:
        """The ids samples start from when no prime is given."""
        return self.prime_ids(None)[0]

    def prime_ids(self, prime: str | None) -> tuple[np.ndarray, str]:
        """(ids a sample starts from, the text shown before the sample) for `prime`, or for the
        default prime when it is None; a `UsageError` for characters outside the vocabulary or
        an empty prime where the model has nothing else to start from."""
        text = self.default_prime_text() if prime is None else prime
        names = self.token_names()
        index = {c: i for i, c in enumerate(names) if i >= self.special_tokens}
        check_prime(text, index, needs_prime=not self.starts_without_prime)
        ids = [*self.prime_prefix(), *(index[c] for c in text)]
        return np.array(ids, dtype=np.int32), text

    def sample_length(self, requested: int) -> int:
        """How many tokens a sample drawn for `requested` characters may take."""
        return requested

    def batch_size_note(self, batch_size: int) -> str | None:
        """What a user should know about `batch_size` on this task (a warning), or None."""
        return None

    def batches_per_pass(self, batch_size: int) -> int | None:
        """Batches in one pass over the training data (an epoch); None for a task that draws
        its batches afresh for ever."""
        return None

    def pass_time(self, index: int) -> int:
        """The time step at which the `index`-th batch of a pass begins, for a task that
        carries the state from one batch to the next (what a Phased LSTM's clock reads)."""
        return 0

    def count(self, predicted: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> dict:
        """Sums over one evaluation batch (predicted classes, targets, weights) that `metrics`
        turns into the task's own metrics."""
        return {}

    def metrics(self, loss: float, counts: dict[str, float]) -> dict[str, float]:
        """The task's own metrics, from the mean loss per target (nats) and the summed
        `count`s of a pass (beside the loss and the accuracy every task gets)."""
        return {}

    def sample_metrics(self, texts: list[str]) -> dict[str, float]:
        """Metrics of samples drawn from the model (when `judges_samples`)."""
        return {}

    def serving(self, kit) -> tuple[Callable, list]:
        """The function and input signature of the exported `serving_default`: the task's
        natural prediction. `kit` (see `seqrnn.export.ServingKit`) holds the model, its
        generator, and in-graph `encode(text) -> ids` and `decode(ids, lengths) -> strings`.
        By default, for a model that generates: the next-character distribution after `text`."""
        import tensorflow as tf

        if kit.generator is None:
            raise SeqrnnError(
                f"task {self.name} declares no serving signature, so it cannot be exported; "
                "define its serving method"
            )

        def serve(text):
            logits, _ = kit.generator.run_prime(kit.encode(text), 1)
            return {"characters": kit.vocabulary, "probabilities": tf.nn.softmax(logits[0])}

        return serve, [tf.TensorSpec([], tf.string, name="text")]

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

    @classmethod
    def batch_shape(
        cls, batch_size: int, settings: dict[str, Any], split: str = "train"
    ) -> tuple[int, int]:
        """`longest_batch(batch_size, split)` of the task with these settings, from the
        settings alone: what the command line's memory check before TensorFlow loads needs.
        It builds the task; a task that reads data to be built (a corpus) tells it without."""
        return cls(**settings).longest_batch(batch_size, split)

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
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}", "split")
        check_int("batch_size", batch_size, 1)
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
