"""TorchScript (traced and scripted, in memory and loaded from a file) to the IR."""

import pathlib
from typing import Dict

import pytest

torch = pytest.importorskip("torch")

from graphir import ir  # noqa: E402
from graphir.converters.torchscript import from_torchscript  # noqa: E402
from graphir.errors import ConversionError  # noqa: E402
from graphir.loaders import load_factory  # noqa: E402
from graphir.loaders.torch_files import load_torchscript  # noqa: E402
from graphir.table import summarize  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def helper(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.gelu(x) * 2


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.norm = torch.nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(helper(self.fc(x)) + x)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block(), Block()])
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x, scale: float = 1.0):
        for block in self.blocks:
            x = block(x)
        y = self.head(x)
        if scale != 1.0:
            y = y * scale
        return y, x.chunk(2, dim=-1)


class DictOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 2)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        hidden = self.proj(x)
        return {"logits": hidden.relu(), "hidden": hidden}


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """resnet_tiny traced in memory, and the same archive saved and loaded back."""
    model, args, _ = load_factory(f"{ROOT / 'samples' / 'resnet.py'}:resnet_tiny")
    module = torch.jit.trace(model, args)
    path = tmp_path_factory.mktemp("ts") / "resnet_tiny.pt"
    torch.jit.save(module, path)
    return model, module, load_torchscript(path)


def test_traced_resnet_ops_params_and_modules(traced):
    model, module, _ = traced
    G = from_torchscript(module, name="resnet_tiny")
    ir.validate(G)
    assert G.graph["source"] == "torchscript"
    assert G.graph["inputs"] == ["input:x"] and G.graph["outputs"] == ["output:output"]
    conv = G.nodes["layer1.0.conv1/_convolution#0"]
    assert conv["op"] == "aten::_convolution" and conv["module_type"] == "Conv2d"
    assert conv["params"] == {"layer1.0.conv1.weight": {"shape": [8, 8, 3, 3],
                                                        "dtype": "float32"}}
    assert conv["attrs"]["stride"] == [1, 1] and conv["attrs"]["padding"] == [1, 1]
    assert conv["scope"] == [["layer1", "Sequential"], ["layer1.0", "BasicBlock"],
                             ["layer1.0.conv1", "Conv2d"]]
    bn = G.nodes["bn1/batch_norm#0"]
    assert bn["params"]["bn1.running_mean"]["kind"] == "buffer"
    add = G.nodes["layer1.0/add#0"]
    assert add["module_type"] == "BasicBlock" and G.in_degree("layer1.0/add#0") == 2
    assert "prim::GetAttr" not in {d["op"] for _, d in G.nodes(data=True)}
    assert "prim::Constant" not in {d["op"] for _, d in G.nodes(data=True)}
    assert summarize(G)["total_params"] == sum(p.numel() for p in model.parameters())


def test_loaded_archive_gives_the_same_graph_as_the_fresh_trace(traced):
    _, module, loaded = traced
    fresh = from_torchscript(module, name="m")
    again = from_torchscript(loaded, name="m")
    ir.validate(again)
    assert list(again.nodes) == list(fresh.nodes)
    assert list(again.edges) == list(fresh.edges)
    assert [d["module"] for _, d in again.nodes(data=True)] == \
        [d["module"] for _, d in fresh.nodes(data=True)]


def test_conversion_is_deterministic(traced):
    _, _, loaded = traced
    assert ir.graphs_equal(from_torchscript(loaded, name="m"), from_torchscript(loaded, name="m"))


def test_scripted_module_list_loop_control_flow_and_outputs(tmp_path):
    torch.jit.save(torch.jit.script(Net()), tmp_path / "net.pt")
    G = from_torchscript(load_torchscript(tmp_path / "net.pt"), name="net")
    ir.validate(G)
    assert G.graph["inputs"] == ["input:x", "input:scale"]
    assert G.nodes["input:scale"]["attrs"] == {"type": "float"}
    assert G.graph["outputs"] == ["output:output_0", "output:output_1"]
    linear = G.nodes["blocks.1.fc/linear#0"]
    assert linear["module_type"] == "Linear"
    assert set(linear["params"]) == {"blocks.1.fc.weight", "blocks.1.fc.bias"}
    assert G.nodes["blocks.0/gelu#0"]["module_type"] == "Block"
    norm = G.nodes["blocks.0.norm/layer_norm#0"]
    assert norm["attrs"]["normalized_shape"] == [8]
    branch = G.nodes["If#0"]
    assert branch["op"] == "prim::If"
    assert {u for u, _ in G.in_edges("If#0")} == {"ne#0", "mul#0", "head/linear#0"}
    assert list(G.predecessors("output:output_0")) == ["If#0"]
    assert list(G.predecessors("output:output_1")) == ["chunk#0"]


def test_scripted_dict_output_names_outputs_by_key():
    G = from_torchscript(torch.jit.script(DictOut()), name="d")
    ir.validate(G)
    assert G.graph["outputs"] == ["output:logits", "output:hidden"]
    assert list(G.predecessors("output:hidden")) == ["proj/linear#0"]


def test_loops_are_walked_without_cycles():
    class Repeat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)

        def forward(self, x, n: int):
            for _ in range(n):
                x = self.fc(x).relu()
            return x

    G = from_torchscript(torch.jit.script(Repeat()), name="r")
    ir.validate(G)
    loop = next(n for n, d in G.nodes(data=True) if d["op"] == "prim::Loop")
    assert "fc/linear#0" in set(G.predecessors("relu#0"))
    assert list(G.predecessors("output:output")) == [loop]


def test_plain_modules_are_refused():
    with pytest.raises(ConversionError, match="TorchScript module"):
        from_torchscript(torch.nn.Linear(2, 2), name="x")
