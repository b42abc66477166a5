"""torch files: the pickle scan, state_dicts and checkpoints, safetensors,
TorchScript, pickled modules, and malicious files that must never run."""

import json
import os
import pathlib
import pickle
import shlex
import struct
import zipfile
from typing import Tuple

import pytest

torch = pytest.importorskip("torch")

from graphir.errors import InputError, UnsafeFileError  # noqa: E402
from graphir.loaders import detect_kind, load_factory  # noqa: E402
from graphir.loaders.pickle_scan import (  # noqa: E402
    scan_pickle,
    scan_torch_file,
    scan_torchscript_archive,
)
from graphir.loaders.safetensors_file import load_safetensors, read_safetensors_header  # noqa: E402
from graphir.loaders.torch_files import (  # noqa: E402
    load_exported_program,
    load_pickled_module,
    load_state_dict_file,
    load_torchscript,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _resnet_tiny():
    model, args, _ = load_factory(f"{ROOT / 'samples' / 'resnet.py'}:resnet_tiny")
    return model, args


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every torch file kind, made from resnet_tiny."""
    folder = tmp_path_factory.mktemp("torch_kinds")
    model, args = _resnet_tiny()
    state = model.state_dict()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(*args).sum().backward()
    optimizer.step()
    torch.save(state, folder / "weights.pth")
    torch.save(state, folder / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"model_state_dict": state, "optimizer_state_dict": optimizer.state_dict(),
                "epoch": 7, "loss": 0.25}, folder / "checkpoint.ckpt")
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 1},
               folder / "ddp.pt")
    torch.save(model, folder / "whole.pt")
    torch.jit.save(torch.jit.trace(model, args), folder / "traced.pt")
    torch.export.save(torch.export.export(model, args), folder / "program.pt2")
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, folder / "weights.safetensors")
    return folder, model


@pytest.mark.parametrize("name,kind", [
    ("weights.pth", "torch_pickle"), ("legacy.pth", "torch_pickle"),
    ("checkpoint.ckpt", "torch_pickle"), ("whole.pt", "torch_pickle"),
    ("traced.pt", "torchscript"), ("program.pt2", "export"),
    ("weights.safetensors", "safetensors"),
])
def test_every_kind_is_detected_by_content(files, name, kind):
    folder, _ = files
    assert detect_kind(folder / name) == kind


@pytest.mark.parametrize("name,verdict,key", [
    ("weights.pth", "state_dict", ()),
    ("legacy.pth", "state_dict", ()),
    ("checkpoint.ckpt", "checkpoint", ("model_state_dict",)),
    ("ddp.pt", "checkpoint", ("state_dict",)),
    ("whole.pt", "code", None),
])
def test_scan_classifies_without_unpickling(files, name, verdict, key):
    folder, _ = files
    scan = scan_torch_file(folder / name)
    assert (scan.verdict, scan.key) == (verdict, key)
    if verdict == "code":
        assert any(g.endswith(".ResNet") for g in scan.unsafe)
        assert "torch.nn.modules.conv.Conv2d" in scan.unsafe
    else:
        assert scan.unsafe == ()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_scan_follows_stack_global_and_memo(protocol):
    data = pickle.dumps({"a": [os.path.join, os.path.join], "b": print}, protocol=protocol)
    scan = scan_pickle(data)
    assert scan.verdict == "code"
    assert set(scan.unsafe) == {f"{os.path.join.__module__}.join", "builtins.print"}


@pytest.mark.parametrize("data,message", [
    (b"", "not a valid pickle"),
    (b"\x80\x04\x95", "not a valid pickle"),
    (pickle.dumps({"a": 1}, protocol=4)[:-3], "not a valid pickle"),
    (b"\x80\x02h\x05.", "not a valid pickle"),  # BINGET of an empty memo
    (b"\x80\x02\xff\xff", "not a valid pickle"),
])
def test_scan_rejects_corrupt_pickles(data, message):
    with pytest.raises(InputError, match=message):
        scan_pickle(data)


def test_state_dict_and_checkpoint_load(files):
    folder, model = files
    expected = model.state_dict()
    for name in ("weights.pth", "legacy.pth"):
        state, info = load_state_dict_file(folder / name)
        assert list(state) == list(expected) and info["kind"] == "state_dict"
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    state, info = load_state_dict_file(folder / "checkpoint.ckpt")
    assert list(state) == list(expected)
    assert info["kind"] == "checkpoint" and info["key"] == "model_state_dict"
    assert info["metadata"] == {"epoch": 7, "loss": 0.25}
    assert info["other_keys"] == ["optimizer_state_dict", "epoch", "loss"]


def test_dataparallel_prefix_is_stripped_with_a_note(files):
    folder, model = files
    state, info = load_state_dict_file(folder / "ddp.pt")
    assert list(state) == list(model.state_dict())
    assert any("'module.' prefix" in note for note in info["notes"])


def test_pickled_module_is_refused_without_opt_in(files):
    folder, _ = files
    for call in (lambda p: load_state_dict_file(p),
                 lambda p: load_pickled_module(p, unsafe_load=False)):
        with pytest.raises(UnsafeFileError) as info:
            call(folder / "whole.pt")
        text = str(info.value)
        assert text.startswith(f"{folder / 'whole.pt'}: is a pickled nn.Module; loading it "
                               "runs code from the file (it references ")
        assert "ResNet" in text and "--unsafe-load" in text and "\n" not in text


def test_pickled_module_loads_with_opt_in(files):
    folder, model = files
    loaded = load_pickled_module(folder / "whole.pt", unsafe_load=True)
    assert type(loaded).__name__ == "ResNet"
    state, info = load_state_dict_file(folder / "whole.pt", unsafe_load=True)
    assert list(state) == list(model.state_dict()) and info["kind"] == "code"


def test_pickled_module_loader_refuses_plain_weights(files):
    folder, _ = files
    with pytest.raises(InputError, match="holds no pickled nn.Module"):
        load_pickled_module(folder / "weights.pth", unsafe_load=True)


def test_safetensors_header_and_tensors(files):
    folder, model = files
    expected = model.state_dict()
    shapes = load_safetensors(folder / "weights.safetensors", header_only=True)
    assert set(shapes) == set(expected)
    assert shapes["layer1.0.conv1.weight"] == ([8, 8, 3, 3], "float32")
    assert shapes["bn1.num_batches_tracked"] == ([], "int64")
    tensors = load_safetensors(folder / "weights.safetensors")
    assert list(tensors) == list(shapes)
    assert all(torch.equal(tensors[k], expected[k]) for k in expected)


def _safetensors_bytes(header, data=b""):
    raw = header if isinstance(header, bytes) else __import__("json").dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("blob,message", [
    (b"\x01\x00", "too short"),
    (struct.pack("<Q", 10 ** 12) + b"{}", "declares a safetensors header of"),
    (_safetensors_bytes(b"{not json"), "not valid JSON"),
    (_safetensors_bytes([1, 2]), "not a JSON object"),
    (_safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}},
                        b"\0" * 4), "needs 8 bytes"),
    (_safetensors_bytes({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}},
                        b"\0" * 8), "starts at byte 4"),
    (_safetensors_bytes({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                        b"\0" * 9), "cover 4 bytes of a 9-byte"),
    (_safetensors_bytes({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}},
                        b"\0" * 4), "bad dtype, shape"),
    (_safetensors_bytes({"__metadata__": {"a": 1}}), "__metadata__"),
])
def test_bad_safetensors_say_what_is_wrong(tmp_path, blob, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    with pytest.raises(InputError, match=message) as info:
        read_safetensors_header(path)
    assert str(path) in str(info.value)


def test_torchscript_traced_archive_loads(files):
    folder, _ = files
    assert scan_torchscript_archive(folder / "traced.pt").verdict == "data"
    module = load_torchscript(folder / "traced.pt")
    assert module.original_name == "ResNet"


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 broken", b"\x80\x02K\x01."])
def test_torch_loaders_turn_bad_bytes_into_one_line(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    for call in (load_state_dict_file, load_torchscript):
        with pytest.raises(InputError) as info:
            call(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


# --- malicious files ------------------------------------------------------------


class _Payload:
    """Pickles to a call of ``os.system("touch <marker>")``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def _replace_member(path, suffix, data):
    """Rewrite the zip at ``path`` with the member ending in ``suffix`` replaced.

    ``data`` is the new content, or a function of the old content.
    """
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for info, content in members:
            if info.filename.endswith(suffix):
                content = data(content) if callable(data) else data
            archive.writestr(info, content)


@pytest.fixture(params=["pickle0", "pickle2", "pickle4", "zip2", "zip5"])
def malicious(request, tmp_path):
    """A file that runs ``touch marker`` when unpickled, and the marker path."""
    marker = tmp_path / "pwned"
    protocol = int(request.param[-1])
    payload = pickle.dumps({"model": _Payload(marker)}, protocol=protocol)
    path = tmp_path / "evil.pth"
    if request.param.startswith("pickle"):
        path.write_bytes(payload)
    else:
        torch.save({"model": torch.zeros(2)}, path)
        _replace_member(path, "/data.pkl", payload)
    return path, marker


def test_malicious_pickle_never_runs_without_opt_in(malicious):
    path, marker = malicious
    if path.read_bytes()[:1] != b"\x80" and not zipfile.is_zipfile(path):
        # protocol 0 has no PROTO opcode to recognise it by
        with pytest.raises(InputError, match="not a model file graphir can read"):
            detect_kind(path)
    else:
        assert detect_kind(path) == "torch_pickle"
    scan = scan_torch_file(path)
    assert scan.verdict == "code" and "posix.system" in scan.unsafe
    with pytest.raises(UnsafeFileError, match=r"runs code from the file \(it references "
                                              r"posix\.system\).*--unsafe-load"):
        load_state_dict_file(path)
    with pytest.raises(UnsafeFileError, match="posix.system"):
        load_pickled_module(path, unsafe_load=False)
    assert not marker.exists()


def test_malicious_pickle_really_runs_with_opt_in(malicious):
    path, marker = malicious
    with pytest.raises(InputError):
        load_pickled_module(path, unsafe_load=True)
    assert marker.exists(), "the test payload should run when the user opts in"


def test_torchscript_setstate_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")

    class Writer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.target = str(victim)

        def forward(self, x):
            return x

        @torch.jit.export
        def __getstate__(self) -> Tuple[str, bool]:
            return self.target, self.training

        @torch.jit.export
        def __setstate__(self, state: Tuple[str, bool]) -> None:
            self.target = state[0]
            written = torch.from_file(self.target, True, 4, dtype=torch.uint8).fill_(88)
            self.training = state[1] or bool(written.sum() < 0)

    path = tmp_path / "evil_ts.pt"
    torch.jit.save(torch.jit.script(Writer()), path)
    assert victim.read_text() == "untouched"
    assert detect_kind(path) == "torchscript"
    with pytest.raises(UnsafeFileError, match=r"class Writer defines __setstate__.*--unsafe-load"):
        load_torchscript(path)
    assert victim.read_text() == "untouched"
    load_torchscript(path, unsafe_load=True)
    assert victim.read_text().startswith("XXXX"), "torch.jit.load runs __setstate__"


def test_torchscript_pickle_with_python_globals_is_refused_and_cannot_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "ts.pt"
    torch.jit.save(torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)), path)
    _replace_member(path, "/data.pkl", pickle.dumps(_Payload(marker), protocol=2))
    with pytest.raises(UnsafeFileError, match="posix.system"):
        load_torchscript(path)
    with pytest.raises(InputError):  # torch.jit.load's own unpickler refuses Python globals
        load_torchscript(path, unsafe_load=True)
    assert not marker.exists()



def test_export_archive_loads_after_its_check(files):
    folder, _ = files
    program = load_exported_program(folder / "program.pt2")
    assert type(program).__name__ == "ExportedProgram"


def _evil_shape_expression(marker):
    def edit(content):
        document = json.loads(content)
        values = document["graph_module"]["graph"]["tensor_values"]
        first = next(iter(values.values()))
        first["sizes"][0] = {"as_expr": {
            "expr_str": f"__import__('os').system('touch {marker}') or 8",
            "hint": {"as_int": 8}}}
        return json.dumps(document).encode()
    return edit


def _evil_torch_save(marker, tmp_path):
    torch.save((torch.zeros(1),), tmp_path / "inputs.pt")
    _replace_member(tmp_path / "inputs.pt", "/data.pkl",
                    pickle.dumps((_Payload(marker),), protocol=2))
    return (tmp_path / "inputs.pt").read_bytes()


@pytest.mark.parametrize("where", ["models/model.json", "data/sample_inputs/model.pt"])
def test_export_archive_that_runs_code_is_refused(files, tmp_path, where):
    folder, _ = files
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt2"
    path.write_bytes((folder / "program.pt2").read_bytes())
    if where.endswith(".json"):
        _replace_member(path, where, _evil_shape_expression(marker))
    else:
        _replace_member(path, where, _evil_torch_save(marker, tmp_path))
    assert detect_kind(path) == "export"
    with pytest.raises(UnsafeFileError, match=r"torch.export archive that runs code.*"
                                              r"--unsafe-load"):
        load_exported_program(path)
    assert not marker.exists()
    try:
        load_exported_program(path, unsafe_load=True)
    except InputError:
        pass
    assert marker.exists(), "torch.export.load runs this payload when the user opts in"
