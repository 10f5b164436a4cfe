"""`seqrnn eval` and `seqrnn plot`: a run's metrics on a split, and its curves as a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.settings import library_settings

HeldOutSplit = library_settings().HeldOutSplit


def evaluate(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run folder written by seqrnn train.")
    ],
    split: Annotated[HeldOutSplit, typer.Option(help="The held-out split to evaluate.")] = (
        HeldOutSplit.TEST
    ),
    samples: Annotated[
        int, typer.Option(help="Sampled sequences for a grammar's valid fraction.")
    ] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the sampled sequences.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the task's metrics on its test split (loss, accuracy and the task's own metric).

    Examples:
    seqrnn eval runs/toy-lstm-20261122-101500
    seqrnn eval runs/toy-lstm-20261122-101500 --split validation --json
    """
    from seqrnn.errors import UsageError

    split = split.value
    if samples < 0:
        raise UsageError(f"samples must be >= 0, got {samples}")
    from seqrnn.generation import generator_for
    from seqrnn.restore import load_run
    from seqrnn.training.evaluate import Evaluator

    loaded = load_run(run)
    task, model = loaded.task, loaded.model
    generator = generator_for(model, task, compiled=False)
    evaluator = Evaluator(model, task, loaded.config.batch_size, loaded.config.seed, generator)
    metrics = evaluator.evaluate(split, samples=samples, seed=seed)
    result = {"run": str(run), "step": loaded.step, "split": split, **metrics}
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{run} at step {loaded.step}: {task.name}, {split} split")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key, "-" if value is None else f"{value:.6g}")
    Console().print(table)


def plot(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run folder written by seqrnn train.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Where to write the PNG.", show_default="RUN/curves.png"),
    ] = None,
) -> None:
    """Redraw a run's curves (loss, smooth loss, gradient norm, metric) as a PNG.

    Examples:
    seqrnn plot runs/toy-lstm-20261122-101500
    seqrnn plot runs/toy-lstm-20261122-101500 --out curves.png
    """
    from seqrnn.errors import UsageError
    from seqrnn.plotting import render_curves
    from seqrnn.training.runs import RunFolder

    folder = RunFolder(run)
    if not folder.path.is_dir() or not folder.config.exists():
        raise UsageError(f"{run} is not a run folder (no config.json); give one seqrnn train wrote")
    rows = folder.metrics_rows()
    if not rows:
        raise UsageError(f"{run} has no metrics yet (metrics.csv is empty or missing)")
    typer.echo(str(render_curves(rows, out or folder.curves)))
