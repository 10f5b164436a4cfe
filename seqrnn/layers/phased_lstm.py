"""The Phased LSTM layer: inputs and their timestamps through one recurrence."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from seqrnn import backend
from seqrnn.cells.phased_lstm_cell import PhasedLSTMCell
from seqrnn.layers._base import CellLayer


def _split_inputs(sequences: Any) -> tuple[Any, Any]:
    if not isinstance(sequences, (list, tuple)) or len(sequences) != 2:
        raise ValueError(
            "Received an invalid value for argument inputs of PhasedLSTM, expected a list "
            "[x, t] of features (batch, steps, features) and timestamps (batch, steps) or "
            f"(batch, steps, 1), got {type(sequences).__name__}."
        )
    return sequences[0], sequences[1]


def _check_time_shape(x_shape: tuple, t_shape: tuple) -> None:
    ok = len(x_shape) == 3 and (
        len(t_shape) == 2 or (len(t_shape) == 3 and t_shape[2] in (1, None))
    )
    ok = ok and all(
        a is None or b is None or a == b for a, b in zip(x_shape[:2], t_shape[:2], strict=False)
    )
    if not ok:
        symbolic = any(
            d is not None and not isinstance(d, int) for d in (*x_shape[:2], *t_shape[:2])
        )
        raise ValueError(
            "Received an invalid value for argument timestamps of PhasedLSTM, expected a shape "
            f"(batch, steps) or (batch, steps, 1) matching x of shape {tuple(x_shape)}, got "
            f"shape {tuple(t_shape)}."
            + (
                " (Exporting from JAX names every unknown size apart: give x and the timestamps "
                "the same fixed number of steps, keras.Input((steps, features)) and "
                "keras.Input((steps,)).)"
                if symbolic
                else ""
            )
        )


def _first_mask(mask: Any) -> Any:
    """The step mask of `[x, t]`: whichever of the two carries one (Keras passes a pair)."""
    if isinstance(mask, (list, tuple)):
        return next((m for m in mask if m is not None), None)
    return mask


@keras.saving.register_keras_serializable(package="seqrnn")
class PhasedLSTM(CellLayer):
    """Phased LSTM over a sequence with per-sample, per-step timestamps.

    The layer takes `[x, t]`: features `(batch, steps, features)` and timestamps
    `(batch, steps)` or `(batch, steps, 1)`, in float32 or float64 (float64 timestamps keep the
    phase exact for large t; the features are cast to the layer's compute dtype). Samples may be
    observed at different times (asynchronous sampling). Masked steps keep both states. To stack,
    feed every layer the same timestamps: `PhasedLSTM(...)([h, t])`.

    Args:
        units: Positive integer, dimensionality of the output space.
        tau_range, r_on_init, leak, use_peepholes, trainable_tau, trainable_shift, trainable_r_on,
        activation, recurrent_activation, unit_forget_bias, chrono_init, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout, seed: As in `seqrnn.cells.PhasedLSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            As in `keras.layers.RNN`.
        use_fused, use_cudnn, jit_compile, batch_slices: The paths it may take (`CellLayer`;
            there is no cuDNN kernel of the Phased LSTM).
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        sequences: `[x, t]` as above.
        initial_state: Optional `[h_0, c_0]`, each `(batch, units)`.
        mask: Optional boolean tensor `(batch, steps)` (or the pair of masks of `[x, t]`).
        training: Whether dropout and the gate's leak are active.

    Returns:
        `(batch, units)`, or `(batch, steps, units)` with `return_sequences`, followed by
        `h_T, c_T` with `return_state`.

    Example:

    >>> x = keras.Input((None, 1))
    >>> t = keras.Input((None,), dtype="float64")
    >>> y = PhasedLSTM(110)([x, t])  # (None, 110)
    """

    cell_class = PhasedLSTMCell
    kernel_cell = "phased_lstm"

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        # Timestamps keep their dtype (float64 stays float64): `__call__` turns arrays into
        # tensors without Keras' autocast, and `call` casts the features to the compute dtype.
        self._convert_input_args = False

    def __call__(self, sequences, *args, **kwargs):
        sequences = [
            s if ops.is_tensor(s) or keras.backend.is_keras_tensor(s) else ops.convert_to_tensor(s)
            for s in _split_inputs(sequences)
        ]
        return super().__call__(sequences, *args, **kwargs)

    def build(self, sequences_shape, initial_state_shape=None):
        x_shape, t_shape = _split_inputs(sequences_shape)
        _check_time_shape(tuple(x_shape), tuple(t_shape))
        step_shape = (*tuple(x_shape)[:-1], x_shape[-1] + self.cell.units)
        super().build(step_shape, initial_state_shape)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        x_shape, _ = _split_inputs(sequences_shape)
        return super().compute_output_shape(tuple(x_shape), initial_state_shape)

    def _phases(self, t, x, training):
        """The cell's phases at timestamps `t` `(batch, steps, 1)`: the backend's phase kernel
        where it has one and a fused kernel will run the recurrence, else the cell's keras.ops."""
        if self.use_fused is not False and not backend.fused_refusals(self._recurrence(training)):
            try:
                return backend.phase(
                    *self.cell.phase_parameters(t),
                    self.compute_dtype,
                    self.jit_compile,
                    x.shape,
                    self.cell.units,
                )
            except NotImplementedError:
                pass
        return self.cell.phase(t)

    def compute_mask(self, sequences, mask):
        return super().compute_mask(sequences, _first_mask(mask))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        x, t = _split_inputs(sequences)
        x = ops.cast(ops.convert_to_tensor(x), self.compute_dtype)
        t = ops.convert_to_tensor(t)
        _check_time_shape(tuple(x.shape), tuple(t.shape))
        if len(t.shape) == 2:
            t = ops.expand_dims(t, -1)  # (batch, steps, 1)
        phases = self._phases(t, x, training)  # (batch, steps, units), before the loop
        return super().call(
            ops.concatenate([x, phases], axis=-1),
            initial_state=initial_state,
            mask=_first_mask(mask),
            training=training,
        )
