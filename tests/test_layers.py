"""The layering rules of DESIGN.md, checked by reading import statements.

- ir, serialize, errors import only each other.
- util (shared helpers) imports only the core.
- converters, passes, renderers, diffing, loaders, overlay import the core and
  util only, never each other.
- torch, onnx and safetensors are never imported at module level, and inside
  functions only in loaders/, converters/, diffing/, util/ and overlay/.
- cli imports only api and the core.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "graphir"
CORE = {"ir", "serialize", "errors"}
# shared helpers (graphir/util/) that every layer may use; util imports only the core
HEAVY = {"torch", "onnx", "onnxscript", "safetensors", "torchvision", "transformers"}
LAZY_HEAVY_ALLOWED = {"loaders", "converters", "overlay", "diffing", "util"}


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
    if layer == "util":
        return CORE | {"util"}
    if layer in ("converters", "passes", "renderers", "diffing", "loaders", "overlay"):
        return CORE | {"util", layer}
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
    assert any(parts[0] == "renderers" for _, parts in MODULES)


def test_package_names_do_not_shadow_public_functions():
    """graphir.render is the function and graphir.renderers.dot the module, in any import order."""
    import subprocess
    import sys
    code = ("import graphir.renderers.dot, graphir.loaders.kinds, graphir.diffing.match, graphir.table\n"
            "import graphir\n"
            "assert callable(graphir.render) and callable(graphir.load) and callable(graphir.diff)\n"
            "assert callable(graphir.summary) and callable(graphir.convert)\n"
            "assert graphir.renderers.dot.__name__ == 'graphir.renderers.dot'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PACKAGE.parent)


def test_no_import_cycles_between_graphir_modules():
    """Every import of a graphir module, at any level, forms an acyclic graph of files."""
    import networkx as nx
    names = {".".join(("graphir",) + parts): path for path, parts in MODULES}
    graph = nx.DiGraph()
    for name, path in names.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target in names and target != name:
                    graph.add_edge(name, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:3]}"
