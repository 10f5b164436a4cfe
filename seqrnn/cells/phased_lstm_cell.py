"""The Phased LSTM cell: an LSTM whose updates are gated by a learned periodic clock.

Neil, Pfeiffer & Liu, "Phased LSTM: Accelerating Recurrent Network Training for Long or
Event-based Sequences", NeurIPS 2016.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
from keras import initializers, ops

from seqrnn.cells.lstm_cell import LSTMCell

# Floors that keep tau > 0 and 0 < r_on <= 1 whatever values training writes into the variables.
_MIN_TAU = 1e-6
_MIN_R_ON = 1e-6


def _check_tau_range(value: Any) -> tuple[float, float]:
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
        and 0.0 < value[0] <= value[1]
        and math.isfinite(value[1])
    )
    if not ok:
        raise ValueError(
            "Received an invalid value for argument tau_range, expected two positive finite "
            f"numbers (low, high) with low <= high, got {value!r}."
        )
    return float(value[0]), float(value[1])


def _check_fraction(name: str, value: Any, low_open: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and ((0.0 < value <= 1.0) if low_open else (0.0 <= value < 1.0))
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(
            f"Received an invalid value for argument {name}, expected a float in {interval}, "
            f"got {value!r}."
        )
    return float(value)


@keras.saving.register_keras_serializable(package="seqrnn")
class PhasedLSTMCell(LSTMCell):
    """Cell of the Phased LSTM: an LSTM step blended with the old state by a time gate k.

    Each unit has a period `tau`, a shift `s` and an open ratio `r_on`. For a timestamp t:

        phi = ((t - s) mod tau) / tau            (floor-mod, so negative t - s works)
        k   = 2 phi / r_on          if phi < r_on / 2
              2 - 2 phi / r_on      if r_on / 2 <= phi < r_on
              leak * phi            otherwise (leak only while training, 0 at inference)
        c_t = k c~_t + (1 - k) c_{t-1},   h_t = k h~_t + (1 - k) h_{t-1}

    where `(h~_t, c~_t)` is an LSTM step (`LSTMCell`), with optional diagonal peepholes: the input
    and forget gates see `c_{t-1}`, the output gate sees `c~_t`. The step uses `abs(tau)` floored
    at 1e-6 and `abs(r_on)` clipped to [1e-6, 1], so the gate stays finite whatever values
    training pushes into the variables.

    The phase depends on the timestamps alone, so it is computed for a whole sequence before the
    recurrence (`phase`, vectorized, in float64 for float64 timestamps: float32 cannot tell
    t = 1e8 from t = 1e8 + 4); each step receives the phases beside its features.

    Args:
        units: Positive integer, dimensionality of the output space.
        tau_range: `(low, high)`, both positive: periods start log-uniform in this range.
            Default: `(1.0, 1000.0)`.
        r_on_init: Initial open ratio, a float in (0, 1]. Default: `0.05`.
        leak: Slope alpha of the gate while closed during training, in [0, 1). Default: `1e-3`.
        use_peepholes: Whether the gates see the cell state (diagonal weights). Default: `False`.
        trainable_tau, trainable_shift, trainable_r_on: Whether each of tau, s and r_on learns.
            Default: `True` for all three.
        activation, recurrent_activation, unit_forget_bias, chrono_init, use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint, dropout, recurrent_dropout: As in `LSTMCell`.
        seed: Seed of the dropout masks and of the tau and s initializers.
        **kwargs: Other keyword arguments of `keras.layers.Layer`.

    Call arguments:
        inputs: `(batch, features + units)`: the features of the step followed by the phase of
            every unit, `cell.phase(t_t)` for timestamps `t_t` of shape `(batch, 1)`, one per
            sample. `seqrnn.layers.PhasedLSTM` prepares these from `[x, t]`.
        states: `[h_{t-1}, c_{t-1}]`, each `(batch, units)`.
        training: Whether dropout and the leak are active.

    Returns:
        `(h_t, [h_t, c_t])`.

    Example:

    >>> cell = PhasedLSTMCell(32)
    >>> cell.build((None, 8 + 32))
    >>> x, t = keras.ops.ones((4, 8)), keras.ops.ones((4, 1))
    >>> step = keras.ops.concatenate([x, cell.phase(t)], axis=-1)
    >>> h, _ = cell(step, cell.get_initial_state(4))  # h: (4, 32)
    """

    def __init__(
        self,
        units: int,
        tau_range: tuple[float, float] = (1.0, 1000.0),
        r_on_init: float = 0.05,
        leak: float = 1e-3,
        use_peepholes: bool = False,
        trainable_tau: bool = True,
        trainable_shift: bool = True,
        trainable_r_on: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(units, **kwargs)
        self.tau_range = _check_tau_range(tau_range)
        self.r_on_init = _check_fraction("r_on_init", r_on_init, low_open=True)
        self.leak = _check_fraction("leak", leak, low_open=False)
        self.use_peepholes = bool(use_peepholes)
        self.trainable_tau = bool(trainable_tau)
        self.trainable_shift = bool(trainable_shift)
        self.trainable_r_on = bool(trainable_r_on)

    def build(self, input_shape):
        # The step input is the features followed by one phase per unit (see `call`).
        super().build((*input_shape[:-1], input_shape[-1] - self.units))
        low, high = self.tau_range
        # The period and the shift are read in their own dtype (float32) even in a mixed-precision
        # layer's call, where Keras would hand them over in float16 or bfloat16: there tau = 1.2
        # is off by 1e-3, and after 1000 time units the phase by a fifth of a period.
        log_uniform = initializers.RandomUniform(math.log(low), math.log(high), seed=self.seed)
        self.tau = self.add_weight(
            shape=(self.units,),
            name="tau",
            initializer=lambda shape, dtype=None: ops.exp(log_uniform(shape, dtype=dtype)),
            trainable=self.trainable_tau,
            autocast=False,
        )
        fraction = initializers.RandomUniform(
            0.0, 1.0, seed=None if self.seed is None else self.seed + 1
        )
        tau = ops.convert_to_tensor(self.tau)
        self.shift = self.add_weight(
            shape=(self.units,),
            name="shift",
            initializer=lambda shape, dtype=None: fraction(shape, dtype=dtype) * tau,
            trainable=self.trainable_shift,
            autocast=False,
        )
        self.r_on = self.add_weight(
            shape=(self.units,),
            name="r_on",
            initializer=initializers.Constant(self.r_on_init),
            trainable=self.trainable_r_on,
        )
        if self.use_peepholes:
            self.input_peephole, self.forget_peephole, self.output_peephole = (
                self.add_weight(shape=(self.units,), name=name, initializer="zeros")
                for name in ("input_peephole", "forget_peephole", "output_peephole")
            )

    def phase_parameters(self, t):
        """`(t, shift, tau)` in the dtype the phase is computed in: float64 when `t` is float64
        (exact for large t), float32 otherwise; tau kept away from 0."""
        t = ops.convert_to_tensor(t)
        dtype = "float64" if keras.backend.standardize_dtype(t.dtype) == "float64" else "float32"
        tau = ops.maximum(ops.abs(ops.cast(self.tau, dtype)), _MIN_TAU)
        return ops.cast(t, dtype), ops.cast(self.shift, dtype), tau

    def phase(self, t):
        """phi = ((t - s) mod tau) / tau of every unit for timestamps `t` of shape `(..., 1)`.

        Returned in the compute dtype: phi lies in [0, 1), where float32 is precise enough.
        """
        t, shift, tau = self.phase_parameters(t)
        phi = ops.mod(t - shift, tau) / tau  # (..., units), floor-mod
        return ops.cast(phi, self.compute_dtype)

    def open_fraction(self):
        """r_on, kept within (0, 1]: the fraction of each period the gate is open."""
        return ops.clip(ops.abs(self.r_on), _MIN_R_ON, 1.0)

    def gate(self, phi, training=False):
        """The openness k of every unit at phases `phi` (the piecewise-linear triangle)."""
        r_on = self.open_fraction()
        rising = 2.0 * phi / r_on
        closed = self.leak * phi if training else ops.zeros_like(phi)
        return ops.where(phi < 0.5 * r_on, rising, ops.where(phi < r_on, 2.0 - rising, closed))

    def time_gate(self, t, training=False):
        """The openness k of every unit at timestamps `t` of shape `(..., 1)`: `(..., units)`."""
        return self.gate(self.phase(t), training)

    def _gates(self, z, c_tm1):
        if not self.use_peepholes:
            return super()._gates(z, c_tm1)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i + self.input_peephole * c_tm1)
        f = self.recurrent_activation(z_f + self.forget_peephole * c_tm1)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + self.output_peephole * c)
        return c, o

    def call(self, inputs, states, training=False):
        x, phi = inputs[:, : -self.units], inputs[:, -self.units :]  # features, phases
        # The features' dropout masks are those of the whole step input, phases cut off.
        mask = self._input_mask(inputs, training)
        if isinstance(mask, (list, tuple)):
            mask = [m[:, : -self.units] for m in mask]
        elif mask is not None:
            mask = mask[:, : -self.units]
        h_tm1, c_tm1 = states[0], states[1]  # (batch, units) each
        c_new, o = self._gates(self._project(x, h_tm1, training, input_mask=mask), c_tm1)
        h_new = o * self.activation(c_new)
        k = self.gate(phi, training)  # (batch, units)
        c = k * c_new + (1.0 - k) * c_tm1
        h = k * h_new + (1.0 - k) * h_tm1
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        config = {
            "tau_range": list(self.tau_range),
            "r_on_init": self.r_on_init,
            "leak": self.leak,
            "use_peepholes": self.use_peepholes,
            "trainable_tau": self.trainable_tau,
            "trainable_shift": self.trainable_shift,
            "trainable_r_on": self.trainable_r_on,
        }
        return {**super().get_config(), **config}
