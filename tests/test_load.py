"""File-kind detection, factories and --input-shape parsing."""

import pathlib
import textwrap
import zipfile

import pytest

from graphir.errors import InputError
from graphir.loaders import detect_kind, load_factory, parse_input_shape

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("torch_files")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    example = (torch.randn(2, 4),)
    torch.save(model.state_dict(), folder / "weights.pth")
    torch.save(model, folder / "whole.pt")
    torch.jit.save(torch.jit.trace(model, example), folder / "scripted.pt")
    torch.export.save(torch.export.export(model, example), folder / "program.pt2")
    return folder


@pytest.mark.parametrize("name,kind", [
    ("weights.pth", "torch_pickle"),
    ("whole.pt", "torch_pickle"),
    ("scripted.pt", "torchscript"),
    ("program.pt2", "export"),
])
def test_torch_files_are_told_apart_by_content(torch_files, name, kind):
    assert detect_kind(torch_files / name) == kind


def test_extension_does_not_decide(torch_files, tmp_path):
    disguised = tmp_path / "model.onnx"
    disguised.write_bytes((torch_files / "program.pt2").read_bytes())
    assert detect_kind(disguised) == "export"


def test_json_and_safetensors_heads(tmp_path):
    (tmp_path / "g.json").write_text('{"schema": "graphir/1"}')
    header = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    blob = len(header).to_bytes(8, "little") + header + b"\0" * 4
    (tmp_path / "w.safetensors").write_bytes(blob)
    assert detect_kind(tmp_path / "g.json") == "json"
    assert detect_kind(tmp_path / "w.safetensors") == "safetensors"


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"\xff\xfe\x00garbage" * 10, "is not a model file graphir can read"),
    (b"PK\x03\x04truncated zip", "cannot be read"),
])
def test_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        detect_kind(path)
    assert str(path) in str(info.value)


def test_unknown_zip_is_refused(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="zip archive of no kind"):
        detect_kind(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        detect_kind(tmp_path / "nope.onnx")
    with pytest.raises(InputError, match="is a folder"):
        detect_kind(tmp_path)


@pytest.mark.parametrize("text,expected", [
    ("1,3,224,224", ("float32", (1, 3, 224, 224))),
    ("int64:1,16", ("int64", (1, 16))),
    ("bf16:2x8", ("bfloat16", (2, 8))),
    ("bool:1", ("bool", (1,))),
])
def test_parse_input_shape(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("text,message", [
    ("int65:1,2", "unknown dtype"),
    ("1,a,3", "positive integers"),
    ("", "positive integers"),
    ("1,0", "a dim is 0"),
])
def test_parse_input_shape_errors(text, message):
    with pytest.raises(InputError, match=message):
        parse_input_shape(text)


def _write(tmp_path, body):
    path = tmp_path / "factory.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_factory_forms(tmp_path):
    path = _write(tmp_path, """
        import torch
        def plain():
            return torch.nn.Linear(2, 2)
        def with_args():
            return torch.nn.Linear(2, 2), torch.zeros(1, 2)
        def with_kwargs():
            return torch.nn.Linear(2, 2), {"input": torch.zeros(1, 2)}
    """)
    module, args, kwargs = load_factory(f"{path}:plain")
    assert args is None and kwargs is None
    _, args, _ = load_factory(f"{path}:with_args")
    assert isinstance(args, tuple) and args[0].shape == (1, 2)
    _, args, kwargs = load_factory(f"{path}:with_kwargs")
    assert args == () and set(kwargs) == {"input"}


@pytest.mark.parametrize("body,name,message", [
    ("def f():\n    raise ValueError('boom')\n", "f", r"calling f\(\) raised ValueError: boom"),
    ("def f():\n    return 3\n", "f", "returned int, not an nn.Module"),
    ("x = 1\n", "f", "has no callable named 'f'"),
    ("import no_such_module_here\n", "f", "importing it raised ModuleNotFoundError"),
])
def test_factory_errors(tmp_path, body, name, message):
    path = _write(tmp_path, body)
    with pytest.raises(InputError, match=message):
        load_factory(f"{path}:{name}")


def test_factory_sample_returns_example_inputs():
    module, args, _ = load_factory(str(ROOT / "samples" / "gpt2.py") + ":gpt2_tiny")
    assert type(module).__name__ == "GPT2Model"
    assert [str(a.dtype) for a in args] == ["torch.int64", "torch.int64"]
