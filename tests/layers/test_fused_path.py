"""The fused sequence path (seqrnn/layers/_fused.py) against the per-step cells, and the choice of
path: fused on TensorFlow, cuDNN on a GPU, the per-step cell (with one warning) otherwise."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import seqrnn
from seqrnn.layers import _base
from tests.conftest import BACKEND, to_numpy

BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5
LAYERS = [seqrnn.VanillaRNN, seqrnn.LSTM, seqrnn.GRU, seqrnn.PhasedLSTM]
IDS = ["vanilla", "lstm", "gru", "phased"]


def _inputs(layer_class, x):
    if layer_class is seqrnn.PhasedLSTM:
        times = np.cumsum(np.random.default_rng(5).uniform(0.2, 3.0, x.shape[:2]), axis=1)
        return [x, times]
    return x


def _run(layer_class, use_fused, x, mask, initial, training, graph=False, slices=1, **kwargs):
    """Outputs, final states and every gradient of a float64 layer with fixed random weights.

    `graph`: called in a `tf.function` with static shapes, where the fused path compiles its
    loops with XLA (in `slices` slices of the batch); otherwise eagerly."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)  # the same initial weights for both paths
    layer = layer_class(
        UNITS,
        return_sequences=True,
        return_state=True,
        dtype="float64",
        seed=3,
        use_fused=use_fused,
        **kwargs,
    )
    layer(_inputs(layer_class, x))
    rng = np.random.default_rng(1)
    for variable in layer.weights:
        if variable.name not in ("tau", "shift", "r_on"):
            variable.assign(variable + rng.normal(0.0, 0.3, variable.shape))
    weights = [np.random.default_rng(i).normal(size=(BATCH, STEPS, UNITS)) for i in range(3)]

    def forward_backward(xs, states):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            tape.watch(states)
            outputs, *finals = layer(
                _inputs(layer_class, xs), initial_state=states, mask=mask, training=training
            )
            loss = tf.reduce_sum(outputs * weights[0]) + sum(
                tf.reduce_sum(s * w[:, 0]) for s, w in zip(finals, weights[1:], strict=False)
            )
        grads = tape.gradient(loss, [xs, *states, *layer.trainable_weights])
        return [outputs, *finals, *grads]

    if graph:
        forward_backward = tf.function(forward_backward)
    results = forward_backward(tf.constant(x), [tf.constant(s) for s in initial])
    assert layer.xla == (graph and use_fused is True)
    assert layer.slices == (slices if layer.xla else 1)
    return layer.path, [to_numpy(t) for t in results]


@pytest.mark.tf_only
@pytest.mark.parametrize("layer_class", LAYERS, ids=IDS)
@pytest.mark.parametrize(
    "case",
    [
        {},
        {"masked": True, "go_backwards": True},
        {"masked": True, "zero_output_for_mask": True},
        {"training": True, "dropout": 0.4},
        {"masked": True, "use_bias": False},
    ],
    ids=["plain", "masked-backwards", "zero-output-for-mask", "input-dropout", "masked-no-bias"],
)
@pytest.mark.parametrize("graph", [False, True, "sliced"], ids=["eager", "xla", "xla-sliced"])
def test_fused_equals_the_per_step_cell_in_float64(layer_class, case, graph, monkeypatch):
    case = dict(case)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES))
    mask = None
    if case.pop("masked", False):  # a sample masked from its first step, one with a hole
        mask = np.arange(STEPS)[None, :] < np.array([STEPS, 1, 4, 0])[:, None]
        mask[0, 3] = False
    training = case.pop("training", False)
    if BACKEND == "tensorflow":
        from seqrnn.layers import _fused

        monkeypatch.setattr(_fused, "JIT", True)  # these shapes are below the "auto" threshold
        # "sliced": the batch of 4 in slices of 2, 1 and 1, each its own compiled recurrence
        monkeypatch.setattr(_fused, "SLICES", 3 if graph == "sliced" else 1)
    width = 1 if layer_class in (seqrnn.VanillaRNN, seqrnn.GRU) else 2
    initial = [rng.normal(size=(BATCH, UNITS)) for _ in range(width)]
    slices = 3 if graph == "sliced" else 1
    path, fused = _run(layer_class, True, x, mask, initial, training, bool(graph), slices, **case)
    assert path == "fused"
    path, per_step = _run(layer_class, False, x, mask, initial, training, **case)
    assert path == "per-step"
    for a, b in zip(fused, per_step, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
    assert all(np.abs(g).max() > 0 for g in fused[1 + width :])  # every gradient is exercised


@pytest.mark.tf_only
@pytest.mark.parametrize(
    ("setting", "cores", "batch", "sizes"),
    [
        ("auto", 2, 64, [32, 32]),  # seqrnn bench's shape on this machine
        ("auto", 2, 15, [15]),  # a slice would have fewer than MIN_SLICE (8) samples
        ("auto", 4, 28, [10, 9, 9]),  # as many as MIN_SLICE allows, the remainder spread
        ("auto", 1, 64, [64]),
        (3, 2, 4, [2, 1, 1]),
        (8, 2, 4, [1, 1, 1, 1]),  # never an empty slice
        (1, 8, 64, [64]),
    ],
)
def test_batch_slices(setting, cores, batch, sizes, monkeypatch):
    from seqrnn.layers import _fused

    monkeypatch.setattr(_fused, "SLICES", setting)
    monkeypatch.setattr(_fused, "MIN_SLICE", 8)
    monkeypatch.setattr(_fused, "_cores", lambda: cores)
    assert _fused.batch_slices(batch) == sizes


@pytest.mark.tf_only
def test_cores_follow_the_inter_op_threads_when_set(monkeypatch):
    import tensorflow as tf

    from seqrnn.layers import _fused

    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 0)
    available = _fused._cores()
    assert available >= 1
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 1)
    assert _fused._cores() == 1


@pytest.mark.tf_only
def test_xla_compiles_traced_loops_of_a_static_shape_large_enough():
    """`auto`: compiled in a traced function of a static shape of at least MIN_COMPILED_SIZE
    batch x steps x units; eager calls, shapes unknown at tracing and small loops are not."""
    import tensorflow as tf

    from seqrnn.layers import _fused

    layer = seqrnn.LSTM(64, return_sequences=True)
    large = np.ones((32, 40, 3), "float32")  # 32 x 40 x 64 = 81,920 >= 65,536
    assert 32 * 40 * 64 >= _fused.MIN_COMPILED_SIZE > 4 * 7 * 64
    seen = {}

    def call(name, x, signature=None):
        def run(x):
            y = layer(x)
            seen[name] = layer.xla
            return y

        tf.function(run, input_signature=signature)(x)

    layer(large)
    assert layer.path == "fused" and not layer.xla  # eager
    call("static", large)
    call("small", np.ones((4, 7, 3), "float32"))
    call("dynamic", large, [tf.TensorSpec((None, None, 3), tf.float32)])
    assert seen == {"static": True, "small": False, "dynamic": False}

    # plain_loops (the trainer's step for tasks whose batches change shape): not compiled, even
    # at a static shape; the setting comes back after the call, also when the call fails.
    def run(x):
        y = layer(x)
        seen["plain"] = layer.xla
        if x.shape[0] == 1:
            raise ValueError("fails")
        return y

    step = _fused.plain_loops(tf.function(run))
    step(large)
    assert seen["plain"] is False and _fused.JIT == "auto"
    with pytest.raises(ValueError, match="fails"):
        step(np.ones((1, 70, 3), "float32"))  # a new shape, traced again
    assert _fused.JIT == "auto"
    call("static again", large[:, :35])  # 32 x 35 x 64 = 71,680
    assert seen["static again"] is True


@pytest.mark.tf_only
@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "xla"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_fused_time_gate_equals_the_cells_keras_ops(compiled, dtype):
    """`_fused.phase` and `_fused.gate` (hand-derived gradients) against `PhasedLSTMCell`'s
    phase and gate under autodiff: values and the gradients of t, tau, s and r_on, with float64
    timestamps up to 1e5 ms, every part of the triangle and the leak."""
    import tensorflow as tf

    from seqrnn.layers import _fused

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
                phi = _fused.phase(*cell.phase_parameters(t), dtype, compiled=compiled)
                k = _fused.gate(phi, cell.open_fraction(), cell.leak, compiled=compiled)
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


def _expected_default_path():
    return "fused" if BACKEND == "tensorflow" else "per-step"


@pytest.mark.parametrize("layer_class", LAYERS, ids=IDS)
def test_the_default_path_and_its_message(layer_class):
    x = np.ones((2, 3, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = layer_class(6)
        layer(_inputs(layer_class, x))
    assert layer.path == _expected_default_path()
    told = [str(w.message) for w in caught if "runs the per-step path" in str(w.message)]
    if BACKEND == "tensorflow":
        assert told == []
    else:
        assert len(told) == 1 and f"backend is {BACKEND!r}" in told[0]


@pytest.mark.parametrize(
    "layer_class, kwargs, reason",
    [
        (seqrnn.LSTM, {"recurrent_dropout": 0.2}, "recurrent_dropout=0.2"),
        (seqrnn.GRU, {"reset_after": False}, "reset_after=False"),
        (seqrnn.VanillaRNN, {"activation": "relu"}, "an activation other than tanh"),
        (seqrnn.LSTM, {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation"),
        (seqrnn.PhasedLSTM, {"use_peepholes": True}, "use_peepholes=True"),
        (seqrnn.LSTM, {"unroll": True}, "unroll=True"),
    ],
)
def test_settings_the_fused_path_lacks_fall_back_with_one_warning(layer_class, kwargs, reason):
    x = np.ones((2, 3, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = layer_class(6, **kwargs)
        layer(_inputs(layer_class, x))
        layer(_inputs(layer_class, x))
    told = [str(w.message) for w in caught if "runs the per-step path" in str(w.message)]
    assert layer.path == "per-step"
    assert len(told) == 1  # once per layer, not once per call
    assert reason in told[0] and layer.name in told[0]
    with pytest.raises(ValueError, match="use_fused=True"):
        layer_class(6, use_fused=True, **kwargs)(_inputs(layer_class, x))


def test_use_fused_false_is_silent_and_kept_in_the_config():
    x = np.ones((2, 3, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = seqrnn.LSTM(6, use_fused=False)
        layer(x)
    assert layer.path == "per-step"
    assert not [w for w in caught if "per-step" in str(w.message)]
    assert seqrnn.LSTM.from_config(layer.get_config()).use_fused is False
    with pytest.raises(ValueError, match="use_fused"):
        seqrnn.LSTM(6, use_fused="sometimes")


@pytest.mark.tf_only
@pytest.mark.parametrize("layer_class", [seqrnn.LSTM, seqrnn.GRU], ids=["lstm", "gru"])
def test_on_a_gpu_cudnn_runs_and_is_never_lost_silently(layer_class, monkeypatch):
    # No GPU here: pretend there is one and stand in for Keras' cuDNN kernel.
    calls = []

    def cudnn(sequences, *states_and_mask, **kwargs):
        calls.append(kwargs)
        h = keras.ops.zeros((sequences.shape[0], UNITS))
        outputs = keras.ops.zeros((sequences.shape[0], sequences.shape[1], UNITS))
        return h, outputs, [h] * (len(states_and_mask) - 1)

    monkeypatch.setattr(_base, "_gpu_available", lambda: True)
    monkeypatch.setattr(layer_class, "cudnn_kernel", staticmethod(cudnn))
    layer = layer_class(UNITS, return_sequences=True)
    layer(np.ones((2, 3, 4), "float32"))
    assert layer.path == "cudnn" and len(calls) == 1
    assert calls[0]["kernel"] is layer.cell.kernel

    def refuses(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(layer_class, "cudnn_kernel", staticmethod(refuses))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = layer_class(UNITS, use_bias=False)
        out = fallback(np.ones((2, 3, 4), "float32"))
    assert fallback.path == "fused" and out.shape == (2, UNITS)
    assert any("cuDNN" in str(w.message) for w in caught)


@pytest.mark.tf_only
def test_the_batch_is_sliced_on_a_cpu_only(monkeypatch):
    """Slices run side by side on CPU cores; on a GPU the fused path runs the whole batch."""
    import tensorflow as tf

    from seqrnn.layers import _fused

    monkeypatch.setattr(_fused, "JIT", True)
    monkeypatch.setattr(_fused, "SLICES", 2)
    layer = seqrnn.VanillaRNN(UNITS)  # no cuDNN kernel: the fused path on a GPU too
    x = np.ones((4, 3, 2), "float32")
    tf.function(layer)(x)
    assert layer.xla and layer.slices == 2
    monkeypatch.setattr(_base, "_gpu_available", lambda: True)  # pretend
    tf.function(layer)(x)
    assert layer.path == "fused" and layer.xla and layer.slices == 1
    layer(x)  # eager: the plain loops, never sliced
    assert not layer.xla and layer.slices == 1


@pytest.mark.tf_only
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
