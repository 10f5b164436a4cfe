"""Files a command writes where the user says: never over something already there."""

from __future__ import annotations

from pathlib import Path


def check_new_file(path: Path | None, option: str) -> None:
    """A `UsageError`, raised before any work starts, when `path` (given with `option`)
    already exists: a file or folder the user had is never replaced."""
    from seqrnn.errors import UsageError

    if path is not None and (path.exists() or path.is_symlink()):
        raise UsageError(f"{path} already exists; choose another {option} file or remove it first")


def check_json_file(path: Path | None) -> None:
    """`check_new_file` for --json, and its folder must exist: a report written after minutes of
    work must not fail on its path."""
    from seqrnn.errors import UsageError

    check_new_file(path, "--json")
    if path is not None and not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a folder; --json needs an existing folder")
