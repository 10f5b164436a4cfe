"""Training curves and study figures as PNG files, drawn with matplotlib.

Figures are made with matplotlib's object API on its Agg canvas (`Figure` and
`FigureCanvasAgg`, no `pyplot`): nothing is drawn on a screen, and the host program's choice of
matplotlib backend and its global settings are left as they were. Each panel is 4.8 x 2.8
inches at 100 dpi (480 x 280 pixels), two panels a row.

`render_curves(rows, path)` draws the columns of a run's metrics.csv: the training and
validation loss, the smooth loss, the gradient norm, and the task's validation metric when the
run has one (else the validation accuracy); `line_plots(panels, path)` draws the studies'
figures. A value axis is logarithmic when its positive values span more than a factor of 20.
"""

from __future__ import annotations

import errno
import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: One panel, in inches at DPI (480 x 280 pixels).
PANEL = (4.8, 2.8)
DPI = 100
#: The span of positive values above which a value axis is logarithmic.
LOG_SPAN = 20.0
_BASE = {"step", "loss", "smooth_loss", "grad_norm", "tokens_per_s", "lr", "val_loss"}


def _column(rows: Sequence[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of the rows where column `name` has a finite value."""
    steps, values = [], []
    for row in rows:
        try:
            value = float(row.get(name) or "nan")
        except ValueError:
            continue
        if math.isfinite(value):
            steps.append(float(row["step"]))
            values.append(value)
    return np.array(steps), np.array(values)


def _figure(count: int):
    from matplotlib.figure import Figure

    columns = min(2, max(1, count))
    lines = math.ceil(max(count, 1) / columns)
    figure = Figure(figsize=(PANEL[0] * columns, PANEL[1] * lines), dpi=DPI, layout="constrained")
    axes = list(figure.subplots(lines, columns, squeeze=False).ravel())
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, axes


def _plain_log_formatter(minor: bool):
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):  # matplotlib writes 6e-01 below 1
            return f"{x:g}"

    return Plain(labelOnlyBase=not minor, minor_thresholds=(2, 0.5))


def _draw(axes, title: str, series, xlabel: str, ylabel: str) -> None:
    """One panel: `series` of (label, xs, ys); a legend when a series has a label."""
    drawn = [(label, np.asarray(xs, float), np.asarray(ys, float)) for label, xs, ys in series]
    for label, xs, ys in drawn:
        if len(xs):
            axes.plot(xs, ys, marker="o" if len(xs) == 1 else None, label=label or None)
    values = np.concatenate([ys for _, _, ys in drawn if len(ys)] or [np.zeros(0)])
    positive = values[values > 0]
    if len(positive) == len(values) and len(values) and positive.max() > LOG_SPAN * positive.min():
        axes.set_yscale("log")
        # Plain numbers (0.2, 3, 40) rather than 2 x 10^-1 on the spans these curves have;
        # matplotlib still decides which ticks to label.
        axes.yaxis.set_major_formatter(_plain_log_formatter(minor=False))
        axes.yaxis.set_minor_formatter(_plain_log_formatter(minor=True))
    axes.set_title(title, fontsize="medium")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    if any(label and len(xs) for label, xs, _ in drawn):
        axes.legend(fontsize="small", loc="best")


def _new_file_beside(path: Path) -> tuple[int, str]:
    """(descriptor, name) of a new file in `path`'s folder, with the permissions an ordinary
    write would give it (`tempfile.mkstemp` makes files only their owner may read)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = str(path.parent / f".{path.name}-{secrets.token_hex(4)}")
        try:
            return os.open(name, flags, 0o666), name  # less the umask, as open() would
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name beside it", str(path))


def _save(figure, path: str | Path) -> Path:
    """Writes the figure as a PNG file, atomically (a file beside it, then renamed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    FigureCanvasAgg(figure)
    try:
        handle, temporary = _new_file_beside(path)
    except OSError as error:  # named by the file asked for, not by the temporary one
        raise type(error)(error.errno, error.strerror, str(path)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            figure.savefig(stream, format="png", dpi=DPI)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def render_curves(rows: Sequence[dict], path: str | Path) -> Path:
    """Writes the curves of metrics rows (dicts of strings, as in metrics.csv) to a PNG."""
    panels = [
        ("loss", [("train", "loss"), ("validation", "val_loss")], "nats per target"),
        ("smooth loss (the seeds')", [("", "smooth_loss")], "nats per sequence"),
        ("gradient norm", [("", "grad_norm")], "global norm, before clipping"),
    ]
    metrics = [key for row in rows[-1:] for key in row if key.startswith("val_")]
    metrics = [key for key in metrics if key not in _BASE and key != "val_accuracy"]
    for name in [*metrics, "val_accuracy"]:
        if len(_column(rows, name)[0]):
            title = "validation " + name[len("val_") :].replace("_", " ")
            panels.append((title, [("", name)], "fraction"))
            break
    figure, axes = _figure(len(panels))
    for ax, (title, items, unit) in zip(axes, panels, strict=False):
        _draw(ax, title, [(label, *_column(rows, name)) for label, name in items], "step", unit)
    return _save(figure, path)


def line_plots(panels, path: str | Path, xlabel: str = "step", ylabel: str = "") -> Path:
    """Writes panels `[(title, [(label, xs, ys), ...]), ...]`, two a row; the n-th series has
    the same colour in every panel."""
    figure, axes = _figure(len(panels))
    for ax, (title, series) in zip(axes, panels, strict=False):
        _draw(ax, title, [(str(label), xs, ys) for label, xs, ys in series], xlabel, ylabel)
    return _save(figure, path)
