"""`seqrnn train`: train a model on a task into a run folder."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.settings import library_settings


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


def _task_settings(task: str, settings: list[str], values: dict) -> dict:
    """The task's settings from --set KEY=VALUE (JSON values, ranges as low..high, else text)
    and from the text task's own options (--data, --mode, --seq-len, --val-chars)."""
    from seqrnn.errors import UsageError
    from seqrnn.tasks import task_settings

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
    given = {option: values[option] for option in TEXT_OPTIONS if values[option] is not None}
    if given:
        keys = {key for key, _, _ in task_settings(task)}
        foreign = [option for option in given if TEXT_OPTIONS[option] not in keys]
        if foreign:
            flags = " and ".join("--" + option.replace("_", "-") for option in foreign)
            raise UsageError(f"{flags} belong to the text task, not {task} (seqrnn tasks {task})")
    for option, value in given.items():
        value = _plain(value)
        if option == "val_chars" and _is_int(value):
            value = int(value)
        out[TEXT_OPTIONS[option]] = str(value) if option == "data" else value
    return out


#: Settings of the text task that `seqrnn train` takes as options of their own.
TEXT_OPTIONS = {"data": "path", "mode": "mode", "seq_len": "seq_len", "val_chars": "val_chars"}


def _options() -> list[inspect.Parameter]:
    """The parameters of `train`: the task, the text task's options, --set, one option per
    field of `TrainConfig` (its help and default), then what only the command line has."""
    settings = library_settings()
    fields = {item.name: item for item in dataclasses.fields(settings.TrainConfig)}
    text = "the text task's (seqrnn tasks text)"

    def option(name: str, annotation, default) -> inspect.Parameter:
        return inspect.Parameter(name, KEYWORD, annotation=annotation, default=default)

    params = [
        option("ctx", typer.Context, inspect.Parameter.empty),
        option(
            "task",
            Annotated[str, typer.Argument(metavar="TASK", help=fields["task"].metadata["help"])],
            fields["task"].default,
        ),
        option(
            "data",
            Annotated[
                Path | None,
                typer.Option(
                    metavar="FILE", help="The text task's UTF-8 text file.", show_default="none"
                ),
            ],
            None,
        ),
        option(
            "mode",
            Annotated[
                settings.TextMode | None,
                typer.Option(help="How the text task cuts its windows.", show_default=text),
            ],
            None,
        ),
        option(
            "seq_len",
            Annotated[
                int | None,
                typer.Option(
                    help="The text task's window length, in characters.", show_default=text
                ),
            ],
            None,
        ),
        option(
            "val_chars",
            Annotated[
                str | None,
                typer.Option(
                    metavar="N",
                    help="Characters of the held-out text a validation reads at most, or all.",
                    show_default=text,
                ),
            ],
            None,
        ),
        option(
            "settings",
            Annotated[
                list[str] | None,
                typer.Option(
                    "--set",
                    metavar="KEY=VALUE",
                    help="A task setting, repeatable; ranges as low..high (seqrnn tasks NAME "
                    "lists them).",
                    show_default="the task's",
                ),
            ],
            None,
        ),
    ]
    for item in settings.flag_fields():
        kind, optional = settings.field_type(item), item.default is None
        shown = "none" if optional else True
        help_text = item.metadata["help"]
        params.append(
            option(
                item.name,
                Annotated[
                    kind | None if optional else kind,
                    typer.Option(help=help_text, show_default=shown),
                ],
                item.default,
            )
        )
    return [
        *params,
        option(
            "cpu_devices",
            Annotated[
                int,
                typer.Option(help="Split the CPU into this many logical devices (for mirrored)."),
            ],
            1,
        ),
        option(
            "out",
            Annotated[
                Path | None,
                typer.Option(
                    metavar="DIR", help="Run folder.", show_default="runs/<task>-<cell>-<time>"
                ),
            ],
            None,
        ),
        option(
            "resume",
            Annotated[
                Path | None,
                typer.Option(
                    metavar="RUN",
                    help="Continue this run folder exactly where it stopped.",
                    show_default="none",
                ),
            ],
            None,
        ),
        option(
            "force", Annotated[bool, typer.Option(help="Replace an existing run folder.")], False
        ),
        option(
            "export",
            Annotated[
                bool, typer.Option(help="Export the model to saved_models/<run name> at the end.")
            ],
            True,
        ),
    ]


def _refuse_an_absurd_batch(values: dict) -> None:
    """Refuses a batch or width whose recurrent weights and activations alone cannot fit in
    this machine's memory (`seqrnn.training.memory.least_refusal`) over the task's longest
    training or test batch (`Task.batch_shape`), whichever needs more, without loading
    TensorFlow; the full estimate follows once it has loaded."""
    from cli.settings import library_module

    memory = library_module("training/memory.py", "_seqrnn_memory")
    batch, units, layers = values["batch_size"], values["units"], values["layers"]
    if not all(isinstance(v, int) and v >= 1 for v in (batch, units, layers)):
        return  # the library names what is wrong with them
    cell = str(getattr(values["cell"], "value", values["cell"]))
    shapes, input_kind = _task_shapes(values) or (None, None)
    width = 0
    if input_kind is not None and isinstance(values["embedding_dim"], int):
        width = memory.input_width(values["embedding_dim"], input_kind)
    refusal = memory.least_refusal(batch, units, layers, cell, shapes=shapes, width=width)
    if refusal is not None:
        from cli.main import flag_for, with_flags

        message, settings = refusal
        hint = f"'{flag_for(settings[0], 'train')}'"
        raise typer.BadParameter(with_flags(message, settings, "train"), param_hint=hint)


def _task_shapes(values: dict) -> tuple[dict[str, tuple[int, int]], str] | None:
    """(rows, steps) of the task's longest training and test batches and its input kind, told
    by the task from its settings without Keras (`cli.settings.library_without_keras`), or
    None where it cannot tell: then the library names what is wrong once it has loaded."""
    from cli.settings import library_without_keras

    with library_without_keras():
        try:
            from seqrnn.tasks import TASKS

            task = TASKS[str(values["task"])]
            settings = _task_settings(str(values["task"]), values["settings"] or [], values)
            shapes = {
                split: task.batch_shape(values["batch_size"], settings, split)
                for split in ("train", "test")
            }
            input_kind = str(task.input_kind)
        except Exception:  # the stand-in's errors are not of the library's classes
            return None
    if all(rows >= 1 and steps >= 1 for rows, steps in shapes.values()):
        return shapes, input_kind
    return None


def train(**values) -> None:
    """Train a recurrent model on a task into a run folder.

    The folder gets config.json, checkpoints/, metrics.csv, samples.txt, tensorboard/ and
    model.keras. Without arguments: the toy grammar with an LSTM, about a minute on 2 cores.

    Examples:
    seqrnn train
    seqrnn train text --data ../shared/data/tinyshakespeare.txt --mode random --seq-len 100
      --units 256 --steps 2000
    seqrnn train adder --set train_digits=1..5 --set test_digits=1..100 --steps 3000
    seqrnn train text --data ../shared/data/tinyshakespeare.txt --epochs 3 --schedule cosine
      --warmup-steps 100 --patience 5
    seqrnn train --resume runs/toy-lstm-20261122-101500
    """
    if values["resume"] is None:
        _refuse_an_absurd_batch(values)  # before TensorFlow loads: a second, not ten
    from cli.main import import_tensorflow_quietly

    import_tensorflow_quietly()
    from seqrnn.errors import UsageError
    from seqrnn.settings import TrainConfig, flag_fields
    from seqrnn.training.runs import RunFolder

    resume, force, cpu_devices = values["resume"], values["force"], values["cpu_devices"]
    steps_given = values["ctx"].get_parameter_source("steps").name != "DEFAULT"
    if values["epochs"] is not None and steps_given:
        raise UsageError("--steps and --epochs both say how long to train; pass one of them")
    if resume is not None:
        if force:
            raise UsageError("--resume continues a run and --force replaces one; pass one")
        _refuse_settings_beside_resume(values)
        run = RunFolder(resume)
        if not run.config.exists():
            raise UsageError(f"{resume}: not a run folder (no config.json)")
        config = TrainConfig.load(run.config)
    else:
        config = TrainConfig(
            task=values["task"],
            task_settings=_task_settings(values["task"], values["settings"] or [], values),
            **{item.name: _plain(values[item.name]) for item in flag_fields()},
        )
        if cpu_devices < 1:
            raise UsageError(f"--cpu-devices must be an integer >= 1, got {cpu_devices}")
    task_object = _make_task(config)  # checks data before any work
    from seqrnn.training.step import check_strategy, steps_of

    check_strategy(config.strategy)
    steps_of(config, task_object)  # (epochs of a task that has none: refused here)
    from seqrnn.training.memory import check_fits

    check_fits(config, task_object)  # a batch that cannot fit is refused before any allocation
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = resume or values["out"] or Path("runs") / f"{config.task}-{config.cell}-{stamp}"
    run = RunFolder.open(out, resume=resume is not None, force=force)
    try:
        _run(config, run, resume is not None, cpu_devices, task_object)
    finally:
        run.unlock()
    if values["export"]:
        _export(run.path, replace=force or resume is not None)


KEYWORD = inspect.Parameter.KEYWORD_ONLY
train.__signature__ = inspect.Signature(_options())  # type: ignore[attr-defined]
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}


#: What a resumed run takes from the command line: all else comes from its config.json.
RESUME_OPTIONS = ("resume", "export", "cpu_devices")


def _refuse_settings_beside_resume(values) -> None:
    """A `UsageError` naming the options given with --resume: a resumed run keeps its own
    settings (config.json), and an option that would be ignored is refused rather than dropped."""
    from cli.main import typed_on_command_line
    from seqrnn.errors import UsageError

    ctx = values["ctx"]
    given = []
    for param in ctx.command.params:
        if param.name in RESUME_OPTIONS or not typed_on_command_line(ctx, param.name):
            continue
        option = param.opts[0]
        given.append(option if option.startswith("-") else f"the task {_plain(values[param.name])}")
    if given:
        raise UsageError(
            f"--resume continues a run with the settings of its config.json, so "
            f"{', '.join(dict.fromkeys(given))} would be ignored; drop them, or train a new run"
        )


def _plain(value):
    """An option's value as the library takes it: an enum member as its string."""
    return value.value if isinstance(value, enum.Enum) else value


def _make_task(config):
    """The run's task; reading a corpus shows its progress (a 1 GB file takes a while)."""
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn

    from cli.progress import stop, transient_progress
    from seqrnn.tasks import make_task

    # A task that reads a corpus tells how it goes (the text task reads its file twice: its
    # characters, then their ids): a percentage, not bytes.
    columns = (TextColumn("reading {task.description}"), BarColumn(), TaskProgressColumn())
    progress = transient_progress(*columns, TimeRemainingColumn())
    bar = progress.add_task(str(config.task_settings.get("path", config.task)), total=None)

    def advance(done: int, total: int) -> None:  # shown once the file is found good to read
        if not progress.live.is_started:
            progress.start()
        progress.update(bar, completed=done, total=total)

    try:
        return make_task(config.task, progress=advance, **config.task_settings)
    finally:
        stop(progress)


def _export(path: Path, replace: bool) -> None:
    from seqrnn.export import export_run

    target = Path("saved_models") / path.resolve().name
    if target.exists() and any(target.iterdir()) and not (replace and _exported_from(target, path)):
        typer.echo(
            f"seqrnn: {target} exists and is kept; export this run with "
            f"seqrnn export {path} --out ANOTHER_FOLDER",
            err=True,
        )
        return
    export_run(path, target, force=True)
    typer.echo(f"exported to {target}", err=True)


def _exported_from(target: Path, run: Path) -> bool:
    """Whether `target` is an export of the run in `run` (another run's is never replaced)."""
    from seqrnn.export import MARKER

    marker = target / "assets" / MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("run") == str(run.resolve())
    except (OSError, ValueError, AttributeError):
        return False


class _Screen:
    """What a training run shows on stderr: a line about the run, the step bar with the latest
    metrics, a bar for each validation, and the samples."""

    def __init__(self, config, task) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.config = config
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description} {task.completed}/{task.total}"),
            BarColumn(bar_width=12),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.bar = self.validation = None
        self.last_val: dict = {}
        self.passes = task.batches_per_pass(config.batch_size)
        self.labels = {f"val_{key}": label for key, label in task.shown_metrics.items()}

    def __call__(self, kind: str, data: dict) -> None:
        if kind == "validate":
            self.validate(data)
        elif kind == "start":
            self.start(data)
        elif kind == "sample":
            self.progress.console.print(f"[dim]sample at step {data['step']}:[/dim]")
            self.progress.console.print(data["text"], markup=False, highlight=False)
        elif kind == "log" and self.bar is not None:
            self.progress.update(self.bar, completed=data["step"], info=self.info(data))

    def start(self, data: dict) -> None:
        config = self.config
        vocabulary = f"vocabulary {data['vocab_size']}, " if data.get("vocab_size") else ""
        self.console.print(
            f"{config.task}, {config.cell}: {vocabulary}{data['parameters']:,} parameters, "
            f"training into {data['run']}",
            highlight=False,
        )
        self.bar = self.progress.add_task(
            "step", total=data["steps"], completed=data["step"], info=""
        )
        self.progress.start()

    def validate(self, data: dict) -> None:
        if self.validation is None:
            self.validation = self.progress.add_task("validation", total=data["total"], info="")
        self.progress.update(
            self.validation,
            completed=data["done"],
            total=data["total"],
            info=f"of step {data['step']}",
            visible=data["done"] < data["total"],
        )

    def info(self, row: dict) -> str:
        """The step bar's text: epoch, losses, gradient norm, speed, the latest validation."""
        info = f"ep {(row['step'] - 1) // self.passes + 1} " if self.passes else ""
        info += (
            f"loss {float(row['loss']):.3f} smooth {float(row['smooth_loss']):.2f} "
            f"|g| {float(row['grad_norm']):.2f}"
        )
        if row.get("tokens_per_s"):
            info += f" {float(row['tokens_per_s']) / 1000:.1f}k tok/s"
        if row.get("val_loss"):
            self.last_val.update((k, v) for k, v in row.items() if k.startswith("val_"))
        if self.last_val:
            info += f" val {float(self.last_val['val_loss']):.3f}"
            for key, label in self.labels.items():
                if self.last_val.get(key):
                    info += f" {label} {float(self.last_val[key]):.0%}"
        return info


def _run(config, run, resume: bool, cpu_devices: int, task) -> None:
    from cli.progress import stop
    from seqrnn.training.loop import Trainer, split_cpu

    if cpu_devices > 1:
        split_cpu(cpu_devices)
    screen = _Screen(config, task)
    try:
        summary = Trainer(config, run, resume=resume, on_event=screen, task=task).train()
    finally:
        stop(screen.progress)
    result = {
        "run": str(run.path),
        "step": summary.step,
        "loss": round(summary.loss, 6) if math.isfinite(summary.loss) else None,  # (no step)
        "val_loss": None if summary.val_loss is None else round(summary.val_loss, 6),
        "seconds": round(summary.seconds, 1),
        "best_step": summary.best_step,
        "best_val_loss": None if summary.best_val_loss is None else round(summary.best_val_loss, 6),
        "metrics": {
            key: round(value, 6) if isinstance(value, float) else value
            for key, value in summary.metrics.items()
        },
    }
    if summary.stopped:
        screen.console.print(f"seqrnn: {summary.stopped}", highlight=False)
    typer.echo(json.dumps(result))
