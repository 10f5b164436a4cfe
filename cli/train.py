"""`seqrnn train`: train a model on a task into a run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


def _task_settings(
    task: str,
    data: Path | None,
    mode: str | None,
    seq_len: int | None,
    settings: list[str],
    val_chars: str | None = None,
) -> dict:
    from seqrnn.errors import UsageError

    out: dict = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes KEY=VALUE (for example length=50), got {item!r}")
        low, dots, high = value.partition("..")
        if dots and _is_int(low) and _is_int(high):
            out[key.replace("-", "_")] = [int(low), int(high)]  # a range, low..high
            continue
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    if task == "text":
        if data is None:
            raise UsageError("the text task needs --data FILE (a UTF-8 text file)")
        out.update(path=str(data))
        if mode is not None:
            out["mode"] = mode
        if seq_len is not None:
            out["seq_len"] = seq_len
        if val_chars is not None:
            out["val_chars"] = int(val_chars) if _is_int(val_chars) else val_chars
    elif data is not None or mode is not None or seq_len is not None or val_chars is not None:
        raise UsageError(
            f"--data, --mode, --seq-len and --val-chars belong to the text task, not {task}"
        )
    return out


def train(
    task: Annotated[
        str, typer.Argument(metavar="TASK", help="Task name (see seqrnn tasks).")
    ] = "toy",
    data: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Text file for the text task.", show_default="none, text needs it"
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="Text windows: sequential, random or chunks.", show_default="sequential for text"
        ),
    ] = None,
    seq_len: Annotated[
        int | None, typer.Option(help="Text window length.", show_default="25 for text")
    ] = None,
    val_chars: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help="Characters of the held-out text a validation reads at most, or all.",
            show_default="1000000 for text",
        ),
    ] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="A task setting, repeatable; ranges as low..high (seqrnn tasks NAME lists them).",
            show_default="the task's",
        ),
    ] = None,
    cell: Annotated[str, typer.Option(help="vanilla, lstm, gru or phased.")] = "lstm",
    units: Annotated[int, typer.Option(help="Units per recurrent layer.")] = 128,
    layers: Annotated[int, typer.Option(help="Recurrent layers.")] = 1,
    embedding_dim: Annotated[int, typer.Option(help="Embedding width.")] = 32,
    dropout: Annotated[float, typer.Option(help="Dropout between layers.")] = 0.0,
    chrono_init: Annotated[
        int,
        typer.Option(
            help="Gated cells: chrono-initialise the gate biases for dependencies up to this "
            "many steps (0 = off)."
        ),
    ] = 0,
    optimizer: Annotated[str, typer.Option(help="sgd, adagrad, adam or rmsprop.")] = "adam",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 2e-3,
    lr_decay: Annotated[float, typer.Option(help="Decay factor every --lr-decay-steps.")] = 1.0,
    lr_decay_steps: Annotated[int, typer.Option(help="Steps per decay.")] = 1000,
    clip_norm: Annotated[float, typer.Option(help="Global-norm clipping, 0 = off.")] = 5.0,
    clip_value: Annotated[float, typer.Option(help="Element clipping to [-v, v], 0 = off.")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Global batch size.")] = 32,
    steps: Annotated[int, typer.Option(help="Training steps.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed: same seed, same run.")] = 0,
    strategy: Annotated[
        str, typer.Option(help="auto, one, mirrored or multiworker (TF_CONFIG).")
    ] = "auto",
    cpu_devices: Annotated[
        int, typer.Option(help="Split the CPU into this many logical devices (for mirrored).")
    ] = 1,
    log_every: Annotated[int, typer.Option(help="Steps between metrics rows.")] = 10,
    eval_every: Annotated[int, typer.Option(help="Steps between validations.")] = 200,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.")] = 200,
    sample_every: Annotated[
        int, typer.Option(help="Steps between samples (text and grammar tasks).")
    ] = 200,
    sample_length: Annotated[int, typer.Option(help="Characters per text sample.")] = 200,
    temperature: Annotated[
        float, typer.Option(help="Temperature of the samples (0 = greedy).")
    ] = 1.0,
    out: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Run folder.", show_default="runs/<task>-<cell>-<time>"),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN",
            help="Continue this run folder exactly where it stopped.",
            show_default="none",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    export: Annotated[
        bool, typer.Option(help="Export the model to saved_models/<run name> at the end.")
    ] = True,
) -> None:
    """Train a recurrent model on a task into a run folder.

    The folder gets config.json, checkpoints/, metrics.csv, samples.txt, tensorboard/ and
    model.keras. Without arguments: the toy grammar with an LSTM, about a minute on 2 cores.

    Examples:
    seqrnn train
    seqrnn train text --data ../shared/data/tinyshakespeare.txt --mode random --seq-len 100
      --units 256 --steps 2000
    seqrnn train adder --set train_digits=1..5 --set test_digits=1..100 --steps 3000
    seqrnn train --resume runs/toy-lstm-20261122-101500
    """
    from seqrnn.errors import UsageError
    from seqrnn.training.config import TrainConfig
    from seqrnn.training.runs import RunFolder

    if resume is not None:
        if force:
            raise UsageError("--resume continues a run and --force replaces one; pass one")
        run = RunFolder(resume)
        if not run.config.exists():
            raise UsageError(f"{resume}: not a run folder (no config.json)")
        config = TrainConfig.load(run.config)
    else:
        config = TrainConfig(
            task=task,
            task_settings=_task_settings(task, data, mode, seq_len, settings or [], val_chars),
            cell=cell,
            units=units,
            layers=layers,
            embedding_dim=embedding_dim,
            dropout=dropout,
            chrono_init=chrono_init,
            optimizer=optimizer,
            lr=lr,
            lr_decay=lr_decay,
            lr_decay_steps=lr_decay_steps,
            clip_norm=clip_norm,
            clip_value=clip_value,
            batch_size=batch_size,
            steps=steps,
            seed=seed,
            strategy=strategy,
            log_every=log_every,
            eval_every=eval_every,
            checkpoint_every=checkpoint_every,
            sample_every=sample_every,
            sample_length=sample_length,
            temperature=temperature,
        )
        if cpu_devices < 1:
            raise UsageError(f"cpu-devices must be an integer >= 1, got {cpu_devices}")
    from seqrnn.models import CELLS

    if config.cell not in CELLS:
        raise UsageError(f"unknown cell {config.cell!r}; choose one of {', '.join(CELLS)}")
    task_object = _make_task(config)  # checks data before any work
    from seqrnn.training.memory import check_fits

    check_fits(config, task_object)  # a batch that cannot fit is refused before any allocation
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = resume or out or Path("runs") / f"{config.task}-{config.cell}-{stamp}"
    run = RunFolder.open(out, resume=resume is not None, force=force)
    try:
        _run(config, run, resume is not None, cpu_devices, task_object)
    finally:
        run.unlock()
    if export:
        _export(run.path, replace=force or resume is not None)


def _make_task(config):
    """The run's task; reading a corpus shows its progress (a 1 GB file takes a while)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from seqrnn.tasks import make_task

    if config.task != "text":
        return make_task(config.task, **config.task_settings)
    # Two passes over the file (its characters, then their ids): a percentage, not bytes.
    columns = (TextColumn("reading {task.description}"), BarColumn(), TaskProgressColumn())
    progress = Progress(
        *columns, TimeRemainingColumn(), console=Console(stderr=True), transient=True
    )
    bar = progress.add_task(str(config.task_settings.get("path")), total=None)

    def advance(done: int, total: int) -> None:  # shown once the file is found good to read
        progress.start()
        progress.update(bar, completed=done, total=total)

    try:
        return make_task(config.task, progress=advance, **config.task_settings)
    finally:
        progress.stop()


def _export(path: Path, replace: bool) -> None:
    from seqrnn.export import export_run

    target = Path("saved_models") / path.resolve().name
    if target.exists() and any(target.iterdir()) and not replace:
        typer.echo(
            f"seqrnn: {target} exists and is kept; export this run with "
            f"seqrnn export {path} --out ANOTHER_FOLDER",
            err=True,
        )
        return
    export_run(path, target, force=True)
    typer.echo(f"exported to {target}", err=True)


def _run(config, run, resume: bool, cpu_devices: int, task) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from seqrnn.training.loop import Trainer, split_cpu

    if cpu_devices > 1:
        split_cpu(cpu_devices)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description} {task.completed}/{task.total}"),
        BarColumn(bar_width=12),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    bar = None
    validation = None
    last_val: dict = {}

    passes = task.windows_per_pass(config.batch_size) if task.name == "text" else 0

    def on_event(kind: str, data: dict) -> None:
        nonlocal bar, validation
        if kind == "validate":
            if validation is None:
                validation = progress.add_task("validation", total=data["total"], info="")
            done = data["done"] >= data["total"]
            progress.update(
                validation,
                completed=data["done"],
                total=data["total"],
                info=f"of step {data['step']}",
                visible=not done,
            )
            return
        if kind == "start":
            vocabulary = f"vocabulary {data['vocab_size']}, " if data.get("vocab_size") else ""
            console.print(
                f"{config.task}, {config.cell}: {vocabulary}{data['parameters']:,} parameters, "
                f"training into {data['run']}",
                highlight=False,
            )
            bar = progress.add_task("step", total=data["steps"], completed=data["step"], info="")
            progress.start()
        elif kind == "sample":
            progress.console.print(f"[dim]sample at step {data['step']}:[/dim]")
            progress.console.print(data["text"], markup=False, highlight=False)
        elif kind == "log" and bar is not None:
            info = ""
            if passes:
                info += f"ep {(data['step'] - 1) // passes + 1} "
            info += (
                f"loss {float(data['loss']):.3f} smooth {float(data['smooth_loss']):.2f} "
                f"|g| {float(data['grad_norm']):.2f}"
            )
            if data.get("tokens_per_s"):
                info += f" {float(data['tokens_per_s']) / 1000:.1f}k tok/s"
            if data.get("val_loss"):
                last_val.update(
                    (key, value) for key, value in data.items() if key.startswith("val_")
                )
            if last_val:
                info += f" val {float(last_val['val_loss']):.3f}"
                for key, label in (("val_exact_match", "exact"), ("val_valid", "valid")):
                    if last_val.get(key):
                        info += f" {label} {float(last_val[key]):.0%}"
            progress.update(bar, completed=data["step"], info=info)

    try:
        summary = Trainer(config, run, resume=resume, on_event=on_event, task=task).train()
    finally:
        progress.stop()
    result = {
        "run": str(run.path),
        "step": summary.step,
        "loss": round(summary.loss, 6),
        "val_loss": None if summary.val_loss is None else round(summary.val_loss, 6),
        "seconds": round(summary.seconds, 1),
        "metrics": {
            key: round(value, 6) if isinstance(value, float) else value
            for key, value in summary.metrics.items()
        },
    }
    typer.echo(json.dumps(result))
