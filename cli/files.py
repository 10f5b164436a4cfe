"""Files a command writes where the user says: never over something already there."""

from __future__ import annotations

from pathlib import Path


def check_new_file(path: Path | None, option: str) -> None:
    """A `UsageError`, raised before any work starts, when `path` (given with `option`)
    already exists: a file or folder the user had is never replaced."""
    from seqrnn.errors import UsageError

    if path is not None and (path.exists() or path.is_symlink()):
        raise UsageError(f"{path} already exists; choose another {option} file or remove it first")
