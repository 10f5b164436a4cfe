"""What `force` may delete: only a folder seqrnn wrote, never one that holds something else.

`force` replaces a run folder (train) or a SavedModel folder (export). Before deleting, the
folder must carry the file seqrnn writes into every such folder (a run's config.json, an
export's assets/seqrnn.json), and it must not hold the working directory or a folder the
command still needs (the run being exported): `--out ..` or `--out .` never empties a parent.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqrnn.errors import UsageError


def check_replaceable(
    path: str | os.PathLike,
    marker: str,
    what: str,
    needed: tuple[tuple[str | os.PathLike, str], ...] = (),
) -> None:
    """A `UsageError` unless `path` may be deleted to be written anew: it holds `marker` (a
    path inside it that only `what` has) and neither the working directory nor any folder of
    `needed`, pairs of (folder, what it is)."""
    path = Path(path)
    resolved = path.resolve()
    for inside, name in ((Path.cwd(), "the working directory"), *needed):
        inside = Path(inside).resolve()
        if inside == resolved or resolved in inside.parents:
            where = "is" if inside == resolved else f"holds {inside},"
            raise UsageError(
                f"{path} {where} {name}, so force does not replace it; choose another out folder",
                "force",
                "out",
            )
    if not (path / marker).is_file():
        raise UsageError(
            f"{path} is not {what} (it has no {marker}), so force does not replace it; "
            "choose another out folder, or empty this one yourself",
            "force",
            "out",
        )
