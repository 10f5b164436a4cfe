"""The gated recurrent unit (Cho et al., 2014) in both of its conventions."""

from __future__ import annotations

from typing import Any

import keras
from keras import activations, ops, tree

from seqrnn.cells._base import RecurrentCell, check_chrono_init, get_activation


@keras.saving.register_keras_serializable(package="seqrnn")
class GRUCell(RecurrentCell):
    """Cell of the GRU layer.

    Gates z (update) and r (reset) are `σ(x_t W_g + h_{t-1} U_g + b_g)`; the candidate is
    `h~ = tanh(x_t W_h + r ⊙ (h_{t-1} U_h + b'_h))` with `reset_after=True` (Keras' and cuDNN's
    convention, two bias vectors) or `h~ = tanh(x_t W_h + (r ⊙ h_{t-1}) U_h + b_h)` with
    `reset_after=False` (the textbook form); then `h_t = z ⊙ h_{t-1} + (1 - z) ⊙ h~`.
    Weights use the layout of `keras.layers.GRUCell` (gate order z, r, h; bias of shape
    `(2, 3 * units)` when `reset_after`), so weights copy between the two unchanged.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate. Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        reset_after: Apply the reset gate after the recurrent matrix product. Default: `True`.
        chrono_init: `None` (default) or the longest dependency T_max in steps: chrono
            initialization (Tallec & Ollivier, 2018) draws the update gate's (input) bias
            from log(U[1, T_max - 1]), so z starts near 1 with timescales spread up to T_max.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed:
            As in `keras.layers.GRUCell`.
        implementation: How dropout draws its masks, as in `keras.layers.GRUCell`: 2 (default),
            one input mask and one recurrent mask for all the gates; 1, 3 of each, a mask per
            gate. A `recurrent_dropout` above 0 makes it 1, as in Keras. The products are the
            same either way.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: A 2D tensor `(batch, features)`.
        states: The previous output `(batch, units)` (or a list holding it).
        training: Whether dropout is active.

    Returns:
        `(h_t, new_states)`.

    Example:

    >>> cell = GRUCell(32, reset_after=False)
    >>> y = keras.layers.RNN(cell)(keras.ops.ones((4, 10, 8)))  # (4, 32)
    """

    num_gates = 3

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        recurrent_activation: Any = "sigmoid",
        reset_after: bool = True,
        chrono_init: int | None = None,
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = get_activation("recurrent_activation", recurrent_activation)
        self.reset_after = bool(reset_after)
        self.chrono_init = check_chrono_init(chrono_init)
        self._set_implementation(implementation)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _bias_initializer(self):
        if self.chrono_init is None:
            return self.bias_initializer
        units, base, chrono = self.units, self.bias_initializer, self._chrono_bias
        two_rows = self.reset_after

        def chrono_bias_initializer(_, *args, **kwargs):
            # z keeps the old state (h = z h_{t-1} + (1 - z) h~): its input bias is the chrono one.
            row = ops.concatenate([chrono(*args, **kwargs), base((2 * units,), *args, **kwargs)])
            if not two_rows:
                return row
            return ops.stack([row, base((3 * units,), *args, **kwargs)])

        return chrono_bias_initializer

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if tree.is_nested(states) else states  # (batch, units)
        u = self.units
        input_bias = recurrent_bias = None
        if self.use_bias:
            if self.reset_after:
                input_bias, recurrent_bias = self.bias[0], self.bias[1]
            else:
                input_bias = self.bias
        x = self._masked_product(inputs, self.kernel, self._input_mask(inputs, training))
        if input_bias is not None:
            x = x + input_bias  # (batch, 3u)
        mask = self._state_mask(h_tm1, training)  # None, one mask, or one per gate (z, r, h)
        per_gate = isinstance(mask, (list, tuple))
        if self.reset_after:
            inner = self._masked_product(h_tm1, self.recurrent_kernel, mask)  # (batch, 3u)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            zr_mask = mask[:2] if per_gate else mask
            inner = self._masked_product(h_tm1, self.recurrent_kernel[:, : 2 * u], zr_mask)
        h_mask = mask[2] if per_gate else mask
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        if self.reset_after:
            inner_z, inner_r, inner_h = ops.split(inner, 3, axis=-1)
        else:
            inner_z, inner_r = ops.split(inner, 2, axis=-1)
        z = self.recurrent_activation(x_z + inner_z)
        r = self.recurrent_activation(x_r + inner_r)
        if self.reset_after:
            recurrent_h = r * inner_h
        else:
            h_dropped = h_tm1 if h_mask is None else h_tm1 * h_mask
            recurrent_h = ops.matmul(r * h_dropped, self.recurrent_kernel[:, 2 * u :])
        candidate = self.activation(x_h + recurrent_h)
        h = z * h_tm1 + (1.0 - z) * candidate
        return h, [h] if tree.is_nested(states) else h

    def get_config(self) -> dict[str, Any]:
        config = {
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
            "chrono_init": self.chrono_init,
            "implementation": self.implementation,
        }
        return {**super().get_config(), **config}
