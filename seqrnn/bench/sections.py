"""The bench's sections (training, fit, seeds, generation) on the active Keras backend."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqrnn.bench.harness import (
    EVERY_BACKEND,
    KERAS_PEERS,
    TORCH_PEERS,
    BenchConfig,
    PeakMemory,
    Result,
    interleaved_seconds,
    matmul_call,
    matmul_flops,
    median_seconds,
    training_flops,
)
from seqrnn.bench.peers import fit_step, tf_step, torch_available
from seqrnn.bench.reference import SEEDS_SEQ_LEN, SEEDS_UNITS, MinCharRNN, bench_text, seeds_step
from seqrnn.bench.remote import RemoteStep

#: Calls of the matmul timed for the machine's row, at the start of each backend's process.
PEAK_REPEATS = 5


@dataclass
class Row:
    """A row to measure: `make()` builds the call timed; its rate is `amount` per second."""

    name: str
    make: Callable[[], Callable[[], object]]
    unit: str
    amount: float
    flops: float | None = None


class Bench:
    """Runs the selected sections; `progress(name)` is told what is being measured."""

    def __init__(self, config: BenchConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda name: None)
        self.memory = PeakMemory()
        self.results: list[Result] = []
        self._peak_call: Callable[[], object] | None = None  # the matmul, built by `run`

    def _measure_rows(self, section: str, rows: list[Row]) -> list[Result]:
        """Builds every row's call, warms each up, then times them in alternating rounds
        (`interleaved_seconds`): rows compared with each other are measured side by side.

        Where rows count FLOPs, the float32 matmul takes its turn in the same rounds, and their
        fraction of the peak is of the peak measured beside them. A row's peak memory is the
        highest of its own stretches: the high-water mark is reset before its call is built and
        before each of its rounds."""
        calls, memories, peaks = [], [], []
        for row in rows:
            self.progress(row.name)
            self.memory.reset()
            call = row.make()
            memory = getattr(call, "memory", self.memory)  # (a row timed in another process)
            for _ in range(self.config.warmup):
                call()
            calls.append(call)
            memories.append(memory)
            peaks.append(memory.peak_mib())
        names = [row.name for row in rows]
        beside = self._peak_call is not None and any(row.flops is not None for row in rows)
        if beside:
            calls.append(self._peak_call)
            names.append("float32 matmul")

        def before(index: int) -> None:
            if index < len(rows):
                memories[index].reset()

        def after(index: int) -> None:
            peak = memories[index].peak_mib() if index < len(rows) else None
            if peak is not None:
                peaks[index] = max(peaks[index] or 0.0, peak)

        if len(calls) > 1:
            self.progress(" / ".join(names) + ", alternating")
        try:
            seconds = interleaved_seconds(calls, self.config.repeats, before=before, after=after)
        finally:
            for call in calls:
                getattr(call, "close", lambda: None)()
        gflops = matmul_flops() / seconds[-1] / 1e9 if beside else None
        results = []
        for row, median, peak in zip(rows, seconds, peaks, strict=False):
            fraction = None
            if row.flops is not None and gflops is not None:
                fraction = row.flops / median / 1e9 / gflops
            result = Result(
                section, row.name, median, row.amount / median, row.unit, fraction, peak
            )
            result.peak_gflops = gflops if row.flops is not None else None
            self.results.append(result)
            results.append(result)
        return results

    def run(self) -> list[Result]:
        """Measures the selected sections on the active Keras backend, in this process."""
        import keras

        backend = keras.backend.backend()
        names = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
        self.progress("float32 matmul peak")
        self._peak_call = matmul_call()
        seconds = median_seconds(self._peak_call, 1, PEAK_REPEATS)
        self.results.append(
            Result(
                "machine",
                f"float32 matmul 2048^3 ({names.get(backend, backend)})",
                seconds,
                matmul_flops() / seconds / 1e9,
                "GFLOP/s",
                backend=backend,
            )
        )
        sections = [
            s for s in self.config.sections if backend == "tensorflow" or s in EVERY_BACKEND
        ]
        for section in sections:
            getattr(self, section)()
        for result in self.results:
            result.backend = backend
        return self.results

    def fit(self) -> None:
        """The path a Keras user takes: `train_on_batch` after `compile()` with its defaults."""
        self._compare("fit", lambda layer, timed: fit_step(layer, self.config, timed), False)

    def training(self) -> None:
        """seqrnn's own training step (`seqrnn train`'s), in a `tf.function`."""
        self._compare("training", lambda layer, timed: tf_step(layer, self.config, timed), True)

    def _compare(self, section: str, step: Callable, embedded: bool) -> None:
        """For every cell: seqrnn's layer, Keras' peer and `torch.nn`'s, each in `step(layer,
        timed)` (PyTorch's on tokens when `embedded`), seqrnn's row compared with the others."""
        import keras

        from seqrnn.models import CELLS as LAYERS

        c = self.config
        tokens = c.batch_size * c.seq_len
        use_torch = c.torch and torch_available()
        for cell in c.cells:
            flops = training_flops(cell, c)
            layer = LAYERS[cell](c.units, return_sequences=True)
            peer = KERAS_PEERS[cell]
            rows = [
                Row(
                    f"seqrnn.layers.{type(layer).__name__}",
                    lambda layer=layer, cell=cell: step(layer, cell == "phased"),
                    "tokens/s",
                    tokens,
                    flops,
                ),
                Row(
                    f"keras.layers.{peer}",
                    lambda peer=peer: step(
                        getattr(keras.layers, peer)(c.units, return_sequences=True), False
                    ),
                    "tokens/s",
                    tokens,
                    training_flops("lstm" if cell == "phased" else cell, c),
                ),
            ]
            if use_torch and cell in TORCH_PEERS:
                rows.append(
                    Row(
                        f"torch.nn.{TORCH_PEERS[cell]}",
                        lambda cell=cell: RemoteStep(cell, c, embedded),
                        "tokens/s",
                        tokens,
                        flops,
                    )
                )
            ours, *peers = self._measure_rows(section, rows)
            for peer_row in peers:
                ours.relative[peer_row.name] = peer_row.seconds / ours.seconds
            how = [layer.path] + ["XLA"] * layer.xla
            how += [f"{layer.slices} batch slices"] if layer.slices > 1 else []
            ours.name += f" ({', '.join(how)})"

    def seeds(self) -> None:
        c = self.config
        net = MinCharRNN(c.vocab_size, SEEDS_UNITS, seed=c.seed)
        rng = np.random.default_rng(c.seed)
        chars = rng.integers(0, c.vocab_size, SEEDS_SEQ_LEN + 1)
        rows = [
            Row(
                "NumPy min-char-rnn (batch 1, 100 units, seq 25)",
                lambda: lambda: net.update(chars[:-1], chars[1:]),
                "updates/s",
                1.0,
            )
        ]
        for name, jit, which in (
            ("seqrnn.layers.VanillaRNN, tf.function", False, "seqrnn"),
            ("seqrnn.layers.VanillaRNN, XLA", True, "seqrnn"),
            ("keras.layers.SimpleRNN, tf.function", False, "keras"),
        ):
            make = lambda jit=jit, which=which: seeds_step(c, jit, which)  # noqa: E731
            rows.append(Row(name, make, "updates/s", 1.0))
        reference, *others = self._measure_rows("seeds", rows)
        for row in others:
            row.relative[reference.name] = reference.seconds / row.seconds

    def generation(self) -> None:
        import keras
        import tensorflow as tf

        from seqrnn.export import build_archive
        from seqrnn.models import build_model
        from seqrnn.tasks import make_task

        c = self.config
        length = c.generation_length
        with tempfile.TemporaryDirectory() as folder:
            task = make_task("text", path=str(bench_text(Path(folder), c.vocab_size, c.seed)))
            keras.utils.set_random_seed(c.seed)
            model = build_model(task, "lstm", units=c.units, embedding_dim=c.embedding_dim)
            build_archive(model, task).write_out(f"{folder}/model", verbose=False)
            loaded = tf.saved_model.load(f"{folder}/model")
            generate = loaded.signatures["generate"]
            prime = task.vocabulary[0]

            chars = min(length, 30)
            one, many, loop = self._measure_rows(
                "generation",
                [
                    Row(
                        f"SavedModel generate, 1 x {length} chars",
                        lambda: saved_sampler(generate, prime, length, 1),
                        "chars/s",
                        length,
                    ),
                    Row(
                        f"SavedModel generate, 64 x {length} chars",
                        lambda: saved_sampler(generate, prime, length, 64),
                        "chars/s",
                        64 * length,
                    ),
                    Row(
                        f"model.predict per character ({chars} chars)",
                        lambda: predict_loop(model, chars),
                        "chars/s",
                        chars,
                    ),
                ],
            )
            many.relative["time / time of 1 sample"] = many.seconds / one.seconds
            one.relative[loop.name] = one.rate / loop.rate


def saved_sampler(generate, prime: str, length: int, num_samples: int):
    """A call of a SavedModel's `generate` signature: `num_samples` samples of `length`."""
    import tensorflow as tf

    def call():
        out = generate(
            prime=tf.constant(prime),
            length=tf.constant(length),
            temperature=tf.constant(1.0),
            top_k=tf.constant(0),
            top_p=tf.constant(1.0),
            seed=tf.constant([0, 1], tf.int64),
            num_samples=tf.constant(num_samples),
        )
        return out["samples"].numpy()

    return call


def predict_loop(model, chars: int):
    """What a Keras user writes without in-graph generation: `model.predict` per character,
    the states fed back by hand (greedy)."""
    from seqrnn.models import state_shapes, with_states

    stepper = with_states(model)
    widths = [w for layer_widths in state_shapes(model) for w in layer_widths]

    def call():
        states = [np.zeros((1, w), "float32") for w in widths]
        token = np.zeros((1, 1), "int32")
        for _ in range(chars):
            logits, *states = stepper.predict({"tokens": token, "states": states}, verbose=0)
            token = np.array([[int(np.argmax(logits[0, -1]))]], "int32")

    return call
