"""`seqrnn eval` and `seqrnn plot`: a run's metrics on a split, and its curves as a PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.files import check_new_file
from cli.settings import library_settings, seed_option

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
    seed: Annotated[int, seed_option("Seed of the sampled sequences.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the task's metrics on its test split (loss, accuracy and the task's own metric),
    with the best checkpoint's weights (the lowest validation loss) and the last step's.

    Examples:
    seqrnn eval runs/toy-lstm-20261122-101500
    seqrnn eval runs/toy-lstm-20261122-101500 --split validation --json
    """
    from seqrnn.errors import UsageError

    split = split.value
    if samples < 0:
        raise UsageError(f"--samples must be an integer >= 0, got {samples}")
    from seqrnn.restore import load_run

    loaded = load_run(run)  # the run's export_weights: its best checkpoint, if it has one
    measured = {loaded.weights: _measure(loaded, split, samples, seed)}
    other = load_run(run, "last" if loaded.weights == "best" else "best")
    if other.weights != loaded.weights and other.step != loaded.step:
        measured[other.weights] = _measure(other, split, samples, seed)
    result = {"run": str(run), "split": split, "weights": loaded.weights}
    result.update(measured[loaded.weights])
    result.update({name: values for name, values in measured.items() if name != loaded.weights})
    if as_json:
        typer.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{run}: {loaded.task.name}, {split} split")
    table.add_column("metric")
    for name, values in measured.items():
        table.add_column(f"{name} (step {values['step']})", justify="right")
    for key in measured[loaded.weights]:
        if key != "step":
            row = [values.get(key) for values in measured.values()]
            table.add_row(key, *("-" if v is None else f"{v:.6g}" for v in row))
    Console().print(table)


def _measure(loaded, split: str, samples: int, seed: int) -> dict:
    """{step, metrics...} of a loaded run's model on `split`."""
    from seqrnn.generation import generator_for
    from seqrnn.training.evaluate import Evaluator

    generator = generator_for(loaded.model, loaded.task, compiled=False)
    config = loaded.config
    evaluator = Evaluator(loaded.model, loaded.task, config.batch_size, config.seed, generator)
    return {"step": loaded.step, **evaluator.evaluate(split, samples=samples, seed=seed)}


def plot(
    run: Annotated[
        Path, typer.Argument(metavar="RUN", help="A run folder written by seqrnn train.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Where to write the PNG (a new file: an existing one is never replaced).",
            show_default="RUN/curves.png, redrawn",
        ),
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
    if out is not None and out.resolve() != folder.curves.resolve():  # the run's own: redrawn
        check_new_file(out, "--out")
    rows = folder.metrics_rows()
    if not rows:
        raise UsageError(f"{run} has no metrics yet (metrics.csv is empty or missing)")
    typer.echo(str(render_curves(rows, out or folder.curves)))
