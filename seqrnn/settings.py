"""Every setting of a training run, and every choice a setting offers, defined once.

`TrainConfig` holds each training setting's type, default, valid range and meaning, and is what
a run saves as config.json; `seqrnn train` makes one option of each field (its help is the
field's `help`, its default the field's default) and `validate` checks each against its range.
Choices (cell, optimizer, strategy, text mode, split) are `str` enums, so that a config holds
plain strings and the command line lists and checks them.

A leaf like `seqrnn.errors`: this module imports nothing but the standard library at import
time, so that the command line can read it to build its options without loading Keras and
TensorFlow (see `cli/settings.py`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class Cell(str, enum.Enum):
    """The recurrent cells (`seqrnn.models.CELLS` maps each to its layer)."""

    VANILLA = "vanilla"
    LSTM = "lstm"
    GRU = "gru"
    PHASED = "phased"


class Optimizer(str, enum.Enum):
    SGD = "sgd"
    ADAGRAD = "adagrad"
    ADAM = "adam"
    RMSPROP = "rmsprop"


class Strategy(str, enum.Enum):
    """auto: all GPUs mirrored when there are several, else one device; multiworker reads the
    cluster from TF_CONFIG."""

    AUTO = "auto"
    ONE = "one"
    MIRRORED = "mirrored"
    MULTIWORKER = "multiworker"


class TextMode(str, enum.Enum):
    """How the text task cuts its windows: sequential streams, random windows, or shuffled
    chunks read sequentially."""

    SEQUENTIAL = "sequential"
    RANDOM = "random"
    CHUNKS = "chunks"


class Schedule(str, enum.Enum):
    """How the learning rate moves after its warm-up: exponential decay (lr_decay once per
    lr_decay_steps; lr_decay 1 keeps it constant) or a cosine from lr down to min_lr at the
    last step."""

    EXPONENTIAL = "exponential"
    COSINE = "cosine"


class Weights(str, enum.Enum):
    """Which weights of a run a command uses: those of its lowest validation loss (the best
    checkpoint) or those of its last step."""

    BEST = "best"
    LAST = "last"


class Split(str, enum.Enum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"


class HeldOutSplit(str, enum.Enum):
    """The splits a trained model is evaluated on (the training split of most tasks is an
    endless stream)."""

    TEST = Split.TEST.value
    VALIDATION = Split.VALIDATION.value


OPTIMIZERS = tuple(o.value for o in Optimizer)
STRATEGIES = tuple(s.value for s in Strategy)


#: The largest seed: NumPy's and Keras' seeds are 32-bit unsigned integers.
SEED_MAX = 2**32 - 1


def setting(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    note: str = "",
    flag: bool = True,
) -> Any:
    """A training setting: its default, its help, and the range `validate` holds it to
    ([minimum, maximum], open at either end when asked; `note` says what a special value
    means, e.g. "0 turns it off"). `flag=False`: not an option of its own on the command line."""
    metadata = {
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "open_low": open_low,
        "open_high": open_high,
        "note": note,
        "flag": flag,
    }
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def range_text(meta: dict[str, Any], integer: bool) -> str:
    """A setting's range in words: "an integer >= 1", ">= 0", "in (0, 1]"."""
    low, high = (_number(meta[end]) for end in ("minimum", "maximum"))
    if meta["maximum"] is None:
        return f"{'an integer ' if integer else ''}{'>' if meta['open_low'] else '>='} {low}"
    left, right = "(" if meta["open_low"] else "[", ")" if meta["open_high"] else "]"
    return f"in {left}{low}, {high}{right}"


def _number(value: float | None) -> str:
    """A range's end as written: 4294967295, not 4.29497e+09; 0.001 as 0.001."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check(name: str, value: Any, kind: type, meta: dict[str, Any]) -> None:
    from seqrnn.errors import UsageError

    integer = kind is int
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if integer:
        number = number and isinstance(value, numbers.Integral)
    low, high = meta["minimum"], meta["maximum"]
    ok = number and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if meta["open_low"] else value >= low
    if ok and high is not None:
        ok = value < high if meta["open_high"] else value <= high
    if not ok:
        note = f" ({meta['note']})" if meta["note"] else ""
        verb = "must lie" if high is not None else "must be"
        raise UsageError(f"{name} {verb} {range_text(meta, integer)}{note}, got {value!r}", name)


@dataclass
class TrainConfig:
    # what is learned
    task: str = setting("toy", "Task name (see seqrnn tasks).", flag=False)
    task_settings: dict[str, Any] = setting({}, "The task's settings.", flag=False)
    # the model
    cell: Cell = setting(Cell.LSTM, "The recurrent cell.")
    units: int = setting(128, "Units per recurrent layer.", minimum=1)
    layers: int = setting(1, "Recurrent layers.", minimum=1)
    embedding_dim: int = setting(32, "Embedding width.", minimum=1)
    dropout: float = setting(0.0, "Dropout between layers.", minimum=0, maximum=1, open_high=True)
    chrono_init: int = setting(
        0,
        "Gated cells: chrono-initialise the gate biases for dependencies up to this many steps "
        "(0 = off).",
    )
    # the optimisation
    optimizer: Optimizer = setting(Optimizer.ADAM, "The optimizer.")
    lr: float = setting(2e-3, "Learning rate.", minimum=0, open_low=True)
    lr_decay: float = setting(
        1.0,
        "Multiply the learning rate by this once per decay period (1 = off).",
        minimum=0,
        maximum=1,
        open_low=True,
    )
    lr_decay_steps: int = setting(1000, "Steps per decay period of the learning rate.", minimum=1)
    schedule: Schedule = setting(
        Schedule.EXPONENTIAL, "The learning rate after warm-up: exponential decay or a cosine."
    )
    warmup_steps: int = setting(
        0, "Steps of linear warm-up from 0 to the learning rate (0 = none).", minimum=0
    )
    min_lr: float = setting(0.0, "The cosine schedule's learning rate at the last step.", minimum=0)
    clip_norm: float = setting(
        5.0, "Global-norm clipping (0 = off).", minimum=0, note="0 turns it off"
    )
    clip_value: float = setting(
        0.0,
        "Clip every gradient element to [-v, v] (0 = off; the seeds use 5).",
        minimum=0,
        note="0 turns it off",
    )
    batch_size: int = setting(32, "Global batch size, split across replicas.", minimum=1)
    steps: int = setting(1000, "Training steps.", minimum=1)
    epochs: int | None = setting(
        None,
        "Passes over the training data, instead of steps; for tasks that read a fixed data "
        "set (text).",
        minimum=1,
    )
    patience: int | None = setting(
        None,
        "Stop after this many validations in a row without a lower validation loss.",
        minimum=1,
    )
    export_weights: Weights = setting(
        Weights.BEST,
        "The weights model.keras and the export hold: the best validation loss's or the last.",
    )
    seed: int = setting(0, "Seed: same seed, same run.", minimum=0, maximum=SEED_MAX)
    strategy: Strategy = setting(Strategy.AUTO, "Distribution strategy (multiworker: TF_CONFIG).")
    # what is recorded
    log_every: int = setting(10, "Steps between metrics rows.", minimum=1)
    eval_every: int = setting(200, "Steps between validations.", minimum=1)
    checkpoint_every: int = setting(200, "Steps between checkpoints.", minimum=1)
    sample_every: int = setting(
        200, "Steps between samples (tasks whose models generate).", minimum=1
    )
    sample_length: int = setting(
        200, "Characters per sample (grammars stop at their end token).", minimum=1
    )
    temperature: float = setting(
        1.0, "Temperature of the samples (0 = greedy).", minimum=0, note="0 is greedy"
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuses nonsense before any work, naming the setting, its value and what is valid."""
        from seqrnn.errors import UsageError

        for item in dataclasses.fields(self):
            name, value, kind = item.name, getattr(self, item.name), field_type(item)
            if value is None and item.default is None:
                continue  # an optional setting, not given
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                valid = [member.value for member in kind]
                if value not in valid:
                    raise UsageError(
                        f"unknown {name} {value!r}; choose one of {', '.join(valid)}", name
                    )
                setattr(self, name, kind(value).value)  # a plain string in config.json
            elif kind in (int, float) and not (kind is int and item.metadata["minimum"] is None):
                _check(name, value, kind, item.metadata)
            elif kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise UsageError(f"{name} must be an integer, got {value!r}", name)
        if self.schedule == Schedule.COSINE and not self.min_lr < self.lr:
            raise UsageError(
                f"min_lr ({self.min_lr:g}) must be below lr ({self.lr:g}): the cosine schedule "
                "decays from lr to min_lr",
                "min_lr",
                "lr",
            )
        chrono = self.chrono_init
        if chrono < 0 or chrono == 1:
            raise UsageError(
                "chrono_init must be 0 (off) or the longest dependency in steps (>= 2), "
                f"got {chrono!r}",
                "chrono_init",
            )
        if chrono and self.cell == Cell.VANILLA:
            raise UsageError(
                "chrono_init sets the bias of a gate that keeps the state; the vanilla cell has "
                "none: choose the lstm, gru or phased cell, or leave chrono_init at 0",
                "chrono_init",
            )

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**dataclasses.asdict(self), **extra}, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """The settings in a run's config.json; a `UsageError` naming the file and the place
        when it is not valid JSON or not a run's settings."""
        from seqrnn.errors import UsageError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise UsageError(
                f"{path}: not valid JSON at line {error.lineno}, column {error.colno} "
                f"({error.msg}); fix the file, or train a new run"
            ) from None
        except UnicodeDecodeError as error:
            raise UsageError(
                f"{path}: not UTF-8 text (byte {error.start}); restore the file from a copy"
            ) from None
        if not isinstance(data, dict):
            raise UsageError(
                f"{path}: holds a JSON {type(data).__name__}, not a run's settings (an object); "
                "restore the file from a copy"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except (UsageError, TypeError) as error:
            raise UsageError(f"{path}: {error}") from None


_TYPES = {
    "str": str,
    "int": int,
    "float": float,
    "int | None": int,
    "Cell": Cell,
    "Optimizer": Optimizer,
    "Strategy": Strategy,
    "Schedule": Schedule,
    "Weights": Weights,
    "dict[str, Any]": dict,
}


def field_type(item: dataclasses.Field) -> type:
    """The type of a `TrainConfig` field (its annotation is a string here)."""
    return _TYPES[item.type] if isinstance(item.type, str) else item.type


def flag_fields() -> list[dataclasses.Field]:
    """The fields the command line offers as options of their own, in order."""
    return [item for item in dataclasses.fields(TrainConfig) if item.metadata["flag"]]
