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
