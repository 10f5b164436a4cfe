"""The vanilla RNN layer."""

import keras

from seqrnn.cells.vanilla_rnn_cell import VanillaRNNCell
from seqrnn.layers._base import CellLayer


@keras.saving.register_keras_serializable(package="seqrnn")
class VanillaRNN(CellLayer):
    """Vanilla (Elman) RNN over a sequence: `h_t = activation(x_t W + h_{t-1} U + b)`.

    A drop-in for `keras.layers.SimpleRNN`: same arguments, same weights, same outputs.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation, use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed:
            As in `seqrnn.cells.VanillaRNNCell`.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            As in `keras.layers.RNN`.
        use_fused, use_cudnn, jit_compile, batch_slices: The paths it may take (`CellLayer`;
            there is no cuDNN kernel of the vanilla RNN).
        **kwargs: Other keyword arguments of `keras.layers.Layer` (`activity_regularizer`...).

    Call arguments:
        sequences: A 3D tensor `(batch, steps, features)`.
        initial_state: Optional initial output `(batch, units)`.
        mask: Optional boolean tensor `(batch, steps)`; masked steps keep the previous state.
        training: Whether dropout is active.

    Returns:
        `(batch, units)`, or `(batch, steps, units)` with `return_sequences`, followed by the
        final state with `return_state`.

    Example:

    >>> y = VanillaRNN(100, return_sequences=True)(keras.ops.ones((2, 25, 65)))  # (2, 25, 100)
    """

    cell_class = VanillaRNNCell
    kernel_cell = "vanilla"


@keras.saving.register_keras_serializable(package="seqrnn")
class SimpleRNN(VanillaRNN):
    """`VanillaRNN` under Keras' name, for weights files saved with `keras.layers.SimpleRNN`.

    Keras' `.weights.h5` files keep each layer's variables under the snake-cased name of its
    class ("simple_rnn"), not under the layer's own name, so a weights file of a model built with
    `keras.layers.SimpleRNN` loads into the same model built with `seqrnn.SimpleRNN`, and the
    other way round; a `VanillaRNN`'s variables are under "vanilla_rnn". `get_weights` and
    `set_weights` carry them between all three.

    Example:

    >>> y = SimpleRNN(100, return_sequences=True)(keras.ops.ones((2, 25, 65)))  # (2, 25, 100)
    """
