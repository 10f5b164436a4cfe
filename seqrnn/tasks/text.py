"""Character-level language modelling of a UTF-8 text file (the seeds' novels).

The corpus is encoded once (see `corpus.py`). The end of the text (default 10%) is held out for
validation and test. Training windows are cut in one of three ways, each from a seed:

- `sequential` (min-char-rnn, seed 001): the training text is split into `batch_size` streams
  of equal length L = (n - 1) // batch_size; window w of stream b reads characters
  b L + w T ... b L + (w + 1) T - 1 and predicts the ones after them. Consecutive windows
  continue each other, so the trainer carries the recurrent state from one batch to the next and
  resets it at the first window of every pass (`window_index == 0`).
- `random` (seed 000): every window starts at a fresh uniformly random position.
- `chunks` (seed 000's compromise): the training text is cut into `num_chunks` chunks of equal
  length; each pass lays them end to end in a new random order and reads the result like
  `sequential` (state carried, reset at each pass).

Validation and test read the held-out text like `sequential` (with up to `batch_size` streams),
once, from its start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from seqrnn.errors import UsageError
from seqrnn.settings import TextMode
from seqrnn.tasks.base import Batch, Task, check_int, rng_for, setting
from seqrnn.tasks.corpus import Corpus, read_corpus

MODES = tuple(mode.value for mode in TextMode)
#: Tokens drawn and discarded before a sample of a model trained with carried states.
BURN_IN = 256
#: What a validation pass reads of the held-out text by default: on a 1 GB corpus the held-out
#: tenth is 100 million characters, minutes of evaluation at every --eval-every.
VAL_CHARS = 1_000_000


def sequential_positions(length: int, batch_size: int, seq_len: int) -> np.ndarray:
    """Positions of every window of one sequential pass: (windows, batch, seq_len + 1).

    Row [w, b] holds the T + 1 positions of window w of stream b: the first T are inputs, the
    last T targets.
    """
    stream = (length - 1) // batch_size
    windows = stream // seq_len
    starts = np.arange(batch_size)[None, :] * stream + np.arange(windows)[:, None] * seq_len
    return starts[:, :, None] + np.arange(seq_len + 1)


def sequential_windows(length: int, batch_size: int, seq_len: int) -> Iterator[np.ndarray]:
    """The rows of `sequential_positions`, one window at a time: (batch, seq_len + 1) each.

    A pass over a 1 GB corpus in windows of 25 holds 40 million windows; their positions at
    once would take 8 GB, one window's take a few kB.
    """
    stream = (length - 1) // batch_size
    offsets = np.arange(batch_size)[:, None] * stream + np.arange(seq_len + 1)
    for window in range(stream // seq_len):
        yield offsets + window * seq_len


def gather(ids: np.ndarray, positions: np.ndarray) -> Batch:
    """The batch whose windows sit at `positions` (batch, T + 1): inputs, next-char targets."""
    chars = ids[positions].astype(np.int32)
    inputs, targets = chars[..., :-1], chars[..., 1:]
    return {"tokens": inputs}, targets, np.ones(targets.shape, np.float32)


@dataclass
class TextTask(Task):
    """Predict the next character of a text file."""

    path: str = field(metadata={"meaning": "the UTF-8 text file"})
    mode: str = setting(
        TextMode.SEQUENTIAL.value, "how windows are cut: sequential, random or chunks"
    )
    seq_len: int = setting(25, "characters per window, the steps of backpropagation")
    validation_fraction: float = setting(0.1, "the end of the text held out for validation")
    num_chunks: int = setting(100, "chunks mode: the pieces the training text is cut into")
    val_chars: int | str = setting(
        VAL_CHARS,
        "characters of the held-out text a validation or test pass reads at most, or all",
    )

    # Told of the reading of the corpus (bytes read, bytes to read); not a setting.
    _progress: Callable[[int, int], None] | None = field(default=None, repr=False, compare=False)

    name: ClassVar[str] = "text"
    summary: ClassVar[str] = (
        "next-character prediction on a UTF-8 file; nats and bits per character, perplexity"
    )
    input_kind: ClassVar[str] = "tokens"
    per_step: ClassVar[bool] = True
    fixed_shapes: ClassVar[bool] = True
    _corpus: Corpus = field(init=False, repr=False)
    _most_frequent: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}", "mode")
        self.mode = TextMode(self.mode).value
        check_int("seq_len", self.seq_len, 1)
        check_int("num_chunks", self.num_chunks, 1)
        if self.val_chars != "all":
            check_int("val_chars (or all)", self.val_chars, self.seq_len + 1)
        if not 0.0 < self.validation_fraction < 1.0:
            raise UsageError(
                f"validation_fraction must lie in (0, 1), got {self.validation_fraction!r}",
                "validation_fraction",
            )
        self.path = str(self.path)
        self._corpus = read_corpus(self.path, progress=self._progress)
        n = len(self._corpus.ids)
        held_out = max(self.seq_len + 1, math.ceil(n * self.validation_fraction))
        if n - held_out < self.seq_len + 1:
            raise UsageError(
                f"{self.path}: {n} characters are too few for windows of {self.seq_len} with "
                f"{self.validation_fraction:.0%} held out; use a longer text or a smaller "
                "seq_len",
                "seq_len",
            )
        self._split = n - held_out

    @property
    def carries_state(self) -> bool:  # type: ignore[override]
        return self.mode != "random"

    @property
    def burn_in(self) -> int:  # type: ignore[override]
        """256 tokens for a model trained with carried states (sequential, chunks); none for
        random windows, which all start from zeros in training too."""
        return BURN_IN if self.carries_state else 0

    @property
    def vocabulary(self) -> str:
        return self._corpus.vocabulary

    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        return self._corpus.vocab_size

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self._corpus.vocab_size

    def part(self, split: str) -> np.ndarray:
        """The encoded characters of a split (validation and test are the held-out end)."""
        ids = self._corpus.ids
        if split == "train":
            return ids[: self._split]
        held_out = ids[self._split :]
        return held_out if self.val_chars == "all" else held_out[: self.val_chars]

    def decode(self, ids) -> str:
        return self._corpus.decode(ids)

    def encode(self, text: str) -> np.ndarray:
        """The ids of `text`; a character outside the vocabulary is an error naming it."""
        index = {c: i for i, c in enumerate(self.vocabulary)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            raise UsageError(
                f"{''.join(missing)!r} not in the vocabulary of {self.path}; use only characters "
                "of the training text"
            )
        return np.array([index[c] for c in text], dtype=np.int32)

    def default_prime_text(self) -> str:
        """What samples continue without a prime. With a burn-in (sequential, chunks): nothing,
        the sample continues the burnt-in text, so that it starts as it goes on (a fixed prime
        decides what follows it: after Shakespeare's `?` comes a speaker's name, surer by 4.6%
        than the middle of a speech; after a space, a word's first letter, less sure by 11%).
        Random windows, which start from zeros in training: the training text's most frequent
        character (a space in prose)."""
        if self.burn_in:
            return ""
        if self._most_frequent is None:  # counted once, in blocks (a corpus may be large)
            ids, block = self.part("train"), 1 << 22
            counts = np.zeros(self.vocab_size, np.int64)
            for start in range(0, len(ids), block):
                counts += np.bincount(ids[start : start + block], minlength=self.vocab_size)
            self._most_frequent = int(np.argmax(counts))
        return self.decode([self._most_frequent])

    def pass_time(self, index: int) -> int:
        return index * self.seq_len

    def metrics(self, loss: float, counts: dict[str, float]) -> dict[str, float]:
        return text_metrics(loss)

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        return batch_size, self.seq_len

    @classmethod
    def batch_shape(cls, batch_size: int, settings: dict, split: str = "train") -> tuple[int, int]:
        """`longest_batch` without reading the corpus: every batch is `seq_len` steps."""
        seq_len = settings.get("seq_len", cls.__dataclass_fields__["seq_len"].default)
        check_int("seq_len", seq_len, 1)
        return batch_size, seq_len

    def eval_batch_count(self, split: str, batch_size: int) -> int:
        length = len(self.part(split))
        streams = max(1, min(batch_size, (length - 1) // self.seq_len))
        return ((length - 1) // streams) // self.seq_len

    def batches_per_pass(self, batch_size: int) -> int:
        """How many windows (batches) one pass over the training text takes."""
        length = len(self.part("train"))
        if self.mode == "chunks":
            length = (length - 1) // self.num_chunks * self.num_chunks + 1
        return ((length - 1) // batch_size) // self.seq_len

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        ids = self.part(split)
        if split != "train":
            streams = max(1, min(batch_size, (len(ids) - 1) // self.seq_len))
            for positions in sequential_windows(len(ids), streams, self.seq_len):
                yield gather(ids, positions)
            return
        rng = rng_for(seed, split)
        if self.mode == "chunks" and (len(ids) - 1) // self.num_chunks < 1:
            raise UsageError(
                f"{self.path}: {len(ids)} training characters cannot make {self.num_chunks} "
                "chunks; lower num_chunks",
                "num_chunks",
            )
        if self.batches_per_pass(batch_size) == 0:
            raise UsageError(
                f"{self.path}: the training text ({len(ids)} characters) is shorter than "
                f"{batch_size} streams of one window of {self.seq_len}; lower batch_size or "
                "seq_len",
                "batch_size",
                "seq_len",
            )
        while True:
            if self.mode == "random":
                starts = rng.integers(0, len(ids) - self.seq_len, size=batch_size)
                yield gather(ids, starts[:, None] + np.arange(self.seq_len + 1))
            elif self.mode == "sequential":
                for positions in sequential_windows(len(ids), batch_size, self.seq_len):
                    yield gather(ids, positions)
            else:
                chunk = (len(ids) - 1) // self.num_chunks
                order = rng.permutation(self.num_chunks) * chunk  # chunk starts, this pass
                virtual = chunk * self.num_chunks + 1
                for window in sequential_windows(virtual, batch_size, self.seq_len):
                    # The last target of the last chunk is the character after it in the text.
                    index = np.minimum(window // chunk, self.num_chunks - 1)
                    yield gather(ids, order[index] + window - index * chunk)


def text_metrics(mean_nats: float) -> dict[str, float]:
    """Validation metrics from the mean cross-entropy per character (in nats)."""
    return {
        "nats_per_char": mean_nats,
        "bits_per_char": mean_nats / math.log(2.0),
        "perplexity": math.exp(mean_nats),
    }
