"""The tasks of the study reports: data, encoding, seeded pipelines, heads and metrics.

`TASKS` maps each name to its class; `make_task(name, **settings)` builds one.
"""

from __future__ import annotations

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


def make_task(name: str, **settings: Any) -> Task:
    """The task called `name` with the given settings (a `UsageError` for unknown ones)."""
    if name not in TASKS:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
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
    "smooth_loss",
    "text_metrics",
]
