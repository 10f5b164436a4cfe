"""Checkpoints verified when read: a damaged one (a disk filled up, a copy cut short) is
skipped for the newest intact one, with a warning that names it and why.

TensorFlow's checkpoints keep a CRC32C of every tensor in their index; reading every tensor
back checks them all, and a truncated index or data file fails on the way. Training keeps the
last three checkpoints (`CheckpointManager(max_to_keep=3)`), so one damaged write leaves two.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from seqrnn.errors import SeqrnnError, SeqrnnWarning

_NUMBER = re.compile(r"-(\d+)$")
#: The folder inside checkpoints/ of the best checkpoint (the lowest validation loss).
BEST = "best"


def damage(prefix: str) -> str | None:
    """Why the checkpoint at `prefix` cannot be read, or None when every tensor reads back."""
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # DataLossError, IndexError, OSError, ...: what a damaged file says
        text = getattr(error, "message", None) or str(error) or type(error).__name__
        return text.strip().splitlines()[0]
    return None


def listed(directory: str | os.PathLike) -> list[str]:
    """The checkpoint prefixes in `directory`, oldest first: those its state file lists, and
    (should the state file itself be damaged) every `*.index` there, by number."""
    import tensorflow as tf

    directory = Path(directory)
    prefixes: list[str] = []
    try:
        state = tf.train.get_checkpoint_state(str(directory))
    except Exception:  # a damaged state file: the index files still name the checkpoints
        state = None
    if state is not None:
        prefixes = [str(directory / Path(p).name) for p in state.all_model_checkpoint_paths]
    for index in directory.glob("*.index"):
        prefix = str(index.with_suffix(""))
        if prefix not in prefixes:
            prefixes.append(prefix)

    def number(prefix: str) -> int:
        match = _NUMBER.search(prefix)
        return int(match.group(1)) if match else -1

    return sorted(prefixes, key=number)


def newest_intact(
    directory: str | os.PathLike, on_skip: Callable[[str, str], None] | None = None
) -> tuple[str | None, list[str]]:
    """(the newest checkpoint that reads back whole, the damaged ones newer than it).

    `on_skip(prefix, reason)` is told of each damaged one (default: a `SeqrnnWarning`). The
    first is None when the folder holds no checkpoint; a `SeqrnnError` when it holds only
    damaged ones.
    """
    prefixes = [p for p in listed(directory) if Path(p + ".index").exists()]  # not removed
    skipped: list[str] = []
    reasons: list[str] = []
    for prefix in reversed(prefixes):
        reason = damage(prefix)
        if reason is not None:
            skipped.append(prefix)
            reasons.append(reason)
            continue
        for newer, why in zip(skipped, reasons, strict=True):  # told once one is found
            if on_skip is not None:
                on_skip(newer, why)
            else:
                warnings.warn(
                    f"skipped the damaged checkpoint {newer} ({why}); using {Path(prefix).name}",
                    SeqrnnWarning,
                    stacklevel=2,
                )
        return prefix, skipped
    if skipped:
        raise SeqrnnError(
            f"{directory}: all {len(skipped)} checkpoints are damaged (the newest, "
            f"{Path(skipped[0]).name}: {reasons[0]}); nothing can be restored: restore the folder "
            "from a copy, or train the run again, replacing it (force)",
            "force",
        )
    return None, []


def set_aside(directory: str | os.PathLike, damaged: list[str], kept: list[str]) -> Path | None:
    """Moves the files of `damaged` checkpoints into DIRECTORY/damaged/ (nothing is deleted) and
    makes the state file list `kept` only, so that training writes its new checkpoints beside
    the intact ones."""

    if not damaged:
        return None
    directory = Path(directory)
    aside = directory / "damaged"
    aside.mkdir(exist_ok=True)
    for prefix in damaged:
        for path in directory.glob(Path(prefix).name + ".*"):
            shutil.move(str(path), aside / path.name)
    if kept:  # the state file CheckpointManager reads (a text proto), replaced atomically
        lines = [f'model_checkpoint_path: "{Path(kept[-1]).name}"']
        lines += [f'all_model_checkpoint_paths: "{Path(p).name}"' for p in kept]
        lines += [
            f"all_model_checkpoint_timestamps: {Path(p + '.index').stat().st_mtime}" for p in kept
        ]
        state = directory / "checkpoint"
        temporary = directory / "checkpoint.tmp"
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(temporary, state)
    return aside


class Checkpointer:
    """The checkpoints of a training run, in `directory`: the model, the optimizer, the step,
    the smooth loss and the states carried from batch to batch (`widths`, rows of
    `batch_size`); the last three are kept. Written by `tf.train.CheckpointManager`, which
    replaces its index atomically, so a kill mid-write leaves the previous checkpoint as latest.
    Build it inside the strategy's scope."""

    def __init__(self, directory, model, optimizer, widths: list[int], batch_size: int) -> None:
        import numpy as np
        import tensorflow as tf

        self.directory, self.model = directory, model
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.smooth = tf.Variable(math.nan, dtype=tf.float64, trainable=False, name="smooth")
        self.carried = [
            tf.Variable(np.zeros((batch_size, w), np.float32), trainable=False) for w in widths
        ]
        # The best validation so far: its loss, its step, and the validations since it.
        self.best_loss = tf.Variable(math.nan, dtype=tf.float64, trainable=False)
        self.best_step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.stale = tf.Variable(0, dtype=tf.int64, trainable=False)
        core = dict(
            model=model, optimizer=optimizer, step=self.step, smooth=self.smooth,
            carried=self.carried,
        )  # fmt: skip
        tracked = dict(best_loss=self.best_loss, best_step=self.best_step, stale=self.stale)
        self.checkpoint = tf.train.Checkpoint(**core, **tracked)
        # Restored in two parts: a run checkpointed before seqrnn kept its best validation
        # has the first (checked to match) and not the second (its best starts afresh).
        self._core = tf.train.Checkpoint(**core)
        self._tracked = tf.train.Checkpoint(**tracked)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=3)
        best = tf.train.Checkpoint(model=model, step=self.best_step)
        self.best = tf.train.CheckpointManager(best, str(Path(directory) / BEST), max_to_keep=1)

    @staticmethod
    def newest_for_resume(directory) -> str | None:
        """The newest intact checkpoint; damaged newer ones are moved aside (with a warning)
        before the manager reads its list, so that new checkpoints are written beside the
        intact ones."""
        latest, damaged = newest_intact(directory)
        set_aside(directory, damaged, [p for p in listed(directory) if p not in damaged])
        return latest

    def restore(self, prefix: str) -> tuple[int, float | None, list]:
        """(step, smooth loss or None, carried states as arrays) of the checkpoint `prefix`."""
        # (expect_partial: the values of `tracked` are the second part, not unrestored ones)
        self._core.restore(prefix).assert_existing_objects_matched().expect_partial()
        self._tracked.restore(prefix).expect_partial()
        smooth = float(self.smooth.numpy())
        return (
            int(self.step.numpy()),
            None if math.isnan(smooth) else smooth,
            [v.numpy() for v in self.carried],
        )

    def validated(self, step: int, loss: float | None) -> bool:
        """Counts a validation; a lower loss than any before saves the best checkpoint (the
        model at `step`, in checkpoints/best/). Whether it was the best so far."""
        best = float(self.best_loss.numpy())
        if loss is not None and (math.isnan(best) or loss < best):
            self.best_loss.assign(loss)
            self.best_step.assign(step)
            self.stale.assign(0)
            self.best.save(checkpoint_number=step)
            return True
        self.stale.assign_add(1)
        return False

    def load_best_weights(self) -> int | None:
        """Puts the best checkpoint's weights into the model; its step, or None when the run
        has no best checkpoint (no validation yet)."""
        import tensorflow as tf

        prefix = self.best.latest_checkpoint
        if prefix is None:
            return None
        step = tf.Variable(0, dtype=tf.int64)
        tf.train.Checkpoint(model=self.model, step=step).restore(prefix).expect_partial()
        return int(step.numpy())

    def save(self, step: int, smooth: float | None, states: list | None) -> None:
        """Saves step `step`; `states`: the carried states as global-batch arrays, or None."""
        self.step.assign(step)
        self.smooth.assign(math.nan if smooth is None else smooth)
        if states is not None:
            for variable, value in zip(self.carried, states, strict=True):
                variable.assign(value)
        self.manager.save(checkpoint_number=step)
