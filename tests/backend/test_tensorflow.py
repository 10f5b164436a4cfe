"""TensorFlow's kernels (seqrnn/backend/tensorflow/): when the loops compile, how the batch is
sliced, the Phased LSTM's time gate, and the cuDNN path on a GPU."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import seqrnn
from tests.conftest import to_numpy

pytestmark = pytest.mark.tf_only
UNITS = 5


@pytest.fixture
def tf_backend():
    from seqrnn.backend import tensorflow

    return tensorflow


@pytest.mark.parametrize(
    ("setting", "cores", "batch", "sizes"),
    [
        ("auto", 2, 64, [32, 32]),  # seqrnn bench's shape on a 2-core machine
        ("auto", 2, 15, [15]),  # a slice would have fewer than MIN_SLICE (8) samples
        ("auto", 4, 28, [10, 9, 9]),  # as many as MIN_SLICE allows, the remainder spread
        ("auto", 1, 64, [64]),
        (3, 2, 4, [2, 1, 1]),
        (8, 2, 4, [1, 1, 1, 1]),  # never an empty slice
        (1, 8, 64, [64]),
    ],
)
def test_batch_slices(tf_backend, setting, cores, batch, sizes):
    assert tf_backend.MIN_SLICE == 8
    assert tf_backend.batch_slices(batch, setting, cores) == sizes


def test_cores_follow_the_inter_op_threads_when_set(tf_backend, monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 0)
    assert tf_backend.cores() >= 1
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 1)
    assert tf_backend.cores() == 1


def test_xla_compiles_traced_loops_of_a_static_shape_large_enough(tf_backend):
    """`jit_compile="auto"`: compiled in a traced function of a static shape of at least
    MIN_COMPILED_SIZE batch x steps x units; eager calls, shapes unknown at tracing and small
    loops are not; `jit_compile=False` never, `True` whenever traced with a static shape."""
    import tensorflow as tf

    large = np.ones((32, 40, 3), "float32")  # 32 x 40 x 64 = 81,920 >= 65,536
    assert 32 * 40 * 64 >= tf_backend.MIN_COMPILED_SIZE > 4 * 7 * 64

    def compiled(layer, x, signature=None):
        seen = []

        def run(x):
            y = layer(x)
            seen.append(layer.xla)
            return y

        tf.function(run, input_signature=signature)(x)
        return seen[0]

    layer = seqrnn.LSTM(64, return_sequences=True)
    layer(large)
    assert layer.path == "fused" and not layer.xla  # eager
    assert compiled(layer, large)
    assert not compiled(layer, np.ones((4, 7, 3), "float32"))
    assert not compiled(layer, large, [tf.TensorSpec((None, None, 3), tf.float32)])
    assert not compiled(seqrnn.LSTM(64, jit_compile=False), large)
    assert compiled(seqrnn.LSTM(64, jit_compile=True), np.ones((4, 7, 3), "float32"))


def test_the_batch_is_sliced_on_a_cpu_only(tf_backend, monkeypatch):
    """Slices run side by side on CPU cores; on a GPU the fused path runs the whole batch."""
    import tensorflow as tf

    layer = seqrnn.VanillaRNN(UNITS, jit_compile=True, batch_slices=2)  # no cuDNN kernel
    x = np.ones((4, 3, 2), "float32")
    tf.function(layer)(x)
    assert layer.xla and layer.slices == 2
    monkeypatch.setattr(tf_backend, "gpu_available", lambda: True)  # pretend
    tf.function(layer)(x)
    assert layer.path == "fused" and layer.xla and layer.slices == 1
    layer(x)  # eager: the plain loops, never sliced
    assert not layer.xla and layer.slices == 1


@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "xla"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_time_gate_equals_the_cells_keras_ops(tf_backend, compiled, dtype):
    """`time_phase` and `time_gate` (hand-derived gradients) against `PhasedLSTMCell`'s phase
    and gate under autodiff: values and the gradients of t, tau, s and r_on, with float64
    timestamps up to 1e5 ms, every part of the triangle and the leak."""
    import tensorflow as tf

    cell = seqrnn.cells.PhasedLSTMCell(64, dtype=dtype, seed=2, r_on_init=0.3)
    cell.build((2, 1 + 64))
    cell.r_on.assign(np.random.default_rng(3).uniform(0.05, 1.0, 64))
    t = tf.constant(np.random.default_rng(4).uniform(0.0, 1e5, (3, 40, 1)))
    upstream = tf.constant(np.random.default_rng(5).normal(size=(3, 40, 64)), dtype)
    variables = [cell.tau, cell.shift, cell.r_on]

    def k_and_grads(fused):
        with tf.GradientTape() as tape:
            tape.watch(t)
            if fused:
                phi = tf_backend.time_phase(*cell.phase_parameters(t), dtype, compiled=compiled)
                r_on = cell.open_fraction()
                k = tf_backend.time_gate(phi, r_on, cell.leak, compiled=compiled)
            else:
                k = cell.gate(cell.phase(t), training=True)
            loss = tf.reduce_sum(k * upstream)
        return [k, *tape.gradient(loss, [t, *variables])]

    got, expected = k_and_grads(True), k_and_grads(False)
    phi = to_numpy(cell.phase(t))
    r_on = to_numpy(cell.open_fraction())
    assert (phi < r_on / 2).any() and ((phi >= r_on / 2) & (phi < r_on)).any()
    assert (phi >= r_on).any()  # opening, closing and closed (leaking) phases all occur
    # float32 phases carry rounding of 6e-8 times the gate's slope of up to 2 / r_on = 40
    rtol, atol = (1e-9, 1e-9) if dtype == "float64" else (1e-4, 1e-5)
    for name, a, b in zip(["k", "t", "tau", "shift", "r_on"], got, expected, strict=True):
        a, b = to_numpy(a), to_numpy(b)
        assert a.dtype == b.dtype, name
        scale = np.abs(b).max()
        np.testing.assert_allclose(a / scale, b / scale, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("layer_class", [seqrnn.LSTM, seqrnn.GRU], ids=["lstm", "gru"])
def test_on_a_gpu_cudnn_runs_and_is_never_lost_silently(tf_backend, layer_class, monkeypatch):
    # No GPU here: pretend there is one and stand in for Keras' cuDNN kernel.
    calls = []

    def cudnn(sequences, *states_and_mask, **kwargs):
        calls.append(kwargs)
        h = keras.ops.zeros((sequences.shape[0], UNITS))
        outputs = keras.ops.zeros((sequences.shape[0], sequences.shape[1], UNITS))
        return h, outputs, [h] * (len(states_and_mask) - 1)

    name = "backend_lstm" if layer_class is seqrnn.LSTM else "backend_gru"
    monkeypatch.setattr(tf_backend, "gpu_available", lambda: True)
    monkeypatch.setattr(tf_backend, name, cudnn)
    layer = layer_class(UNITS, return_sequences=True)
    layer(np.ones((2, 3, 4), "float32"))
    assert layer.path == "cudnn" and len(calls) == 1
    assert calls[0]["kernel"] is layer.cell.kernel
    assert not layer.supports_jit  # cuDNN kernels do not compile with XLA

    def refuses(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(tf_backend, name, refuses)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = layer_class(UNITS)
        out = fallback(np.ones((2, 3, 4), "float32"))
    assert fallback.path == "fused" and out.shape == (2, UNITS)
    assert any("instead of cuDNN" in str(w.message) for w in caught)
    monkeypatch.setattr(tf_backend, name, cudnn)
    without = layer_class(UNITS, use_cudnn=False)
    without(np.ones((2, 3, 4), "float32"))
    assert without.path == "fused" and len(calls) == 1  # use_cudnn=False: not asked


def test_the_cudnn_kernels_refuse_a_machine_without_a_gpu():
    import tensorflow as tf

    from seqrnn._keras_private import backend_lstm

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    x = keras.ops.ones((2, 3, 4))
    h = keras.ops.zeros((2, UNITS))
    layer = seqrnn.LSTM(UNITS)
    layer.build((2, 3, 4))
    with pytest.raises(NotImplementedError):
        backend_lstm(
            x,
            h,
            h,
            None,
            kernel=layer.cell.kernel,
            recurrent_kernel=layer.cell.recurrent_kernel,
            bias=layer.cell.bias,
            activation=layer.cell.activation,
            recurrent_activation=layer.cell.recurrent_activation,
        )
