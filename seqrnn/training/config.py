"""Every setting of a training run, saved as config.json in the run folder."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqrnn.errors import UsageError

OPTIMIZERS = ("sgd", "adagrad", "adam", "rmsprop")
STRATEGIES = ("auto", "one", "mirrored", "multiworker")


@dataclass
class TrainConfig:
    # what is learned
    task: str = "toy"  # a name from seqrnn.tasks.TASKS
    task_settings: dict[str, Any] = field(default_factory=dict)  # passed to the task
    # the model
    cell: str = "lstm"  # vanilla, lstm, gru or phased
    units: int = 128
    layers: int = 1
    embedding_dim: int = 32
    dropout: float = 0.0
    chrono_init: int = 0  # gated cells: chrono initialization up to T steps (0: off)
    # the optimisation
    optimizer: str = "adam"
    lr: float = 2e-3
    lr_decay: float = 1.0  # multiply the learning rate by this every lr_decay_steps (1: off)
    lr_decay_steps: int = 1000
    clip_norm: float = 5.0  # global-norm clipping (0: off)
    clip_value: float = 0.0  # clip every gradient element to [-v, v] (0: off; the seeds use 5)
    batch_size: int = 32  # the global batch, split across replicas
    steps: int = 1000
    seed: int = 0
    strategy: str = "auto"  # auto, one, mirrored or multiworker (TF_CONFIG)
    # what is recorded
    log_every: int = 10
    eval_every: int = 200
    checkpoint_every: int = 200
    sample_every: int = 200  # steps between samples (language models of text and grammars)
    sample_length: int = 200  # characters per text sample (grammars stop at their end token)
    temperature: float = 1.0  # of the samples shown during training

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuses nonsense before any work, naming the setting, its value and what is valid."""
        choices = {"optimizer": OPTIMIZERS, "strategy": STRATEGIES}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise UsageError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(valid)}"
                )
        positive_ints = (
            "units",
            "layers",
            "embedding_dim",
            "batch_size",
            "steps",
            "log_every",
            "eval_every",
            "checkpoint_every",
            "sample_every",
            "sample_length",
            "lr_decay_steps",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name.replace('_', '-')} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise UsageError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 < self.lr_decay <= 1:
            raise UsageError(f"lr-decay must lie in (0, 1], got {self.lr_decay!r}")
        for name in ("clip_norm", "clip_value"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UsageError(
                    f"{name.replace('_', '-')} must be >= 0 (0 turns it off), got {value!r}"
                )
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise UsageError(f"temperature must be >= 0 (0 is greedy), got {self.temperature!r}")
        if not 0 <= self.dropout < 1:
            raise UsageError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        chrono = self.chrono_init
        if isinstance(chrono, bool) or not isinstance(chrono, int) or chrono < 0 or chrono == 1:
            raise UsageError(
                f"chrono-init must be 0 (off) or the longest dependency in steps (>= 2), "
                f"got {chrono!r}"
            )
        if chrono and self.cell == "vanilla":
            raise UsageError(
                "chrono-init sets the bias of a gate that keeps the state; the vanilla cell has "
                "none: use --cell lstm, gru or phased, or drop --chrono-init"
            )

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**dataclasses.asdict(self), **extra}, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """The settings in a run's config.json; a `UsageError` naming the file and the place
        when it is not valid JSON or not a run's settings."""
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
