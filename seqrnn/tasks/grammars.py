"""Autoregressive grammar tasks of seed 003: ndfa, brackets and a toy English.

A model reads a sequence one character at a time and predicts the next; every sequence is
wrapped in start and end tokens. Token ids: 0 is padding, 1 the start, 2 the end, then the
grammar's characters in code-point order. Batches group sequences of similar length (sorted
within a pool of 32 batches) and hold at most `batch_size` sequences and `max_tokens` tokens;
padded steps are masked and weigh 0. Each grammar ships an exact acceptor: the metric is the
fraction of sampled sequences that the acceptor accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from seqrnn.errors import UsageError
from seqrnn.tasks.base import Batch, Task, check_int, pad, rng_for, setting

PAD, START, END = 0, 1, 2
NUM_SPECIAL = 3

# --- ndfa -------------------------------------------------------------------------------------
NDFA_WORDS = ("abc!", "uvw!", "klm!")
_NDFA = re.compile(r"s(?:(?:abc!)+|(?:uvw!)+|(?:klm!)+)s")


def sample_ndfa(rng: np.random.Generator) -> str:
    """`s`, one word of {abc!, uvw!, klm!} repeated k >= 1 times (stop probability 1/4), `s`."""
    word = NDFA_WORDS[rng.integers(len(NDFA_WORDS))]
    return "s" + word * int(rng.geometric(0.25)) + "s"


def accept_ndfa(text: str) -> bool:
    return _NDFA.fullmatch(text) is not None


# --- brackets ---------------------------------------------------------------------------------
def sample_brackets(rng: np.random.Generator) -> str:
    """Starts with `(`; while unbalanced, appends `(` with probability 7/16, else `)`."""
    out, depth = ["("], 1
    while depth:
        if rng.random() < 7 / 16:
            out.append("(")
            depth += 1
        else:
            out.append(")")
            depth -= 1
    return "".join(out)


def accept_brackets(text: str) -> bool:
    """Balanced, and balanced only at the end (the generator stops at the first balance)."""
    depth = 0
    for i, char in enumerate(text):
        if char not in "()":
            return False
        depth += 1 if char == "(" else -1
        if depth <= 0 and i != len(text) - 1:
            return False
    return bool(text) and depth == 0


# --- toy English --------------------------------------------------------------------------------
# sentence := clause (CONJ clause)*          clause := NP VP | "(" sentence ")"
# NP := DET ADJ* NOUN [PP]                   VP := VERB [ADV] [NP] [PP]       PP := PREP NP
# Words are separated by single spaces; parentheses are words of their own.
TOY = {
    "det": ("a", "the", "every"),
    "adj": ("small", "busy", "green", "old"),
    "noun": ("cat", "dog", "bunny", "man", "garden"),
    "verb": ("sees", "chases", "walked", "likes"),
    "adv": ("quickly", "slowly", "often"),
    "prep": ("with", "near", "under"),
    "conj": ("and", "but"),
}
_CLASS_OF = {word: kind for kind, words in TOY.items() for word in words}


class _ToySampler:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def word(self, kind: str) -> list[str]:
        return [TOY[kind][self.rng.integers(len(TOY[kind]))]]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def noun_phrase(self, depth: int) -> list[str]:
        out = self.word("det")
        while self.chance(0.3):
            out += self.word("adj")
        out += self.word("noun")
        if depth < 2 and self.chance(0.2):
            out += self.word("prep") + self.noun_phrase(depth + 1)
        return out

    def verb_phrase(self, depth: int) -> list[str]:
        out = self.word("verb")
        if self.chance(0.3):
            out += self.word("adv")
        if self.chance(0.5):
            out += self.noun_phrase(depth + 1)
        if depth < 2 and self.chance(0.2):
            out += self.word("prep") + self.noun_phrase(depth + 1)
        return out

    def clause(self, depth: int) -> list[str]:
        if depth < 2 and self.chance(0.1):
            return ["(", *self.sentence(depth + 1), ")"]
        return self.noun_phrase(depth) + self.verb_phrase(depth)

    def sentence(self, depth: int = 0) -> list[str]:
        out = self.clause(depth)
        while depth < 2 and self.chance(0.2):
            out += self.word("conj") + self.clause(depth + 1)
        return out


def sample_toy(rng: np.random.Generator) -> str:
    return " ".join(_ToySampler(rng).sentence())


class _ToyParser:
    """Greedy recursive descent; word classes are disjoint, so greed never rejects a sentence."""

    def __init__(self, words: list[str]) -> None:
        self.words, self.i = words, 0

    def peek(self) -> str | None:
        if self.i >= len(self.words):
            return None
        word = self.words[self.i]
        return word if word in "()" else _CLASS_OF.get(word, "?")

    def take(self, kind: str) -> bool:
        if self.peek() == kind:
            self.i += 1
            return True
        return False

    def noun_phrase(self) -> bool:
        if not self.take("det"):
            return False
        while self.take("adj"):
            pass
        return self.take("noun") and (not self.take("prep") or self.noun_phrase())

    def verb_phrase(self) -> bool:
        if not self.take("verb"):
            return False
        self.take("adv")
        if self.peek() == "det" and not self.noun_phrase():
            return False
        return not self.take("prep") or self.noun_phrase()

    def clause(self) -> bool:
        if self.take("("):
            return self.sentence() and self.take(")")
        return self.noun_phrase() and self.verb_phrase()

    def sentence(self) -> bool:
        if not self.clause():
            return False
        while self.take("conj"):
            if not self.clause():
                return False
        return True


def accept_toy(text: str) -> bool:
    words = text.split(" ")
    if "" in words:  # leading, trailing or doubled spaces
        return False
    parser = _ToyParser(words)
    return parser.sentence() and parser.i == len(words)


# --- the tasks ----------------------------------------------------------------------------------
@dataclass
class GrammarTask(Task):
    """Generate strings of a grammar, one character at a time."""

    max_tokens: int = setting(
        4096, "tokens per batch at most (a batch also holds at most batch_size strings)"
    )
    max_length: int = setting(200, "longest string drawn, in characters; longer ones are redrawn")
    num_eval_batches: int = setting(10, "batches in each validation and test pass")

    sampler: ClassVar[Callable[[np.random.Generator], str]]
    acceptor: ClassVar[Callable[[str], bool]]
    alphabet: ClassVar[str]
    input_kind: ClassVar[str] = "tokens"
    per_step: ClassVar[bool] = True
    padded: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_int("max_tokens", self.max_tokens, 2)
        check_int("max_length", self.max_length, 1)
        check_int("num_eval_batches", self.num_eval_batches, 1)

    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        return NUM_SPECIAL + len(self.alphabet)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return self.vocab_size

    @property
    def vocabulary(self) -> list[str]:
        """Token names by id: padding, start, end, then the characters."""
        return ["<pad>", "<start>", "<end>", *self.alphabet]

    def encode(self, text: str) -> np.ndarray:
        """start, the characters, end."""
        try:
            ids = [NUM_SPECIAL + self.alphabet.index(c) for c in text]
        except ValueError:
            raise UsageError(
                f"{self.name}: {text!r} holds a character outside the grammar"
            ) from None
        return np.array([START, *ids, END], dtype=np.int32)

    special_tokens: ClassVar[int] = NUM_SPECIAL
    stop_id: ClassVar[int] = END  # generation stops at the end token
    forbidden_ids: ClassVar[tuple[int, ...]] = (PAD, START)  # never generated
    judges_samples: ClassVar[bool] = True
    shown_metrics: ClassVar[dict[str, str]] = {"valid": "valid"}

    def prime_prefix(self) -> list[int]:
        """Samples start from the start token."""
        return [START]

    def batch_size_note(self, batch_size: int) -> str | None:
        if batch_size <= self.max_tokens:
            return None
        return (
            f"batch_size {batch_size:,}: a {self.name} batch holds at most "
            f"max_tokens={self.max_tokens:,} tokens, so at most {self.max_tokens:,} strings; no "
            "larger batch is drawn"
        )

    def sample_length(self, requested: int) -> int:
        """A sample runs to its end token: at most the longest string and the end."""
        return self.max_length + 1

    def sample(self, rng: np.random.Generator) -> str:
        """One string of the grammar, at most `max_length` characters (longer ones are redrawn)."""
        while True:
            text = type(self).sampler(rng)
            if len(text) <= self.max_length:
                return text

    def accepts(self, text: str) -> bool:
        return type(self).acceptor(text)

    def valid_fraction(self, texts: list[str]) -> float:
        """The metric: the fraction of `texts` the grammar accepts."""
        return sum(self.accepts(t) for t in texts) / max(len(texts), 1)

    def sample_metrics(self, texts: list[str]) -> dict[str, float]:
        return {"valid": self.valid_fraction(texts)}

    def serving(self, kit):
        """`serving_default`: one sample of the grammar (`temperature`, `seed`)."""
        import tensorflow as tf

        def serve(temperature, seed):
            out, lengths = kit.generator.generate_ids(
                tf.constant(self.prime_prefix(), tf.int32),
                tf.constant(self.max_length + 1),
                temperature,
                tf.constant(0),
                tf.constant(1.0),
                seed,
                tf.constant(1),
                self.stop_id,
            )
            return {"sample": kit.decode(out, lengths)[0]}

        signature = [
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([2], tf.int64, name="seed"),
        ]
        return serve, signature

    def longest_batch(self, batch_size: int, split: str = "train") -> tuple[int, int]:
        steps = self.max_length + 1
        return max(1, min(batch_size, self.max_tokens // steps)), steps

    def _pool(self, rng: np.random.Generator, batch_size: int) -> list[Batch]:
        # A batch holds at most max_tokens tokens, so at most max_tokens strings: a larger
        # batch_size changes no batch, and the pool need not grow with it.
        count = 32 * min(batch_size, self.max_tokens)
        sequences = sorted((self.encode(self.sample(rng)) for _ in range(count)), key=len)
        batches, current = [], []
        for seq in sequences:
            if current and (
                len(current) == batch_size or (len(current) + 1) * (len(seq) - 1) > self.max_tokens
            ):
                batches.append(current)
                current = []
            current.append(seq)
        batches.append(current)
        out = []
        for group in batches:
            inputs = pad([s[:-1] for s in group], PAD)
            targets = pad([s[1:] for s in group], PAD)
            out.append(({"tokens": inputs}, targets, (targets != PAD).astype(np.float32)))
        return [out[i] for i in rng.permutation(len(out))]

    def batches(self, split: str, batch_size: int, seed: int) -> Iterator[Batch]:
        rng = rng_for(seed, split)
        if split != "train":
            yield from self._pool(rng, batch_size)[: self.num_eval_batches]
            return
        while True:
            yield from self._pool(rng, batch_size)


@dataclass
class NDFATask(GrammarTask):
    name: ClassVar[str] = "ndfa"
    summary: ClassVar[str] = "s, one of abc!/uvw!/klm! repeated, s; fraction of valid samples"
    sampler = staticmethod(sample_ndfa)
    acceptor = staticmethod(accept_ndfa)
    alphabet: ClassVar[str] = "".join(sorted(set("s" + "".join(NDFA_WORDS))))


@dataclass
class BracketsTask(GrammarTask):
    name: ClassVar[str] = "brackets"
    summary: ClassVar[str] = "balanced brackets from a biased random walk; fraction valid"
    sampler = staticmethod(sample_brackets)
    acceptor = staticmethod(accept_brackets)
    alphabet: ClassVar[str] = "()"


@dataclass
class ToyTask(GrammarTask):
    name: ClassVar[str] = "toy"
    summary: ClassVar[str] = "sentences of a small recursive English grammar; fraction valid"
    sampler = staticmethod(sample_toy)
    acceptor = staticmethod(accept_toy)
    alphabet: ClassVar[str] = "".join(
        sorted(set(" ()" + "".join(w for words in TOY.values() for w in words)))
    )
