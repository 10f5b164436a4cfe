"""`seqrnn experiment`: one of the seeds' studies as a grid of runs and a Markdown report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def experiment(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="The study: optimizers, gradcheck, adder, grammars, palindrome, frequency "
            "or novel.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of the study's runs and report.",
            show_default="experiments/NAME",
        ),
    ] = None,
    quick: Annotated[bool, typer.Option(help="Tiny grids and runs (seconds).")] = False,
    data: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Text file of the optimizers and novel studies.",
            show_default="none",
        ),
    ] = None,
    runs: Annotated[
        list[str] | None,
        typer.Option(
            help="Only the runs whose key matches this pattern (shell-style, repeatable; the "
            "keys are the folder names under OUT/runs); the report covers those runs.",
            metavar="PATTERN",
            show_default="all",
        ),
    ] = None,
) -> int:
    """Run one of the seeds' studies and write its report (Markdown and PNG plots).

    Studies: optimizers (seed 000; needs --data), gradcheck (seed 001), adder (seed 002),
    grammars (seed 003), palindrome (seed 004), frequency (the Phased LSTM paper), novel (seeds
    001 and 004; needs --data). Every run
    trains with the ordinary training loop into OUT/runs/KEY; finished runs are skipped and
    interrupted ones resumed when the study is run again, so a long study can be stopped and
    continued. The report is OUT/report.md. --quick shrinks every grid and run to seconds (for
    tests; the figures are not results). --runs PATTERN runs (and reports) only part of a grid,
    e.g. --runs 'lstm-*'.

    Examples:
    seqrnn experiment frequency --runs '*-async'
    seqrnn experiment adder --quick --out /tmp/adder
    """
    from rich.progress import BarColumn, TextColumn

    from cli.progress import stop, transient_progress
    from seqrnn.experiments import make_study, run_study

    study = make_study(name, quick=quick, data=data)
    import tensorflow as tf

    # Each run of a study builds its own generator, whose sampling function is traced once:
    # TensorFlow's warning about repeated tracing would count those and mislead.
    tf.get_logger().setLevel("ERROR")
    out = out or Path("experiments") / (f"{name}-quick" if quick else name)
    progress = transient_progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=12),
        TextColumn("{task.fields[info]}"),
    )
    bars: dict[str, int] = {}

    def on_event(kind: str, data: dict) -> None:
        if not progress.live.is_started:  # (a Progress never started writes an empty line)
            progress.start()
        if kind == "run":
            if "runs" not in bars:
                bars["runs"] = progress.add_task("runs", total=data["total"], info="")
            progress.update(bars["runs"], completed=data["index"], info=data["key"])
        elif kind == "start":
            if "steps" in bars:
                progress.remove_task(bars["steps"])
            bars["steps"] = progress.add_task(
                "steps", total=data["steps"], completed=data["step"], info=""
            )
        elif kind == "outdated":
            progress.console.print(
                f"run {data['key']}: {data['why']}; moved to {data['moved_to']}, training it again",
                markup=False,
                highlight=False,
                soft_wrap=True,  # one line: a path is not broken
            )
        elif kind == "log" and "steps" in bars:
            progress.update(
                bars["steps"], completed=data["step"], info=f"loss {float(data['loss']):.3f}"
            )

    try:
        report = run_study(study, out, on_event, select=runs)
    finally:
        stop(progress)
    typer.echo(str(report))
    return 0
