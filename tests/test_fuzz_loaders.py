"""Fuzzing the loaders: mutated sample files of every kind raise only graphir's errors.

Each seed file is made from one tiny model; hypothesis truncates it, flips,
inserts and deletes bytes, and for zip archives also mutates one member and
re-packs the archive with correct checksums, so the bytes reach the pickle
scan and torch's own readers rather than stopping at the zip directory.
Every mutated file goes through ``detect_kind`` and the loader of the kind
it is detected as; any exception other than a ``GraphIRError`` fails the
test. The budget is bounded (``derandomize`` keeps CI runs repeatable).
"""

import io
import os
import pathlib
import tempfile
import warnings
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from graphir import ir, serialize  # noqa: E402
from graphir.converters.state_dict import from_state_dict  # noqa: E402
from graphir.converters.torchscript import from_torchscript  # noqa: E402
from graphir.errors import GraphIRError  # noqa: E402
from graphir.loaders import detect_kind  # noqa: E402
from graphir.loaders.pickle_scan import scan_torch_file  # noqa: E402
from graphir.loaders.safetensors_file import load_safetensors  # noqa: E402
from graphir.loaders.torch_files import (  # noqa: E402
    load_exported_program,
    load_state_dict_file,
    load_torchscript,
)

EXAMPLES = int(os.environ.get("GRAPHIR_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _tiny():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()).eval(), \
        (torch.randn(1, 4),)


def _onnx_seed():
    """A one-node ONNX model."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return onnx.helper.make_model(graph).SerializeToString()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """``kind -> bytes`` of one small sample file per kind."""
    folder = tmp_path_factory.mktemp("seeds")
    model, args = _tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(model.state_dict(), folder / "zip.pth")
        torch.save(model.state_dict(), folder / "legacy.pth", _use_new_zipfile_serialization=False)
        torch.jit.save(torch.jit.trace(model, args), folder / "script.pt")
        torch.export.save(torch.export.export(model, args), folder / "program.pt2")
    from safetensors.torch import save_file

    save_file(model.state_dict(), folder / "w.safetensors")
    found = {name: (folder / name).read_bytes() for name in
             ("zip.pth", "legacy.pth", "script.pt", "program.pt2", "w.safetensors")}
    found["graph.json"] = serialize.to_json(
        from_state_dict(model.state_dict(), name="tiny")).encode()
    found["model.onnx"] = _onnx_seed()
    return found


def _open(path):
    """Detect the kind of ``path`` and run the loaders (and converter) for it."""
    kind = detect_kind(path)
    if kind == "torch_pickle":
        scan_torch_file(path)
        state, _ = load_state_dict_file(path)
        ir.validate(from_state_dict(state, name="fuzz"))
    elif kind == "torchscript":
        ir.validate(from_torchscript(load_torchscript(path), name="fuzz"))
    elif kind == "export":
        load_exported_program(path)
    elif kind == "safetensors":
        ir.validate(from_state_dict(load_safetensors(path, header_only=True), name="fuzz"))
        load_safetensors(path)
    elif kind == "json":
        with open(path, encoding="utf-8", errors="replace") as handle:
            ir.validate(serialize.from_json(handle.read(), path=path), allow_cycles=True)
    elif kind == "onnx":
        from graphir.loaders.onnx_file import load_onnx

        load_onnx(path)


def _mutate_bytes(draw, data):
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif action == "truncate":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def _mutate_member(draw, data):
    """Mutate one member of a zip archive and re-pack it with valid checksums."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    index = draw(st.integers(0, len(members) - 1))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i, (name, content) in enumerate(members):
            archive.writestr(name, _mutate_bytes(draw, content) if i == index else content)
    return out.getvalue()


@st.composite
def _mutations(draw, seed):
    if seed[:4] == b"PK\x03\x04" and draw(st.booleans()):
        return _mutate_member(draw, seed)
    return _mutate_bytes(draw, seed)


def _check(data, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzzed" + suffix)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _open(path)
        except GraphIRError as exc:
            assert exc.one_line() and "\n" not in exc.one_line()


SEED_NAMES = ["zip.pth", "legacy.pth", "script.pt", "program.pt2", "w.safetensors",
              "graph.json", "model.onnx"]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_mutated_files_raise_only_graphir_errors(seeds, name):
    assert name in seeds, f"no {name} seed"
    _check(seeds[name], pathlib.Path(name).suffix)  # the unmutated seed opens

    @FUZZ
    @given(data=_mutations(seeds[name]))
    def run(data):
        _check(data, pathlib.Path(name).suffix)

    run()
