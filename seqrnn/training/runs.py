"""The run folder: created once, locked while in use, never overwritten by accident.

Layout: config.json, checkpoints/, metrics.csv, samples.txt, tensorboard/, curves.png,
model.keras, and `.lock` while a process trains into it.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from seqrnn.errors import SeqrnnError, UsageError
from seqrnn.folders import check_replaceable

METRICS = (
    "step",
    "loss",
    "smooth_loss",
    "grad_norm",
    "tokens_per_s",
    "lr",
    "val_loss",
    "val_accuracy",
    "val_exact_match",
    "val_valid",
)
SAMPLE_HEADER = "=== step {step}, temperature {temperature} ==="


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolder:
    """A run folder, held under a lock file that names the training process."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.config = self.path / "config.json"
        self.checkpoints = self.path / "checkpoints"
        self.metrics = self.path / "metrics.csv"
        self.tensorboard = self.path / "tensorboard"
        self.samples = self.path / "samples.txt"
        self.curves = self.path / "curves.png"
        self.model = self.path / "model.keras"
        self._lock = self.path / ".lock"
        self._locked = False
        #: the columns of metrics.csv: a folder's own header when it has one (see `_columns`)
        self.columns: tuple[str, ...] = METRICS
        self._header: tuple[str, ...] | None = None  # metrics.csv's header, once read

    @classmethod
    def open(cls, path: str | os.PathLike, resume: bool, force: bool) -> RunFolder:
        """Prepares `path` for a new run (or, with `resume`, for continuing one) and locks it."""
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise UsageError(
                f"{run.path} is a file, not a folder; choose another out folder for the run",
                "out",
            )
        if not resume and run.path.is_dir() and run._only_a_stale_lock():
            run._lock.unlink()  # a run killed before it wrote anything: the folder is new
        if resume:
            if not run.config.exists():
                raise UsageError(
                    f"{run.path} is not a run folder (no config.json); give the folder a "
                    "seqrnn train run wrote"
                )
        elif run.path.exists() and any(run.path.iterdir()):
            if not force:
                raise UsageError(
                    f"{run.path} already exists; pass resume to continue it or force to replace it",
                    "resume",
                    "force",
                )
            if any(entry.name != run._lock.name for entry in run.path.iterdir()):
                check_replaceable(run.path, "config.json", "a run folder")
            run.lock()  # never delete a folder another process is training into
            shutil.rmtree(run.path)
        run.path.mkdir(parents=True, exist_ok=True)
        run.lock()
        return run

    def _only_a_stale_lock(self) -> bool:
        """Whether the folder holds nothing but the lock of a process that has died."""
        if [entry.name for entry in self.path.iterdir()] != [self._lock.name]:
            return False
        try:
            pid = int(self._lock.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        return not (pid and pid != os.getpid() and _alive(pid))

    def lock(self) -> None:
        if self._locked:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                handle = os.open(self._lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self._lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise SeqrnnError(
                        f"{self.path} is in use by process {pid}; wait for it to finish or "
                        "train into another folder"
                    ) from None
                self._lock.unlink(missing_ok=True)  # left by a process that died
                continue
            with os.fdopen(handle, "w") as stream:
                stream.write(str(os.getpid()))
            self._locked = True
            return
        raise SeqrnnError(f"could not lock {self.path}; remove {self._lock} if no run uses it")

    def unlock(self) -> None:
        if self._locked:
            self._lock.unlink(missing_ok=True)
            self._locked = False

    def metrics_rows(self) -> list[dict[str, str]]:
        if not self.metrics.exists():
            return []
        with open(self.metrics, newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))

    def truncate_metrics(self, step: int) -> None:
        """Keeps the rows up to `step` (those a checkpoint covers), so none appears twice."""
        if not self.metrics.exists():
            return  # (the first row will write the header of the run's columns)
        rows = [row for row in self.metrics_rows() if int(row["step"]) <= step]
        columns = self._columns()
        tmp = self.metrics.with_suffix(".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.metrics)

    def append_metrics(self, row: dict) -> None:
        new = not self.metrics.exists()
        columns = self._columns()
        with open(self.metrics, "a", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns)
            if new:
                writer.writeheader()
            writer.writerow({key: row.get(key, "") for key in columns})
            stream.flush()
            os.fsync(stream.fileno())

    def _columns(self) -> tuple[str, ...]:
        """The header of metrics.csv where it exists (a run resumed keeps its columns), else
        `columns`."""
        if self._header is None and self.metrics.exists():  # read once, not at every row
            with open(self.metrics, newline="", encoding="utf-8") as stream:
                header = next(csv.reader(stream), None)
            self._header = tuple(header) if header else None
        return self._header or self.columns

    def append_sample(self, step: int, temperature: float, text: str) -> None:
        header = SAMPLE_HEADER.format(step=step, temperature=temperature)
        with open(self.samples, "a", encoding="utf-8") as stream:
            stream.write(f"{header}\n{text}\n\n")

    def truncate_samples(self, step: int) -> None:
        """Drops the samples after `step` (a resumed run draws them again)."""
        if not self.samples.exists():
            return
        kept, keep = [], True
        for line in self.samples.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.startswith("=== step ") and line.rstrip().endswith(" ==="):
                keep = int(line.split()[2].rstrip(",")) <= step
            if keep:
                kept.append(line)
        tmp = self.samples.with_suffix(".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, self.samples)
