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
from seqrnn.tasks.text import TextTask, text_metrics

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


def register(task: type[Task]) -> type[Task]:
    """Adds a task class to `TASKS` under its `name`, so that every command can train,
    evaluate, export and sample it (a class decorator too); a name already taken is an error."""
    if task.name in TASKS and TASKS[task.name] is not task:
        raise UsageError(f"a task named {task.name!r} exists already; choose another name")
    TASKS[task.name] = task
    return task


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
    missing = [(key, meaning) for key, default, meaning in rows if default == "required"]
    missing = [(key, meaning) for key, meaning in missing if key not in settings]
    if missing:
        key, meaning = missing[0]
        raise UsageError(f"task {name} needs the setting {key} ({meaning})", key)
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
    "register",
    "setting_text",
    "task_settings",
    "text_metrics",
]
