"""The torch.export / torch.fx converter (graphir.converters.fx).

Expensive captures are session-scoped fixtures. IR goldens live in
tests/goldens/ir/; regenerate them with ``GRAPHIR_REGEN_GOLDENS=1``.
"""

import collections
import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest
torch = pytest.importorskip("torch")  # an ONNX-only install skips this module
from torch import nn

from graphir import ir, serialize
from graphir.converters._torch_common import iter_leaves, leaf_name, module_path, module_scope
from graphir.converters.fx import from_exported_program, from_graph_module, from_module
from graphir.errors import ConversionError
from samples.gpt2 import _example_inputs, gpt2_lm, gpt2_tiny
from samples.multi_io import two_tower
from samples.resnet import resnet18, resnet_tiny

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDENS = pathlib.Path(__file__).resolve().parent / "goldens" / "ir"


# --------------------------------------------------------------------------
# Small models
# --------------------------------------------------------------------------

def _positive_part(x):
    """Data-dependent branch: export cannot capture it, fx keeps it as one call."""
    return x if bool(x.sum() > 0) else -x


torch.fx.wrap("_positive_part")


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return _positive_part(self.lin(x))


class Hopeless(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x


@dataclasses.dataclass
class Pair:
    first: torch.Tensor
    second: torch.Tensor = None


class Plain:
    def __init__(self, logits):
        self.logits = logits
        self._cache = None


Point = collections.namedtuple("Point", ["x", "y"])


class Structured(nn.Module):
    """Returns whatever ``kind`` asks for, built from two linear layers."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(4, 2)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        if self.kind == "nested":
            return {"logits": a, "past": (b, a + 1)}
        if self.kind == "tuple":
            return a, b
        if self.kind == "dataclass":
            return Pair(first=a)
        if self.kind == "namedtuple":
            return Point(a, b)
        return Plain(a)


class Specialised(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, mask=None, scale=2.0):
        y = self.lin(x) * scale
        if mask is not None:
            y = y + mask
        return y


class PoolWithIndices(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)

    def forward(self, x):
        values, indices = self.pool(x)
        return values, indices


class MaskedFill(nn.Module):
    def forward(self, x):
        return x.masked_fill(x > 0, float("-inf"))


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _ops(G, **match):
    return [G.nodes[n] | {"id": n} for n in ir.op_nodes(G)
            if all(G.nodes[n].get(k) == v for k, v in match.items())]


def _producers(G, node):
    return {u for u, _ in G.in_edges(node)}


def _shape_coverage(G):
    ops = ir.op_nodes(G)
    shaped = [n for n in ops if G.nodes[n]["outputs"]
              and all(o["shape"] is not None for o in G.nodes[n]["outputs"])]
    return len(shaped) / len(ops)


# --------------------------------------------------------------------------
# Session fixtures (one capture per model)
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def resnet_tiny_export():
    model, example = resnet_tiny()
    return from_module(model, example, method="export")[0]


@pytest.fixture(scope="session")
def resnet_tiny_fx():
    model, example = resnet_tiny()
    return from_module(model, example, method="fx")[0]


@pytest.fixture(scope="session")
def resnet18_export():
    return from_module(resnet18(), (torch.randn(1, 3, 64, 64),), method="export")[0]


@pytest.fixture(scope="session")
def gpt2_export():
    model, example = gpt2_tiny()
    return from_module(model, example, method="export")[0]


@pytest.fixture(scope="session")
def gpt2_lm_export():
    return from_module(gpt2_lm(), _example_inputs(), method="export")[0]


@pytest.fixture(scope="session")
def gpt2_lm_program():
    """A direct export of the LM (tuple output via ``return_dict=False``)."""
    return torch.export.export(gpt2_lm(), _example_inputs(), {"return_dict": False})


# --------------------------------------------------------------------------
# ResNet
# --------------------------------------------------------------------------

RESNETS = ["resnet_tiny_export", "resnet18_export"]


@pytest.mark.parametrize("fixture", RESNETS)
def test_resnet_export_graph(fixture, request):
    G = request.getfixturevalue(fixture)
    ir.validate(G)
    assert G.graph["source"] == "export"
    convs = _ops(G, op="aten.conv2d.default")
    assert convs and all(
        any(name.endswith(".weight") and len(info["shape"]) == 4
            for name, info in conv["params"].items()) for conv in convs)
    norms = _ops(G, op="aten.batch_norm.default")
    assert len(norms) == len(convs)
    for bn in norms:
        suffixes = {name.rsplit(".", 1)[1] for name in bn["params"]}
        assert suffixes == {"weight", "bias", "running_mean", "running_var"}
        assert bn["params"][bn["module"] + ".running_mean"]["kind"] == "buffer"
    [conv1] = _ops(G, module="layer1.0.conv1")
    assert conv1["module_type"] == "Conv2d"
    assert conv1["scope"] == [["layer1", "Sequential"], ["layer1.0", "BasicBlock"],
                              ["layer1.0.conv1", "Conv2d"]]
    assert all(op["outputs"] and all(o["shape"] for o in op["outputs"]) for op in _ops(G))


@pytest.mark.parametrize("fixture", RESNETS + ["resnet_tiny_fx"])
def test_resnet_residual_adds(fixture, request):
    G = request.getfixturevalue(fixture)
    adds = [op for op in _ops(G) if op["label"] == "add" and op["module"].startswith("layer")]
    assert adds
    for add in adds:
        assert len(_producers(G, add["id"])) == 2
        assert sorted(d["dst_port"] for _, _, d in G.in_edges(add["id"], data=True)) == [0, 1]


def test_resnet_fx_graph(resnet_tiny_fx):
    G = resnet_tiny_fx
    ir.validate(G)
    assert G.graph["source"] == "fx"
    convs = _ops(G, op="Conv2d")
    assert len(convs) == len(_ops(G, op="BatchNorm2d")) == 8
    for conv in convs:
        weight = conv["params"][conv["module"] + ".weight"]["shape"]
        assert len(weight) == 4 and conv["attrs"]["kernel_size"] == weight[2:]
    bn = G.nodes["layer1.0.bn1/BatchNorm2d#0"]
    assert {"layer1.0.bn1.running_mean", "layer1.0.bn1.running_var"} <= set(bn["params"])
    assert bn["scope"][-1] == ["layer1.0.bn1", "BatchNorm2d"]
    assert G.nodes["flatten#0"]["op"] == "torch.flatten"
    assert all(op["outputs"][0]["shape"] for op in _ops(G))


def test_resnet_export_and_fx_share_the_module_structure(resnet_tiny_export, resnet_tiny_fx):
    def modules(G):
        return sorted({(op["module"], op["module_type"]) for op in _ops(G) if op["params"]})

    assert modules(resnet_tiny_export) == modules(resnet_tiny_fx)


# --------------------------------------------------------------------------
# GPT-2
# --------------------------------------------------------------------------

def test_gpt2_export(gpt2_export):
    G = gpt2_export
    ir.validate(G)
    assert G.graph["inputs"] == ["input:input_ids", "input:attention_mask"]
    assert G.nodes["input:input_ids"]["outputs"] == [ir.tensor("int64", [1, 16])]
    assert G.graph["outputs"] == ["output:last_hidden_state"]
    assert G.nodes["output:last_hidden_state"]["outputs"] == [ir.tensor("float32", [1, 16, 64])]
    assert {"GPT2Attention"} == {op["module_type"] for op in _ops(G, module="h.0.attn")}
    [c_fc] = _ops(G, module="h.1.mlp.c_fc", label="addmm")
    assert c_fc["module_type"] == "Conv1D"
    assert c_fc["scope"][:3] == [["h", None], ["h.1", "GPT2Block"], ["h.1.mlp", "GPT2MLP"]]
    assert set(c_fc["params"]) == {"h.1.mlp.c_fc.weight", "h.1.mlp.c_fc.bias"}
    assert "h.0.attn/matmul#0" in G
    coverage = _shape_coverage(G)
    assert coverage >= 0.99, f"only {coverage:.1%} of GPT-2 ops have shapes"


def test_gpt2_causal_mask_is_a_buffer_param(gpt2_export):
    [causal] = [op for op in _ops(gpt2_export, module="h.0.attn") if "h.0.attn.bias" in op["params"]]
    assert causal["params"]["h.0.attn.bias"] == {"shape": [1, 1, 128, 128], "dtype": "bool",
                                                 "kind": "buffer"}


def test_gpt2_split_getitems_fold_into_ports(gpt2_export):
    G = gpt2_export
    assert not _ops(G, label="getitem")
    [split] = _ops(G, module="h.0.attn", label="split")
    assert len(split["outputs"]) == 3
    ports = sorted(d["src_port"] for _, _, d in G.out_edges(split["id"], data=True))
    assert ports == [0, 1, 2]


def test_gpt2_attention_mask_feeds_the_graph(gpt2_export):
    assert gpt2_export.out_degree("input:attention_mask") >= 1


def test_gpt2_fx_fails_clearly():
    model, example = gpt2_tiny()
    with pytest.raises(ConversionError) as info:
        from_module(model, example, method="fx")
    text = str(info.value)
    assert text.startswith("GPT2Model: torch.fx.symbolic_trace failed (TypeError: torch.finfo()")
    assert "--source export" in text


def test_gpt2_lm_tied_weights(gpt2_lm_export):
    G = gpt2_lm_export
    [embed] = _ops(G, module="transformer.wte")
    [head] = _ops(G, module="lm_head")
    assert list(embed["params"]) == list(head["params"]) == ["transformer.wte.weight"]
    assert not any("lm_head.weight" in op["params"] for op in _ops(G))
    assert G.graph["outputs"] == ["output:logits"]


# --------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["export", "fx"])
def test_two_tower(method):
    model, example = two_tower()
    G, used = from_module(model, example, method=method)
    ir.validate(G)
    assert used == method
    assert [G.nodes[n]["outputs"] for n in G.graph["inputs"]] == [
        [ir.tensor("float32", [1, 3, 32, 32])], [ir.tensor("int64", [1, 8])]]
    assert G.graph["outputs"] == ["output:logits", "output:embedding"]
    assert G.nodes["output:logits"]["outputs"] == [ir.tensor("float32", [1, 5])]
    assert G.nodes["output:embedding"]["outputs"] == [ir.tensor("float32", [1, 32])]


@pytest.mark.parametrize("kind,names", [
    ("nested", ["logits", "past.0", "past.1"]),
    ("tuple", ["output_0", "output_1"]),
    ("dataclass", ["first"]),
    ("namedtuple", ["x", "y"]),
    ("plain", ["logits"]),
])
@pytest.mark.parametrize("method", ["export", "fx"])
def test_output_names(kind, names, method):
    if method == "fx" and kind == "plain":
        with pytest.raises(ConversionError, match="argument of type"):
            from_module(Structured(kind), (torch.randn(2, 4),), method=method)
        return
    G, _ = from_module(Structured(kind), (torch.randn(2, 4),), method=method)
    ir.validate(G)
    assert G.graph["outputs"] == [f"output:{n}" for n in names]
    assert all(G.in_degree(n) == 1 for n in G.graph["outputs"])


def test_direct_export_names_outputs_like_from_module():
    model, example = two_tower()
    direct = from_exported_program(torch.export.export(model, example), name="TwoTower")
    wrapped, _ = from_module(model, example, method="export")
    assert serialize.to_json(direct) == serialize.to_json(wrapped)


def test_leaf_names():
    tree = {"a": (1, {"b": 2}), "c": None, "d": Pair(3, None)}
    leaves = list(iter_leaves(tree, lambda v: isinstance(v, int)))
    assert [(leaf_name(p), v) for p, v in leaves] == [("a.0", 1), ("a.1.b", 2), ("d.first", 3)]
    assert leaf_name(()) == "output" and leaf_name((0, "k")) == "output_0.k"


def test_specialised_arguments_are_not_inputs():
    model = Specialised()
    for method in ("export", "fx"):
        G, _ = from_module(model, (torch.randn(2, 4),), method=method)
        ir.validate(G)
        assert G.graph["inputs"] == ["input:x"], method
        assert not [op for op in _ops(G) if "assert" in op["op"] or op["label"] == "eq"]
        assert len(_ops(G)) == 2, [op["op"] for op in _ops(G)]


def test_keyword_example_inputs():
    model = Specialised()
    G, _ = from_module(model, (torch.randn(2, 4),), {"mask": torch.zeros(2, 4)},
                       method="export")
    assert G.graph["inputs"] == ["input:x", "input:mask"]


def test_example_inputs_that_do_not_fit_forward():
    with pytest.raises(ConversionError, match="do not fit Specialised.forward"):
        from_module(Specialised(), (torch.randn(2, 4),) * 4)


# --------------------------------------------------------------------------
# Ops: multi-output, attributes, symbolic shapes, modes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["export", "fx"])
def test_multi_output_op_ports(method):
    G, _ = from_module(PoolWithIndices(), (torch.randn(1, 2, 4, 4),), method=method)
    ir.validate(G)
    [pool] = _ops(G, module="pool")
    assert [o["dtype"] for o in pool["outputs"]] == ["float32", "int64"]
    feeds = {v: d["src_port"] for _, v, d in G.out_edges(pool["id"], data=True)}
    assert feeds == {"output:output_0": 0, "output:output_1": 1}
    assert G.nodes["output:output_1"]["outputs"] == [ir.tensor("int64", [1, 2, 2, 2])]


def test_non_finite_attrs_are_json_safe():
    G, _ = from_module(MaskedFill(), (torch.randn(3),), method="export")
    [fill] = _ops(G, label="masked_fill")
    assert fill["attrs"] == {"value": "-inf"}
    serialize.to_json(G)


def test_symbolic_dims_become_names():
    model, _ = resnet_tiny()
    batch = torch.export.Dim("batch", min=2, max=64)
    ep = torch.export.export(model, (torch.randn(2, 3, 32, 32),),
                             dynamic_shapes={"x": {0: batch}})
    G = from_exported_program(ep, name="resnet_tiny")
    ir.validate(G)
    dim = G.nodes["input:x"]["outputs"][0]["shape"][0]
    assert isinstance(dim, str) and dim.startswith("s")
    assert G.nodes["output:output"]["outputs"][0]["shape"] == [dim, 10]


@pytest.mark.parametrize("method", ["export", "fx"])
def test_module_is_left_as_it_was(method):
    model, example = resnet_tiny()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    G, _ = from_module(model, example, method=method)
    ir.validate(G)
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert G.graph["outputs"] == ["output:output"]


def test_train_mode_shows_in_export_attrs():
    model, example = resnet_tiny()
    G, _ = from_module(model.train(), example, method="export")
    assert G.nodes["bn1/batch_norm#0"]["attrs"]["training"] is True


def test_frozen_parameters_are_marked():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    model[0].weight.requires_grad_(False)
    for method in ("export", "fx"):
        G, _ = from_module(model, (torch.randn(1, 4),), method=method)
        [linear] = _ops(G, module="0")
        assert linear["params"]["0.weight"]["trainable"] is False, method
        assert "trainable" not in linear["params"]["0.bias"], method


def test_from_graph_module_with_shape_prop():
    from torch.fx.passes.shape_prop import ShapeProp

    model, (x,) = resnet_tiny()
    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(x)
    G = from_graph_module(gm, name="ResNet")
    assert ir.graphs_equal(G, from_module(model, (x,), method="fx")[0])


# --------------------------------------------------------------------------
# Method selection
# --------------------------------------------------------------------------

def test_auto_prefers_export():
    model, example = resnet_tiny()
    assert from_module(model, example)[1] == "export"


def test_auto_falls_back_to_fx():
    G, method = from_module(DataDependent(), (torch.randn(2, 4),))
    assert method == "fx"
    assert G.graph["source"] == "fx"
    assert [G.nodes[n]["op"] for n in ir.op_nodes(G)] == [
        "Linear", f"{__name__}._positive_part"]


def test_auto_reports_both_failures():
    with pytest.raises(ConversionError) as info:
        from_module(Hopeless(), (torch.randn(2, 4),))
    text = str(info.value)
    assert text.startswith("Hopeless: torch.export.export failed (GuardOnDataDependent")
    assert "; torch.fx.symbolic_trace failed (TraceError: symbolically traced" in text
    assert "--source export" in text and "--source fx" in text
    assert "\n" not in text


def test_rejects_non_modules_and_unknown_methods():
    with pytest.raises(ConversionError, match="expected a torch.nn.Module"):
        from_module(lambda x: x, (torch.randn(1),))
    with pytest.raises(ValueError, match="method must be one of"):
        from_module(nn.ReLU(), (torch.randn(1),), method="onnx")


# --------------------------------------------------------------------------
# Round trips, determinism, goldens
# --------------------------------------------------------------------------

def test_pt2_round_trip(gpt2_lm_program, tmp_path):
    path = tmp_path / "gpt2_lm.pt2"
    torch.export.save(gpt2_lm_program, path)
    loaded = from_exported_program(torch.export.load(path), name="gpt2_lm")
    original = from_exported_program(gpt2_lm_program, name="gpt2_lm")
    ir.validate(original)
    assert ir.graphs_equal(loaded, original)
    assert serialize.to_json(loaded) == serialize.to_json(original)
    assert original.graph["outputs"] == ["output:output_0"]
    [head] = _ops(original, module="lm_head")
    assert list(head["params"]) == ["transformer.wte.weight"]


@pytest.mark.parametrize("fixture", ["resnet_tiny_export", "resnet_tiny_fx", "gpt2_export",
                                     "gpt2_lm_export"])
def test_json_round_trip(fixture, request):
    G = request.getfixturevalue(fixture)
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(G)), G)


def test_conversion_is_deterministic(resnet_tiny_export):
    model, example = resnet_tiny()
    again, _ = from_module(model, example, method="export")
    assert serialize.to_json(again) == serialize.to_json(resnet_tiny_export)


@pytest.mark.parametrize("fixture,golden", [
    ("resnet_tiny_export", "export_resnet_tiny.json"),
    ("resnet_tiny_fx", "fx_resnet_tiny.json"),
])
def test_goldens(fixture, golden, request, check_ir_golden):
    check_ir_golden(request.getfixturevalue(fixture), golden)


# --------------------------------------------------------------------------
# Helpers and packaging
# --------------------------------------------------------------------------

@pytest.mark.parametrize("raw,path", [
    ("h.0.attn", "h.0.attn"),
    ("L['self'].h[0].attn", "h.0.attn"),
    ("L__self__.layer1.0", "layer1.0"),
    ("self.blocks['enc']", "blocks.enc"),
    ("", ""),
])
def test_module_path(raw, path):
    assert module_path(raw) == path


def test_module_scope_fills_uncalled_containers_and_strips_the_wrapper():
    stack = {"L__self__": ("", "x.Wrapper"), "L__self__module": ("module", "x.GPT2Model"),
             "k": ("module.h.0", "x.GPT2Block"), "j": ("module.h.0.attn", GPT2AttentionType)}
    assert module_scope(stack, prefix="module") == (
        "h.0.attn", "Attention",
        [["h", None], ["h.0", "GPT2Block"], ["h.0.attn", "Attention"]])
    assert module_scope(None) == ("", None, [])


class Attention(nn.Module):
    pass


GPT2AttentionType = Attention


def test_importable_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from graphir.converters import fx\n"
            "from graphir.errors import MissingDependencyError\n"
            "try:\n    fx.from_module(object(), ())\n"
            "except MissingDependencyError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert "needs torch, which is not installed" in result.stdout
