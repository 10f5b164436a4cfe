"""The bench's harness: what it measures (its settings, its rows), medians, peak memory, the
matmul peak and the FLOP model of a training step."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqrnn.settings import Cell

CELLS = tuple(cell.value for cell in Cell)
#: units-wide blocks in each cell's kernels (the FLOP count of a step)
KERAS_PEERS = {"vanilla": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "phased": "LSTM"}
TORCH_PEERS = {"vanilla": "RNN", "lstm": "LSTM", "gru": "GRU"}
SECTIONS = ("training", "fit", "seeds", "generation")
#: The sections that run on every backend; the others need TensorFlow.
EVERY_BACKEND = ("fit",)
BACKENDS = ("tensorflow", "jax", "torch")
#: How the measuring processes get their memory: "keep", every allocator keeps the blocks freed
#: for reuse (TensorFlow's BFC allocator; glibc's malloc with `KEEP_FREED`); "default", what a
#: process gets without settings. With glibc's defaults every step of JAX and PyTorch faults in
#: its large buffers' pages again, and what that costs varies from call to call: on a 2-core AMD
#: EPYC, 30 calls of `torch.nn.LSTM`'s training step in one process took 79-396 ms (16,000
#: faults each), and 45-61 ms with the settings (no faults).
ALLOCATORS = ("keep", "default")
#: glibc's settings that keep freed blocks: no block is mapped and unmapped on its own, and the
#: heap is not given back. JAX also needs one arena: its threads' arenas are mapped heaps that
#: give their pages back (25,000 faults a call of the LSTM's gradient with the two settings, none
#: with the three). PyTorch does not: with one arena `torch.nn.GRU`'s step took 107-142 ms
#: against 90-119 without (its threads wait for each other's small allocations).
KEEP_FREED = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "8589934592"}
ONE_ARENA = {"MALLOC_ARENA_MAX": "1"}


def allocator_environment(environ: dict[str, str], allocator: str, backend: str) -> dict[str, str]:
    """`environ` for a process measuring `backend`'s framework (tensorflow, jax, torch) under
    `allocator` (one of ALLOCATORS): the settings replace the environment's own."""
    env = {k: v for k, v in environ.items() if k not in {**KEEP_FREED, **ONE_ARENA}}
    if allocator == "default":
        return {**env, "TF_CPU_ALLOCATOR_USE_BFC": "false"}
    arena = ONE_ARENA if backend == "jax" else {}
    return {**env, **KEEP_FREED, **arena, "TF_CPU_ALLOCATOR_USE_BFC": "true"}


#: The framework each backend needs, as pip names it.
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


@dataclass
class BenchConfig:
    batch_size: int = 64
    seq_len: int = 100
    embedding_dim: int = 64
    units: int = 256
    vocab_size: int = 65
    repeats: int = 10
    warmup: int = 2
    cells: tuple[str, ...] = CELLS
    sections: tuple[str, ...] = SECTIONS
    torch: bool = True  # compare with PyTorch when it is installed
    generation_length: int = 1000
    seed: int = 0
    backends: tuple[str, ...] = ("tensorflow",)  # each measured in a process of its own
    allocator: str = "keep"  # one of ALLOCATORS: how the measuring processes get their memory


def config_from_json(text: str) -> BenchConfig:
    """A `BenchConfig` from its JSON (`asdict`): lists become tuples again."""
    fields = json.loads(text)
    return BenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


@dataclass
class Result:
    section: str  # training, fit, seeds, generation or machine
    name: str  # what ran, e.g. "seqrnn.layers.LSTM (fused)"
    seconds: float  # median seconds of one call
    rate: float  # tokens/s, updates/s or characters/s
    unit: str
    peak_fraction: float | None = None  # of `peak_gflops`
    peak_rss_mib: float | None = None
    relative: dict[str, float] = field(default_factory=dict)  # speed-up over named peers
    backend: str = "tensorflow"  # the Keras backend of the process that measured it
    #: the float32 matmul peak timed in the same alternating rounds as the row (GFLOP/s)
    peak_gflops: float | None = None


class PeakMemory:
    """The resident-set high-water mark of this process (or of process `pid`), reset before each
    measurement where Linux allows it."""

    def __init__(self, pid: int | None = None) -> None:
        self.proc = Path("/proc") / ("self" if pid is None else str(pid))
        self.own = pid is None
        self.resettable = self.reset()

    def reset(self) -> bool:
        try:
            (self.proc / "clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def peak_mib(self) -> float | None:
        try:
            for line in (self.proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        if not self.own:
            return None
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except (ImportError, OSError):
            return None


def median_seconds(call: Callable[[], object], warmup: int, repeats: int) -> float:
    """The median wall time of `call()` after `warmup` calls."""
    for _ in range(warmup):
        call()
    return interleaved_seconds([call], repeats, rounds=1)[0]


#: Rounds the rows compared with each other alternate in (at most: one per repeat).
ROUNDS = 5


def round_sizes(repeats: int, rounds: int = ROUNDS) -> list[int]:
    """The timed calls of each round: `repeats` over at most `rounds` rounds, as even as can be."""
    count = max(1, min(rounds, repeats))
    size, extra = divmod(repeats, count)
    return [size + 1] * extra + [size] * (count - extra)


def interleaved_seconds(
    calls: list[Callable[[], object]],
    repeats: int,
    rounds: int = ROUNDS,
    before: Callable[[int], None] | None = None,
    after: Callable[[int], None] | None = None,
) -> list[float]:
    """The median wall time of each call (already warmed up), timed in alternating rounds.

    Each round times every call in turn, a few calls each (`round_sizes`): a machine that slows
    down or speeds up during the measurement (another tenant, the clock) moves every row alike,
    so the ratios between rows hold where one row after another would not. On a 2-core AMD
    EPYC, JAX's fit section in three runs each: rows one after another, seqrnn's vanilla RNN
    0.77-1.79x Keras', LSTM 0.93-1.22x, GRU 0.83-1.34x; in five alternating rounds, 0.93-1.04x,
    1.00-1.11x and 1.16-1.20x.
    `before(i)` and `after(i)` run around call i's block of each round, outside the timing.
    """
    times: list[list[float]] = [[] for _ in calls]
    for size in round_sizes(repeats, rounds):
        for index, call in enumerate(calls):
            if before is not None:
                before(index)
            for _ in range(size):
                start = time.perf_counter()
                call()
                times[index].append(time.perf_counter() - start)
            if after is not None:
                after(index)
    return [statistics.median(t) for t in times]


def training_flops(cell: str, config: BenchConfig) -> float:
    """Matrix-product FLOPs of one training step (forward and backward) of the bench model."""
    b, t, e, u, v = (
        config.batch_size,
        config.seq_len,
        config.embedding_dim,
        config.units,
        config.vocab_size,
    )
    from seqrnn.models import CELLS

    width = CELLS[cell].cell_class.num_gates * u
    forward = 2.0 * b * t * (e * width + u * width + u * v)
    return 3.0 * forward


def torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


#: The side of the square float32 matmul whose speed is the bench's peak.
PEAK_SIZE = 2048


def matmul_flops(size: int = PEAK_SIZE) -> float:
    return 2.0 * size**3


def matmul_call(size: int = PEAK_SIZE) -> Callable[[], object]:
    """A call of a float32 `size`^3 matmul with the active Keras backend's framework, waiting
    for its result: the machine's practical peak for that framework (they need not agree)."""
    import keras

    rng = np.random.default_rng(1)
    a = rng.normal(size=(size, size)).astype("float32")
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        x = jax.numpy.asarray(a)
        product = jax.jit(lambda x: x @ x)

        def call():
            return product(x).block_until_ready()

    elif backend == "torch":
        import torch

        x = torch.as_tensor(a, device=torch_device())

        def call():
            with torch.no_grad():
                y = x @ x
            torch_sync()
            return y

    else:
        import tensorflow as tf

        x = tf.constant(a)
        product = tf.function(lambda x: tf.matmul(x, x))

        def call():
            return product(x).numpy()

    return call
