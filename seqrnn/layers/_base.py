"""What seqrnn's recurrent layers share: a `keras.layers.RNN` around one seqrnn cell."""

from __future__ import annotations

import inspect
from typing import Any

import keras

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


class CellLayer(keras.layers.RNN):
    """A `keras.layers.RNN` that builds its own seqrnn cell from the layer's arguments.

    Subclasses set `cell_class`. Every argument of the cell is accepted by the layer, kept in its
    config and readable as a property (`layer.units`, `layer.dropout`, ...); the remaining
    arguments are `keras.layers.RNN`'s (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`) and `keras.layers.Layer`'s.
    """

    cell_class: type[RecurrentCell]

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
        **kwargs: Any,
    ) -> None:
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

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)
