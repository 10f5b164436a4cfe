"""The GRU layer."""

import keras

from seqrnn.cells.gru_cell import GRUCell
from seqrnn.layers._base import CellLayer


@keras.saving.register_keras_serializable(package="seqrnn")
class GRU(CellLayer):
    """Gated recurrent unit layer (Cho et al., 2014).

    A drop-in for `keras.layers.GRU`: same arguments, same weights, same outputs, with
    `reset_after=True` (Keras/cuDNN, default) or `False` (textbook).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, recurrent_activation, reset_after, chrono_init, use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, kernel_regularizer, recurrent_regularizer,
        bias_regularizer, kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed: As in `seqrnn.cells.GRUCell`.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            As in `keras.layers.RNN`.
        use_fused, use_cudnn, jit_compile, batch_slices: The paths it may take (`CellLayer`).
        implementation: As in `seqrnn.cells.GRUCell`: how dropout draws its masks.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        sequences: A 3D tensor `(batch, steps, features)`.
        initial_state: Optional initial output `(batch, units)`.
        mask: Optional boolean tensor `(batch, steps)`; masked steps keep the previous state.
        training: Whether dropout is active.

    Returns:
        `(batch, units)`, or `(batch, steps, units)` with `return_sequences`, followed by the
        final state with `return_state`.

    Example:

    >>> y = GRU(128, reset_after=False)(keras.ops.ones((8, 30, 16)))  # (8, 128)
    """

    cell_class = GRUCell
    kernel_cell = "gru"
