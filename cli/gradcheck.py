"""`seqrnn gradcheck`: analytic gradients against numerical ones, one table per cell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.files import check_json_file
from cli.settings import seed_option


def gradcheck(
    ctx: typer.Context,
    cell: Annotated[str, typer.Option(help="vanilla, lstm, gru, phased or all.")] = "all",
    seq_lens: Annotated[str, typer.Option(help="Sequence lengths, comma-separated.")] = (
        "5,10,15,20,25"
    ),
    units: Annotated[int, typer.Option(help="Units of the checked layer.")] = 5,
    eps: Annotated[float, typer.Option(help="Finite-difference step.")] = 1e-3,
    seed: Annotated[int, seed_option("Seed of the weights and the data.")] = 0,
    tol: Annotated[float, typer.Option(help="Largest ABS and REL error that passes.")] = 1e-7,
    run: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN",
            help="Check a trained run's model instead (float64).",
            show_default="none",
        ),
    ] = None,
    elements: Annotated[
        int, typer.Option(help="With --run: elements checked per weight tensor.")
    ] = 20,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Also write the tables as JSON here.",
            show_default="none",
        ),
    ] = None,
    path: Annotated[
        str,
        typer.Option(
            help="fused: the path layers run (the fused sequence path on TensorFlow); per-step: "
            "the readable per-step cells (with the Phased LSTM's peepholes)."
        ),
    ] = "fused",
) -> int:
    """Check every gradient of every cell against centered finite differences (float64).

    A small model (one recurrent layer reading one-hot characters, a dense readout, softmax
    cross-entropy summed over the steps) is built for each cell; every element of every weight
    is moved by +-eps and +-2 eps (fourth-order centered differences). Per weight tensor,
    between the analytic gradient g and the numerical one n: ABS = max |g - n|; REL = max |g -
    n| / max(|g|, |n|, floor), the relative error with elements below the floor (1e-3) measured
    against it; REL_NORM = ||g - n|| / max(||g||, ||n||). A cell passes when ABS and REL are
    within --tol. The Phased LSTM's timestamps are drawn so that no finite difference crosses a
    kink of its gate. Exit code 0 when every cell passes, 1 otherwise.

    Examples:
    seqrnn gradcheck --cell phased --seq-lens 5,25
    seqrnn gradcheck --run runs/toy-lstm-20261122-101500 --elements 10
    """
    lengths, names = _checked(seq_lens, eps, units, tol, elements, path, cell, run)
    _refuse_options_that_would_be_ignored(ctx, run)
    check_json_file(json_path)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # one trace per sequence length is intended
    results = _check(run, names, lengths, units, eps, seed, path, elements)
    _print_tables(results, tol)
    if json_path is not None:
        json_path.write_text(
            json.dumps([_as_dict(r, tol) for r in results], indent=2), encoding="utf-8"
        )
    return 0 if all(r.passed(tol) for r in results) else 1


def _checked(seq_lens, eps, units, tol, elements, path, cell, run) -> tuple[list[int], list[str]]:
    """(the sequence lengths, the cells to check); a `UsageError` for any value out of range."""
    from seqrnn.errors import UsageError
    from seqrnn.gradcheck import PATHS, check_eps, layer_classes, parse_seq_lens

    lengths = parse_seq_lens(seq_lens)
    check_eps(eps)
    if units < 1:
        raise UsageError(f"--units must be an integer >= 1, got {units}")
    if not tol > 0:
        raise UsageError(f"--tol must be > 0, got {tol}")
    if elements < 1:
        raise UsageError(f"--elements must be an integer >= 1, got {elements}")
    if path not in PATHS:
        raise UsageError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
    names = list(layer_classes())
    if cell != "all" and cell not in names:
        raise UsageError(f"unknown cell {cell!r}; choose one of {', '.join(names)}, all")
    if run is not None and not (run / "config.json").exists():
        raise UsageError(f"{run} is not a run folder (no config.json); give one seqrnn train wrote")
    return lengths, names if cell == "all" else [cell]


#: The options of the cells' own check, which a trained run's check (--run) has no use for.
CELL_OPTIONS = ("cell", "seq_lens", "units", "path")


def _refuse_options_that_would_be_ignored(ctx: typer.Context, run) -> None:
    """A `UsageError` for an option the check asked for does not use: the cells' options
    with --run, --elements without it."""
    from cli.main import typed_on_command_line
    from seqrnn.errors import UsageError

    flags = {param.name: param.opts[0] for param in ctx.command.params}
    if run is not None:
        unused = [flags[name] for name in CELL_OPTIONS if typed_on_command_line(ctx, name)]
        if unused:
            raise UsageError(
                f"--run checks the run's own model on its own task, so {', '.join(unused)} "
                "would be ignored; drop them, or check the cells without --run"
            )
    elif typed_on_command_line(ctx, "elements"):
        raise UsageError(
            "--elements says how many elements of a run's weights --run checks; the cells' "
            "check covers every element: drop it, or add --run RUN"
        )


def _check(run, names, lengths, units, eps, seed, path, elements) -> list:
    """The results of a run's model, or of each cell, with a progress bar of the elements."""
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    from cli.progress import transient_progress
    from seqrnn.gradcheck import check_cell, check_run

    progress = transient_progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} elements"),
        TimeRemainingColumn(),
    )
    with progress:
        if run is not None:
            bar = progress.add_task(f"checking {run}", total=None)
            return [
                check_run(
                    run,
                    eps=eps,
                    seed=seed,
                    elements=elements,
                    progress=lambda done, total: progress.update(bar, completed=done, total=total),
                )
            ]
        results = []
        for name in names:
            bar = progress.add_task(f"checking {name}", total=None)
            results.append(
                check_cell(
                    name,
                    lengths,
                    units=units,
                    eps=eps,
                    seed=seed,
                    path=path,
                    progress=lambda d, t, bar=bar: progress.update(bar, completed=d, total=t),
                )
            )
        return results


def _as_dict(result, tol: float) -> dict:
    return {
        "cell": result.cell,
        "path": result.path,
        "seq_lens": result.seq_lens,
        "passed": result.passed(tol),
        "worst": result.worst(),
        "kink_margin": result.kink_margin,
        "errors": result.errors,
    }


def _print_tables(results, tol: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in results:
        worst = result.worst()
        verdict = "[green]pass[/green]" if result.passed(tol) else "[bold red]FAIL[/bold red]"
        title = (
            f"{result.cell} ({result.path} path): max abs {worst['abs']:.1e}, "
            f"max rel {worst['rel']:.1e} (tol {tol:g}) {verdict}"
        )
        if result.kink_margin is not None:
            title += f"; nearest gate kink {result.kink_margin:.1e} away"
        table = Table(title=title, title_justify="left")
        table.add_column("parameter")
        for length in result.seq_lens:
            table.add_column(f"T={length}\nabs/rel", justify="right")
        for name, rows in result.errors.items():
            cells = []
            for row in rows:
                text = f"{row['abs']:.1e}/{row['rel']:.1e}"
                failed = row["abs"] > tol or row["rel"] > tol
                cells.append(f"[bold red]{text}[/bold red]" if failed else text)
            table.add_row(name, *cells)
        console.print(table)
