"""The tasks of the study reports: data, encoding, seeded pipelines, heads and metrics.

`TASKS` maps each name to its class; `make_task(name, **settings)` builds one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from seqrnn.errors import UsageError
from seqrnn.tasks.adder import AdderTask, adder_accuracy
from seqrnn.tasks.base import SPLITS, Batch, Task
from seqrnn.tasks.frequency import FrequencyTask
from seqrnn.tasks.grammars import BracketsTask, GrammarTask, NDFATask, ToyTask
from seqrnn.tasks.palindrome import PalindromeTask
from seqrnn.tasks.text import TextTask, smooth_loss, text_metrics

TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (
        TextTask,
        AdderTask,
        PalindromeTask,
        NDFATask,
        BracketsTask,
        ToyTask,
        FrequencyTask,
    )
}


def setting_text(value: Any) -> str:
    """A setting's value as the command line takes it: a (low, high) pair as low..high."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{value[0]}..{value[1]}"
    return str(value)


def task_settings(name: str) -> list[tuple[str, str, str]]:
    """(key, default as typed on the command line, meaning) of each setting of task `name`;
    the default is "required" where the task has none."""
    if name not in TASKS:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    rows = []
    for item in dataclasses.fields(TASKS[name]):  # type: ignore[arg-type]
        if not item.init or item.name.startswith("_"):
            continue
        if item.default is not dataclasses.MISSING:
            default = setting_text(item.default)
        elif item.default_factory is not dataclasses.MISSING:
            default = setting_text(item.default_factory())
        else:
            default = "required"
        rows.append((item.name, default, item.metadata.get("meaning", "")))
    return rows


def make_task(name: str, progress=None, **settings: Any) -> Task:
    """The task called `name` with the given settings (a `UsageError` for unknown ones);
    `progress(done, total)` is told how the reading of a corpus goes (the text task)."""
    rows = task_settings(name)
    unknown = sorted(set(settings) - {key for key, _, _ in rows})
    if unknown:
        listed = ", ".join(f"{key}={default}" for key, default, _ in rows)
        raise UsageError(
            f"task {name} has no setting {', '.join(unknown)}; its settings (with their "
            f"defaults) are {listed} (seqrnn tasks {name} explains them)"
        )
    if progress is not None and "_progress" in {f.name for f in dataclasses.fields(TASKS[name])}:
        settings = {**settings, "_progress": progress}
    try:
        return TASKS[name](**settings)
    except TypeError as error:
        raise UsageError(f"task {name}: {error}") from None


__all__ = [
    "SPLITS",
    "TASKS",
    "AdderTask",
    "Batch",
    "BracketsTask",
    "FrequencyTask",
    "GrammarTask",
    "NDFATask",
    "PalindromeTask",
    "Task",
    "TextTask",
    "ToyTask",
    "adder_accuracy",
    "make_task",
    "setting_text",
    "smooth_loss",
    "task_settings",
    "text_metrics",
]
