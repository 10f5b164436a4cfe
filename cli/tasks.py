"""`seqrnn tasks`: the tasks, one line each."""

from __future__ import annotations

import typer


def tasks() -> None:
    """List the tasks seqrnn can train on, one line each."""
    from seqrnn.tasks import TASKS

    width = max(len(name) for name in TASKS)
    for name, task in TASKS.items():
        typer.echo(f"{name:<{width}}  {task.summary}")
