"""Reading .pt2 archives from their JSON program (issue 10, item 4).

The archives are made here: small torch models with a dynamic batch (one
with multi-output ops and a dict output), a tiny Hugging Face ViT whose
output type torch.export.load cannot rebuild unless transformers is
imported, and a model using a torch.library custom op defined only in the
subprocess that saved it.
"""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import pytest

from graphir.converters.pt2_archive import from_pt2_archive, read_program, symbolic_text
from graphir.errors import InputError
from graphir.ir import validate
from graphir.serialize import to_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SUBPROCESS_SAVES = textwrap.dedent("""
    import sys, torch
    folder = sys.argv[1]

    @torch.library.custom_op("pt2test::twice", mutates_args=())
    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2

    @twice.register_fake
    def _(x):
        return torch.empty_like(x)

    class Custom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x):
            return torch.ops.pt2test.twice(self.lin(x))

    torch.export.save(torch.export.export(Custom(), (torch.randn(2, 4),)),
                      f"{folder}/custom.pt2")

    from transformers import ViTConfig, ViTModel
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, image_size=32, patch_size=8)
    vit = ViTModel(config).eval()
    torch.export.save(torch.export.export(vit, (torch.randn(1, 3, 32, 32),)),
                      f"{folder}/vit.pt2")
""")


def _run(code, *args, timeout=120):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    import torch
    from torch import nn

    folder = tmp_path_factory.mktemp("pt2")
    done = _run(_SUBPROCESS_SAVES, folder)
    assert done.returncode == 0, done.stderr[-2000:]

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x))).mean((2, 3))
            return self.fc(y), y

    class Multi(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x):
            a, b = torch.split(self.fc(x), 4, dim=-1)
            y = torch.cat([a * 2, b], -1).reshape(x.shape[0], 2, 2, 2)
            p, idx = self.pool(y)
            return {"y": y.sum(), "p": p, "idx": idx}

    batch = torch.export.Dim("batch", min=2)
    torch.export.save(torch.export.export(Small().eval(), (torch.randn(2, 3, 8, 8),),
                                          dynamic_shapes=({0: batch},)), folder / "dyn.pt2")
    torch.export.save(torch.export.export(Multi(), (torch.randn(3, 8),),
                                          dynamic_shapes=({0: batch},)), folder / "multi.pt2")
    return folder


def _comparable(G):
    data = to_dict(G)
    data["graph"] = {k: v for k, v in data["graph"].items() if k not in ("pt2", "notes")}
    return data


@pytest.mark.parametrize("name", ["dyn", "multi", "vit"])
def test_same_ir_as_from_exported_program(archives, name):
    import torch
    import transformers.modeling_outputs  # noqa: F401  (registers ViT's output type)

    from graphir.converters.fx import from_exported_program

    path = archives / f"{name}.pt2"
    expected = from_exported_program(torch.export.load(path), name=name)
    G = from_pt2_archive(path)
    validate(G)
    assert G.graph["name"] == name
    assert _comparable(G) == _comparable(expected)


def test_symbolic_sizes_are_kept_as_names(archives):
    G = from_pt2_archive(archives / "dyn.pt2")
    assert G.nodes["input:x"]["outputs"] == [{"shape": ["s77", 3, 8, 8], "dtype": "float32"}]
    assert G.nodes["output:output_0"]["outputs"][0]["shape"] == ["s77", 2]
    assert G.nodes["bn/batch_norm#0"]["params"]["bn.running_mean"] == {
        "shape": [4], "dtype": "float32", "kind": "buffer"}


def test_multi_output_ops_and_dict_outputs(archives):
    G = from_pt2_archive(archives / "multi.pt2")
    assert G.graph["outputs"] == ["output:y", "output:p", "output:idx"]
    split = G.nodes["split#0"]
    assert len(split["outputs"]) == 2
    assert sorted((v, d["src_port"]) for _, v, d in G.out_edges("split#0", data=True)) == \
        [("cat#0", 1), ("mul#0", 0)]
    assert [G.edges[e]["src_port"] for e in G.in_edges("output:idx", keys=True)] == [1]


@pytest.mark.parametrize("expr, text", [
    ("Symbol('s0', positive=True, integer=True)", "s0"),
    ("Mul(Integer(2), Symbol('s0'))", "2*s0"),
    ("Add(Symbol('s0'), Integer(-1))", "s0 - 1"),
    ("FloorDiv(Symbol('s0'), Integer(2))", "s0//2"),
    ("Mul(Integer(-1), Symbol('s1'))", "-s1"),
    ("__import__('os').system('true')", "__import__('os').system('true')"),
    ("not python (", "not python ("),
])
def test_symbolic_text_never_evaluates(expr, text):
    assert symbolic_text(expr) == text


def test_hf_vit_archive_torch_cannot_load_is_drawn(archives):
    """In a fresh process (transformers not imported) torch.export.load fails;
    the loader says why, without the old useless advice; the archive reader
    draws it without importing torch at all."""
    code = textwrap.dedent("""
        import sys
        from graphir.converters.pt2_archive import from_pt2_archive
        G = from_pt2_archive(sys.argv[1])
        assert "torch" not in sys.modules, "the archive reader imported torch"
        print(G.graph["outputs"])
        print(G.graph["notes"])
        from graphir.loaders.torch_files import ExportLoadError, load_exported_program
        try:
            load_exported_program(sys.argv[1])
        except ExportLoadError as exc:
            print("ERROR", exc.one_line())
    """)
    done = _run(code, archives / "vit.pt2")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "['output:last_hidden_state', 'output:pooler_output']"
    assert "output type transformers.modeling_outputs.BaseModelOutputWithPooling" in lines[1]
    error = lines[2]
    assert error.startswith("ERROR ") and "vit.pt2: torch.export.load cannot rebuild" in error
    assert "BaseModelOutputWithPooling is not registered" in error
    assert "this torch version" not in error
    assert "Traceback" not in done.stderr and "W1129" not in done.stderr


def test_custom_op_archive(archives):
    from graphir.loaders.torch_files import ExportLoadError, load_exported_program

    path = archives / "custom.pt2"
    with pytest.raises(ExportLoadError) as caught:
        load_exported_program(path)
    assert "pt2test.twice.default" in caught.value.reason
    assert "library" in caught.value.one_line() and "this torch version" not in \
        caught.value.one_line()
    G = from_pt2_archive(path)
    validate(G)
    assert [G.nodes[n]["op"] for n in G if G.nodes[n]["kind"] == "op"] == [
        "aten.linear.default", "pt2test.twice.default"]
    assert G.nodes["twice#0"]["outputs"] == [{"shape": [2, 4], "dtype": "float32"}]
    assert G.nodes["lin/linear#0"]["params"]["lin.weight"]["shape"] == [4, 4]
    assert G.graph["pt2"]["custom_ops"] == {"pt2test.twice.default": 1}
    assert "custom op pt2test.twice.default" in G.graph["notes"][0]
    assert from_pt2_archive(path, note="why").graph["notes"][0] == "why"


def _rewrite(source, target, replace):
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, replace(info.filename, data))


def test_corrupt_program_is_one_line(archives, tmp_path):
    bad = tmp_path / "bad.pt2"
    _rewrite(archives / "dyn.pt2", bad,
             lambda name, data: b'{"graph_module": ' if name.endswith("models/model.json")
             else data)
    with pytest.raises(InputError) as caught:
        from_pt2_archive(bad)
    line = caught.value.one_line()
    assert "\n" not in line and str(bad) in line
    assert "models/model.json is not valid JSON" in line and "save the program again" in line

    wrong = tmp_path / "wrong.pt2"
    _rewrite(archives / "dyn.pt2", wrong,
             lambda name, data: json.dumps({"graph_module": {"graph": {"nodes": [
                 {"target": "torch.ops.aten.relu.default", "inputs": 3}]}}}).encode()
             if name.endswith("models/model.json") else data)
    with pytest.raises(InputError, match="does not follow the torch.export schema"):
        from_pt2_archive(wrong)


def test_not_an_archive(tmp_path):
    path = tmp_path / "empty.pt2"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x/readme.txt", "hello")
    with pytest.raises(InputError, match="no serialised program"):
        read_program(path)
    text = tmp_path / "text.pt2"
    text.write_text("not a zip")
    with pytest.raises(InputError, match="cannot be read as a zip archive"):
        read_program(text)


def test_damaged_programs_give_a_valid_ir_or_one_input_error(archives, tmp_path):
    """Deterministic mutations of a real program: never a traceback, never invalid IR."""
    import random

    with zipfile.ZipFile(archives / "multi.pt2") as src:
        members = {info.filename: src.read(info) for info in src.infolist()}
    program_name = next(n for n in members if n.endswith("models/model.json"))
    base = json.loads(members[program_name])

    def paths(value, path=()):
        yield path
        items = value.items() if isinstance(value, dict) else \
            enumerate(value) if isinstance(value, list) else ()
        for key, child in items:
            yield from paths(child, path + (key,))

    every = list(paths(base))[1:]
    rng = random.Random(10)
    outcomes = {"ok": 0, "input": 0}
    target = tmp_path / "damaged.pt2"
    for _ in range(150):
        program = json.loads(json.dumps(base))
        where = rng.choice(every)
        parent = program
        for key in where[:-1]:
            parent = parent[key]
        roll = rng.random()
        if roll < 0.3:
            del parent[where[-1]]
        else:
            parent[where[-1]] = rng.choice([None, 1, -3, "x", [], {}, [1, 2], {"a": 1},
                                            {"as_tensor": {"name": "nowhere"}}])
        with zipfile.ZipFile(target, "w") as dst:
            for name, data in members.items():
                dst.writestr(name, json.dumps(program) if name == program_name else data)
        try:
            validate(from_pt2_archive(target))
            outcomes["ok"] += 1
        except InputError as exc:
            assert "\n" not in exc.one_line() and str(target) in exc.one_line()
            outcomes["input"] += 1
    assert outcomes["ok"] > 0 and outcomes["input"] > 0
