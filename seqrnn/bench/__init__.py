"""seqrnn bench: seqrnn's layers against Keras', PyTorch's and NumPy's, on every Keras backend.

Each backend is measured in a process of its own (`python -m seqrnn.bench`, the Keras backend set
before Keras loads), one after the other; the parent gathers their rows. Every figure is the median
of `repeats` calls after `warmup` calls, each call waiting for its result; the rows compared with
each other (seqrnn's layer, Keras' and `torch.nn`'s) are timed side by side, in up to five
alternating rounds (`interleaved_seconds`); `torch.nn`'s rows run in a process of their own,
driven call by call (`remote.RemoteStep`). Every measuring process keeps freed memory for reuse
unless `allocator="default"` (`harness.ALLOCATORS`). Sections:

- training (TensorFlow): seqrnn's own training step (what `seqrnn train` runs): embedding ->
  recurrent layer -> dense head, Adam, mean cross-entropy, in a `tf.function`;
- fit (every backend): the path a Keras user takes, `model.compile()` with Keras' defaults and
  `train_on_batch`, of `Input((seq_len, embedding_dim))` -> recurrent layer -> `Dense(vocab)`;
- seeds and generation (TensorFlow): the seeds' batch-1 vanilla RNN against NumPy, and an
  exported SavedModel's in-graph generation.

Training rows' fraction of the matmul peak counts the model's matrix-product FLOPs (forward and
backward: 3x the forward products) against the float32 matmul peak the same process measured
with its own framework, timed in the same alternating rounds as the rows (the machine's row, at
the start of each process, is five calls of it on their own). Peak resident memory is measured
per row on Linux (the high-water mark is reset before each row through /proc/self/clear_refs).
"""

from seqrnn.bench.backends import PROGRESS, installed, run_backends, to_json
from seqrnn.bench.harness import (
    BACKENDS,
    CELLS,
    EVERY_BACKEND,
    PACKAGES,
    SECTIONS,
    BenchConfig,
    Result,
    interleaved_seconds,
    matmul_call,
    matmul_flops,
    median_seconds,
    training_flops,
)
from seqrnn.bench.reference import SEEDS_SEQ_LEN, SEEDS_UNITS, MinCharRNN
from seqrnn.bench.sections import Bench

__all__ = [
    "BACKENDS",
    "CELLS",
    "EVERY_BACKEND",
    "PACKAGES",
    "PROGRESS",
    "SECTIONS",
    "SEEDS_SEQ_LEN",
    "SEEDS_UNITS",
    "Bench",
    "BenchConfig",
    "MinCharRNN",
    "Result",
    "installed",
    "interleaved_seconds",
    "matmul_call",
    "matmul_flops",
    "median_seconds",
    "run_backends",
    "to_json",
    "training_flops",
]
