"""``MODULE.PATH:CALLABLE`` factories beside ``FILE.py:CALLABLE``, and how specs are told apart."""

import os
import sys
import textwrap

import pytest

from graphir.errors import InputError
from graphir.loaders import detect_kind, load_factory, split_factory_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PACKAGE = {
    "__init__.py": "",
    "models.py": textwrap.dedent("""
        import torch

        def build():
            return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), torch.zeros(2, 4)

        class Factory:
            @staticmethod
            def build():
                return torch.nn.Linear(4, 2), (torch.zeros(1, 4),)

        NOT_CALLABLE = 3
    """),
    "broken.py": "raise RuntimeError('boom at import')\n",
    "needs_dep.py": "import graphir_no_such_dependency_xyz\n",
}


@pytest.fixture
def package(tmp_path):
    """A package ``hfl_pkg`` in a fresh folder (on no path yet); removed afterwards."""
    folder = tmp_path / "hfl_pkg"
    folder.mkdir()
    for name, text in PACKAGE.items():
        (folder / name).write_text(text)
    yield tmp_path
    for name in [m for m in sys.modules if m == "hfl_pkg" or m.startswith("hfl_pkg.")]:
        del sys.modules[name]


@pytest.mark.parametrize("spec, expected", [
    ("samples/gpt2.py:gpt2_tiny", ("samples/gpt2.py", "gpt2_tiny", "file")),
    ("samples.gpt2:gpt2_tiny", ("samples.gpt2", "gpt2_tiny", "module")),
    ("transformers:AutoModel.from_config", ("transformers", "AutoModel.from_config", "module")),
    ("pkg.sub.mod:Class.build", ("pkg.sub.mod", "Class.build", "module")),
    ("model.onnx", None),
    ("samples/gpt2:gpt2_tiny", None),  # neither FILE.py nor dotted identifiers
    ("weights:1", None),
    ("http://example.com/model.onnx", None),
    ("pkg.mod:", None),
])
def test_split_factory_spec(spec, expected):
    parts = split_factory_spec(spec)
    if expected is None:
        assert parts is None
    else:
        assert (parts.target, parts.name, parts.kind) == expected
        assert tuple(parts) == expected[:2]


def test_an_existing_path_wins_over_a_factory_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert split_factory_spec("mod:build").kind == "module"
    (tmp_path / "mod:build").write_bytes(b"\x00not a model")
    assert split_factory_spec("mod:build") is None
    with pytest.raises(InputError, match="mod:build: is not a model file"):
        detect_kind("mod:build")


def test_module_spec_is_the_same_model_as_the_file_spec(monkeypatch):
    monkeypatch.chdir(ROOT)
    by_module = load_factory("samples.gpt2:gpt2_tiny")
    by_file = load_factory("samples/gpt2.py:gpt2_tiny")
    assert detect_kind("samples.gpt2:gpt2_tiny") == "python"
    assert type(by_module[0]).__name__ == type(by_file[0]).__name__
    assert [tuple(a.shape) for a in by_module[1]] == [tuple(a.shape) for a in by_file[1]]
    assert sum(p.numel() for p in by_module[0].parameters()) == \
        sum(p.numel() for p in by_file[0].parameters())


def test_graphir_load_takes_a_module_spec(monkeypatch):
    import graphir

    monkeypatch.chdir(ROOT)
    by_module = graphir.load("samples.gpt2:gpt2_tiny")
    by_file = graphir.load("samples/gpt2.py:gpt2_tiny")
    assert sorted(by_module.nodes) == sorted(by_file.nodes)


def test_installed_package_on_sys_path(package, monkeypatch):
    monkeypatch.syspath_prepend(str(package))
    module, args, kwargs = load_factory("hfl_pkg.models:build")
    assert type(module).__name__ == "Sequential" and tuple(args[0].shape) == (2, 4)
    assert kwargs is None
    module, args, _ = load_factory("hfl_pkg.models:Factory.build")
    assert module.out_features == 2


def test_package_in_the_current_folder_is_found_and_sys_path_restored(package, monkeypatch):
    monkeypatch.chdir(package)
    before = list(sys.path)
    module, _, _ = load_factory("hfl_pkg.models:build")
    assert type(module).__name__ == "Sequential"
    assert sys.path == before


@pytest.mark.parametrize("spec, pattern", [
    ("hfl_no_such_pkg.models:build", r"hfl_no_such_pkg\.models:build: is neither a file nor an "
                                     r"importable module \(no module named 'hfl_no_such_pkg'\); "
                                     r"install the package"),
    ("hfl_pkg.nothere:build", r"no module named 'hfl_pkg\.nothere'"),
    ("hfl_pkg.broken:build", r"importing hfl_pkg\.broken raised RuntimeError: boom at import"),
    ("hfl_pkg.needs_dep:build", r"raised ModuleNotFoundError.*; install "
                                r"graphir_no_such_dependency_xyz"),
    ("hfl_pkg.models:missing", r"has no callable named 'missing'; name a function or class "
                               r"defined in hfl_pkg\.models"),
    ("hfl_pkg.models:NOT_CALLABLE", r"has no callable named 'NOT_CALLABLE'"),
    ("hfl_pkg.models:Factory.nope", r"has no callable named 'Factory\.nope'"),
])
def test_module_spec_errors_are_one_line(package, monkeypatch, spec, pattern):
    monkeypatch.syspath_prepend(str(package))
    with pytest.raises(InputError, match=pattern) as info:
        load_factory(spec)
    assert "\n" not in str(info.value)


def test_a_factory_that_needs_arguments_says_so(monkeypatch):
    with pytest.raises(InputError, match=r"torch\.nn:Linear: calling Linear\(\) raised "
                                         r"TypeError"):
        load_factory("torch.nn:Linear")
