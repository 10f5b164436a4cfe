"""The library's settings, read without importing the library.

`seqrnn.settings` defines every training setting and every choice once, and imports only the
standard library; but importing it as `seqrnn.settings` would run `seqrnn/__init__.py`, which
registers the layers with Keras and so loads TensorFlow (seconds). The commands' options are
built when `seqrnn --help` runs, so they read the same file loaded on its own, under a private
name: its data (names, types, defaults, help, ranges, the choices as `str` enums) are all the
options need. What a command passes on to the library are plain values (an enum member of
this copy is a `str` equal to the library's), and the library checks them again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_NAME = "_seqrnn_settings"


def library_settings() -> ModuleType:
    """seqrnn/settings.py as a module of its own (loaded once)."""
    return library_module("settings.py", _NAME)


def library_module(relative: str, name: str) -> ModuleType:
    """A file of the seqrnn package that imports only the standard library at its top (such
    as `settings.py`, `training/memory.py`), loaded on its own as module `name` (once)."""
    if name in sys.modules:
        return sys.modules[name]
    package = importlib.util.find_spec("seqrnn")  # finds the package without importing it
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("seqrnn is not installed (pip install -e .)", name="seqrnn")
    path = Path(next(iter(package.submodule_search_locations))) / relative
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses reads the module of the classes it makes
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def library_without_keras() -> Iterator[None]:
    """Within it, the seqrnn modules that need neither Keras nor TensorFlow (settings, errors,
    the tasks) import by their own names without running `seqrnn/__init__.py`; they are
    forgotten on leaving, so that the library imports whole afterwards. What they raise is of
    their own classes, not the library's: the caller catches everything. Where the library
    is loaded already it is used as it is."""
    if any(name == "seqrnn" or name.startswith("seqrnn.") for name in sys.modules):
        yield  # (some of it loaded, even by an import that failed: left as it is)
        return
    package = importlib.util.find_spec("seqrnn")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("seqrnn is not installed (pip install -e .)", name="seqrnn")
    stand_in = ModuleType("seqrnn", "seqrnn's modules without its layers (cli.settings)")
    stand_in.__path__ = list(package.submodule_search_locations)
    stand_in.__spec__ = package
    sys.modules["seqrnn"] = stand_in
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == "seqrnn" or n.startswith("seqrnn.")]:
            del sys.modules[name]


def seed_option(help: str):
    """The `--seed` option of the commands other than train (whose seed is a training setting):
    the same range, 0 to `SEED_MAX`."""
    import typer

    return typer.Option(min=0, max=library_settings().SEED_MAX, help=help)
