"""`seqrnn tasks`: the tasks, one line each, or one task's settings."""

from __future__ import annotations

from typing import Annotated

import typer


def tasks(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME", help="A task whose settings to list.", show_default="every task"
        ),
    ] = None,
) -> None:
    """List the tasks seqrnn can train on, one line each; with a NAME, that task's settings.

    A setting is given to seqrnn train as --set KEY=VALUE (a range as low..high); the text
    task's path, mode and seq_len have options of their own (--data, --mode, --seq-len).

    Examples:
    seqrnn tasks
    seqrnn tasks adder
    """
    from seqrnn.tasks import TASKS, task_settings

    if name is None:
        width = max(len(task) for task in TASKS)
        for task, kind in TASKS.items():
            typer.echo(f"{task:<{width}}  {kind.summary}")
        return
    rows = task_settings(name)
    typer.echo(f"{name}: {TASKS[name].summary}")
    key_width = max(len(key) for key, _, _ in rows)
    default_width = max(len(default) for _, default, _ in rows)
    for key, default, meaning in rows:
        typer.echo(f"  {key:<{key_width}}  {default:<{default_width}}  {meaning}")
