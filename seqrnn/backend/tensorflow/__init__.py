"""TensorFlow's sequence kernels: Keras' cuDNN kernels on a GPU, the fused path everywhere.

The per-step cells stay the reference; the fused path computes the same function faster:

- the input projections of all steps are one large matmul (`x W` over `(steps * batch,
  features)`), so the loop holds only `h @ U` and elementwise work; the bias is added inside the
  loop, where XLA fuses it into the step's elementwise work;
- the backward pass is written by hand (`tf.custom_gradient`): the reverse loop only carries
  `dh` (and `dc`), storing the gradient of every step's pre-activations; the gradient of the
  recurrent kernel is then one large matmul over all steps, and the input projection gets its
  gradients (`dW`, `dx`) from autodiff, again as single large products. The bias gradients are
  summed in the reverse loop, step by step, while each step's gradients are in cache: summed
  afterwards, each bias was one more pass over a `(steps, batch, gates * units)` array (with the
  bias added before the loop, the bench's GRU step took 103.7 ms against 100.9, LSTM 120.5
  against 116.6).

The recurrences (`lstm`, `gru`, `vanilla`) take time-major tensors: `zx` of shape `(steps, batch,
gates * units)` (the input projections `x W`), the initial states `(batch, units)`, the recurrent
kernel `(units, gates * units)`, optionally the bias `(gates * units,)` and optionally `k`,
`(steps, batch, units)`: the fraction of each unit that updates at each step
(`h_t = k h~_t + (1 - k) h_{t-1}`, the same for `c`). `k` carries masks (0 keeps the previous
state, as Keras' masking does) and the Phased LSTM's time gate. They return the outputs of every
step `(steps, batch, units)` and the final states. With `compiled=True` the forward and backward
loops are compiled with XLA, which fuses each step's elementwise work; the kernel asks for it when
the shape of the sequence is static in a traced function and large enough to repay the
compilation (`compilable`, the layer's `jit_compile`).
"""

from __future__ import annotations

import tensorflow as tf

from seqrnn._keras_private import backend_gru, backend_lstm
from seqrnn.backend import (
    CUDNN,
    FUSED,
    MIN_SLICE,
    Recurrence,
    Run,
    Unavailable,
    Weights,
    fused_refusals,
    keras_cudnn,
    refuse,
)
from seqrnn.backend.tensorflow.loops import (
    MIN_COMPILED_SIZE,
    batch_slices,
    compilable,
    cores,
)
from seqrnn.backend.tensorflow.recurrences import gru, lstm, vanilla
from seqrnn.backend.tensorflow.time_gate import time_gate, time_phase


def phase(t, shift, tau, dtype, jit_compile, sequences_shape, units):
    """`time_phase`, compiled with the loops of sequences of `sequences_shape`."""
    compiled = compilable(sequences_shape, units, jit_compile)
    return time_phase(t, shift, tau, dtype, compiled=compiled)


# --- the kernels -------------------------------------------------------------------------------


def gpu_available() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def fused(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """The fused path over `sequences` `(batch, steps, features)`: Keras' `inner_loop` results.

    When the loops compile with XLA on a CPU, slices of the batch run as independent recurrences
    side by side (`batch_slices`); outputs and states are joined along the batch, and autodiff
    adds up the slices' weight gradients.
    """
    activations = ("tanh", "relu") if recurrence.cell == "vanilla" else ("tanh",)
    refuse("the fused path", fused_refusals(recurrence, activations))
    compiled = compilable(sequences.shape, recurrence.units, recurrence.jit_compile)
    dropout_mask = weights.dropout_mask
    if recurrence.go_backwards:
        sequences = tf.reverse(sequences, [1])
        mask = None if mask is None else tf.reverse(mask, [1])
    sizes = [sequences.shape[0]]
    if compiled and not gpu_available():  # on a GPU TensorFlow's kernels use every core already
        sizes = batch_slices(sequences.shape[0], recurrence.batch_slices, cores())
    if len(sizes) == 1:  # (the batch may be unknown: not through tf.split)
        slices = [(sequences, initial_state, mask, dropout_mask)]
    else:

        def split(x):
            return [None] * len(sizes) if x is None else tf.split(x, sizes, axis=0)

        states = zip(*[split(state) for state in initial_state], strict=True)
        slices = zip(split(sequences), states, split(mask), split(dropout_mask), strict=True)
    results = [
        _fused_slice(recurrence, weights, x, list(s), m, d, compiled) for x, s, m, d in slices
    ]
    outputs = tf.concat([result[0] for result in results], axis=0)
    states = [tf.concat(parts, axis=0) for parts in zip(*[r[1] for r in results], strict=True)]
    return Run(outputs[:, -1], outputs, states, FUSED, compiled, len(sizes))


def _fused_slice(recurrence, weights, sequences, initial_state, mask, dropout_mask, compiled):
    """Outputs `(batch, steps, units)` and final states of the fused path over `sequences`
    `(batch, steps, features)` (in the order they are processed, `go_backwards` applied)."""
    units = recurrence.units
    xs = tf.transpose(sequences, [1, 0, 2])  # (steps, batch, features)
    k = None  # the fraction of each state that updates: 0 at masked steps
    if mask is not None:
        k = tf.transpose(tf.cast(mask, xs.dtype))[..., tf.newaxis]  # (steps, batch, 1)
        k = tf.broadcast_to(k, (tf.shape(xs)[0], tf.shape(xs)[1], units))
    if recurrence.cell == "phased_lstm":
        # The time gate depends on the timestamps only, so all of it is computed before the loop
        # (`time_phase` and `time_gate` give tau, s and r_on their gradients); the loop blends
        # the states by it.
        phi = xs[..., -units:]
        r_on = tf.cast(weights.r_on, phi.dtype)
        gate = time_gate(phi, r_on, recurrence.leak, compiled=compiled)  # (steps, batch, units)
        k = gate if k is None else gate * k
        xs = xs[..., :-units]
        dropout_mask = None if dropout_mask is None else dropout_mask[:, :-units]
    if dropout_mask is not None:
        xs = xs * dropout_mask[tf.newaxis]
    shape = tf.shape(xs)
    kernel = tf.cast(weights.kernel, xs.dtype)
    zx = tf.matmul(tf.reshape(xs, (-1, shape[-1])), kernel)
    # (steps, batch, gates * units), the last size spelled out: -1 reads 0 of an empty batch
    zx = tf.reshape(zx, (shape[0], shape[1], tf.shape(kernel)[-1]))
    u = tf.cast(weights.recurrent_kernel, zx.dtype)
    bias = None if weights.bias is None else tf.cast(weights.bias, zx.dtype)
    if recurrence.cell in ("lstm", "phased_lstm"):
        hs, h, c = lstm(zx, *initial_state, u, k, bias=bias, compiled=compiled)
        states = [h, c]
    elif recurrence.cell == "gru":
        hs, h = gru(zx, initial_state[0], u, k, bias=bias, compiled=compiled)
        states = [h]
    else:
        relu = recurrence.activation == "relu"
        hs, h = vanilla(zx, initial_state[0], u, k, bias=bias, compiled=compiled, relu=relu)
        states = [h]
    outputs = tf.transpose(hs, [1, 0, 2])  # (batch, steps, units)
    if mask is not None:
        # Keras' outputs: zero at masked steps (zero_output_for_mask) or the previous output,
        # which is zero before a sample's first unmasked step.
        shown = tf.cast(mask, outputs.dtype)
        if not recurrence.zero_output_for_mask:
            shown = tf.cast(tf.cumsum(shown, axis=1) > 0, outputs.dtype)
        outputs = outputs * shown[..., tf.newaxis]
    return outputs, states


def _cudnn_refusals(recurrence: Recurrence) -> list[str]:
    reasons = [r for r in fused_refusals(recurrence) if r != "reset_after=False"]
    return reasons + ([] if recurrence.use_bias else ["use_bias=False"])


def cudnn_may_run(recurrence: Recurrence) -> bool:
    """Whether `cudnn` may run these settings here (a GPU, the settings cuDNN takes)."""
    usable = recurrence.cell in ("lstm", "gru") and recurrence.use_cudnn is not False
    usable = usable and recurrence.reset_after and not _cudnn_refusals(recurrence)
    return usable and gpu_available()


def cudnn(recurrence: Recurrence, sequences, initial_state, mask, weights: Weights) -> Run:
    """Keras' cuDNN kernel (`keras.src.backend.lstm` or `gru`) on a GPU.

    A mask must be right-padded for cuDNN. Keras checks that with a `tf.Assert`, which inside a
    traced function fails when the graph runs instead of refusing while it is traced, so masks
    run cuDNN in eager calls only, where their values are known, and the fused path otherwise.
    """
    if recurrence.use_cudnn is False:
        raise Unavailable("use_cudnn=False")
    if not gpu_available():
        raise Unavailable("no GPU")
    refuse("Keras' cuDNN kernel", _cudnn_refusals(recurrence))
    if mask is not None:
        if not tf.executing_eagerly():
            raise NotImplementedError(
                "Keras' cuDNN kernel takes masks only in eager calls here (inside a traced "
                "function a mask that is not right-padded fails when the graph runs)"
            )
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        padded = tf.range(tf.shape(mask)[1])[tf.newaxis] < lengths[:, tf.newaxis]
        if not bool(tf.reduce_all(tf.equal(tf.cast(mask, tf.bool), padded))) or not bool(
            tf.reduce_all(lengths > 0)
        ):
            raise NotImplementedError(
                "Keras' cuDNN kernel takes right-padded masks with a valid step in every sample"
            )
    function = backend_gru if recurrence.cell == "gru" else backend_lstm
    try:
        last, outputs, states = keras_cudnn(
            function, recurrence, sequences, initial_state, mask, weights
        )
    except NotImplementedError:
        raise NotImplementedError(
            "Keras' cuDNN kernel refused these settings (it needs reset_after=True and "
            "right-padded masks)"
        ) from None
    return Run(last, outputs, list(states), CUDNN)


KERNELS = {
    "vanilla": [fused],
    "lstm": [cudnn, fused],
    "gru": [cudnn, fused],
    "phased_lstm": [fused],
}


__all__ = [
    "KERNELS",
    "MIN_COMPILED_SIZE",
    "MIN_SLICE",
    "batch_slices",
    "compilable",
    "cores",
    "cudnn",
    "cudnn_may_run",
    "fused",
    "gpu_available",
    "gru",
    "lstm",
    "phase",
    "time_gate",
    "time_phase",
    "vanilla",
]
