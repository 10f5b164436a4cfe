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
    # On a GPU float32 products would otherwise run in TF32 (10-bit mantissas).
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_default_matmul_precision", "highest")


def on_gpu() -> bool:
    """Whether the active backend computes on a GPU."""
    if BACKEND == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if BACKEND == "torch":
        import torch

        return torch.cuda.is_available()
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    return False


# Tolerance of float64 comparisons with the NumPy references. Keras' JAX backend computes some
# elementwise ops (tanh among them) in float32 even on float64 inputs, and so does its PyTorch
# backend (Keras 3.15's `result_type` demotes 64-bit types off TensorFlow); a Phased LSTM's
# phases at t of a few thousand then carry float32's rounding (3e-5 on PyTorch).
F64_TOL = {"tensorflow": 1e-12, "jax": 1e-6}.get(BACKEND, 1e-4)
ROOT = Path(__file__).resolve().parents[1]
#: The corpus the text tests read: ../shared/data beside the project (never copied into it).
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def shakespeare() -> Path:
    """The shared corpus; a failure that says where it belongs when it is missing (a test that
    skipped instead would pass a checkout without testing text at all)."""
    if not SHAKESPEARE.is_file():
        pytest.fail(
            f"{SHAKESPEARE} is missing: the text tests read ../shared/data/tinyshakespeare.txt "
            "beside the project (put the shared folder there)",
            pytrace=False,
        )
    return SHAKESPEARE


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (running on {BACKEND})")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def gradients(layer, call, arrays, upstream, jit=False):
    """Outputs of `call(layer, *tensors)` (a list) and the gradients of
    `sum_i sum(outputs[i] * upstream[i])` with respect to the tensors made of `arrays` and to the
    layer's trainable weights, on the active backend; `jit`: traced (`tf.function`, `jax.jit`).

    On JAX `call` receives a function that calls the layer statelessly with the weights being
    differentiated; elsewhere it receives the layer. Returns (outputs, gradients) as NumPy.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def run(*tensors):
            with tf.GradientTape() as tape:
                tape.watch(tensors)
                outputs = call(layer, *tensors)
                loss = sum(tf.reduce_sum(o * u) for o, u in zip(outputs, upstream, strict=False))
            return outputs, tape.gradient(loss, [*tensors, *layer.trainable_weights])

        run = tf.function(run) if jit else run
        outputs, grads = run(*[tf.constant(a) for a in arrays])
    elif BACKEND == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss_fn(trainable, tensors):
            def stateless(*args, **kwargs):
                return layer.stateless_call(trainable, non_trainable, *args, **kwargs)[0]

            outputs = call(stateless, *tensors)
            loss = sum((o * u).sum() for o, u in zip(outputs, upstream, strict=False))
            return loss, outputs

        run = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)
        run = jax.jit(run) if jit else run
        (_, outputs), (g_weights, g_inputs) = run(trainable, [jax.numpy.asarray(a) for a in arrays])
        grads = [*g_inputs, *g_weights]
    elif BACKEND == "torch":
        import torch

        # (on Keras' device: a CUDA one where there is one)
        tensors = [keras.ops.convert_to_tensor(a).detach().requires_grad_() for a in arrays]
        outputs = call(layer, *tensors)
        upstream = [keras.ops.convert_to_tensor(u) for u in upstream]
        loss = sum((o * u).sum() for o, u in zip(outputs, upstream, strict=False))
        variables = [v.value for v in layer.trainable_weights]
        wrt = [*tensors, *variables]
        grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, wrt, strict=True)]
    else:
        pytest.skip(f"no gradient helper for backend {BACKEND}")
    return [to_numpy(o) for o in outputs], [to_numpy(g) for g in grads]


def loss_and_grads(layer, inputs, weights_of_output, **call_kwargs):
    """Gradients of sum(output * weights_of_output) w.r.t. the (float) inputs and the layer's
    trainable weights, on the active backend. Returns (output, [input grads..., weight grads...]).
    """
    listed = isinstance(inputs, (list, tuple))
    arrays = list(inputs) if listed else [inputs]

    def call(run, *tensors):
        out = run(list(tensors) if listed else tensors[0], **call_kwargs)
        return [out[0] if isinstance(out, (list, tuple)) else out]

    outputs, grads = gradients(layer, call, arrays, [np.asarray(weights_of_output)])
    return outputs[0], grads


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh Python process (same interpreter, same Keras backend)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
