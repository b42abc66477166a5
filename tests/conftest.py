"""Shared fixtures: exported sample models, made once per test session."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def onnx_sample(tmp_path_factory):
    """``onnx_sample(name) -> path``: an ONNX sample from samples/make_onnx.py, cached."""
    from samples import make_onnx

    folder = tmp_path_factory.mktemp("shared_onnx_samples")

    def get(name):
        path = folder / f"{name}.onnx"
        if not path.exists():
            make_onnx.WRITERS[name](str(folder))
        return path

    return get


@pytest.fixture(scope="session")
def check_ir_golden():
    """``check_ir_golden(G, filename)``: G's IR JSON equals ``tests/goldens/ir/<filename>``.

    ``GRAPHIR_REGEN_GOLDENS=1`` rewrites the golden instead (review the diff).
    """
    import os

    from graphir import serialize

    folder = ROOT / "tests" / "goldens" / "ir"

    def check(G, filename):
        path = folder / filename
        text = serialize.to_json(G)
        if os.environ.get("GRAPHIR_REGEN_GOLDENS") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"missing golden {path}; run with GRAPHIR_REGEN_GOLDENS=1"
        assert text == path.read_text(encoding="utf-8"), \
            f"{filename} differs from the converter's output; if intended, regenerate it"

    return check


# ---- an install without torch: leave out the test modules that need it -------------

def _torch_available():
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None and __import__("torch") is not None
    except ImportError:
        return False


def _imports_torch_at_top(path):
    """True when a test module imports torch, transformers or a torch sample at module level."""
    import ast

    heavy = ("torch", "torchvision", "transformers", "samples.gpt2", "samples.resnet",
             "samples.vit", "samples.multi_io", "samples.hf_models", "samples.unet")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        if any(name == h or name.startswith(h + ".") for name in names for h in heavy):
            return True
    return False


TORCH = _torch_available()
#: test modules left out when torch is not installed (an ONNX-only install)
collect_ignore = [] if TORCH else sorted(
    str(path.relative_to(ROOT / "tests")) for path in (ROOT / "tests").glob("test_*.py")
    if _imports_torch_at_top(path))


def pytest_report_header(config):
    if collect_ignore:
        return (f"torch is not installed: {len(collect_ignore)} test modules that need it "
                "are left out")
    return None
