"""The layering design.md draws, read from the source: the layers import no framework, only the
layers import the backend package, and no module of either keeps a switch that others flip."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = {"tensorflow", "jax", "jaxlib", "torch"}


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module `path` imports, at its top or inside a function, relative imports resolved,
    and `from package import name` counted as `package.name` too (it may be a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = list(path.relative_to(root).parent.parts)  # the package `path` belongs to
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


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
    assert not {_top(name) for name in imports(path)} & FRAMEWORKS


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


def module_aliases(tree: ast.Module, prefixes: tuple[str, ...]) -> set[str]:
    """The names a module binds to modules under `prefixes` (`import a.b as c`, `from a import
    b`): absolute imports only, which is what seqrnn writes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(
                alias.asname or alias.name.split(".")[0]
                for alias in node.names
                if alias.name.startswith(prefixes)
            )
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update(
                alias.asname or alias.name
                for alias in node.names
                if f"{node.module}.{alias.name}".startswith(prefixes)
            )
    return names


def test_no_module_assigns_to_an_attribute_of_the_kernels_or_layers_modules():
    # What `_fused.JIT = False` in the training loop was, before the kernels' settings became
    # layer arguments.
    for path in sources("seqrnn", "cli", "tests"):
        tree = ast.parse(path.read_text())
        aliases = module_aliases(tree, ("seqrnn.backend", "seqrnn.layers"))
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else []
            targets += [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    assert target.value.id not in aliases, f"{path}:{node.lineno}"
