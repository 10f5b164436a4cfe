"""What a run records as it trains: metrics rows, TensorBoard scalars and texts, samples,
curves, and the seeds' smooth loss."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from seqrnn.plotting import render_curves
from seqrnn.training.runs import METRICS, RunFolder

Event = Callable[[str, dict[str, Any]], None]


def smooth_loss(previous: float | None, window_loss_sum: float) -> float:
    """The seeds' smooth loss: 0.999 previous + 0.001 loss, the loss summed over the window."""
    if previous is None:
        return window_loss_sum
    return 0.999 * previous + 0.001 * window_loss_sum


def _format(value: Any) -> str:
    return "" if value is None else f"{value:.6f}"


class Recorder:
    """Writes the records of `run` (the metrics columns of `task`) and reports each through
    `on_event(kind, data)`: `log` (a metrics row) and `sample` {step, text}."""

    def __init__(self, run: RunFolder, task, on_event: Event) -> None:
        import tensorflow as tf

        self.run, self.on_event = run, on_event
        self.validated = ("loss", "accuracy", *task.shown_metrics)
        extra = tuple(f"val_{k}" for k in task.shown_metrics if f"val_{k}" not in METRICS)
        run.columns = METRICS + extra
        self.writer = tf.summary.create_file_writer(str(run.tensorboard))
        self.tick, self.tokens = time.perf_counter(), 0.0

    def count_tokens(self, tokens: float) -> None:
        self.tokens += tokens

    def throughput(self) -> str:
        """Tokens per second since the last call (training time only: see `resume_clock`)."""
        now = time.perf_counter()
        rate = self.tokens / max(now - self.tick, 1e-9)
        self.tick, self.tokens = now, 0.0
        return f"{rate:.1f}"

    def resume_clock(self) -> None:
        """Starts the tokens/s clock again after work that is not training (a validation)."""
        self.tick = time.perf_counter()

    def validation_columns(self, metrics: dict[str, Any]) -> dict[str, str]:
        return {f"val_{key}": _format(metrics.get(key)) for key in self.validated}

    def log(self, row: dict[str, Any], steps: int) -> None:
        """Appends a metrics row, writes its numbers to TensorBoard, and reports it."""
        step = row["step"]
        self.run.append_metrics(row)
        for name, value in row.items():
            if name != "step" and value != "":
                self.summary("scalar", name, float(value), step)
        self.on_event("log", {**row, "steps": steps})

    def sample(self, step: int, temperature: float, text: str) -> None:
        self.run.append_sample(step, temperature, text)
        self.summary("text", "sample", text, step)
        self.on_event("sample", {"step": step, "text": text})

    def curves(self) -> None:
        render_curves(self.run.metrics_rows(), self.run.curves)

    def summary(self, kind: str, name: str, value: Any, step: int) -> None:
        """Writes a scalar or a text to the TensorBoard event files.

        With core TensorFlow ops (`tf.summary.write` and the plugin's name in the metadata):
        `tf.summary.scalar` and `tf.summary.text` need the tensorboard package installed.
        """
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        metadata = summary_pb2.SummaryMetadata()
        metadata.plugin_data.plugin_name = "text" if kind == "text" else "scalars"
        tensor = tf.constant(value, tf.string if kind == "text" else tf.float32)
        with self.writer.as_default():
            tf.summary.write(name, tensor, step=step, metadata=metadata)

    def close(self) -> None:
        self.writer.flush()
