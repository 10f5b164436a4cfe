"""PyTorch's sequence kernels: the recurrent kernels `torch.nn.LSTM`, `GRU` and `RNN` run.

`torch.nn.LSTM.forward` calls `torch._VF.lstm` with its weights; so does this module, with the
layer's weights converted to PyTorch's layout on every call (transposed; the GRU's gates reordered
from Keras' z, r, h to PyTorch's r, z, n), so that autograd carries the gradients back to the
Keras variables. Keras' own PyTorch backend calls `torch._VF.lstm` the same way for cuDNN
(keras/src/backend/torch/rnn.py); `tests/backend/test_torch.py` fails loudly if PyTorch moves it.
On a CUDA device PyTorch runs cuDNN (path "cudnn"), elsewhere its own CPU kernels ("native").

Masks: PyTorch's kernels skip the padding of right-padded sequences (packed sequences), so a mask
that is True then False along each sample runs them; any other mask runs the per-step cell. With
`go_backwards` Keras reads the sequence reversed, padding first: each sample's valid part is
reversed before the kernel and its outputs moved back after it.
"""

from __future__ import annotations

import contextlib

import torch
from keras import ops

from seqrnn.backend import (
    CUDNN,
    NATIVE,
    Recurrence,
    Run,
    Weights,
    fused_refusals,
    refuse,
)


def _gru_order(x, units: int):
    """Keras' GRU gate blocks (z, r, h) along the last axis in PyTorch's order (r, z, n)."""
    return torch.cat([x[..., units : 2 * units], x[..., :units], x[..., 2 * units :]], dim=-1)


def _parameters(recurrence: Recurrence, weights: Weights, dtype) -> list:
    """`[w_ih, w_hh(, b_ih, b_hh)]` in PyTorch's layout, differentiable back to Keras' weights."""
    kernel = ops.convert_to_tensor(weights.kernel).to(dtype)
    recurrent_kernel = ops.convert_to_tensor(weights.recurrent_kernel).to(dtype)
    bias = None if weights.bias is None else ops.convert_to_tensor(weights.bias).to(dtype)
    if recurrence.cell == "gru":
        units = recurrence.units
        kernel, recurrent_kernel = _gru_order(kernel, units), _gru_order(recurrent_kernel, units)
        biases = [] if bias is None else [_gru_order(bias[0], units), _gru_order(bias[1], units)]
    else:
        biases = [] if bias is None else [bias, torch.zeros_like(bias)]
    return [kernel.T.contiguous(), recurrent_kernel.T.contiguous(), *biases]


def _right_padded_lengths(mask):
    """The valid steps of every sample when `mask` `(batch, steps)` is True then False along each
    sample, else None."""
    lengths = mask.sum(dim=1)
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not bool(torch.equal(mask, steps[None, :] < lengths[:, None])):
        return None
    return lengths


def _reverse_prefixes(x, lengths):
    """Each sample's first `length` steps reversed, the rest left in place: `(batch, steps, n)`."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[-1]))


# Not traced by `torch.compile` (Keras' `jit_compile=True` on PyTorch), as TorchDynamo leaves
# `torch.nn.LSTM`, `GRU` and `RNN` modules alone: it runs eagerly between the compiled graphs.
# Traced, Inductor failed to lower the LSTM's CPU kernel ("expected Tensor() for op:
# torch.ops.aten.mkldnn_rnn_layer.default", PyTorch 2.13).
@torch.compiler.disable
def _call(recurrence: Recurrence, x, states, parameters, lengths):
    """PyTorch's kernel over batch-first `x`: outputs `(batch, steps, units)` and final states."""
    has_biases = len(parameters) == 4
    if recurrence.cell == "lstm":
        function = torch._VF.lstm
    elif recurrence.cell == "gru":
        function = torch._VF.gru
    else:
        function = torch._VF.rnn_relu if recurrence.activation == "relu" else torch._VF.rnn_tanh
    hx = [s[None] for s in states]  # (layers, batch, units)
    hx = tuple(hx) if recurrence.cell == "lstm" else hx[0]
    # `train`: cuDNN's backward pass runs only after a forward pass in training mode (dropout is 0)
    settings = (has_biases, 1, 0.0, recurrence.training or torch.is_grad_enabled(), False)
    if lengths is None:
        outputs, *finals = function(x, hx, parameters, *settings, True)
        return outputs, [f[0] for f in finals]
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    sorted_hx = (
        tuple(h[:, packed.sorted_indices] for h in hx)
        if recurrence.cell == "lstm"
        else hx[:, packed.sorted_indices]
    )
    data, *finals = function(packed.data, packed.batch_sizes, sorted_hx, parameters, *settings)
    outputs, _ = torch.nn.utils.rnn.pad_packed_sequence(
        torch.nn.utils.rnn.PackedSequence(
            data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
        ),
        batch_first=True,
        total_length=x.shape[1],
    )
    finals = [f[0, packed.unsorted_indices] for f in finals]
    return outputs, finals


def native(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """PyTorch's recurrent kernel over `sequences` `(batch, steps, features)`: Keras'
    `inner_loop` results (outputs in the order the steps were processed)."""
    if recurrence.cell == "phased_lstm":
        raise NotImplementedError("PyTorch has no kernel for the Phased LSTM's time gate")
    activations = ("tanh", "relu") if recurrence.cell == "vanilla" else ("tanh",)
    refuse("PyTorch's native kernel", fused_refusals(recurrence, activations))
    x = ops.convert_to_tensor(sequences)
    lengths = None
    if mask is not None:
        mask = ops.convert_to_tensor(mask).bool()
        lengths = _right_padded_lengths(mask)
        if lengths is None:
            raise NotImplementedError(
                "PyTorch's kernels take right-padded masks only (True, then False, along each "
                "sample)"
            )
    if weights.dropout_mask is not None:
        x = x * ops.convert_to_tensor(weights.dropout_mask)[:, None]
    if recurrence.go_backwards:
        x = torch.flip(x, [1]) if lengths is None else _reverse_prefixes(x, lengths)
    # Copies: a stateful layer's states are its variables, which Keras assigns in place after
    # the call, before the backward pass reads what the kernel kept of them.
    states = [ops.convert_to_tensor(s).to(x.dtype).clone() for s in initial_state]
    parameters = _parameters(recurrence, weights, x.dtype)
    cudnn = x.is_cuda and torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
    without = x.is_cuda and recurrence.use_cudnn is False
    cudnn = cudnn and not without
    # (the user's other cuDNN settings stand; only use_cudnn=False turns it off, for this call)
    with torch.backends.cudnn.flags(enabled=False) if without else contextlib.nullcontext():
        outputs, finals = _call(recurrence, x, states, parameters, lengths)
    if lengths is not None:
        empty = (lengths == 0)[:, None]  # every step masked: the states stay as they were
        finals = [torch.where(empty, s, f) for s, f in zip(states, finals, strict=True)]
        steps = torch.arange(x.shape[1], device=x.device)[None, :]
        if recurrence.go_backwards:
            # Keras read the padding first (outputs zero) and the valid steps after it.
            outputs = torch.flip(_reverse_prefixes(outputs, lengths), [1])
        elif recurrence.zero_output_for_mask:
            outputs = outputs * (steps < lengths[:, None])[..., None].to(outputs.dtype)
        else:  # a masked step repeats the last output
            last = (lengths[:, None] - 1).clamp(min=0)
            index = torch.minimum(steps, last)[..., None].expand(-1, -1, outputs.shape[-1])
            outputs = torch.gather(outputs, 1, index)
        # (a sample without a valid step ran one step to please PyTorch: it outputs zeros)
        outputs = outputs * (~empty)[..., None].to(outputs.dtype)
    return Run(outputs[:, -1], outputs, finals, CUDNN if cudnn else NATIVE)


KERNELS = {
    "vanilla": [native],
    "lstm": [native],
    "gru": [native],
    "phased_lstm": [native],
}
