"""Sequence kernels per Keras backend, behind one contract (Keras' own, keras/src/backend/*/rnn.py).

A kernel runs a whole recurrence at once, faster than the per-step cell, or refuses:

    run = kernel(recurrence, sequences, initial_state, mask, weights)

- `recurrence` (`Recurrence`) names the cell and every setting that decides whether the kernel
  can run it; `weights` (`Weights`) holds the cell's tensors and the input dropout mask.
- `sequences` is `(batch, steps, features)` (for the Phased LSTM: the features followed by one
  phase per unit), `initial_state` a list of `(batch, units)` tensors, `mask` None or a boolean
  `(batch, steps)`: Keras' `RNN.inner_loop` arguments.
- It returns a `Run`: Keras' `(last_output, outputs, states)` (outputs in the order the steps were
  processed, `go_backwards` applied, as `keras.ops.rnn` returns them) and how it ran.
- `NotImplementedError(reason)`: these settings are beyond the kernel; the reason completes the
  sentence "the layer runs the per-step cell: ..." and the layer warns once. `Unavailable` (a
  `NotImplementedError`): the kernel does not exist here (cuDNN without a GPU); the layer moves on
  to the next one silently.

`kernels(cell)` lists the kernels of the active backend, fastest first. Only the layers import
this package; each backend module imports its framework, and only when the layer first asks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

#: The paths a recurrence can take (`layer.path`). "native" is PyTorch's own recurrent kernel
#: (`torch.nn.LSTM`'s), which runs cuDNN on a CUDA device ("cudnn" then).
CUDNN, FUSED, NATIVE, PER_STEP = "cudnn", "fused", "native", "per-step"

#: The cells kernels exist for.
CELLS = ("vanilla", "lstm", "gru", "phased_lstm")

#: Under batch_slices="auto", the fewest samples in a slice of the batch (TensorFlow's slices,
#: JAX's chains): at batch 16, two slices of 8 still took the bench's vanilla step on TensorFlow
#: from 13.5-13.9 to 11.3-11.8 ms and the GRU's from 29.5-30.0 to 28.3 ms.
MIN_SLICE = 8


def cpu_cores() -> int:
    """The CPU cores this process may run on."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def slices_wanted(batch: int, setting: int | str, num_cores: int) -> int:
    """How many slices of a batch of `batch` samples the layer's `batch_slices` asks for: "auto"
    is one per core (of `num_cores`), each of at least MIN_SLICE samples; a number is that many,
    at most one per sample. At least 1."""
    wanted = min(num_cores, batch // MIN_SLICE) if setting == "auto" else min(int(setting), batch)
    return max(wanted, 1)


class Unavailable(NotImplementedError):
    """The kernel does not exist on this machine (no GPU for cuDNN): not a setting to warn of."""


@dataclass(frozen=True)
class Recurrence:
    """What a layer asks a kernel to compute, besides the tensors.

    Activations are named `"tanh"`, `"sigmoid"`, `"relu"`, or described when they are some other
    function (no kernel runs those).
    """

    cell: str  # one of CELLS
    units: int
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    reset_after: bool = True  # GRU: the reset gate after the recurrent product (Keras', cuDNN's)
    use_peepholes: bool = False  # Phased LSTM
    leak: float = 0.0  # Phased LSTM: the gate's slope while closed (0 at inference)
    recurrent_dropout: float = 0.0
    #: input dropout with a mask per gate (the cell's `implementation=1`)
    gate_masks: bool = False
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    return_sequences: bool = True  # whether every step's output is used (cuDNN may skip them)
    unroll: bool = False
    training: bool = False
    #: TensorFlow: compile the loops with XLA ("auto": traced, static shapes, large enough)
    jit_compile: bool | str = "auto"
    #: TensorFlow on a CPU, compiled loops: slices of the batch run side by side; JAX: chains of
    #: the batch in one scan
    batch_slices: int | str = "auto"
    #: False: no cuDNN (PyTorch: its native kernel runs without cuDNN)
    use_cudnn: bool | str = "auto"


@dataclass
class Weights:
    """The tensors of a recurrence: the cell's weights (Keras' layout) and its input dropout mask
    `(batch, features)` (None when no dropout applies); `r_on` is the Phased LSTM's open ratio."""

    kernel: Any
    recurrent_kernel: Any
    bias: Any = None
    dropout_mask: Any = None
    r_on: Any = None


@dataclass
class Run:
    """What a kernel computed (Keras' `(last_output, outputs, states)`) and how."""

    last_output: Any
    outputs: Any
    states: list
    path: str
    compiled: bool = False  # the loops ran compiled with XLA
    slices: int = 1  # the batch ran as this many independent recurrences side by side


def _module(name: str | None = None):
    name = name or keras.backend.backend()
    try:
        return importlib.import_module(f"seqrnn.backend.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"seqrnn.backend.{name}":
            raise
        return None


def kernels(cell: str) -> list[Callable[..., Run]]:
    """The kernels of the active Keras backend that may run `cell`, fastest first; empty for a
    backend without kernels (the cells run step by step)."""
    if cell not in CELLS:
        raise ValueError(f"no kernels for cell {cell!r}; the cells are {', '.join(CELLS)}")
    module = _module()
    return [] if module is None else list(module.KERNELS[cell])


def cudnn_may_run(recurrence: Recurrence) -> bool:
    """Whether the active backend runs these settings with a cuDNN kernel that XLA cannot compile
    (TensorFlow's, on a GPU): the layer then says so to Keras (`supports_jit = False`) when it is
    made, before `compile()` decides, as Keras' own LSTM and GRU do."""
    module = _module()
    return module is not None and getattr(module, "cudnn_may_run", lambda r: False)(recurrence)


def phase(t, shift, tau, dtype, jit_compile, sequences_shape, units):
    """The Phased LSTM's phase `((t - shift) mod tau) / tau` with hand-derived gradients, where the
    backend has them; `NotImplementedError` where it has none (the cell's keras.ops run)."""
    module = _module()
    if module is None or not hasattr(module, "phase"):
        raise NotImplementedError(f"no phase kernel on {keras.backend.backend()}")
    return module.phase(t, shift, tau, dtype, jit_compile, sequences_shape, units)


def fused_refusals(recurrence: Recurrence, activations: tuple[str, ...] = ("tanh",)) -> list[str]:
    """The settings the fused (and native) kernels do not implement, the same on every backend;
    `activations`: the candidate activations the kernel computes."""
    reasons = []
    if recurrence.unroll:
        reasons.append("unroll=True")
    if recurrence.recurrent_dropout > 0.0:
        reasons.append(f"recurrent_dropout={recurrence.recurrent_dropout}")
    if recurrence.gate_masks:
        reasons.append("dropout with a mask per gate (implementation=1)")
    if recurrence.activation not in activations:
        reasons.append(f"an activation other than {' or '.join(activations)}")
    if recurrence.cell != "vanilla" and recurrence.recurrent_activation != "sigmoid":
        reasons.append("a recurrent_activation other than sigmoid")
    if recurrence.cell == "gru" and not recurrence.reset_after:
        reasons.append("reset_after=False")
    if recurrence.use_peepholes:
        reasons.append("use_peepholes=True")
    return reasons


def refuse(what: str, reasons: list[str]) -> None:
    """Raises `NotImplementedError` naming what cannot run and why, when there are reasons."""
    if reasons:
        raise NotImplementedError(f"{what} does not implement {', '.join(reasons)}")


def keras_cudnn(function, recurrence: Recurrence, sequences, initial_state, mask, weights: Weights):
    """Keras' own cuDNN kernel `function` (`keras.src.backend.lstm` or `gru`, whichever backend
    is active) with the layer's weights: Keras' `(last_output, outputs, states)`. It raises
    `NotImplementedError` for what it does not run (no GPU, masks it cannot take)."""
    if weights.dropout_mask is not None:
        sequences = sequences * keras.ops.expand_dims(weights.dropout_mask, 1)
    extra = {"reset_after": recurrence.reset_after} if recurrence.cell == "gru" else {}
    return function(
        sequences,
        *initial_state,
        mask,
        kernel=weights.kernel,
        recurrent_kernel=weights.recurrent_kernel,
        bias=weights.bias,
        activation=keras.activations.tanh,
        recurrent_activation=keras.activations.sigmoid,
        return_sequences=True,
        go_backwards=recurrence.go_backwards,
        **extra,
    )
