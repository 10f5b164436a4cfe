"""Functional-API models for the tasks: input encoding -> recurrent stack -> the task's head.

The builder reads only a task's attributes (`input_kind`, `vocab_size`, `num_classes`,
`per_step`, `padded`, and `time_features` where a task has it), so it knows no task by name.
The model outputs logits.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from seqrnn.errors import UsageError
from seqrnn.layers import GRU, LSTM, PhasedLSTM, VanillaRNN
from seqrnn.settings import Cell
from seqrnn.tasks.base import Task

#: The layer of each cell name (`seqrnn.settings.Cell`, the names the settings offer).
CELLS: dict[str, type[keras.layers.RNN]] = {
    Cell.VANILLA.value: VanillaRNN,
    Cell.LSTM.value: LSTM,
    Cell.GRU.value: GRU,
    Cell.PHASED.value: PhasedLSTM,
}


@keras.saving.register_keras_serializable(package="seqrnn")
class StepTimes(keras.layers.Layer):
    """Timestamps 0, 1, 2, ... for every sample: what a Phased LSTM reads on untimed tasks.

    Call arguments:
        inputs: Any tensor `(batch, steps, ...)`.
        start: Optional `(batch,)` time of the first step (a window that continues a stream).

    Returns:
        `(batch, steps)` float32 step indices (plus `start`).
    """

    def call(self, inputs, start=None):
        steps = ops.arange(ops.shape(inputs)[1], dtype="float32")
        times = ops.zeros(ops.shape(inputs)[:2], dtype="float32") + steps
        if start is not None:
            times = times + ops.cast(ops.reshape(start, (-1, 1)), "float32")
        return times

    def compute_output_shape(self, inputs_shape, start_shape=None):
        return tuple(inputs_shape[:2])

    def compute_mask(self, inputs, mask=None, start=None):
        return mask


@keras.saving.register_keras_serializable(package="seqrnn")
class TimeFeatures(keras.layers.Layer):
    """What a cell without a time gate reads of the timestamps: elapsed time and the last gap.

    Raw timestamps (tens to hundreds of ms) would saturate an LSTM's gates, so the features are
    scaled: the time since the sample's first observation divided by `elapsed_scale`, and the
    gap since the previous observation (0 at the first one) divided by `gap_scale`.

    Args:
        features: `"elapsed+gap"` (both, in that order) or `"elapsed"`.
        elapsed_scale: Divides the elapsed time.
        gap_scale: Divides the gaps.

    Call arguments:
        times: `(batch, steps)` timestamps.

    Returns:
        `(batch, steps, 2)` (or `(batch, steps, 1)` for `"elapsed"`) float32 features.
    """

    def __init__(
        self,
        features: str = "elapsed+gap",
        elapsed_scale: float = 100.0,
        gap_scale: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if features not in ("elapsed+gap", "elapsed"):
            raise ValueError(f"features must be 'elapsed+gap' or 'elapsed', got {features!r}")
        self.features = features
        self.elapsed_scale = float(elapsed_scale)
        self.gap_scale = float(gap_scale)

    def call(self, times):
        times = ops.cast(times, "float32")
        columns = [(times - times[:, :1]) / self.elapsed_scale]
        if self.features == "elapsed+gap":
            gaps = ops.concatenate([ops.zeros_like(times[:, :1]), ops.diff(times, axis=1)], 1)
            columns.append(gaps / self.gap_scale)
        return ops.stack(columns, axis=-1)

    def compute_output_shape(self, times_shape):
        return (*tuple(times_shape[:2]), 2 if self.features == "elapsed+gap" else 1)

    def get_config(self):
        return {
            **super().get_config(),
            "features": self.features,
            "elapsed_scale": self.elapsed_scale,
            "gap_scale": self.gap_scale,
        }


def _encode_inputs(task: Task, embedding_dim: int) -> tuple[dict, Any, Any, Any]:
    """Model inputs, the features they give, the timestamps (or None) and the step mask."""
    signature = task.input_signature()
    inputs = {
        name: keras.Input(shape, dtype=dtype, name=name)
        for name, (shape, dtype) in signature.items()
    }
    if task.input_kind == "tokens":
        embed = keras.layers.Embedding(task.vocab_size, embedding_dim, mask_zero=task.padded)
        return inputs, embed(inputs["tokens"]), None, None
    if task.input_kind == "digit_pairs":
        digits = keras.layers.Embedding(task.vocab_size, embedding_dim)(inputs["digits"])
        features = keras.layers.Reshape((-1, 2 * embedding_dim))(
            digits
        )  # both digits, side by side
        return inputs, features, None, None
    return inputs, inputs["values"], inputs["times"], inputs["mask"]


def build_model(
    task: Task,
    cell: str = "lstm",
    units: int = 128,
    num_layers: int = 1,
    embedding_dim: int = 32,
    dropout: float = 0.0,
    **layer_kwargs: Any,
) -> keras.Model:
    """The model a task needs, with `num_layers` recurrent layers of the chosen cell.

    Args:
        task: The task (what the inputs and the head look like).
        cell: `"vanilla"`, `"lstm"`, `"gru"` or `"phased"`.
        units: Units of every recurrent layer.
        num_layers: How many recurrent layers are stacked.
        embedding_dim: Width of the embedding of tokens (or of each digit).
        dropout: Dropout between layers and before the head, in [0, 1).
        **layer_kwargs: Further arguments of every recurrent layer. `jit_compile` defaults to
            False for tasks whose batches change shape (`task.fixed_shapes`), else "auto".

    Returns:
        A `keras.Model` from the task's named inputs to logits: `(batch, steps, classes)` when
        the task predicts at every step, else `(batch, classes)`.
    """
    if cell not in CELLS:
        raise UsageError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise UsageError(f"the number of layers must be an integer >= 1, got {num_layers!r}")
    if not 0.0 <= dropout < 1.0:
        raise UsageError(f"dropout must lie in [0, 1), got {dropout!r}")
    inputs, h, times, mask = _encode_inputs(task, embedding_dim)
    layer_class = CELLS[cell]
    if layer_class is PhasedLSTM and times is None:
        times = StepTimes()(h)
    elif layer_class is not PhasedLSTM and times is not None:
        # Cells without a time gate read scaled time features beside the values.
        features = TimeFeatures(task.time_features)(times)
        h = keras.layers.Concatenate()([h, features])
    # Batches whose shapes change from step to step (padded sentences, sums) would compile the
    # fused loops with XLA once per shape: the layers run plain graph loops for them.
    layer_kwargs.setdefault("jit_compile", "auto" if task.fixed_shapes else False)
    for index in range(num_layers):
        last = index == num_layers - 1
        # Every layer returns its final states too: `with_states` reuses the layers in a model
        # that carries the states from one window to the next.
        layer = layer_class(
            units, return_sequences=task.per_step or not last, return_state=True, **layer_kwargs
        )
        layer_inputs = [h, times] if layer_class is PhasedLSTM else h
        h = (layer(layer_inputs, mask=mask) if mask is not None else layer(layer_inputs))[0]
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    logits = keras.layers.Dense(task.num_classes, name="logits")(h)
    return keras.Model(inputs, logits, name=f"{task.name}_{cell}")


def recurrent_layers(model: keras.Model) -> list[keras.layers.RNN]:
    """The recurrent layers of a model from `build_model`, first to last."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]


def state_shapes(model: keras.Model) -> list[list[int]]:
    """The widths of every state of every recurrent layer (LSTM: [h, c]; others: [h])."""
    shapes = []
    for layer in recurrent_layers(model):
        size = layer.cell.state_size
        shapes.append(list(size) if isinstance(size, (list, tuple)) else [size])
    return shapes


def with_states(model: keras.Model) -> keras.Model:
    """The same layers and weights as a model that starts from given states and returns its own.

    For token models (language models of text), whose training carries the hidden state from one
    window to the next. Inputs: `{"tokens": (batch, steps), "states": [...]}` with one
    `(batch, width)` tensor per state of `state_shapes(model)`, flattened layer by layer.
    Outputs: `[logits, *final_states]`. A model with a Phased LSTM also takes `"start"`, the
    `(batch,)` time of each window's first step, so that windows continue the stream's clock.
    """
    layers = {type(layer): layer for layer in model.layers}
    if keras.layers.Embedding not in layers or "tokens" not in model.input:
        raise UsageError(f"{model.name}: carrying states needs a model of tokens")
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    widths = [w for layer_widths in state_shapes(model) for w in layer_widths]
    states = [keras.Input((w,), name=f"state_{i}") for i, w in enumerate(widths)]
    h = layers[keras.layers.Embedding](tokens)
    inputs = {"tokens": tokens, "states": states}
    times = None
    if StepTimes in layers:
        inputs["start"] = keras.Input((), name="start")
        times = StepTimes()(h, start=inputs["start"])
    finals, position = [], 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            count = len(layer.cell.state_size) if isinstance(layer.cell.state_size, list) else 1
            initial = states[position : position + count]
            position += count
            outputs = layer([h, times] if times is not None else h, initial_state=initial)
            h, finals = outputs[0], finals + list(outputs[1:])
        elif isinstance(layer, keras.layers.Dropout):
            h = layer(h)
    logits = model.get_layer("logits")(h)
    return keras.Model(inputs, [logits, *finals])


def build_run_model(config, task: Task, **overrides: Any):
    """The model a run's `config` (a `TrainConfig`) describes; `overrides` replace arguments
    of `build_model` (dropout, say)."""
    arguments = {
        "units": config.units,
        "num_layers": config.layers,
        "embedding_dim": config.embedding_dim,
        "dropout": config.dropout,
        "seed": config.seed,
        **({"chrono_init": config.chrono_init} if config.chrono_init else {}),
        **overrides,
    }
    return build_model(task, config.cell, **arguments)
