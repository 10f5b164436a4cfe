"""What seqrnn's recurrent layers share: a `keras.layers.RNN` around one seqrnn cell."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
from keras import activations, ops, tree

from seqrnn import backend
from seqrnn._keras_private import without_autocast
from seqrnn.backend import PER_STEP, Recurrence, Weights
from seqrnn.cells._base import RecurrentCell


def _cell_arguments(cell_class: type[RecurrentCell]) -> tuple[str, ...]:
    """The keyword arguments a cell class takes, gathered along its base classes."""
    names: list[str] = []
    for klass in cell_class.__mro__:
        if not (isinstance(klass, type) and issubclass(klass, RecurrentCell)):
            break
        for name, parameter in inspect.signature(klass.__init__).parameters.items():
            keyword = parameter.kind is parameter.POSITIONAL_OR_KEYWORD
            if keyword and name != "self" and name not in names:
                names.append(name)
    return tuple(names)


def _activation_name(function: Any) -> str:
    """How a kernel knows an activation: "tanh", "sigmoid", "relu" or a description."""
    for name in ("tanh", "sigmoid", "relu"):
        if function is getattr(activations, name) or function is getattr(ops, name):
            return name
    return f"{getattr(function, '__name__', type(function).__name__)} (another function)"


def _check_choice(name: str, value: Any, choices: tuple) -> Any:
    if not any(value is c or (isinstance(c, str) and value == c) for c in choices):
        raise ValueError(
            f"Received an invalid value for argument {name}, expected one of "
            f"{', '.join(repr(c) for c in choices)}, got {value!r}."
        )
    return value


def _check_slices(value: Any) -> int | str:
    ok = value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
    if not ok:
        raise ValueError(
            "Received an invalid value for argument batch_slices, expected 'auto' or a positive "
            f"integer, got {value!r}."
        )
    return value


class CellLayer(keras.layers.RNN):
    """A `keras.layers.RNN` that builds its own seqrnn cell from the layer's arguments.

    Subclasses set `cell_class` and `kernel_cell` (the cell's name in `seqrnn.backend`). A call
    asks the active backend's sequence kernels (`seqrnn.backend.kernels`), fastest first, to run
    the whole recurrence: on TensorFlow, Keras' cuDNN kernel on a GPU (LSTM, GRU) and the fused
    path (one input projection for all steps, a loop holding the recurrent product, a
    hand-written backward pass); on JAX, cuDNN on a GPU (LSTM) and the fused path; on PyTorch,
    PyTorch's own recurrent kernels ("native"; cuDNN on a CUDA device). A kernel refuses what it
    does not implement, and the layer runs its per-step cell instead, with one warning per layer
    naming the reason. `layer.path` says which path the last call took.

    Args:
        use_fused: `"auto"` (default): the fastest kernel that runs these settings, else the
            per-step cell with a warning; `True`: raise instead of falling back; `False`: the
            per-step cell, silently.
        use_cudnn: Keras' argument: `"auto"` uses cuDNN where a GPU and the settings allow,
            `False` never, `True` raises when it cannot run.
        jit_compile: TensorFlow: compile the fused loops with XLA, `"auto"` (default) in traced
            functions of a static shape of at least 65,536 batch x steps x units; `False` for
            inputs whose shape changes from call to call (each shape compiles anew). On JAX the
            function around the layer decides (`jax.jit`, `model.fit`); PyTorch ignores it.
        batch_slices: TensorFlow, compiled loops on a CPU: `"auto"` (default) runs one slice of
            the batch per core (each of at least 8 samples) as independent recurrences side by
            side; an integer runs that many (1: the whole batch in one). JAX: the scans advance
            that many chains of the batch (the largest divisor of the batch not above it) one
            after another in each step; `"auto"` is one per core for the GRU on a CPU, else 1.

    Every argument of the cell is accepted by the layer, kept in its config and readable as a
    property (`layer.units`, `layer.dropout`, ...); the remaining arguments are
    `keras.layers.RNN`'s (`return_sequences`, `return_state`, `go_backwards`, `stateful`,
    `unroll`, `zero_output_for_mask`) and `keras.layers.Layer`'s.
    """

    cell_class: type[RecurrentCell]
    #: The cell's name among `seqrnn.backend.CELLS`.
    kernel_cell: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._cell_argument_names = _cell_arguments(cls.cell_class)
        for name in cls._cell_argument_names:
            if not hasattr(cls, name):
                setattr(cls, name, property(lambda self, name=name: getattr(self.cell, name)))

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_fused: bool | str = "auto",
        use_cudnn: bool | str = "auto",
        jit_compile: bool | str = "auto",
        batch_slices: int | str = "auto",
        **kwargs: Any,
    ) -> None:
        choices = ("auto", True, False)
        self.use_fused = _check_choice("use_fused", use_fused, choices)
        self.use_cudnn = _check_choice("use_cudnn", use_cudnn, choices)
        self.jit_compile = _check_choice("jit_compile", jit_compile, choices)
        self.batch_slices = _check_slices(batch_slices)
        cell_kwargs = {
            name: kwargs.pop(name) for name in self._cell_argument_names[1:] if name in kwargs
        }
        cell = self.cell_class(
            units,
            name=f"{self.cell_class.__name__.removesuffix('Cell').lower()}_cell",
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )
        if use_fused is False and use_cudnn is True:
            raise ValueError(
                "Received use_cudnn=True, which asks for cuDNN, and use_fused=False, which asks "
                "for the per-step cell; pass one of them."
            )
        if use_fused is not False and backend.cudnn_may_run(self._recurrence(training=False)):
            self.supports_jit = False  # TensorFlow's cuDNN kernels do not compile with XLA

    @property
    def path(self) -> str | None:
        """Which path ran the last call: `"cudnn"`, `"fused"`, `"native"` or `"per-step"` (None
        before the first call)."""
        return getattr(self, "_path", None)

    @property
    def xla(self) -> bool:
        """Whether the last call compiled its loops with XLA (TensorFlow's fused path)."""
        return getattr(self, "_xla", False)

    @property
    def slices(self) -> int:
        """How many slices (TensorFlow) or chains (JAX) of the batch the last call ran as
        independent recurrences (1 for the whole batch in one)."""
        return getattr(self, "_slices", 1)

    def _recurrence(self, training: bool) -> Recurrence:
        """The settings a kernel needs to know (`seqrnn.backend.Recurrence`)."""
        cell = self.cell
        return Recurrence(
            cell=self.kernel_cell,
            units=cell.units,
            activation=_activation_name(cell.activation),
            recurrent_activation=_activation_name(
                getattr(cell, "recurrent_activation", activations.sigmoid)
            ),
            use_bias=cell.use_bias,
            reset_after=getattr(cell, "reset_after", True),
            use_peepholes=getattr(cell, "use_peepholes", False),
            leak=getattr(cell, "leak", 0.0) if training else 0.0,
            # (recurrent dropout acts only while training: inference takes the fast paths)
            recurrent_dropout=cell.recurrent_dropout if training else 0.0,
            gate_masks=bool(training) and cell.dropout > 0.0 and cell.implementation == 1,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
            unroll=self.unroll,
            training=bool(training),
            jit_compile=self.jit_compile,
            batch_slices=self.batch_slices,
            use_cudnn=self.use_cudnn,
        )

    def _weights(self, sequences, training) -> Weights:
        """The cell's tensors and, while training with dropout, the sequence's input dropout mask
        `(batch, features)` (as the cell uses it)."""
        cell = self.cell
        dropout_mask = None
        if training and cell.dropout > 0.0:
            dropout_mask = cell.get_dropout_mask(sequences[:, 0, :])
        r_on = cell.open_fraction() if hasattr(cell, "open_fraction") else None
        bias = cell.bias if cell.use_bias else None
        return Weights(cell.kernel, cell.recurrent_kernel, bias, dropout_mask, r_on)

    def _create_state_variables(self, batch_size):
        # Keras' `RNN.build` creates a stateful layer's states here. Read in float32 (`call`
        # casts them to the compute dtype), so that assigning them works on every backend
        # under mixed precision (`without_autocast`).
        super()._create_state_variables(batch_size)
        for state in tree.flatten(self.states):
            without_autocast(state)

    def _record(self, path: str, compiled: bool, slices: int, refusals: list[str]) -> None:
        """Records the path; warns once per layer when a faster one refused these settings."""
        self._path, self._xla, self._slices = path, compiled, slices
        if not refusals or getattr(self, "_told", False):
            return
        self._told = True
        if path == PER_STEP:
            message = (
                f"runs the per-step cell: {'; '.join(refusals)}. Pass use_fused=False to choose "
                "the per-step cell without this warning."
            )
        else:
            message = f"runs the {path} path instead of cuDNN on this GPU: {'; '.join(refusals)}."
        warnings.warn(
            f"{type(self).__name__} layer {self.name!r} {message}", UserWarning, stacklevel=5
        )

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(sequences.dtype)):
            sequences = ops.cast(sequences, self.compute_dtype)  # as Keras' layers take integers
        if mask is not None and not isinstance(mask, (list, tuple)):
            mask = ops.convert_to_tensor(mask)  # (a NumPy mask breaks Keras' PyTorch loop)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        refusals = []  # why the faster kernels refused these settings
        ran_cudnn = False
        if self.use_fused is not False:
            recurrence = self._recurrence(training)
            weights = self._weights(sequences, training)
            kernels = backend.kernels(self.kernel_cell)
            if not kernels:
                refusals.append(f"the {keras.backend.backend()!r} backend has no sequence kernels")
            for kernel in kernels:
                try:
                    run = kernel(recurrence, sequences, initial_state, mask, weights)
                except backend.Unavailable:
                    continue
                except NotImplementedError as error:
                    refusals.append(str(error))
                    continue
                ran_cudnn = run.path == backend.CUDNN
                if self.use_cudnn is True and not ran_cudnn:
                    break
                self._record(run.path, run.compiled, run.slices, refusals)
                return run.last_output, run.outputs, run.states
        if self.use_cudnn is True and not ran_cudnn:
            raise ValueError(
                f"use_cudnn=True was given to {type(self).__name__} layer {self.name!r}, but "
                f"cuDNN cannot run it here (no GPU, or settings it does not implement"
                f"{': ' + '; '.join(refusals) if refusals else ''}); pass use_cudnn='auto' to "
                "fall back to the other paths."
            )
        if self.use_fused is True:
            raise ValueError(
                f"use_fused=True was given to {type(self).__name__} layer {self.name!r}, but no "
                f"fast kernel can run it: {'; '.join(refusals)}; pass use_fused='auto' to fall "
                "back to the per-step cell."
            )
        self._record(PER_STEP, False, 1, refusals)
        return super().inner_loop(sequences, initial_state, mask, training)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["cell"]
        config.update(
            use_fused=self.use_fused,
            use_cudnn=self.use_cudnn,
            jit_compile=self.jit_compile,
            batch_slices=self.batch_slices,
        )
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)
