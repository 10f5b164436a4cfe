"""The LSTM layer."""

import keras

from seqrnn.cells.lstm_cell import LSTMCell
from seqrnn.layers._base import CellLayer


@keras.saving.register_keras_serializable(package="seqrnn")
class LSTM(CellLayer):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997).

    A drop-in for `keras.layers.LSTM`: same arguments, same weights (gate order i, f, c, o),
    same outputs.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, unit_forget_bias, chrono_init, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed: As in `seqrnn.cells.LSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            As in `keras.layers.RNN`.
        use_fused, use_cudnn, jit_compile, batch_slices: The paths it may take (`CellLayer`).
        implementation: As in `seqrnn.cells.LSTMCell`: how dropout draws its masks.
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
    kernel_cell = "lstm"
