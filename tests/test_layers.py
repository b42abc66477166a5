"""The layering rules of DESIGN.md, checked by reading import statements.

- ir, serialize, errors import only each other.
- convert, passes, render, diff import the core (ir, serialize, errors) only,
  never each other; load imports the core and itself.
- torch, onnx and safetensors are never imported at module level, and inside
  functions only in load/, convert/ and overlay/ (which runs a forward pass).
- cli imports only api and the core.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "graphir"
CORE = {"ir", "serialize", "errors"}
HEAVY = {"torch", "onnx", "onnxscript", "safetensors", "torchvision", "transformers"}
LAZY_HEAVY_ALLOWED = {"load", "convert", "overlay"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        yield path, rel.parts


def _imports(path):
    """(imported module, is_top_level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top_level))
    return found


def _layer(parts):
    return parts[0] if parts[0] not in ("__init__",) else "__init__"


def _allowed_graphir_layers(layer):
    if layer in CORE:
        return CORE
    if layer in ("convert", "passes", "render", "diff", "load", "overlay"):
        return CORE | {layer}
    if layer == "cli":
        return CORE | {"api", "cli"}
    return None  # api, __init__, __main__ may import anything in graphir


MODULES = list(_modules())


@pytest.mark.parametrize("path,parts", MODULES, ids=["/".join(p) for _, p in MODULES])
def test_graphir_imports_follow_layers(path, parts):
    layer = _layer(parts)
    allowed = _allowed_graphir_layers(layer)
    for module, _ in _imports(path):
        names = module.split(".")
        if names[0] != "graphir" or allowed is None or len(names) < 2:
            continue
        assert names[1] in allowed, f"{'/'.join(parts)}.py imports {module}, breaking the layers"


@pytest.mark.parametrize("path,parts", MODULES, ids=["/".join(p) for _, p in MODULES])
def test_heavy_frameworks_are_imported_lazily_and_only_where_allowed(path, parts):
    layer = _layer(parts)
    for module, top_level in _imports(path):
        root = module.split(".")[0]
        if root not in HEAVY:
            continue
        assert not top_level, f"{'/'.join(parts)}.py imports {module} at module level"
        assert layer in LAZY_HEAVY_ALLOWED, f"{'/'.join(parts)}.py imports {module}"


def test_layer_check_sees_the_package():
    assert len(MODULES) >= 10
    assert any(parts[0] == "render" for _, parts in MODULES)
