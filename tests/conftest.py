"""Shared fixtures and helpers: the active Keras backend, gradients on any backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The suite compiles hundreds of small XLA programs (TensorFlow's fused loops, JAX's jitted
# functions) and times none of them: LLVM at optimisation level 0 compiles them faster and
# computes the same values. Measured here: the JAX run 174-206 s -> 135 s; test_generation,
# test_fused_path and test_bench 113 -> 103 s. Subprocesses inherit it; a user's XLA_FLAGS win.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

# Imported after XLA_FLAGS is set: the backends read it when they load.
import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


if BACKEND == "jax":
    # JAX truncates float64 to float32 unless 64-bit types are enabled; the NumPy references
    # and gradient checks compare in float64. Layers in float32 behave the same either way.
    import jax

    jax.config.update("jax_enable_x64", True)

# Tolerance of float64 comparisons with the NumPy references. Keras' JAX backend computes some
# elementwise ops (tanh among them) in float32 even on float64 inputs, so JAX gets float32's.
F64_TOL = 1e-12 if BACKEND == "tensorflow" else 1e-6
ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (running on {BACKEND})")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def loss_and_grads(layer, inputs, weights_of_output, **call_kwargs):
    """Gradients of sum(output * weights_of_output) w.r.t. the layer's trainable weights and
    the (float) inputs, on the active backend. Returns (output, [input grads..., weight grads...]).
    """
    weights_of_output = np.asarray(weights_of_output)
    listed = isinstance(inputs, (list, tuple))
    inputs = list(inputs) if listed else [inputs]
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            out = layer(tensors if listed else tensors[0], **call_kwargs)
            out = out[0] if isinstance(out, (list, tuple)) else out
            loss = tf.reduce_sum(out * weights_of_output)
        grads = tape.gradient(loss, tensors + list(layer.trainable_weights))
        return to_numpy(out), [to_numpy(g) for g in grads]
    if BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable, xs):
            out, _ = layer.stateless_call(
                trainable, non_trainable, xs if listed else xs[0], **call_kwargs
            )
            out = out[0] if isinstance(out, (list, tuple)) else out
            return (out * weights_of_output).sum(), out

        (_, out), (g_weights, g_inputs) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
            trainable, [jax.numpy.asarray(x) for x in inputs]
        )
        return to_numpy(out), [to_numpy(g) for g in list(g_inputs) + list(g_weights)]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python process (same interpreter, same Keras backend)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
