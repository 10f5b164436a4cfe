"""The layering design.md draws, read from the source: the layers import no framework, only the
layers import the backend package, and no module of either keeps a switch that others flip."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"tensorflow", "jax", "jaxlib", "torch"}


def bindings(path: Path, root: Path = ROOT) -> list[tuple[str, str]]:
    """What `path` imports, at its top or inside a function, relative imports resolved: pairs of
    the name bound and the module it names (`from package import name` counts as
    `package.name`: it may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(root).parent.parts)  # the package `path` belongs to
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.asname or a.name.split(".")[0], a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append(("", module))
            found += [(a.asname or a.name, f"{module}.{a.name}") for a in node.names]
    return found


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports (see `bindings`)."""
    return {module for _, module in bindings(path, root)}


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_imports_are_read_lazy_and_relative_ones_included(tmp_path):
    folder = tmp_path / "seqrnn" / "layers"
    folder.mkdir(parents=True)
    source = folder / "probe.py"
    source.write_text(
        "from ..backend import jax\n"
        "def f():\n"
        "    import torch.nn\n"
        "    from tensorflow import math\n"
    )
    found = imports(source, root=tmp_path)
    assert {"seqrnn.backend", "seqrnn.backend.jax", "torch.nn", "tensorflow"} <= found
    assert not {"seqrnn.layers.backend", "backend"} & found


@pytest.mark.parametrize("path", sources("seqrnn/layers"), ids=lambda p: p.name)
def test_the_layers_import_no_framework(path):
    assert not {name.split(".")[0] for name in imports(path)} & FRAMEWORKS


def _is_backend(name: str) -> bool:
    return name == "seqrnn.backend" or name.startswith("seqrnn.backend.")


def test_only_the_layers_import_the_backend_package():
    importers = {
        str(path.relative_to(ROOT))
        for path in sources("seqrnn", "cli")
        if any(_is_backend(name) for name in imports(path))
    }
    outside = {p for p in importers if not p.startswith(("seqrnn/backend/", "seqrnn/layers/"))}
    assert not outside
    assert any(p.startswith("seqrnn/layers/") for p in importers)


@pytest.mark.parametrize(
    "path", sources("seqrnn/backend", "seqrnn/layers"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_kernel_or_layer_module_rebinds_a_module_level_name(path):
    # A `global` statement is how a module-level switch gets flipped from inside a function.
    tree = ast.parse(path.read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Global | ast.Nonlocal)]


def test_no_module_assigns_to_an_attribute_of_the_kernels_or_layers_modules():
    # What `_fused.JIT = False` in the training loop was, before the kernels' settings became
    # layer arguments.
    for path in sources("seqrnn", "cli", "tests"):
        prefixes = ("seqrnn.backend", "seqrnn.layers")
        aliases = {name for name, module in bindings(path) if name and module.startswith(prefixes)}
        for node in ast.walk(ast.parse(path.read_text())):
            targets = list(node.targets) if isinstance(node, ast.Assign) else []
            targets += [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    assert target.value.id not in aliases, f"{path}:{node.lineno}"
