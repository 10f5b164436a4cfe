"""The study framework: runs as grids of training settings, trained, measured and resumed."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqrnn.errors import UsageError

Event = Callable[[str, dict], None]


@dataclass
class Spec:
    key: str  # the run's folder name under OUT/runs
    labels: dict[str, Any]  # its coordinates in the study's grid (table columns)
    config: dict[str, Any]  # TrainConfig fields
    #: steps after which the study measures the run (the last is the end of training)
    checkpoints: tuple[int, ...] = ()


@dataclass
class Outcome:
    spec: Spec
    metrics: dict[str, Any]  # measured by the study
    rows: list[dict] = field(default_factory=list)  # the run's metrics.csv


#: Held-out characters a text study's `--quick` runs validate and test on: a batch of one over
#: the whole held-out tenth of a novel (about 115,000 characters, 4,600 windows) took most of
#: a quick run's time.
QUICK_VAL_CHARS = 5000


class Study:
    """One of the seeds' studies. Subclasses set the class attributes and `specs`."""

    name = ""
    title = ""
    source = ""  # which seed or paper the study reproduces
    needs_text = False

    def __init__(self, quick: bool = False, data: str | None = None) -> None:
        self.quick = quick
        self.data = data

    def specs(self) -> list[Spec]:
        raise NotImplementedError

    def measure(self, run_path: Path, spec: Spec, step: int) -> dict[str, Any]:
        """Metrics of the run at `step` (its latest checkpoint): the test split's by default."""
        _, evaluator = open_evaluator(run_path)
        return evaluator.evaluate("test", samples=0 if self.quick else 100)

    def report(self, outcomes: list[Outcome], folder: Path) -> str:
        """The Markdown body of the report (plots are written into `folder`)."""
        raise NotImplementedError


def open_evaluator(run_path: Path):
    """The run's latest checkpoint and an evaluator of it on its own task."""
    from seqrnn.restore import load_run

    loaded = load_run(run_path)
    return loaded, evaluator_for(loaded, loaded.task)


def evaluator_for(loaded, task):
    """An evaluator of a loaded run's model on `task` (another setting of the same task)."""
    from seqrnn.generation import generator_for
    from seqrnn.training.evaluate import Evaluator

    return Evaluator(
        loaded.model,
        task,
        batch_size=loaded.config.batch_size,
        seed=loaded.config.seed,
        generator=generator_for(loaded.model, task, compiled=False),
    )


def _train(config: dict[str, Any], path: Path, steps: int, on_event: Event) -> None:
    """Trains (or resumes) the run in `path` up to `steps`."""
    from seqrnn.settings import TrainConfig
    from seqrnn.training.loop import Trainer
    from seqrnn.training.runs import RunFolder

    resume = (path / "config.json").exists() and (path / "checkpoints").exists()
    settings = {
        "log_every": max(1, min(10, steps // 10)),
        "eval_every": max(1, steps),
        # Ten checkpoints per segment of 100 steps or more: an interrupted study loses at most
        # a tenth of a run (a shorter one, as in --quick, checkpoints once).
        "checkpoint_every": steps // 10 if steps >= 100 else max(1, steps),
        "sample_every": max(1, steps),
        **config,
        "steps": steps,
    }
    run = RunFolder.open(path, resume=resume, force=not resume)
    try:
        Trainer(TrainConfig(**settings), run, resume=resume, on_event=on_event).train()
    finally:
        run.unlock()


def run_study(
    study: Study, out: Path, on_event: Event | None = None, select: list[str] | None = None
) -> Path:
    """Trains every run of `study` not finished yet under `out`, then writes `out/report.md`.

    `select`: shell-style patterns; only the runs whose key matches one are trained and reported.
    """
    on_event = on_event or (lambda kind, data: None)
    if out.exists() and not out.is_dir():
        raise UsageError(
            f"{out} is a file; out takes a folder (the study's runs and report)", "out"
        )
    specs = study.specs()
    if select and not specs:
        raise UsageError(
            f"study {study.name} trains no models, so runs has none to select; drop it", "runs"
        )
    if select:
        specs = [s for s in specs if any(fnmatch.fnmatchcase(s.key, p) for p in select)]
        if not specs:
            every = [s.key for s in study.specs()]
            keys = ", ".join(every[:6]) + (", ..." if len(every) > 6 else "")
            raise UsageError(
                f"no run of study {study.name} matches runs {' '.join(select)}; "
                f"its run keys: {keys}",
                "runs",
            )
    outcomes = []
    out.mkdir(parents=True, exist_ok=True)
    for index, spec in enumerate(specs):
        path = out / "runs" / spec.key
        result_file = path / "result.json"
        on_event("run", {"index": index, "total": len(specs), "key": spec.key})
        steps = [str(step) for step in spec.checkpoints or (spec.config["steps"],)]
        by_step = {}
        if result_file.exists():
            by_step = json.loads(result_file.read_text(encoding="utf-8")).get("by_step", {})
        reason = _outdated(path, spec, steps, by_step)
        if reason:
            moved = _set_aside(path)
            on_event("outdated", {"key": spec.key, "why": reason, "moved_to": str(moved)})
            by_step = {}
        for step in steps:
            if step not in by_step:
                _train(spec.config, path, int(step), on_event)
                by_step[step] = study.measure(path, spec, int(step))
                # saved after every measured step: a study killed later keeps this one
                result = {"by_step": by_step, **by_step[step]}
                result_file.write_text(json.dumps(result, indent=2), encoding="utf-8")
        metrics = {"by_step": {step: by_step[step] for step in steps}, **by_step[steps[-1]]}
        outcomes.append(Outcome(spec, metrics, read_rows(path)))
    body = study.report(outcomes, out)
    header = f"# {study.title}\n\nReproduces {study.source}."
    if study.quick:
        header += " **Quick run** (`--quick`): tiny grids and runs; the figures are not results."
    report = out / "report.md"
    report.write_text(f"{header}\n\n{body}\n", encoding="utf-8")
    return report


def _outdated(path: Path, spec: Spec, steps: list[str], by_step: dict) -> str:
    """Why the run in `path` cannot serve `spec` any more ("" when it can).

    A run trained with other settings than the study now gives it, or past a step the study now
    measures, has to be trained again; a run the study now takes further is resumed instead.
    """
    config_file = path / "config.json"
    if not config_file.exists():
        return ""
    from seqrnn.settings import TrainConfig

    # a setting the run's config.json predates had its default then
    saved = {
        **json.loads(json.dumps(dataclasses.asdict(TrainConfig()))),
        **json.loads(config_file.read_text(encoding="utf-8")),
    }
    changed = [
        f"{name} {saved.get(name)!r} -> {value!r}"
        for name, value in spec.config.items()
        if name != "steps" and saved.get(name) != json.loads(json.dumps(value))
    ]
    if changed:
        return "its settings changed: " + ", ".join(changed)
    done = [int(step) for step in by_step]
    if done and any(int(step) < max(done) and step not in by_step for step in steps):
        return f"it trained {max(done)} steps, past a step the study now measures"
    return ""


def _set_aside(path: Path) -> Path:
    """Renames an outdated run folder to KEY.outdated (-2, -3, ...): nothing is deleted."""
    target = path.with_name(f"{path.name}.outdated")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.outdated-{number}")
    path.rename(target)
    return target


def read_rows(path: Path) -> list[dict]:
    import csv

    metrics = path / "metrics.csv"
    if not metrics.exists():
        return []
    with metrics.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
