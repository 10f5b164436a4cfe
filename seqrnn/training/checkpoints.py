"""Checkpoints verified when read: a damaged one (a disk filled up, a copy cut short) is
skipped for the newest intact one, with a warning that names it and why.

TensorFlow's checkpoints keep a CRC32C of every tensor in their index; reading every tensor
back checks them all, and a truncated index or data file fails on the way. Training keeps the
last three checkpoints (`CheckpointManager(max_to_keep=3)`), so one damaged write leaves two.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from seqrnn.errors import SeqrnnError, SeqrnnWarning

_NUMBER = re.compile(r"-(\d+)$")


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
            "from a copy, or train the run again with --force"
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
