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
