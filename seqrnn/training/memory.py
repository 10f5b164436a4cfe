"""What a training step needs in memory, estimated before anything is allocated, so that a
batch that cannot fit is refused at once with the estimate and the largest batch that fits
(a batch of ten million used to grow by 16 MB/s until the machine ran out).

The estimate counts float32 tensors: per token of the longest batch (`Task.longest_batch`),
the input width, every recurrent layer's saved activations (its gates, state and output)
kept for the backward pass, the logits with their softmax and gradient, the integer targets
and weights, all twice (the forward pass keeps them; the backward pass makes as many again);
per parameter, the weights, their gradients and two optimizer slots. It leaves out what does
not grow with the batch (TensorFlow itself, about 0.7 GiB).

The module imports only the standard library at its top, so that the command line can load it
on its own (see `cli.settings.library_module`) and refuse an absurd batch with
`least_refusal` before TensorFlow has loaded (seconds).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

#: Floats each recurrent layer keeps per token and unit: its gates and pre-activations, its
#: state and output (an LSTM's 4 gates, c, tanh c and h; fewer for the GRU and vanilla cell).
SAVED_PER_UNIT = {"vanilla": 3, "gru": 8, "lstm": 10, "phased": 14}
FLOAT = 4


@dataclass(frozen=True)
class Estimate:
    per_row: int  # bytes each row of the batch adds
    fixed: int  # bytes that do not grow with the batch (parameters, optimizer slots)
    rows: int
    steps: int

    @property
    def total(self) -> int:
        return self.fixed + self.per_row * self.rows


def estimate_step(config, task, split: str = "train") -> Estimate:
    """The memory of one training step of `config` on `task`, or (`split` validation or test)
    of one evaluation batch, which keeps no activations for a backward pass."""
    rows, steps = task.longest_batch(config.batch_size, split)
    width = input_width(config.embedding_dim, task.input_kind)
    recurrent = config.layers * config.units * SAVED_PER_UNIT.get(config.cell, 14)
    head = 3 * task.num_classes if task.per_step else 0
    per_token = FLOAT * (width + recurrent + head) + 3 * FLOAT  # + tokens, targets, weights
    passes = 2 if split == "train" else 1
    per_row = passes * per_token * steps + FLOAT * 3 * config.units * config.layers * 2
    from seqrnn.models import CELLS

    gates = CELLS[config.cell].cell_class.num_gates
    parameters = config.layers * gates * config.units * (2 * config.units + width + 1)
    parameters += task.num_classes * (config.units + 1) + max(task.vocab_size, 0) * width
    return Estimate(per_row=per_row, fixed=4 * FLOAT * parameters, rows=rows, steps=steps)


def input_width(embedding_dim: int, input_kind: str) -> int:
    """Floats each token feeds the first recurrent layer: its embedding (two for a digit pair),
    or a timed task's value, elapsed time and gap."""
    if input_kind == "timed":
        return 3
    return embedding_dim * (2 if input_kind == "digit_pairs" else 1)


#: Gates of each cell, as the cells count them (`num_gates`; checked against them in the tests).
GATES = {"vanilla": 1, "gru": 3, "lstm": 4, "phased": 4}


def least_fixed_bytes(units: int, layers: int, cell: str, width: int = 0) -> int:
    """A lower bound of `estimate_step`'s fixed part that needs no task object: the recurrent
    kernels and biases of every layer and the first layer's input kernel over `width` inputs
    (`input_width`; none where not known), with their gradients and two optimizer slots (no
    embedding table, no head)."""
    return 4 * FLOAT * GATES.get(cell, 4) * units * (layers * (units + 1) + width)


def least_row_bytes(
    units: int, layers: int, cell: str, steps: int = 1, split: str = "train", width: int = 0
) -> int:
    """A lower bound of `estimate_step`'s bytes per example that needs no task object, only
    the task's `steps` (one, where they are not known: every task has at least one) of the
    recurrent activations and the `width` inputs alone, kept for the backward pass and made
    again by it (a "train" step) or made once (an evaluation batch)."""
    passes = 2 if split == "train" else 1
    return passes * FLOAT * (layers * units * SAVED_PER_UNIT.get(cell, 14) + width) * steps


def least_step_bytes(
    batch_size: int,
    units: int,
    layers: int,
    cell: str,
    steps: int = 1,
    split: str = "train",
    width: int = 0,
) -> int:
    """A lower bound of `estimate_step` that needs no task object: a training step (or an
    evaluation batch) of `batch_size` rows over `steps` time steps needs at least this
    much."""
    per_row = least_row_bytes(units, layers, cell, steps, split, width)
    return least_fixed_bytes(units, layers, cell, width) + per_row * batch_size


def least_refusal(
    batch_size: int,
    units: int,
    layers: int,
    cell: str,
    available: int | None = None,
    shapes: dict[str, tuple[int, int]] | None = None,
    width: int = 0,
) -> tuple[str, tuple[str, ...]] | None:
    """(message, settings it names) when even `least_step_bytes` cannot fit in `available` bytes
    (default: what this machine has free), else None: the command line's check before
    TensorFlow loads (`check_fits` follows with the task's full estimate). `shapes` maps each
    split to the (rows, steps) of its longest batch (`Task.batch_shape`; a task whose batches
    hold fewer rows than `batch_size` has fewer rows), and `width` is the task's
    `input_width`, where the command line could tell them; the split that needs more counts."""
    available = available_memory() if available is None else available
    shapes = shapes or {"train": (batch_size, 1)}

    def needs(split: str) -> int:
        rows, steps = shapes[split]
        return least_step_bytes(rows, units, layers, cell, steps, split, width)

    split = max(shapes, key=needs)  # a test batch may be longer than a training one
    steps = shapes[split][1]
    least = needs(split)
    if available is None or least <= available:
        return None
    fixed = least_fixed_bytes(units, layers, cell, width)
    widths, lower = ("units", "layers"), "lower units or layers"
    if width > layers * (units + 1):  # the input kernel outweighs the recurrent ones
        widths, lower = ("embedding_dim", "units", "layers"), "lower embedding_dim, units or layers"
    cells = f"{layers} x {units:,} {cell} cells" + (f" over {width:,} inputs" if width else "")
    span = "one time step" if steps == 1 else f"{steps:,} time steps"
    span += " of a training step" if split == "train" else f" of a {split} batch"
    if fixed > available:
        return (
            f"{cells} need at least {gib(fixed)} for their weights, gradients and optimizer "
            f"slots, and this machine has {gib(available)} available; {lower}",
            widths,
        )
    largest = (available - fixed) // least_row_bytes(units, layers, cell, steps, split, width)
    if largest < 1:
        return (
            f"even one row with {cells} needs more than this machine's {gib(available)} for "
            f"{span}; {lower}, or the sequence length",
            widths,
        )
    # (Where the task caps its rows below batch_size, as a grammar's max_tokens does, a
    # batch_size up to `largest` still fits: its batches hold at most that many rows.)
    return (
        f"{batch_size:,} with {cells} needs at least {gib(least)} for {span}, and this "
        f"machine has {gib(available)} available; the largest "
        f"batch_size that fits is below {largest:,}",
        ("batch_size",),
    )


def available_memory() -> int | None:
    """Bytes this process may still allocate: the system's available memory, or the cgroup's
    limit when that is lower; None where neither can be read."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    if not found and hasattr(os, "sysconf"):
        with contextlib.suppress(OSError, ValueError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(found) if found else None


def gib(count: float) -> str:
    if count >= 2**40:
        return f"{count / 2**40:,.1f} TiB"
    return f"{count / 2**30:.1f} GiB" if count >= 2**28 else f"{count / 2**20:.0f} MiB"


def check_fits(config, task, available: int | None = None) -> Estimate:
    """Refuses (a `UsageError`) a training step that cannot fit in `available` bytes (default:
    what this machine has free), naming the estimate and the largest batch that fits."""
    from seqrnn.errors import SeqrnnWarning, UsageError

    estimate = max(
        (estimate_step(config, task, split) for split in ("train", "test")),
        key=lambda e: e.total,
    )
    note = task.batch_size_note(config.batch_size)
    if note:
        warnings.warn(SeqrnnWarning(note, "batch_size"), stacklevel=2)
    available = available_memory() if available is None else available
    if available is None or estimate.total <= available:
        return estimate
    fitting = max(0, (available - estimate.fixed) // max(estimate.per_row, 1))
    per_batch_row = estimate.rows / max(config.batch_size, 1)
    largest = int(fitting / per_batch_row) if per_batch_row else 0
    advice = (
        f"the largest batch_size that fits is about {largest:,}"
        if largest >= 1
        else "even one row does not fit: lower units, layers or the sequence length"
    )
    raise UsageError(
        f"batch_size {config.batch_size:,} with {config.layers} x {config.units} {config.cell} "
        f"cells over {estimate.steps:,} steps needs about {gib(estimate.total)} for a step, "
        f"and this machine has {gib(available)} available; {advice}",
        "batch_size",
        "units",
        "layers",
    )


def estimate_generation(samples: int, length: int, units: int, layers: int, vocab: int) -> int:
    """Bytes that generating `samples` sequences of `length` characters at once needs: per
    sample the states of every layer and their next values, the logits with their
    probabilities, and every step's id (int32, in the loop's buffer and its copy) and character
    (up to 4 bytes of UTF-8, as bytes and as a Python string)."""
    per_sample = FLOAT * (4 * units * layers + 3 * max(vocab, 1)) + length * (2 * 4 + 2 * 4)
    return samples * per_sample


def check_generation_fits(
    samples: int, length: int, units: int, layers: int, vocab: int, available: int | None = None
) -> int:
    """Refuses (a `UsageError`) a generation that cannot fit, naming the estimate and the
    largest number of samples that fits."""
    from seqrnn.errors import UsageError

    needed = estimate_generation(samples, length, units, layers, vocab)
    available = available_memory() if available is None else available
    if available is None or needed <= available:
        return needed
    largest = available // max(estimate_generation(1, length, units, layers, vocab), 1)
    raise UsageError(
        f"num_samples {samples:,} of {length:,} characters needs about {gib(needed)}, and "
        f"this machine has {gib(available)} available; the largest num_samples that fits is "
        f"about {largest:,} (or lower length)",
        "num_samples",
        "length",
    )
