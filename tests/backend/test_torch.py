"""PyTorch's native kernels (seqrnn/backend/torch.py) in float64, against the equations run step
by step under autograd, with Keras' masking: right-padded masks, read forwards and backwards."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's kernels run on PyTorch")
BATCH, STEPS, FEATURES, UNITS = 4, 6, 3, 5


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


LENGTHS = [STEPS, 1, 4, 0]  # a whole sample, a short one, one cut, one without a valid step


def test_the_kernels_torch_nn_calls_are_where_seqrnn_calls_them():
    import torch

    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        assert callable(getattr(torch._VF, name)), name


def _step(cell, x, states, kernel, recurrent_kernel, bias, relu):
    """One step of the cell's equations (Keras' layout and gate order)."""
    import torch

    if cell == "lstm":
        h, c = states
        z = x @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
        i, f, g, o = torch.chunk(z, 4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return [torch.sigmoid(o) * torch.tanh(c), c]
    (h,) = states
    if cell == "gru":
        xs = x @ kernel + (0 if bias is None else bias[0])
        inner = h @ recurrent_kernel + (0 if bias is None else bias[1])
        x_z, x_r, x_h = torch.chunk(xs, 3, dim=-1)
        r_z, r_r, r_h = torch.chunk(inner, 3, dim=-1)
        z, r = torch.sigmoid(x_z + r_z), torch.sigmoid(x_r + r_r)
        n = torch.tanh(x_h + r * r_h)
        return [z * h + (1 - z) * n]
    z = x @ kernel + h @ recurrent_kernel + (0 if bias is None else bias)
    return [torch.relu(z) if relu else torch.tanh(z)]


def _reference(cell, x, states, mask, weights, go_backwards, zero_output_for_mask, relu):
    """Keras' loop: masked steps keep the states and output the previous output (or zeros)."""
    import torch

    order = range(STEPS - 1, -1, -1) if go_backwards else range(STEPS)
    outputs, previous = [], torch.zeros_like(states[0])
    for t in order:
        new = _step(cell, x[:, t], states, *weights, relu)
        keep = mask[:, t, None]
        states = [torch.where(keep, n, s) for n, s in zip(new, states, strict=True)]
        shown = torch.where(
            keep, new[0], torch.zeros_like(previous) if zero_output_for_mask else previous
        )
        outputs.append(shown)
        previous = shown
    return [torch.stack(outputs, dim=1), *states]


@pytest.mark.parametrize(
    ("cell", "go_backwards", "zero_output_for_mask", "biased", "relu"),
    [
        (cell, backwards, zero, biased, False)
        for cell, backwards, zero, biased in itertools.product(
            ["lstm", "gru", "vanilla"], [False, True], [False, True], [True]
        )
    ]
    + [("lstm", False, False, False, False), ("vanilla", True, False, True, True)],
)
def test_the_native_kernels_equal_the_equations_in_float64(
    cell, go_backwards, zero_output_for_mask, biased, relu
):
    import torch

    from seqrnn.backend import Recurrence, Weights
    from seqrnn.backend import torch as kernels

    gates = {"lstm": 4, "gru": 3, "vanilla": 1}[cell]
    rng = np.random.default_rng(0)

    def tensor(*shape, scale=1.0):
        values = rng.normal(0.0, scale, shape)
        return torch.tensor(values, dtype=torch.float64, device=_device(), requires_grad=True)

    x = tensor(BATCH, STEPS, FEATURES)
    states = [tensor(BATCH, UNITS) for _ in range(2 if cell == "lstm" else 1)]
    kernel, recurrent_kernel = (
        tensor(FEATURES, gates * UNITS),
        tensor(UNITS, gates * UNITS, scale=0.5),
    )
    bias = None
    if biased:
        bias = tensor(2, 3 * UNITS) if cell == "gru" else tensor(gates * UNITS)
    mask = torch.arange(STEPS)[None, :] < torch.tensor(LENGTHS)[:, None]
    mask = mask.to(_device())
    recurrence = Recurrence(
        cell,
        UNITS,
        activation="relu" if relu else "tanh",
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    run = kernels.native(recurrence, x, states, mask, Weights(kernel, recurrent_kernel, bias))
    assert run.path == ("cudnn" if _device() == "cuda" else "native")
    weights = (kernel, recurrent_kernel, bias)
    expected = _reference(cell, x, states, mask, weights, go_backwards, zero_output_for_mask, relu)
    got = [run.outputs, *run.states]
    upstream = [torch.tensor(rng.normal(size=e.shape), device=_device()) for e in expected]
    wrt = [x, *states, kernel, recurrent_kernel, *([bias] if biased else [])]

    def grads(values):
        loss = sum((v * u).sum() for v, u in zip(values, upstream, strict=True))
        return torch.autograd.grad(loss, wrt)

    for a, b in zip([*got, *grads(got)], [*expected, *grads(expected)], strict=True):
        a, b = a.detach().cpu().numpy(), b.detach().cpu().numpy()
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)
    assert torch.equal(run.last_output, run.outputs[:, -1])


def test_a_stateful_layer_trains_on_the_native_path():
    """The states a stateful layer starts from are its variables, which Keras assigns after the
    call: the kernel works on copies, so the backward pass still finds what it kept."""
    import torch

    import seqrnn

    layer = seqrnn.LSTM(UNITS, stateful=True, return_sequences=True)
    x = torch.randn(BATCH, STEPS, FEATURES, device=_device())
    layer(x)
    outputs = layer(x)  # from the states the first call left
    assert layer.path in ("native", "cudnn")
    outputs.sum().backward()
    grads = [v.value.grad for v in layer.trainable_weights]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().max() > 0 for g in grads)


@pytest.mark.slow
@pytest.mark.parametrize("layer_name", ["VanillaRNN", "LSTM", "GRU"])
def test_model_fit_with_jit_compile_gives_the_losses_of_eager_fit(layer_name):
    """Keras' `jit_compile=True` on PyTorch is `torch.compile`, which leaves the kernel call
    alone (Inductor failed on the LSTM's CPU kernel when it traced it)."""
    import keras

    import seqrnn

    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, STEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    losses, paths = [], []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((STEPS, FEATURES))
        layer = getattr(seqrnn, layer_name)(UNITS)
        model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
        history = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
        paths.append(layer.path)
    assert paths[0] == paths[1] and paths[0] in ("native", "cudnn")
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]
