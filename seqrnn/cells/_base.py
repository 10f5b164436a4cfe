"""What every seqrnn cell shares: argument checks, weights, dropout masks and config."""

from __future__ import annotations

import numbers
from typing import Any

import keras
from keras import activations, constraints, initializers, ops, regularizers

from seqrnn._keras_private import DropoutRNNCell


def check_positive_int(name: str, value: Any) -> int:
    """Returns `value` if it is a positive integer, else raises a `ValueError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument {name}, expected a positive integer, "
            f"got {value!r}."
        )
    return int(value)


def check_rate(name: str, value: Any) -> float:
    """Returns `value` as a float if it lies in [0, 1), else raises a `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for argument {name}, expected a float in [0, 1), "
            f"got {value!r}."
        )
    return float(value)


def check_chrono_init(value: Any) -> int | None:
    """`None` or the chrono initialization's T_max, an integer >= 2."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        raise ValueError(
            f"chrono_init must be None or the longest dependency in steps, an integer >= 2; "
            f"got {value!r}"
        )
    return int(value)


def get_activation(name: str, value: Any):
    """Resolves an activation like `keras.activations.get`, naming the argument on failure."""
    try:
        return activations.get(value)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Received an invalid value for argument {name}, expected the name of a Keras "
            f"activation (for example 'tanh', 'relu', 'sigmoid') or a callable, got {value!r}."
        ) from error


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base class of seqrnn's cells: one time step, written with `keras.ops` only.

    A subclass sets `num_gates` (how many `units`-wide blocks its kernels hold) and implements
    `call(inputs, states, training=False) -> (output, new_states)`. The base class validates the
    arguments Keras' cells share, creates `kernel`, `recurrent_kernel` and `bias` in Keras'
    layout, so weights copy to and from the built-in cells, and serializes every argument.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function of the candidate state. Default: `"tanh"`.
        use_bias: Whether the cell uses a bias vector. Default: `True`.
        kernel_initializer: Initializer of the input kernel. Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer of the recurrent kernel. Default: `"orthogonal"`.
        bias_initializer: Initializer of the bias. Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers of the weights.
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints of the weights.
        dropout: Float in [0, 1): fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: Float in [0, 1): fraction of the recurrent state dropped.
        seed: Random seed of the dropout masks.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.
    """

    num_gates = 1

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.activation = get_activation("activation", activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        width = self.num_gates * self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self._bias_shape(),
                name="bias",
                initializer=self._bias_initializer(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.num_gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def _chrono_bias(self, *args, **kwargs):
        """log(U[1, T_max - 1]) for each unit: the bias of a gate that keeps the state."""
        uniform = initializers.RandomUniform(1.0, max(1.0, self.chrono_init - 1.0))
        return ops.log(uniform((self.units,), *args, **kwargs))

    #: How the dropout masks are drawn (`implementation` of Keras' LSTM and GRU cells): 2, one
    #: mask for all the gates; 1, a mask per gate (`num_gates` masks each).
    implementation = 2

    def _set_implementation(self, implementation: Any) -> None:
        """Keras' rule: `implementation` is 1 or 2, and recurrent dropout makes it 1."""
        if implementation not in (1, 2) or isinstance(implementation, bool):
            raise ValueError(
                f"Received an invalid value for argument implementation, expected 1 or 2, "
                f"got {implementation!r}."
            )
        self.implementation = 1 if self.recurrent_dropout > 0.0 else int(implementation)
        if self.implementation == 1:
            self.dropout_mask_count = self.num_gates  # (read by Keras' mask helper)

    def _input_mask(self, inputs, training):
        """The sequence's input dropout mask (the same at every step): None, a tensor, or a list
        of a mask per gate (`implementation` 1)."""
        return self.get_dropout_mask(inputs) if training and self.dropout > 0.0 else None

    def _state_mask(self, h_tm1, training):
        """The sequence's recurrent dropout mask of the previous output, as `_input_mask`."""
        if training and self.recurrent_dropout > 0.0:
            return self.get_recurrent_dropout_mask(h_tm1)
        return None

    @staticmethod
    def _masked_product(x, kernel, mask):
        """`x` (dropped by `mask`) times `kernel`; a list of masks drops `x` differently for each
        of as many equal blocks of the kernel's columns, as Keras' implementation 1 does."""
        if isinstance(mask, (list, tuple)):
            blocks = ops.split(kernel, len(mask), axis=-1)
            products = [ops.matmul(x * m, k) for m, k in zip(mask, blocks, strict=True)]
            return ops.concatenate(products, axis=-1)
        return ops.matmul(x if mask is None else x * mask, kernel)

    def _project(self, inputs, h_tm1, training, input_mask=None):
        """All gate pre-activations of one step: x W + h U + b, shape (batch, num_gates*units).
        `input_mask`: the input dropout mask, when the caller drew it (else the cell's own)."""
        if input_mask is None:
            input_mask = self._input_mask(inputs, training)
        z = self._masked_product(inputs, self.kernel, input_mask)
        state_mask = self._state_mask(h_tm1, training)
        z = z + self._masked_product(h_tm1, self.recurrent_kernel, state_mask)
        if self.use_bias:
            z = z + self.bias
        return z

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def get_config(self) -> dict[str, Any]:
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
