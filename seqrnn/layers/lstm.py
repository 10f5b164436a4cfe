"""The LSTM layer."""

import keras

from seqrnn._keras_private import backend_lstm
from seqrnn.cells.lstm_cell import LSTMCell
from seqrnn.layers._base import CellLayer


def fused_lstm(layer, xs, initial_state, k, dropout_mask):
    """The fused LSTM recurrence of `layer` over time-major `xs`: outputs and `[h_T, c_T]`."""
    import tensorflow as tf

    from seqrnn.layers import _fused

    zx = layer._project(xs, dropout_mask)  # (steps, batch, 4 * units)
    u = tf.cast(layer.cell.recurrent_kernel, zx.dtype)
    hs, h, c = _fused.lstm(zx, *initial_state, u, k, bias=layer._bias(zx.dtype), compiled=layer.xla)
    return hs, [h, c]


@keras.saving.register_keras_serializable(package="seqrnn")
class LSTM(CellLayer):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997).

    A drop-in for `keras.layers.LSTM` on the generic path: same arguments, same weights (gate
    order i, f, c, o), same outputs.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, unit_forget_bias, chrono_init, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed: As in `seqrnn.cells.LSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            As in `keras.layers.RNN`.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        sequences: A 3D tensor `(batch, steps, features)`.
        initial_state: Optional `[h_0, c_0]`, each `(batch, units)`.
        mask: Optional boolean tensor `(batch, steps)`; masked steps keep the previous states.
        training: Whether dropout is active.

    Returns:
        `(batch, units)`, or `(batch, steps, units)` with `return_sequences`, followed by
        `h_T, c_T` with `return_state`.

    Example:

    >>> y = LSTM(256)(keras.ops.ones((64, 100, 64)))  # (64, 256)
    """

    cell_class = LSTMCell
    has_fused_path = True
    cudnn_kernel = staticmethod(backend_lstm)

    def _fused_recurrence(self, xs, initial_state, keep, dropout_mask, training):
        return fused_lstm(self, xs, initial_state, keep, dropout_mask)
