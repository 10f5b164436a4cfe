"""The LSTM layer."""

from typing import Any

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
        implementation: Accepted and kept, as Keras' LSTM accepts it; it changes nothing (the
            kernels decide how the products are grouped).
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

    def __init__(self, units: int, implementation: int = 2, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.implementation = implementation

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "implementation": self.implementation}
