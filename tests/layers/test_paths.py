"""The paths a layer's recurrence takes on the active backend (fused, native, cuDNN or per-step):
the fast kernels against the per-step cells in float64, and the choice of path with its warning."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import seqrnn
from tests.conftest import BACKEND, gradients, on_gpu, to_numpy

BATCH, STEPS, FEATURES, UNITS = 4, 7, 3, 5
LAYERS = [seqrnn.VanillaRNN, seqrnn.LSTM, seqrnn.GRU, seqrnn.PhasedLSTM]
IDS = ["vanilla", "lstm", "gru", "phased"]

#: The fast path each layer takes on this backend when its settings allow, cuDNN aside (the
#: comparisons below pass use_cudnn=False on a GPU: cuDNN may compute in TF32 there).
FAST = {
    "tensorflow": dict.fromkeys(IDS, "fused"),
    "jax": dict.fromkeys(IDS, "fused"),
    "torch": {"vanilla": "native", "lstm": "native", "gru": "native", "phased": "per-step"},
}.get(BACKEND, dict.fromkeys(IDS, "per-step"))
#: ... and the path a layer with Keras' defaults takes (cuDNN where a GPU has it).
CUDNN_ON_GPU = {
    "tensorflow": ("lstm", "gru"),
    "jax": ("lstm",),
    "torch": ("vanilla", "lstm", "gru"),
}
DEFAULT = {
    name: "cudnn" if on_gpu() and name in CUDNN_ON_GPU.get(BACKEND, ()) else path
    for name, path in FAST.items()
}

#: The call modes of the comparison: eager, and traced where the backend traces (on TensorFlow
#: with the loops compiled by XLA, and again in 3 uneven slices of the batch, for the cases that
#: split something besides the inputs; JAX's kernels compile in both, so its eager calls are
#: checked on the plain case).
MODES = {
    "tensorflow": ["eager", "xla", "xla-sliced"],
    "jax": ["eager", "jit", "jit-chains"],
}.get(BACKEND, ["eager"])
SPARSE = ("plain", "masked-backwards", "input-dropout")
SPARSE_MODES = {"xla-sliced": SPARSE, "jit-chains": SPARSE, "eager": ("plain",)}
SPARSE_BACKENDS = {("tensorflow", "xla-sliced"), ("jax", "eager"), ("jax", "jit-chains")}
#: The batch slices (TensorFlow) or chains (JAX) each mode asks for: of 4 samples, TensorFlow's 3
#: slices hold 2, 1 and 1, JAX's 2 chains 2 each.
SLICES = {"xla-sliced": 3, "jit-chains": 2}

#: The per-step cells are the reference. Keras 3.15 computes tanh in float32 on JAX and PyTorch
#: even for float64 inputs (`keras.backend.result_type("float64", float)` is float32 there), so
#: the cells run in float64 on TensorFlow only; elsewhere both paths run in float32 and agree to
#: float32's rounding, relative to each tensor's largest value. tests/backend holds the float64
#: checks of JAX's and PyTorch's kernels against autodiff of the equations.
DTYPE, RTOL = ("float64", 1e-9) if BACKEND == "tensorflow" else ("float32", 2e-5)

#: Masks that are not right-padded run PyTorch's per-step cell.
RIGHT_PADDED = np.arange(STEPS)[None, :] < np.array([STEPS, 1, 4, 0])[:, None]
HOLED = RIGHT_PADDED.copy()
HOLED[0, 3] = False  # a hole in the first sample


def _inputs(layer_class, x):
    if layer_class is seqrnn.PhasedLSTM:
        times = np.cumsum(np.random.default_rng(5).uniform(0.2, 3.0, x.shape[:2]), axis=1)
        return [x, times]
    return x


def _layer(layer_class, use_fused, mode, **kwargs):
    """A layer of DTYPE with fixed random weights (the same for every path)."""
    keras.utils.set_random_seed(0)
    if on_gpu() and use_fused is not False:
        kwargs.setdefault("use_cudnn", False)
    if BACKEND == "tensorflow" and use_fused is not False:
        kwargs["jit_compile"] = mode != "eager"  # these shapes are below the "auto" threshold
    if use_fused is not False:
        kwargs["batch_slices"] = SLICES.get(mode, 1)
    layer = layer_class(
        UNITS,
        return_sequences=True,
        return_state=True,
        dtype=DTYPE,
        seed=3,
        use_fused=use_fused,
        **kwargs,
    )
    layer(_inputs(layer_class, np.zeros((BATCH, STEPS, FEATURES), DTYPE)))
    rng = np.random.default_rng(1)
    for variable in layer.weights:
        if variable.name not in ("tau", "shift", "r_on"):
            variable.assign(variable + rng.normal(0.0, 0.3, variable.shape).astype(DTYPE))
    return layer


def _run(layer_class, use_fused, x, mask, initial, training, mode="eager", **kwargs):
    """The path, outputs, final states and every gradient (inputs, initial states, weights)."""
    layer = _layer(layer_class, use_fused, mode, **kwargs)
    upstream = [
        np.random.default_rng(i).normal(size=(BATCH, STEPS, UNITS)).astype(DTYPE) for i in range(3)
    ]
    upstream = [upstream[0], *[u[:, 0] for u in upstream[1 : 1 + len(initial)]]]

    def call(run, xs, *states):
        outputs = run(
            _inputs(layer_class, xs), initial_state=list(states), mask=mask, training=training
        )
        return list(outputs)

    outputs, grads = gradients(layer, call, [x, *initial], upstream, jit=mode != "eager")
    return layer, [*outputs, *grads]


CASES = {
    "plain": {},
    "right-padded-backwards": {"mask": RIGHT_PADDED, "go_backwards": True},
    "masked-backwards": {"mask": HOLED, "go_backwards": True},
    "zero-output-for-mask": {"mask": RIGHT_PADDED, "zero_output_for_mask": True},
    "input-dropout": {"training": True, "dropout": 0.4},
    "masked-no-bias": {"mask": RIGHT_PADDED, "use_bias": False},
}
MODES_AND_CASES = [
    pytest.param(mode, case, id=f"{mode}-{name}")
    for mode in MODES
    for name, case in CASES.items()
    if name in SPARSE_MODES.get(mode, CASES) or (BACKEND, mode) not in SPARSE_BACKENDS
]


def _expected_path(layer_id, case):
    if BACKEND == "torch" and case.get("mask") is HOLED:
        return "per-step"  # PyTorch's kernels take right-padded sequences only
    return FAST[layer_id]


@pytest.mark.parametrize(("layer_class", "layer_id"), zip(LAYERS, IDS, strict=True), ids=IDS)
@pytest.mark.parametrize(("mode", "case"), MODES_AND_CASES)
def test_the_fast_path_equals_the_per_step_cell(layer_class, layer_id, mode, case):
    case = dict(case)
    mask, training = case.pop("mask", None), case.pop("training", False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, STEPS, FEATURES)).astype(DTYPE)
    width = 1 if layer_class in (seqrnn.VanillaRNN, seqrnn.GRU) else 2
    initial = [rng.normal(size=(BATCH, UNITS)).astype(DTYPE) for _ in range(width)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the expected fallbacks
        fast, got = _run(layer_class, "auto", x, mask, initial, training, mode, **case)
        per_step, expected = _run(layer_class, False, x, mask, initial, training, **case)
    assert fast.path == _expected_path(layer_id, {"mask": mask})
    assert per_step.path == "per-step"
    if BACKEND == "tensorflow":
        assert fast.xla == (mode != "eager")
    if BACKEND in ("tensorflow", "jax"):
        assert fast.slices == SLICES.get(mode, 1)
    _assert_close(got, expected)
    assert all(np.abs(g).max() > 0 for g in got[1 + width :])  # every gradient is exercised


def _assert_close(got, expected, rtol=RTOL):
    for a, b in zip(got, expected, strict=True):
        scale = 1.0 if DTYPE == "float64" else max(np.abs(b).max(), 1e-30)
        np.testing.assert_allclose(a / scale, b / scale, rtol=rtol, atol=rtol / 10)


@pytest.mark.parametrize("layer_class", LAYERS, ids=IDS)
def test_a_stateful_layer_continues_where_it_stopped_on_every_path(layer_class):
    """Two calls of a stateful layer: the second starts from the states the first left."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(BATCH, 2 * STEPS, FEATURES)).astype(DTYPE)
    times = np.cumsum(rng.uniform(0.2, 3.0, x.shape[:2]), axis=1).astype(DTYPE)

    def halves(use_fused):
        layer = _layer(layer_class, use_fused, "eager", stateful=True)
        layer.reset_state()
        outputs = []
        for part in (slice(0, STEPS), slice(STEPS, None)):
            inputs = (
                [x[:, part], times[:, part]] if layer_class is seqrnn.PhasedLSTM else x[:, part]
            )
            outputs.append([to_numpy(o) for o in layer(inputs)])
        return layer, outputs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast, got = halves("auto")
        _, expected = halves(False)
    assert fast.path == FAST[IDS[LAYERS.index(layer_class)]]
    # float32 timestamps: the phases' rounding (6e-8 relative) times the gate's slope (up to
    # 2 / r_on = 40) where the two paths compute the phase differently (JAX's kernel takes the
    # fractional part of (t - s) / tau, the cell floor-mod)
    phased = layer_class is seqrnn.PhasedLSTM and DTYPE == "float32"
    _assert_close([*got[0], *got[1]], [*expected[0], *expected[1]], 1e-4 if phased else RTOL)
    assert not np.allclose(got[0][-1], got[1][-1])  # the states moved on


def test_the_default_path_and_its_message():
    x = np.ones((2, 3, 4), "float32")
    for layer_class, layer_id in zip(LAYERS, IDS, strict=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = layer_class(6)
            layer(_inputs(layer_class, x))
        assert layer.path == DEFAULT[layer_id], layer_id
        told = [str(w.message) for w in caught if "runs the per-step cell" in str(w.message)]
        assert len(told) == (DEFAULT[layer_id] == "per-step"), told


@pytest.mark.parametrize(
    "layer_class, kwargs, reason",
    [
        (seqrnn.LSTM, {"recurrent_dropout": 0.2}, "recurrent_dropout=0.2"),
        (seqrnn.GRU, {"reset_after": False}, "reset_after=False"),
        (seqrnn.VanillaRNN, {"activation": "sigmoid"}, "an activation other than tanh"),
        (seqrnn.LSTM, {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation"),
        (seqrnn.PhasedLSTM, {"use_peepholes": True}, "use_peepholes=True"),
        (seqrnn.LSTM, {"unroll": True}, "unroll=True"),
        (seqrnn.LSTM, {"dropout": 0.3, "implementation": 1}, "a mask per gate"),
        (seqrnn.GRU, {"dropout": 0.3, "implementation": 1}, "a mask per gate"),
    ],
)
def test_settings_the_kernels_lack_fall_back_with_one_warning(layer_class, kwargs, reason):
    if BACKEND == "torch" and layer_class is seqrnn.PhasedLSTM:
        reason = "PyTorch has no kernel"
    x = np.ones((2, 3, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = layer_class(6, **kwargs)
        layer(_inputs(layer_class, x), training=True)  # (dropout acts only while training)
        layer(_inputs(layer_class, x), training=True)
    told = [str(w.message) for w in caught if "runs the per-step cell" in str(w.message)]
    assert layer.path == "per-step"
    assert len(told) == 1  # once per layer, not once per call
    assert reason in told[0] and layer.name in told[0]
    with pytest.raises(ValueError, match="use_fused=True"):
        layer_class(6, use_fused=True, **kwargs)(_inputs(layer_class, x), training=True)


@pytest.mark.parametrize("layer_class", [seqrnn.LSTM, seqrnn.GRU])
def test_recurrent_dropout_runs_the_per_step_cell_only_while_training(layer_class):
    """Recurrent dropout changes nothing at inference, so a model trained with it predicts on
    the fast path; the two paths agree there."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    layer = layer_class(6, recurrent_dropout=0.2, return_sequences=True)
    fast = to_numpy(layer(x))
    assert layer.path == DEFAULT[layer_class.__name__.lower()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer(x, training=True)
    assert layer.path == "per-step"
    plain = layer_class(6, use_fused=False, return_sequences=True)
    plain(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_allclose(fast, to_numpy(plain(x)), atol=1e-5)


def test_use_fused_false_is_silent_and_every_path_setting_is_kept_in_the_config():
    x = np.ones((2, 3, 4), "float32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = seqrnn.LSTM(6, use_fused=False, use_cudnn=False, jit_compile=False, batch_slices=2)
        layer(x)
    assert layer.path == "per-step"
    assert not [w for w in caught if "per-step" in str(w.message)]
    clone = seqrnn.LSTM.from_config(layer.get_config())
    assert (clone.use_fused, clone.use_cudnn, clone.jit_compile, clone.batch_slices) == (
        False,
        False,
        False,
        2,
    )
    for name, value in [
        ("use_fused", "sometimes"),
        ("use_cudnn", 1),
        ("jit_compile", "always"),
        ("batch_slices", 0),
        ("batch_slices", True),
    ]:
        with pytest.raises(ValueError, match=f"argument {name}"):
            seqrnn.LSTM(6, **{name: value})


def test_use_cudnn_true_raises_where_cudnn_cannot_run():
    with pytest.raises(ValueError, match="use_cudnn=True"):
        seqrnn.LSTM(4, use_cudnn=True, use_fused=False)
    if on_gpu():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="use_cudnn=True"):
        seqrnn.LSTM(4, use_cudnn=True)(np.ones((2, 3, 4), "float32"))


@pytest.mark.parametrize("layer_class", [seqrnn.LSTM, seqrnn.GRU], ids=["lstm", "gru"])
def test_on_a_gpu_cudnn_runs_and_agrees_with_the_per_step_cell(layer_class):
    """Where the backend has a cuDNN kernel for the layer: float32, TF32's tolerance."""
    name = IDS[LAYERS.index(layer_class)]
    if not on_gpu() or name not in CUDNN_ON_GPU.get(BACKEND, ()):
        pytest.skip(f"no cuDNN kernel for {name} here")
    x = np.random.default_rng(0).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")
    cudnn, per_step = layer_class(UNITS, return_sequences=True), layer_class(UNITS, use_fused=False)
    got = to_numpy(cudnn(x))
    per_step.return_sequences = True
    per_step(x)
    per_step.set_weights(cudnn.get_weights())
    assert cudnn.path == "cudnn"
    np.testing.assert_allclose(got, to_numpy(per_step(x)), atol=2e-3)
