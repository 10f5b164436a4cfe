"""Every backend measured in a process of its own (`python -m seqrnn.bench`), one after the
other; the parent gathers their rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from seqrnn.bench.harness import (
    PACKAGES,
    BenchConfig,
    Result,
    allocator_environment,
    config_from_json,
)
from seqrnn.bench.sections import Bench


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
                **allocator_environment(dict(os.environ), config.allocator, backend),
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


def measure_this_backend(config_json: str, out: str) -> None:
    """The measuring process: the sections of the config on the active Keras backend."""
    import warnings

    import keras

    warnings.filterwarnings("ignore", module="keras")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    config = config_from_json(config_json)

    def progress(name: str) -> None:
        print(PROGRESS + name, file=sys.stderr, flush=True)

    results = Bench(config, progress=progress).run()
    Path(out).write_text(json.dumps([asdict(r) for r in results]), encoding="utf-8")
