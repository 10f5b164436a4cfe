"""seqrnn bench: seqrnn's layers against Keras', PyTorch's and NumPy's, on every Keras backend.

Each backend is measured in a process of its own (`python -m seqrnn.bench`, the Keras backend set
before Keras loads), one after the other; the parent gathers their rows. Every figure is the median
of `repeats` calls after `warmup` calls, each call waiting for its result. Sections:

- training (TensorFlow): seqrnn's own training step (what `seqrnn train` runs): embedding ->
  recurrent layer -> dense head, Adam, mean cross-entropy, in a `tf.function`;
- fit (every backend): the path a Keras user takes, `model.compile()` with Keras' defaults and
  `train_on_batch`, of `Input((seq_len, embedding_dim))` -> recurrent layer -> `Dense(vocab)`;
- seeds and generation (TensorFlow): the seeds' batch-1 vanilla RNN against NumPy, and an
  exported SavedModel's in-graph generation.

Training rows' fraction of the matmul peak counts the model's matrix-product FLOPs (forward and
backward: 3x the forward products) against the float32 matmul peak the same process measured
with its own framework. Peak resident memory is measured per row on Linux (the high-water mark is
reset before each row through /proc/self/clear_refs).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

CELLS = ("vanilla", "lstm", "gru", "phased")
#: units-wide blocks in each cell's kernels (the FLOP count of a step)
KERAS_PEERS = {"vanilla": "SimpleRNN", "lstm": "LSTM", "gru": "GRU", "phased": "LSTM"}
TORCH_PEERS = {"vanilla": "RNN", "lstm": "LSTM", "gru": "GRU"}
SECTIONS = ("training", "fit", "seeds", "generation")
#: The sections that run on every backend; the others need TensorFlow.
EVERY_BACKEND = ("fit",)
BACKENDS = ("tensorflow", "jax", "torch")
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


@dataclass
class Result:
    section: str  # training, fit, seeds, generation or machine
    name: str  # what ran, e.g. "seqrnn.layers.LSTM (fused)"
    seconds: float  # median seconds of one call
    rate: float  # tokens/s, updates/s or characters/s
    unit: str
    peak_fraction: float | None = None  # of the measured matmul peak
    peak_rss_mib: float | None = None
    relative: dict[str, float] = field(default_factory=dict)  # speed-up over named peers
    backend: str = "tensorflow"  # the Keras backend of the process that measured it


class PeakMemory:
    """The resident-set high-water mark, reset before each measurement where Linux allows it."""

    def __init__(self) -> None:
        self.resettable = self.reset()

    @staticmethod
    def reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    @staticmethod
    def peak_mib() -> float | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        try:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        except (ImportError, OSError):
            return None


def median_seconds(call: Callable[[], object], warmup: int, repeats: int) -> float:
    """The median wall time of `call()` after `warmup` calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def matmul_peak(repeats: int = 5, size: int = 2048) -> float:
    """GFLOP/s of a float32 `size`^3 matmul with the active Keras backend's framework: the
    machine's practical peak for that framework (they need not agree)."""
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

        x = torch.as_tensor(a, device=_torch_device())

        def call():
            with torch.no_grad():
                y = x @ x
            _torch_sync()
            return y

    else:
        import tensorflow as tf

        x = tf.constant(a)
        product = tf.function(lambda x: tf.matmul(x, x))

        def call():
            return product(x).numpy()

    seconds = median_seconds(call, 1, repeats)
    return 2.0 * size**3 / seconds / 1e9


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _torch_sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _tf_step(layer, config: BenchConfig, timed: bool) -> Callable[[], float]:
    """One Adam step of embedding -> `layer` -> dense on fixed random tokens."""
    import keras
    import tensorflow as tf

    from seqrnn.models import StepTimes

    keras.utils.set_random_seed(config.seed)
    tokens = keras.Input((config.seq_len,), dtype="int32")
    x = keras.layers.Embedding(config.vocab_size, config.embedding_dim)(tokens)
    x = layer([x, StepTimes()(x)]) if timed else layer(x)
    model = keras.Model(tokens, keras.layers.Dense(config.vocab_size)(x))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(config.seed)
    shape = (config.batch_size, config.seq_len)
    x = tf.constant(rng.integers(0, config.vocab_size, shape), tf.int32)
    y = tf.constant(rng.integers(0, config.vocab_size, shape), tf.int32)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return lambda: float(step(x, y))


def _torch_step(cell: str, config: BenchConfig, embedded: bool = True) -> Callable[[], float]:
    """One Adam step of `torch.nn.RNN`/`LSTM`/`GRU` -> linear head, called directly: on tokens
    through an embedding (`embedded`, the training section's model) or on float features (the
    fit section's)."""
    import torch

    torch.manual_seed(config.seed)
    if not torch.cuda.is_available():
        torch.set_num_threads(os.cpu_count() or 1)
    device = _torch_device()
    rnn = getattr(torch.nn, TORCH_PEERS[cell])(config.embedding_dim, config.units, batch_first=True)
    embed = torch.nn.Embedding(config.vocab_size, config.embedding_dim)
    head = torch.nn.Linear(config.units, config.vocab_size)
    modules = [rnn.to(device), embed.to(device), head.to(device)]
    params = [p for module in modules for p in module.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    shape = (config.batch_size, config.seq_len)
    x = torch.randint(0, config.vocab_size, shape, device=device)
    if not embedded:
        x = torch.randn((*shape, config.embedding_dim), device=device)
    y = torch.randint(0, config.vocab_size, shape, device=device)

    def step() -> float:
        optimizer.zero_grad()
        outputs, _ = rnn(embed(x) if embedded else x)
        logits = head(outputs).reshape(-1, config.vocab_size)
        loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        loss.backward()
        loss = loss.detach()
        optimizer.step()
        return loss.item()

    return step


def _fit_step(layer, config: BenchConfig, timed: bool) -> Callable[[], float]:
    """`train_on_batch` of a Keras model compiled with Keras' defaults (Adam, the loss from
    logits): `Input((seq_len, embedding_dim))` -> the layer -> `Dense(vocab_size)`."""
    import keras

    from seqrnn.models import StepTimes

    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input((config.seq_len, config.embedding_dim))
    h = layer([inputs, StepTimes()(inputs)]) if timed else layer(inputs)
    model = keras.Model(inputs, keras.layers.Dense(config.vocab_size)(h))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(config.seed)
    shape = (config.batch_size, config.seq_len)
    x = rng.normal(size=(*shape, config.embedding_dim)).astype("float32")
    y = rng.integers(0, config.vocab_size, shape).astype("int32")
    return lambda: float(model.train_on_batch(x, y))


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class MinCharRNN:
    """The seeds' vanilla RNN in plain NumPy, min-char-rnn style: one-hot column vectors,
    tanh, softmax, hand-derived backpropagation through time, gradients clipped to [-5, 5] and
    AdaGrad. `update` runs one window and returns its summed cross-entropy."""

    def __init__(self, vocab_size: int, units: int, lr: float = 0.1, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {
            "Wxh": rng.standard_normal((units, vocab_size)) * 0.01,
            "Whh": rng.standard_normal((units, units)) * 0.01,
            "Why": rng.standard_normal((vocab_size, units)) * 0.01,
            "bh": np.zeros((units, 1)),
            "by": np.zeros((vocab_size, 1)),
        }
        self.memory = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.h = np.zeros((units, 1))
        self.lr = lr
        self.vocab_size = vocab_size

    def loss_and_grads(self, inputs: np.ndarray, targets: np.ndarray, h: np.ndarray):
        """Summed cross-entropy of one window from state `h`, its gradients and the last state."""
        p = self.params
        xs, hs, ps = {}, {-1: h}, {}
        loss = 0.0
        for t, (i, j) in enumerate(zip(inputs, targets, strict=True)):
            xs[t] = np.zeros((self.vocab_size, 1))
            xs[t][i] = 1.0
            hs[t] = np.tanh(p["Wxh"] @ xs[t] + p["Whh"] @ hs[t - 1] + p["bh"])
            y = p["Why"] @ hs[t] + p["by"]
            e = np.exp(y - y.max())
            ps[t] = e / e.sum()
            loss -= float(np.log(ps[t][j, 0]))
        grads = {name: np.zeros_like(v) for name, v in p.items()}
        dh_next = np.zeros_like(h)
        for t in reversed(range(len(inputs))):
            dy = ps[t].copy()
            dy[targets[t]] -= 1.0
            grads["Why"] += dy @ hs[t].T
            grads["by"] += dy
            dh = p["Why"].T @ dy + dh_next
            draw = (1.0 - hs[t] * hs[t]) * dh
            grads["bh"] += draw
            grads["Wxh"] += draw @ xs[t].T
            grads["Whh"] += draw @ hs[t - 1].T
            dh_next = p["Whh"].T @ draw
        return loss, grads, hs[len(inputs) - 1]

    def update(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        loss, grads, self.h = self.loss_and_grads(inputs, targets, self.h)
        for name, grad in grads.items():
            np.clip(grad, -5.0, 5.0, out=grad)
            self.memory[name] += grad * grad
            self.params[name] -= self.lr * grad / np.sqrt(self.memory[name] + 1e-8)
        return loss


SEEDS_UNITS, SEEDS_SEQ_LEN = 100, 25


def _seeds_step(config: BenchConfig, jit: bool, layer_name: str) -> Callable[[], float]:
    """The seeds' setting in TensorFlow: batch 1, one-hot inputs, summed loss, state carried."""
    import keras
    import tensorflow as tf

    from seqrnn.layers import VanillaRNN

    keras.utils.set_random_seed(config.seed)
    v = config.vocab_size
    x_in = keras.Input((SEEDS_SEQ_LEN, v))
    h_in = keras.Input((SEEDS_UNITS,))
    if layer_name == "seqrnn":
        layer = VanillaRNN(SEEDS_UNITS, return_sequences=True, return_state=True)
    else:
        layer = keras.layers.SimpleRNN(SEEDS_UNITS, return_sequences=True, return_state=True)
    outputs, h_out = layer(x_in, initial_state=[h_in])
    model = keras.Model([x_in, h_in], [keras.layers.Dense(v)(outputs), h_out])
    optimizer = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0, clipvalue=5.0)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(config.seed)
    chars = rng.integers(0, v, SEEDS_SEQ_LEN + 1)
    x = tf.constant(np.eye(v, dtype="float32")[chars[:-1]][None])
    y = tf.constant(chars[1:][None], tf.int32)
    h = tf.Variable(tf.zeros((1, SEEDS_UNITS)))

    @tf.function(jit_compile=jit)
    def loss_and_grads(x, y, h0):
        with tf.GradientTape() as tape:
            logits, h_last = model([x, h0], training=True)
            loss = tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
            )
        return loss, h_last, tape.gradient(loss, model.trainable_variables)

    @tf.function
    def step(x, y):
        loss, h_last, grads = loss_and_grads(x, y, h.read_value())
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        h.assign(h_last)
        return loss

    return lambda: float(step(x, y))


def _bench_text(folder: Path, vocab_size: int, seed: int) -> Path:
    """A random text over `vocab_size` printable characters, to give the model a vocabulary."""
    alphabet = [chr(c) for c in range(33, 127)][:vocab_size]
    rng = np.random.default_rng(seed)
    path = folder / "bench.txt"
    path.write_text("".join(rng.choice(alphabet, 20_000)), encoding="utf-8")
    return path


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
        self._compare("fit", lambda layer, timed: _fit_step(layer, self.config, timed), False)

    def training(self) -> None:
        """seqrnn's own training step (`seqrnn train`'s), in a `tf.function`."""
        self._compare("training", lambda layer, timed: _tf_step(layer, self.config, timed), True)

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
                    lambda cell=cell: _torch_step(cell, c, embedded),
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
                lambda jit=jit, which=which: _seeds_step(c, jit, which),
                "updates/s",
                1.0,
            )
            row.relative[reference.name] = reference.seconds / row.seconds

    def generation(self) -> None:
        import keras
        import tensorflow as tf

        from seqrnn.export import build_archive
        from seqrnn.models import build_model, state_shapes, with_states
        from seqrnn.tasks import make_task

        c = self.config
        length = c.generation_length
        with tempfile.TemporaryDirectory() as folder:
            task = make_task("text", path=str(_bench_text(Path(folder), c.vocab_size, c.seed)))
            keras.utils.set_random_seed(c.seed)
            model = build_model(task, "lstm", units=c.units, embedding_dim=c.embedding_dim)
            build_archive(model, task).write_out(f"{folder}/model", verbose=False)
            loaded = tf.saved_model.load(f"{folder}/model")
            generate = loaded.signatures["generate"]
            prime = task.vocabulary[0]

            def sampler(num_samples):
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

            one = self._measure(
                "generation",
                f"SavedModel generate, 1 x {length} chars",
                lambda: sampler(1),
                "chars/s",
                length,
            )
            many = self._measure(
                "generation",
                f"SavedModel generate, 64 x {length} chars",
                lambda: sampler(64),
                "chars/s",
                64 * length,
            )
            many.relative["time / time of 1 sample"] = many.seconds / one.seconds
            stepper = with_states(model)
            widths = [w for layer_widths in state_shapes(model) for w in layer_widths]
            chars = min(length, 30)

            def predict_loop():
                def call():
                    states = [np.zeros((1, w), "float32") for w in widths]
                    token = np.zeros((1, 1), "int32")
                    for _ in range(chars):
                        logits, *states = stepper.predict(
                            {"tokens": token, "states": states}, verbose=0
                        )
                        token = np.array([[int(np.argmax(logits[0, -1]))]], "int32")

                return call

            loop = self._measure(
                "generation",
                f"model.predict per character ({chars} chars)",
                predict_loop,
                "chars/s",
                chars,
            )
            one.relative[loop.name] = one.rate / loop.rate


def to_json(config: BenchConfig, results: list[Result]) -> dict:
    return {"config": asdict(config), "results": [asdict(r) for r in results]}


#: How a measuring process tells its parent what it measures now (a line on its stderr).
PROGRESS = "seqrnn-bench: measuring "


def installed(package: str) -> bool:
    """Whether `package` can be imported here (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def run_backends(config: BenchConfig, progress: Callable[[str], None]) -> list[Result]:
    """Measures every backend of `config.backends` in a process of its own, one after the
    other, and returns their rows. A backend whose framework is not installed is an error."""
    from seqrnn.errors import SeqrnnError, UsageError

    missing = [b for b in config.backends if not installed(PACKAGES[b])]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} is not installed, so its bench cannot run; install it "
            f"(PyTorch: pip install -e '.[torch]') or choose another backend"
        )
    results: list[Result] = []
    for backend in config.backends:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "results.json"
            # A process holds the GPU beside PyTorch's peers: TensorFlow and JAX take memory as
            # they need it instead of most of the device at their start.
            env = {
                **os.environ,
                "KERAS_BACKEND": backend,
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            }
            command = [sys.executable, "-m", "seqrnn.bench", json.dumps(asdict(config)), str(out)]
            process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
            said: list[str] = []
            try:
                for line in process.stderr:
                    if line.startswith(PROGRESS):
                        progress(f"{backend}: {line[len(PROGRESS) :].strip()}")
                    else:
                        said = [*said[-40:], line.rstrip()]
            except BaseException:  # (Ctrl-C, or the parent failing: the measuring process stops)
                process.kill()
                raise
            if process.wait() != 0:
                last = next((line for line in reversed(said) if line.strip()), "no message")
                raise SeqrnnError(f"the {backend} bench failed: {last}")
            rows = json.loads(out.read_text(encoding="utf-8"))
        results += [Result(**row) for row in rows]
    return results


def _measure_this_backend(config_json: str, out: str) -> None:
    """The measuring process: the sections of the config on the active Keras backend."""
    import warnings

    import keras

    warnings.filterwarnings("ignore", module="keras")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    fields = json.loads(config_json)
    config = BenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    def progress(name: str) -> None:
        print(PROGRESS + name, file=sys.stderr, flush=True)

    results = Bench(config, progress=progress).run()
    Path(out).write_text(json.dumps([asdict(r) for r in results]), encoding="utf-8")


if __name__ == "__main__":
    _measure_this_backend(*sys.argv[1:3])
