"""What the studies' reports are made of: tables, curves, plots and comparisons with the seeds."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from seqrnn.experiments.framework import Outcome, Spec
from seqrnn.plotting import line_plots


def format_value(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.4g}"
    return "-" if value is None else str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of `rows` (dicts) with the given columns."""
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def curve(rows: list[dict], column: str) -> tuple[np.ndarray, np.ndarray]:
    points = [
        (float(r["step"]), float(r[column]))
        for r in rows
        if r.get(column) not in (None, "") and math.isfinite(float(r[column]))
    ]
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def find(outcomes: list[Outcome], **labels: Any) -> Outcome | None:
    """The outcome whose labels include `labels`, or None."""
    for o in outcomes:
        if all(o.spec.labels.get(k) == v for k, v in labels.items()):
            return o
    return None


def bar(what: str, outcome: Outcome | None, metric: str, bar: float, context: str) -> str:
    """One line saying whether `what` reaches the issue's bar, with the measured figure."""
    if outcome is None or outcome.metrics.get(metric) is None:
        return f"Bar: {what} >= {bar:.0%} ({context}): not measured in this run."
    value = outcome.metrics[metric]
    verdict = "met" if value >= bar else "**not met**"
    return f"Bar: {what} >= {bar:.0%} ({context}): measured {value:.1%}, {verdict}."


def pivot(outcomes: list[Outcome], column: Callable[[dict], str]) -> list[dict[str, Any]]:
    """One table row per cell, its accuracy under the column each run's labels name."""
    rows: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        row = rows.setdefault(o.spec.labels["cell"], {"cell": o.spec.labels["cell"]})
        row[column(o.spec.labels)] = o.metrics.get("accuracy")
    return list(rows.values())


def label(spec: Spec) -> str:
    return " ".join(f"{v}" for v in spec.labels.values())


def plot(outcomes: list[Outcome], column: str, title: str, folder: Path, name: str) -> str:
    """Draws `column` of every run against the step; returns the Markdown image line."""
    series = [(label(o.spec), *curve(o.rows, column)) for o in outcomes]
    line_plots([(title, series)], folder / name, ylabel=column.replace("_", " "))
    return f"![{title}]({name})"
