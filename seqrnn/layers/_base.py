"""What seqrnn's recurrent layers share: a `keras.layers.RNN` around one seqrnn cell."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
from keras import activations, ops

from seqrnn._keras_private import backend_gru
from seqrnn.cells._base import RecurrentCell

#: The paths a layer's recurrence can take (`layer.path` after the first call).
FUSED, CUDNN, PER_STEP = "fused", "cudnn", "per-step"


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


class CellLayer(keras.layers.RNN):
    """A `keras.layers.RNN` that builds its own seqrnn cell from the layer's arguments.

    Subclasses set `cell_class`. On the TensorFlow backend a layer with a fused path runs it
    (`use_fused="auto"`): the input projections of all steps in one matmul, a loop holding only
    the recurrent product, and a hand-written backward pass whose weight gradients are single large
    matmuls (`seqrnn/layers/_fused.py`). When the loops are compiled with XLA on a CPU, slices of
    the batch run their recurrences side by side, one per core (`layer.slices`). On a GPU, an LSTM
    or GRU that cuDNN supports runs Keras' cuDNN kernel instead. Settings the fused path does not
    implement (recurrent dropout, other activations, `unroll=True`, another backend) run the
    per-step cell, with a warning once per layer; `layer.path` says which path the last call took.
    `use_fused=False` forces the per-step cell, `use_fused=True` raises instead of falling back.

    Every argument of the cell is accepted by the layer, kept in its
    config and readable as a property (`layer.units`, `layer.dropout`, ...); the remaining
    arguments are `keras.layers.RNN`'s (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`) and `keras.layers.Layer`'s.
    """

    cell_class: type[RecurrentCell]
    #: Whether the layer has a fused sequence path (`seqrnn/layers/_fused.py`).
    has_fused_path = False
    #: Keras' backend kernel that runs the layer with cuDNN on a GPU, or None.
    cudnn_kernel = None

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
        **kwargs: Any,
    ) -> None:
        if use_fused not in ("auto", True, False):
            raise ValueError(
                "Received an invalid value for argument use_fused, expected 'auto', True or "
                f"False, got {use_fused!r}."
            )
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
        self.use_fused = use_fused

    @property
    def path(self) -> str | None:
        """Which path ran the last call: `"fused"`, `"cudnn"` or `"per-step"` (None before)."""
        return getattr(self, "_path", None)

    @property
    def xla(self) -> bool:
        """Whether the last fused call compiled its loops with XLA (`_fused.compilable`)."""
        return getattr(self, "_xla", False)

    @property
    def slices(self) -> int:
        """How many slices of the batch the last fused call ran as independent recurrences, side
        by side (`_fused.batch_slices`; 1 for the whole batch in one)."""
        return getattr(self, "_slices", 1)

    def _fused_blockers(self) -> list[str]:
        """Why the fused path cannot run this layer (an empty list when it can)."""
        reasons = []
        if not self.has_fused_path:
            return ["it has no fused path"]
        if keras.backend.backend() != "tensorflow":
            reasons.append(
                f"the fused path is TensorFlow's and the backend is {keras.backend.backend()!r}"
            )
        if self.unroll:
            reasons.append("unroll=True")
        if self.cell.recurrent_dropout > 0.0:
            reasons.append(f"recurrent_dropout={self.cell.recurrent_dropout}")
        return reasons + self._cell_blockers()

    def _cell_blockers(self) -> list[str]:
        """The cell settings the fused path does not implement; subclasses extend it."""
        reasons = []
        if self.cell.activation is not activations.tanh:
            reasons.append("an activation other than tanh")
        recurrent = getattr(self.cell, "recurrent_activation", activations.sigmoid)
        if recurrent is not activations.sigmoid:
            reasons.append("a recurrent_activation other than sigmoid")
        return reasons

    def _tell(self, path: str, reason: str | None = None) -> None:
        """Records the path; warns once per layer when it is slower than the layer could run."""
        self._path = path
        self._xla = False  # set by the fused path when it compiles
        self._slices = 1  # set by the fused path when it slices the batch
        if reason is None or getattr(self, "_told", False):
            return
        self._told = True
        if path == FUSED:
            message = f"runs the fused path instead of cuDNN on this GPU: {reason}."
        else:
            message = (
                f"runs the per-step path because of {reason}; the fused path is faster. Pass "
                "use_fused=False to choose the per-step path without this warning."
            )
        warnings.warn(
            f"{type(self).__name__} layer {self.name!r} {message}", UserWarning, stacklevel=4
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        blockers = ["use_fused=False"] if self.use_fused is False else self._fused_blockers()
        if blockers and self.use_fused is True:
            raise ValueError(
                f"use_fused=True was given to {type(self).__name__} layer {self.name!r}, but "
                f"its fused path cannot run with {', '.join(blockers)}; pass use_fused='auto' "
                "to fall back to the per-step path."
            )
        if blockers:
            told = self.has_fused_path and self.use_fused == "auto"
            self._tell(PER_STEP, ", ".join(blockers) if told else None)
            return super().inner_loop(sequences, initial_state, mask, training)
        if self.cudnn_kernel is not None and _gpu_available():
            try:
                result = self._cudnn_loop(sequences, initial_state, mask, training)
            except NotImplementedError:
                self._tell(
                    FUSED,
                    "Keras' cuDNN kernel refused its settings (it needs the default "
                    "activations, use_bias=True, reset_after=True and right-padded masks)",
                )
            else:
                self.supports_jit = False  # cuDNN kernels do not compile with XLA
                self._tell(CUDNN)
                return result
        else:
            self._tell(FUSED)
        return self._fused_loop(sequences, initial_state, mask, training)

    def _input_dropout_mask(self, sequences, training):
        """The sequence's input dropout mask `(batch, features)`, or None (as the cell uses it)."""
        if training and self.cell.dropout > 0.0:
            return self.cell.get_dropout_mask(sequences[:, 0, :])
        return None

    def _cudnn_loop(self, sequences, initial_state, mask, training):
        dropout_mask = self._input_dropout_mask(sequences, training)
        if dropout_mask is not None:
            sequences = sequences * ops.expand_dims(dropout_mask, 1)
        kwargs = {"reset_after": self.cell.reset_after} if self.cudnn_kernel is backend_gru else {}
        return self.cudnn_kernel(
            sequences,
            *initial_state,
            mask,
            kernel=self.cell.kernel,
            recurrent_kernel=self.cell.recurrent_kernel,
            bias=self.cell.bias,
            activation=self.cell.activation,
            recurrent_activation=self.cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            **kwargs,
        )

    def _fused_loop(self, sequences, initial_state, mask, training):
        import tensorflow as tf

        from seqrnn.layers import _fused

        self._xla = _fused.compilable(sequences, self.cell.units)
        if self.go_backwards:
            sequences = tf.reverse(sequences, [1])
            mask = None if mask is None else tf.reverse(mask, [1])
        dropout_mask = self._input_dropout_mask(sequences, training)
        # Compiled loops run as independent recurrences over slices of the batch, which
        # TensorFlow's executor runs side by side: XLA runs a loop's small products on one core.
        sizes = [sequences.shape[0]]
        if self._xla and not _gpu_available():
            sizes = _fused.batch_slices(sequences.shape[0])
        self._slices = len(sizes)
        if len(sizes) == 1:  # (the batch may be unknown: not through tf.split)
            slices = [(sequences, initial_state, mask, dropout_mask)]
        else:

            def split(x):
                return [None] * len(sizes) if x is None else tf.split(x, sizes, axis=0)

            states = zip(*[split(state) for state in initial_state], strict=True)
            slices = zip(split(sequences), states, split(mask), split(dropout_mask), strict=True)
        results = [self._fused_slice(x, list(s), m, d, training) for x, s, m, d in slices]
        outputs = tf.concat([result[0] for result in results], axis=0)
        states = [tf.concat(parts, axis=0) for parts in zip(*[r[1] for r in results], strict=True)]
        return outputs[:, -1], outputs, states

    def _fused_slice(self, sequences, initial_state, mask, dropout_mask, training):
        """Outputs `(batch, steps, units)` and final states of the fused path over `sequences`
        `(batch, steps, features)` (in the order they are processed, `go_backwards` applied)."""
        import tensorflow as tf

        xs = tf.transpose(sequences, [1, 0, 2])  # (steps, batch, features)
        keep = None  # the fraction of each state that updates: 0 at masked steps
        if mask is not None:
            keep = tf.transpose(tf.cast(mask, xs.dtype))[..., tf.newaxis]  # (steps, batch, 1)
            keep = tf.broadcast_to(keep, (tf.shape(xs)[0], tf.shape(xs)[1], self.cell.units))
        hs, states = self._fused_recurrence(xs, initial_state, keep, dropout_mask, training)
        outputs = tf.transpose(hs, [1, 0, 2])  # (batch, steps, units)
        if mask is not None:
            # Keras' outputs: zero at masked steps (zero_output_for_mask) or the previous output,
            # which is zero before a sample's first unmasked step.
            shown = tf.cast(mask, outputs.dtype)
            if not self.zero_output_for_mask:
                shown = tf.cast(tf.cumsum(shown, axis=1) > 0, outputs.dtype)
            outputs = outputs * shown[..., tf.newaxis]
        return outputs, states

    def _project(self, xs, dropout_mask):
        """`x W` of all steps in one matmul: `(steps, batch, gates * units)`.

        The fused loops add the bias themselves (`_bias`)."""
        import tensorflow as tf

        if dropout_mask is not None:
            xs = xs * dropout_mask[tf.newaxis]
        shape = tf.shape(xs)
        kernel = tf.cast(self.cell.kernel, xs.dtype)
        zx = tf.matmul(tf.reshape(xs, (-1, shape[-1])), kernel)
        return tf.reshape(zx, (shape[0], shape[1], -1))

    def _bias(self, dtype):
        """The cell's bias cast to `dtype`, or None without one."""
        import tensorflow as tf

        return tf.cast(self.cell.bias, dtype) if self.cell.use_bias else None

    def _fused_recurrence(self, xs, initial_state, keep, dropout_mask, training):
        """Outputs `(steps, batch, units)` and final states of the time-major inputs `xs`.

        `keep` is None or `(steps, batch, units)` (0 where a step is masked); `dropout_mask` is
        None or the input dropout mask `(batch, features)`.
        """
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["cell"]
        config["use_fused"] = self.use_fused
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)


def _gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))
