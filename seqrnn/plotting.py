"""Training curves as a PNG, drawn with NumPy and written with zlib (no plotting package).

`render_curves(rows, path)` draws the columns of a run's metrics.csv in panels: the training and
validation loss, the smooth loss, the gradient norm, and the task's validation metric when the
run has one. Each panel has its title, the step range along x and the value range along y.
Text uses a built-in 3x5 pixel font (capitals, digits and a few signs), drawn at twice its size.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_GLYPHS = {
    "A": "010101111101101", "B": "110101110101110", "C": "011100100100011",
    "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111",
    "J": "001001001101010", "K": "101101110101101", "L": "100100100100111",
    "M": "101111111101101", "N": "110101101101101", "O": "010101101101010",
    "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111",
    "V": "101101101101010", "W": "101101111111101", "X": "101101010101101",
    "Y": "101101010010010", "Z": "111001010100111", "0": "111101101101111",
    "1": "010110010010111", "2": "110001010100111", "3": "110001010001110",
    "4": "101101111001001", "5": "111100110001110", "6": "011100111101111",
    "7": "111001010010010", "8": "111101111101111", "9": "111101111001110",
    ".": "000000000000010", "-": "000000111000000", "_": "000000000000111",
    "+": "000010111010000", "%": "101001010100101", "/": "001001010100100",
    "|": "010010010010010", "(": "001010010010001", ")": "100010010010100",
    ":": "000010000010000", " ": "000000000000000",
}  # fmt: skip
_SCALE = 2
_CHAR_W = 4 * _SCALE  # 3 pixels and a gap
_CHAR_H = 5 * _SCALE

BLUE = (31, 119, 180)
ORANGE = (255, 127, 14)
GREEN = (44, 160, 44)
GREY = (120, 120, 120)
BLACK = (20, 20, 20)
PALETTE = (
    BLUE,
    ORANGE,
    GREEN,
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
)


def _text(image: np.ndarray, x: int, y: int, text: str, color=BLACK) -> int:
    """Draws `text` with its top left corner at (x, y); returns the x after the last glyph."""
    for char in text.upper():
        bits = _GLYPHS.get(char, _GLYPHS[" "])
        for index, bit in enumerate(bits):
            if bit == "1":
                row, col = divmod(index, 3)
                y0, x0 = y + row * _SCALE, x + col * _SCALE
                if y0 >= 0 and y0 + _SCALE <= image.shape[0] and 0 <= x0 + _SCALE <= image.shape[1]:
                    image[y0 : y0 + _SCALE, x0 : x0 + _SCALE] = color
        x += _CHAR_W
    return x


def _line(image: np.ndarray, points: np.ndarray, color) -> None:
    """A polyline through pixel `points` (n, 2) as (x, y), two pixels thick."""
    height, width = image.shape[:2]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        count = int(max(abs(x1 - x0), abs(y1 - y0), 1)) * 2
        xs = np.rint(np.linspace(x0, x1, count + 1)).astype(int)
        ys = np.rint(np.linspace(y0, y1, count + 1)).astype(int)
        for dx, dy in ((0, 0), (1, 0), (0, 1)):
            ok = (xs + dx < width) & (ys + dy < height) & (xs >= 0) & (ys >= 0)
            image[ys[ok] + dy, xs[ok] + dx] = color


def _number(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.2e}"


def _panel(image, box, title, series) -> None:
    """One panel in `box` (x, y, width, height): `series` is [(label, color, steps, values)]."""
    x, y, width, height = box
    left, bottom, top = x + 70, y + height - 24, y + 26
    right = x + width - 12
    cursor, line = _text(image, x + 8, y + 6, title), y + 6
    for label, color, _, _ in series:  # the legend follows the title, wrapping at the edge
        if cursor + (len(label) + 1) * _CHAR_W > x + width - 4:
            cursor, line = x + 8 - _CHAR_W, line + _CHAR_H + 4
        cursor = _text(image, cursor + _CHAR_W, line, label, color)
    top += line - (y + 6)
    usable = [(s, v) for _, _, s, v in series if len(s)]
    image[top:bottom, left] = GREY
    image[bottom, left:right] = GREY
    if not usable:
        _text(image, left + 10, top + 10, "NO DATA", GREY)
        return
    steps = np.concatenate([s for s, _ in usable])
    values = np.concatenate([v for _, v in usable])
    lo_x, hi_x = float(steps.min()), float(steps.max())
    lo_y, hi_y = float(values.min()), float(values.max())
    if hi_x == lo_x:
        hi_x = lo_x + 1
    if hi_y == lo_y:
        lo_y, hi_y = lo_y - 0.5, hi_y + 0.5
    for value in (lo_y, (lo_y + hi_y) / 2, hi_y):
        row = round(bottom - (value - lo_y) / (hi_y - lo_y) * (bottom - top))
        image[row, left - 4 : left] = GREY
        _text(image, x + 4, row - _CHAR_H // 2, _number(value)[:8])
    _text(image, left, bottom + 6, _number(lo_x))
    label = _number(hi_x)
    _text(image, right - len(label) * _CHAR_W, bottom + 6, label)
    for _, color, s, v in series:
        if not len(s):
            continue
        px = left + 2 + (s - lo_x) / (hi_x - lo_x) * (right - left - 4)
        py = bottom - 2 - (v - lo_y) / (hi_y - lo_y) * (bottom - top - 4)
        points = np.stack([px, py], axis=1)
        _line(image, points, color) if len(points) > 1 else _line(image, points.repeat(2, 0), color)


def _column(rows: Sequence[dict], name: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for row in rows:
        text = row.get(name, "")
        if text not in ("", None):
            value = float(text)
            if math.isfinite(value):
                steps.append(float(row["step"]))
                values.append(value)
    return np.array(steps), np.array(values)


def render_curves(rows: Sequence[dict], path: str | Path) -> Path:
    """Writes the curves of metrics rows (dicts of strings, as in metrics.csv) to a PNG."""
    panels = [
        ("LOSS", [("TRAIN", BLUE, "loss"), ("VAL", ORANGE, "val_loss")]),
        ("SMOOTH LOSS", [("", BLUE, "smooth_loss")]),
        ("GRAD NORM", [("", BLUE, "grad_norm")]),
    ]
    metrics = [
        ("VAL VALID", "val_valid"),
        ("VAL EXACT MATCH", "val_exact_match"),
        ("VAL ACCURACY", "val_accuracy"),
    ]
    for title, name in metrics:
        if len(_column(rows, name)[0]):
            panels.append((title, [("", GREEN, name)]))
            break
    width, height = 480, 280
    columns = 2
    lines = math.ceil(len(panels) / columns)
    image = np.full((height * lines, width * columns, 3), 255, np.uint8)
    for index, (title, items) in enumerate(panels):
        series = [(label, color, *_column(rows, name)) for label, color, name in items]
        row, col = divmod(index, columns)
        _panel(image, (col * width, row * height, width, height), title, series)
    return write_png(image, path)


def line_plots(panels, path: str | Path) -> Path:
    """Writes panels `[(title, [(label, xs, ys), ...]), ...]` side by side, two per line."""
    width, height = 480, 280
    columns = min(2, max(1, len(panels)))
    lines = math.ceil(len(panels) / columns)
    image = np.full((height * lines, width * columns, 3), 255, np.uint8)
    for index, (title, items) in enumerate(panels):
        colors = itertools.cycle(PALETTE)  # the n-th series has the same colour in every panel
        series = [
            (str(label).upper(), next(colors), np.asarray(xs, float), np.asarray(ys, float))
            for label, xs, ys in items
        ]
        row, col = divmod(index, columns)
        _panel(image, (col * width, row * height, width, height), title.upper(), series)
    return write_png(image, path)


def write_png(image: np.ndarray, path: str | Path) -> Path:
    """Writes an (height, width, 3) uint8 RGB array as a PNG file (atomically)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
