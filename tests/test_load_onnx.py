"""Tests for graphir.loaders.onnx_file: parsing, external data safety, sniffing."""

import os
import random
import shutil
import sys
from pathlib import Path

import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphir.converters.onnx import from_onnx
from graphir.errors import ConversionError, InputError, MissingDependencyError
from graphir.ir import validate
from graphir.loaders.onnx_file import external_tensors, load_onnx, looks_like_onnx
from samples import make_onnx

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "samples" / "resnet_tiny.onnx"
FIX = ("keep the data file in the model's folder and refer to it by a relative file "
       "name (onnx.save_model(..., save_as_external_data=True))")


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    """The torch-free samples, written once for this module."""
    folder = tmp_path_factory.mktemp("hand_built")
    return {name: Path(make_onnx.WRITERS[name](str(folder)))
            for name in ("if_model", "loop_model", "constants_model", "external_data")}


def _external_model(folder, location):
    folder.mkdir(parents=True, exist_ok=True)
    return Path(make_onnx.make_external_data_model(str(folder), location=location))


# ------------------------------------------------------------------ plain loading

def test_load_returns_model_proto(hand_built):
    model = load_onnx(hand_built["if_model"])
    assert isinstance(model, onnx.ModelProto)
    assert [n.op_type for n in model.graph.node] == ["Gemm", "If"]


def test_load_accepts_pathlike_and_bundled_sample():
    model = load_onnx(BUNDLED)
    assert model.graph.input[0].name == "input"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.onnx"
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == f"{path}: no such file; check the path"


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(InputError, match="is a folder, not an ONNX file"):
        load_onnx(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == f"{path}: the file is empty; re-export or re-download the model"


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes(BUNDLED.read_bytes()[:5000])
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == (f"{path}: not a valid ONNX file (the protobuf data is "
                               "truncated or corrupt); re-export or re-download the model")


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.onnx"
    path.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(InputError, match=r"not a valid ONNX file \(the protobuf data"):
        load_onnx(path)


def test_protobuf_without_graph_is_not_a_model(tmp_path):
    path = tmp_path / "header_only.onnx"
    path.write_bytes(b"\x08\x07\x12\x07pytorch")  # ir_version and producer only
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value).startswith(f"{path}: not an ONNX model (no graph or no ir_version)")


def test_invalid_utf8_name_is_refused(tmp_path, hand_built):
    blob = hand_built["if_model"].read_bytes()
    assert blob.count(b"/proj/Gemm") == 1
    path = tmp_path / "bad_text.onnx"
    path.write_bytes(blob.replace(b"/proj/Gemm", b"/proj/G\xffmm"))
    with pytest.raises(InputError, match=r"field onnx.NodeProto.name holds text that is "
                                         r"not UTF-8"):
        load_onnx(path)


def test_missing_onnx_package(monkeypatch, hand_built):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match="pip install onnx"):
        load_onnx(hand_built["if_model"])


# -------------------------------------------------------------------- fuzzing

@pytest.fixture(scope="module")
def fuzz_seeds(hand_built):
    return {name: hand_built[name].read_bytes()
            for name in ("if_model", "loop_model", "constants_model")} | {
        "resnet_tiny": BUNDLED.read_bytes()}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _mutate(data, blob):
    """Truncate, flip bits in, or splice random bytes into ``blob``."""
    blob = bytearray(blob)
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]), label="kind")
    if kind == "truncate":
        return bytes(blob[:data.draw(st.integers(0, len(blob) - 1), label="cut")])
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 6), label="flips")):
            at = data.draw(st.integers(0, len(blob) - 1), label="at")
            blob[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        return bytes(blob)
    at = data.draw(st.integers(0, len(blob) - 1), label="at")
    junk = data.draw(st.binary(min_size=1, max_size=12), label="junk")
    blob[at:at + len(junk)] = junk
    return bytes(blob)


@settings(max_examples=250, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_fuzzed_files_raise_only_input_error(fuzz_seeds, fuzz_dir, data):
    """Damaged files give InputError; the few that still parse convert cleanly."""
    name = data.draw(st.sampled_from(sorted(fuzz_seeds)), label="seed")
    path = fuzz_dir / "fuzzed.onnx"
    path.write_bytes(_mutate(data, fuzz_seeds[name]))
    try:
        model = load_onnx(path)
    except InputError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        return
    try:
        validate(from_onnx(model, name="fuzzed"))
    except ConversionError:
        pass


# --------------------------------------------------------------- external data

def test_external_data_inside_folder_loads(hand_built):
    model = load_onnx(hand_built["external_data"])
    weight = next(t for t in model.graph.initializer if t.name == "fc1.weight")
    assert len(weight.raw_data) == 16 * 8 * 4
    assert weight.data_location == onnx.TensorProto.DEFAULT
    assert external_tensors(model) == []


def test_external_tensors_lists_initializers_and_constants(hand_built):
    model = onnx.load(str(hand_built["external_data"]), load_external_data=False)
    names = [t.name for t in external_tensors(model)]
    assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale_value"]


def test_dotdot_inside_folder_is_fine(tmp_path):
    path = _external_model(tmp_path / "m", "sub/../external_data.bin")
    (tmp_path / "m" / "sub").mkdir()
    assert load_onnx(path).graph.initializer[0].raw_data


def test_escaping_location_is_refused(tmp_path):
    path = _external_model(tmp_path / "m", "../secret.bin")
    shutil.copy(tmp_path / "m" / "external_data.bin", tmp_path / "secret.bin")
    folder = os.path.realpath(tmp_path / "m")
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == (
        f"{path}: external data '../secret.bin' of tensor 'fc1.weight' resolves to "
        f"{os.path.realpath(tmp_path / 'secret.bin')}, outside the model's folder "
        f"{folder}; refusing to read it; {FIX}")


def test_absolute_location_is_refused(tmp_path):
    secret = tmp_path / "secret.bin"
    path = _external_model(tmp_path / "m", str(secret))
    shutil.copy(tmp_path / "m" / "external_data.bin", secret)
    folder = os.path.realpath(tmp_path / "m")
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == (
        f"{path}: external data {str(secret)!r} of tensor 'fc1.weight' must be a "
        f"relative path inside the model's folder {folder}; {FIX}")


def test_symlink_out_of_folder_is_refused(tmp_path):
    path = _external_model(tmp_path / "m", "link.bin")
    shutil.copy(tmp_path / "m" / "external_data.bin", tmp_path / "secret.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "m" / "link.bin")
    with pytest.raises(InputError, match="outside the model's folder"):
        load_onnx(path)


def test_symlink_inside_folder_is_refused_clearly(tmp_path):
    path = _external_model(tmp_path / "m", "link.bin")
    os.symlink("external_data.bin", tmp_path / "m" / "link.bin")
    with pytest.raises(InputError, match="is a symbolic link; onnx does not read"):
        load_onnx(path)


def test_missing_external_file(tmp_path):
    path = _external_model(tmp_path / "m", "external_data.bin")
    os.remove(tmp_path / "m" / "external_data.bin")
    data = os.path.realpath(tmp_path / "m" / "external_data.bin")
    with pytest.raises(InputError) as info:
        load_onnx(path)
    assert str(info.value) == (
        f"{path}: external data 'external_data.bin' of tensor 'fc1.weight' is missing "
        f"(looked for {data}); copy the data file next to the model")


def test_truncated_external_file(tmp_path):
    path = _external_model(tmp_path / "m", "external_data.bin")
    with open(tmp_path / "m" / "external_data.bin", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(InputError, match=r"asks for bytes beyond the end of .* \(100 bytes\)"):
        load_onnx(path)


def test_escaping_constant_attribute_is_refused(tmp_path):
    """Only the Constant's tensor points outside: attributes are checked too."""
    path = _external_model(tmp_path / "m", "external_data.bin")
    model = onnx.load(str(path), load_external_data=False)
    constant = next(n for n in model.graph.node if n.op_type == "Constant")
    for entry in constant.attribute[0].t.external_data:
        if entry.key == "location":
            entry.value = "../../etc/passwd"
    onnx.save_model(model, str(path))
    with pytest.raises(InputError, match=r"'\.\./\.\./etc/passwd' of tensor 'scale_value' "
                                         r"resolves to .*, outside the model's folder"):
        load_onnx(path)


def test_escaping_subgraph_initializer_is_refused(tmp_path, hand_built):
    model = onnx.load(str(hand_built["if_model"]))
    then_branch = model.graph.node[1].attribute[0].g
    hidden = then_branch.initializer.add(name="hidden", data_type=onnx.TensorProto.FLOAT,
                                         dims=[4])
    hidden.external_data.add(key="location", value="../hidden.bin")
    hidden.data_location = onnx.TensorProto.EXTERNAL
    (tmp_path / "m").mkdir()
    path = tmp_path / "m" / "if_model.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(InputError, match="'../hidden.bin' of tensor 'hidden' resolves to"):
        load_onnx(path)


# ------------------------------------------------------------------- sniffing

def test_looks_like_onnx_accepts_models(hand_built):
    assert looks_like_onnx(BUNDLED)
    assert all(looks_like_onnx(path) for path in hand_built.values())


@pytest.mark.parametrize("blob", [
    b"",
    b"PK\x03\x04" + bytes(60),                       # zip (torch.save)
    b"\x80\x02}q\x00(X\x01\x00\x00\x00aq",           # pickle
    (264).to_bytes(8, "little") + b'{"w": {}}',      # safetensors header length
    b'{"schema": "graphir/1", "nodes": []}',          # IR JSON
    b"\x08\x07\x12\xff\xff\xff\x0f",                  # length beyond the file
    b"\x08\x00\x12\x07pytorch",                       # ir_version 0
])
def test_looks_like_onnx_rejects_other_files(tmp_path, blob):
    path = tmp_path / "file.bin"
    path.write_bytes(blob)
    assert not looks_like_onnx(path)


def test_looks_like_onnx_never_raises(tmp_path):
    assert not looks_like_onnx(tmp_path / "missing.onnx")
    assert not looks_like_onnx(tmp_path)


# ------------------------------------------------------------- sample builder

def test_make_onnx_command_line(tmp_path, capsys):
    assert make_onnx.main([str(tmp_path), "if_model", "loop_model"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["if_model.onnx", "loop_model.onnx"]
    assert "if_model.onnx" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        make_onnx.main([str(tmp_path), "nope"])


def test_hand_built_samples_are_byte_stable(tmp_path, hand_built):
    again = Path(make_onnx.make_if_model(str(tmp_path)))
    assert again.read_bytes() == hand_built["if_model"].read_bytes()


def test_bundled_sample_is_small():
    assert BUNDLED.stat().st_size < 200_000
