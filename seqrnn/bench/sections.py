"""The bench's sections (training, fit, seeds, generation) on the active Keras backend."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqrnn.bench.harness import (
    EVERY_BACKEND,
    KERAS_PEERS,
    TORCH_PEERS,
    BenchConfig,
    PeakMemory,
    Result,
    matmul_peak,
    median_seconds,
    training_flops,
)
from seqrnn.bench.peers import fit_step, tf_step, torch_available, torch_step
from seqrnn.bench.reference import SEEDS_SEQ_LEN, SEEDS_UNITS, MinCharRNN, bench_text, seeds_step


class Bench:
    """Runs the selected sections; `progress(name)` is told what is being measured."""

    def __init__(self, config: BenchConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda name: None)
        self.memory = PeakMemory()
        self.results: list[Result] = []
        self.peak_gflops = 0.0

    def _measure(
        self,
        section: str,
        name: str,
        make: Callable[[], Callable[[], object]],
        unit: str,
        amount: float,
        flops: float | None = None,
    ) -> Result:
        """Builds a call with `make`, times it and records `amount / seconds` as its rate."""
        self.progress(name)
        self.memory.reset()
        call = make()
        seconds = median_seconds(call, self.config.warmup, self.config.repeats)
        fraction = None
        if flops is not None and self.peak_gflops > 0:
            fraction = flops / seconds / 1e9 / self.peak_gflops
        result = Result(
            section, name, seconds, amount / seconds, unit, fraction, self.memory.peak_mib()
        )
        self.results.append(result)
        return result

    def run(self) -> list[Result]:
        """Measures the selected sections on the active Keras backend, in this process."""
        import keras

        backend = keras.backend.backend()
        names = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
        self.progress("float32 matmul peak")
        self.peak_gflops = matmul_peak()
        self.results.append(
            Result(
                "machine",
                f"float32 matmul 2048^3 ({names.get(backend, backend)})",
                2.0 * 2048**3 / self.peak_gflops / 1e9,
                self.peak_gflops,
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
            ours = self._measure(
                section,
                f"seqrnn.layers.{type(layer).__name__}",
                lambda layer=layer, cell=cell: step(layer, cell == "phased"),
                "tokens/s",
                tokens,
                flops,
            )
            how = [layer.path] + ["XLA"] * layer.xla
            how += [f"{layer.slices} batch slices"] if layer.slices > 1 else []
            ours.name += f" ({', '.join(how)})"
            peer = KERAS_PEERS[cell]
            keras_row = self._measure(
                section,
                f"keras.layers.{peer}",
                lambda peer=peer: step(
                    getattr(keras.layers, peer)(c.units, return_sequences=True), False
                ),
                "tokens/s",
                tokens,
                training_flops("lstm" if cell == "phased" else cell, c),
            )
            ours.relative[keras_row.name] = keras_row.seconds / ours.seconds
            if use_torch and cell in TORCH_PEERS:
                torch_row = self._measure(
                    section,
                    f"torch.nn.{TORCH_PEERS[cell]}",
                    lambda cell=cell: torch_step(cell, c, embedded),
                    "tokens/s",
                    tokens,
                    flops,
                )
                ours.relative[torch_row.name] = torch_row.seconds / ours.seconds

    def seeds(self) -> None:
        c = self.config
        net = MinCharRNN(c.vocab_size, SEEDS_UNITS, seed=c.seed)
        rng = np.random.default_rng(c.seed)
        chars = rng.integers(0, c.vocab_size, SEEDS_SEQ_LEN + 1)
        reference = self._measure(
            "seeds",
            "NumPy min-char-rnn (batch 1, 100 units, seq 25)",
            lambda: lambda: net.update(chars[:-1], chars[1:]),
            "updates/s",
            1.0,
        )
        rows = [
            ("seqrnn.layers.VanillaRNN, tf.function", False, "seqrnn"),
            ("seqrnn.layers.VanillaRNN, XLA", True, "seqrnn"),
            ("keras.layers.SimpleRNN, tf.function", False, "keras"),
        ]
        for name, jit, which in rows:
            row = self._measure(
                "seeds",
                name,
                lambda jit=jit, which=which: seeds_step(c, jit, which),
                "updates/s",
                1.0,
            )
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

            one = self._measure(
                "generation",
                f"SavedModel generate, 1 x {length} chars",
                lambda: saved_sampler(generate, prime, length, 1),
                "chars/s",
                length,
            )
            many = self._measure(
                "generation",
                f"SavedModel generate, 64 x {length} chars",
                lambda: saved_sampler(generate, prime, length, 64),
                "chars/s",
                64 * length,
            )
            many.relative["time / time of 1 sample"] = many.seconds / one.seconds
            chars = min(length, 30)

            loop = self._measure(
                "generation",
                f"model.predict per character ({chars} chars)",
                lambda: predict_loop(model, chars),
                "chars/s",
                chars,
            )
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
