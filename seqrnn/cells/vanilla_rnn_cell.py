"""The vanilla (Elman) recurrent cell of seeds 001, 002 and 004."""

from __future__ import annotations

import keras
from keras import tree

from seqrnn.cells._base import RecurrentCell


@keras.saving.register_keras_serializable(package="seqrnn")
class VanillaRNNCell(RecurrentCell):
    """Cell of the vanilla RNN: `h_t = activation(x_t W + h_{t-1} U + b)`.

    Weights use the layout of `keras.layers.SimpleRNNCell` (`kernel` of shape
    `(input_dim, units)`, `recurrent_kernel` `(units, units)`, `bias` `(units,)`), so weights copy
    between the two unchanged.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function, `"tanh"` (default, the seeds' choice) or any Keras
            activation such as `"relu"`.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed:
            As in `keras.layers.SimpleRNNCell`.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: The previous output, a 2D tensor `(batch, units)` (or a list holding it).
        training: Whether dropout is active.

    Returns:
        `(h_t, new_states)`, with `h_t` of shape `(batch, units)`.

    Example:

    >>> cell = VanillaRNNCell(32)
    >>> y = keras.layers.RNN(cell)(keras.ops.ones((4, 10, 8)))  # (4, 32)
    """

    num_gates = 1

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if tree.is_nested(states) else states  # (batch, units)
        h = self.activation(self._project(inputs, h_tm1, training))  # (batch, units)
        return h, [h] if tree.is_nested(states) else h


@keras.saving.register_keras_serializable(package="seqrnn")
class SimpleRNNCell(VanillaRNNCell):
    """`VanillaRNNCell` under Keras' name (`keras.layers.SimpleRNNCell`), as `seqrnn.SimpleRNN`
    is `VanillaRNN`'s."""
