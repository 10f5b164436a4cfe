"""The long short-term memory cell (Hochreiter & Schmidhuber, 1997) in Keras' layout."""

from __future__ import annotations

from typing import Any

import keras
from keras import activations, initializers, ops

from seqrnn.cells._base import RecurrentCell, check_chrono_init, get_activation


@keras.saving.register_keras_serializable(package="seqrnn")
class LSTMCell(RecurrentCell):
    """Cell of the LSTM layer.

    With z = x_t W + h_{t-1} U + b split into four blocks (input, forget, candidate, output):
    `i = σ(z_i)`, `f = σ(z_f)`, `c_t = f c_{t-1} + i tanh(z_c)`, `o = σ(z_o)`,
    `h_t = o tanh(c_t)`. Weights use the layout of `keras.layers.LSTMCell` (gate order i, f, c, o),
    so weights copy between the two unchanged.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate and of the output. Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        unit_forget_bias: If `True` (default), add 1 to the forget-gate bias at initialization
            (Jozefowicz et al., 2015) and use `bias_initializer` for the other gates.
        chrono_init: `None` (default) or the longest dependency T_max (in steps) the cell
            should hold at initialization: chrono initialization (Tallec & Ollivier, 2018)
            draws the forget-gate bias from log(U[1, T_max - 1]) and sets the input-gate bias
            to its negative, so the units start with memory timescales spread up to T_max.
            Overrides `unit_forget_bias`; the other gates use `bias_initializer`.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed:
            As in `keras.layers.LSTMCell`.
        implementation: How dropout draws its masks, as in `keras.layers.LSTMCell`: 2 (default),
            one input mask and one recurrent mask for all the gates; 1, 4 of each, a mask per
            gate. A `recurrent_dropout` above 0 makes it 1, as in Keras. The products are the
            same either way.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: `[h_{t-1}, c_{t-1}]`, each `(batch, units)`.
        training: Whether dropout is active.

    Returns:
        `(h_t, [h_t, c_t])`.

    Example:

    >>> cell = LSTMCell(32)
    >>> y = keras.layers.RNN(cell)(keras.ops.ones((4, 10, 8)))  # (4, 32)
    """

    num_gates = 4

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        unit_forget_bias: bool = True,
        chrono_init: int | None = None,
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.chrono_init = check_chrono_init(chrono_init)
        self._set_implementation(implementation)
        self.state_size = [self.units, self.units]

    def _bias_initializer(self):
        if self.chrono_init is not None:
            units, base, chrono = self.units, self.bias_initializer, self._chrono_bias

            def chrono_bias_initializer(_, *args, **kwargs):
                forget = chrono(*args, **kwargs)
                rest = base((2 * units,), *args, **kwargs)
                return ops.concatenate([-forget, forget, rest])

            return chrono_bias_initializer
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, base = self.units, self.bias_initializer

        def bias_initializer(_, *args, **kwargs):
            return ops.concatenate(
                [
                    base((units,), *args, **kwargs),
                    initializers.get("ones")((units,), *args, **kwargs),
                    base((2 * units,), *args, **kwargs),
                ]
            )

        return bias_initializer

    def _gates(self, z, c_tm1):
        """From the pre-activations z (batch, 4*units) to (c_t, o): the step without peepholes."""
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        return c, o

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]  # (batch, units) each
        c, o = self._gates(self._project(inputs, h_tm1, training), c_tm1)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        config = {
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
            "chrono_init": self.chrono_init,
            "implementation": self.implementation,
        }
        return {**super().get_config(), **config}
