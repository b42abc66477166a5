"""The eager-trace converter (graphir.converters.trace, source "trace").

Captures are session-scoped fixtures. The IR golden lives in
tests/goldens/ir/trace_resnet_tiny.json; regenerate it with
``GRAPHIR_REGEN_GOLDENS=1``.
"""

import collections
import gc
import os
import pathlib
import subprocess
import sys

import pytest
torch = pytest.importorskip("torch")  # an ONNX-only install skips this module
import torch.nn.functional as F
from torch import nn

from graphir import ir, serialize
from graphir.converters.fx import from_module
from graphir.converters.trace import from_trace
from graphir.errors import ConversionError
from graphir.renderers.labels import op_category
from samples.gpt2 import _example_inputs, gpt2_lm, gpt2_tiny
from samples.multi_io import two_tower
from samples.resnet import resnet18, resnet_tiny

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDENS = pathlib.Path(__file__).resolve().parent / "goldens" / "ir"

#: Categories of the ops that carry a model's weights and its arithmetic.
COMPUTE = ("conv", "linear")


# --------------------------------------------------------------------------
# Small models
# --------------------------------------------------------------------------

class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        y.relu_()
        y.add_(1.0)
        y[0] = 0.0
        return y * 2


class Operators(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 4))
        self.scale = torch.tensor(3.0)

    def forward(self, x, y):
        z = (x + y) @ self.w
        z = 1.0 - z[..., :2] * self.scale
        return -z


class MaxWithIndices(nn.Module):
    def forward(self, x):
        values, indices = torch.max(x, dim=1)
        first, second = x.chunk(2, dim=0)
        return values, indices, first + second


class DataDependent(nn.Module):
    """Python control flow on a tensor value: export cannot capture it."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        if y.sum() > 0 and len(y) == y.size(0) and y.dim() == 2:
            return y.shape[0] * y
        return -y


class Vocabulary(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.norm = nn.LayerNorm(2)
        self.lin = nn.Linear(2, 2)

    def forward(self, x):
        h = self.norm(self.conv(x).permute(0, 2, 3, 1))
        h = F.gelu(self.lin(h)) + torch.relu(h)
        return F.softmax(torch.matmul(h, h.transpose(-1, -2)), dim=-1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


class Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).view(7, -1)


class NoTensors(nn.Module):
    def forward(self, x):
        return x.size(0)


class Stash(nn.Module):
    """Wraps a model and keeps its last output, to compare with a plain forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.last = None

    def forward(self, x):
        self.last = self.model(x)
        return self.last


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def _ops(G, **match):
    return [G.nodes[n] | {"id": n} for n in ir.op_nodes(G)
            if all(G.nodes[n].get(k) == v for k, v in match.items())]


def _feeds(G, node):
    """``[(producer, src_port, dst_port)]`` into ``node``, by destination port."""
    return sorted(((u, d["src_port"], d["dst_port"]) for u, _, d in G.in_edges(node, data=True)),
                  key=lambda edge: edge[2])


def _compute_ops_by_module(G):
    """``{module: sorted [(category, output shapes)]}`` of its conv/linear-like ops."""
    found = collections.defaultdict(list)
    for op in _ops(G):
        category = op_category(op["label"])
        if category in COMPUTE:
            found[op["module"]].append((category, [o["shape"] for o in op["outputs"]]))
    return {module: sorted(ops) for module, ops in found.items()}


# --------------------------------------------------------------------------
# Session fixtures (one capture per model)
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def resnet_tiny_trace():
    model, example = resnet_tiny()
    return from_trace(model, example)


@pytest.fixture(scope="session")
def resnet18_trace():
    return from_trace(resnet18(), (torch.randn(1, 3, 64, 64),))


@pytest.fixture(scope="session")
def gpt2_trace():
    model, example = gpt2_tiny()
    return from_trace(model, example)


@pytest.fixture(scope="session")
def gpt2_lm_trace():
    return from_trace(gpt2_lm(), _example_inputs())


@pytest.fixture(scope="session")
def two_tower_trace():
    model, example = two_tower()
    return from_trace(model, example)


TRACES = ["resnet_tiny_trace", "resnet18_trace", "gpt2_trace", "gpt2_lm_trace",
          "two_tower_trace"]


# --------------------------------------------------------------------------
# Every sample
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture", TRACES)
def test_sample_graphs_validate_with_every_shape_known(fixture, request):
    G = request.getfixturevalue(fixture)
    ir.validate(G)
    assert G.graph["source"] == "trace"
    ops = _ops(G)
    assert ops
    unknown = [op["id"] for op in ops if not op["outputs"] or any(
        o["shape"] is None or o["dtype"] is None for o in op["outputs"])]
    assert not unknown, f"{len(unknown)} of {len(ops)} ops without shapes: {unknown[:5]}"
    assert all(op["name"] == op["id"] for op in ops)


@pytest.mark.parametrize("fixture", TRACES)
def test_json_round_trip(fixture, request):
    G = request.getfixturevalue(fixture)
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(G)), G)


@pytest.mark.parametrize("fixture", ["resnet_tiny_trace", "gpt2_trace"])
def test_capture_is_deterministic(fixture, request):
    model, example = {"resnet_tiny_trace": resnet_tiny, "gpt2_trace": gpt2_tiny}[fixture]()
    again = from_trace(model, example)
    assert serialize.to_json(again) == serialize.to_json(request.getfixturevalue(fixture))


def test_golden(resnet_tiny_trace, check_ir_golden):
    check_ir_golden(resnet_tiny_trace, "trace_resnet_tiny.json")


# --------------------------------------------------------------------------
# ResNet
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fixture,classes", [("resnet_tiny_trace", 10), ("resnet18_trace", 1000)])
def test_resnet_modules_and_weights(fixture, classes, request):
    G = request.getfixturevalue(fixture)
    convs = _ops(G, label="conv2d")
    assert convs and all(op["op"] == "torch.nn.functional.conv2d" for op in convs)
    for conv in convs:
        weight = conv["params"][conv["module"] + ".weight"]
        assert len(weight["shape"]) == 4 and conv["module_type"] == "Conv2d"
    norms = _ops(G, label="batch_norm")
    assert len(norms) == len(convs)
    for bn in norms:
        assert {n.rsplit(".", 1)[1] for n in bn["params"]} == {
            "weight", "bias", "running_mean", "running_var"}
        assert bn["params"][bn["module"] + ".running_var"]["kind"] == "buffer"
    [conv1] = _ops(G, module="layer1.0.conv1")
    assert conv1["scope"] == [["layer1", "Sequential"], ["layer1.0", "BasicBlock"],
                              ["layer1.0.conv1", "Conv2d"]]
    assert G.nodes["output:output"]["outputs"] == [ir.tensor("float32", [1, classes])]


def test_resnet_residual_adds_and_in_place_relus(resnet_tiny_trace):
    G = resnet_tiny_trace
    adds = _ops(G, label="add")
    assert adds and all(op["module_type"] == "BasicBlock" for op in adds)
    for add in adds:
        assert [port for _, _, port in _feeds(G, add["id"])] == [0, 1]
        [relu] = [v for v in G.successors(add["id"])]
        assert G.nodes[relu]["label"] == "relu" and G.nodes[relu]["attrs"]["inplace"] is True
    assert G.nodes["flatten#0"]["module"] == "" and G.nodes["flatten#0"]["scope"] == []


# --------------------------------------------------------------------------
# GPT-2
# --------------------------------------------------------------------------

def test_gpt2_inputs_outputs_and_scopes(gpt2_trace):
    G = gpt2_trace
    assert G.graph["inputs"] == ["input:input_ids", "input:attention_mask"]
    assert G.nodes["input:input_ids"]["outputs"] == [ir.tensor("int64", [1, 16])]
    assert G.graph["outputs"] == ["output:last_hidden_state"]
    assert G.nodes["output:last_hidden_state"]["outputs"] == [ir.tensor("float32", [1, 16, 64])]
    assert G.out_degree("input:attention_mask") >= 1
    assert {"GPT2Attention"} == {op["module_type"] for op in _ops(G, module="h.0.attn")}
    [c_fc] = _ops(G, module="h.1.mlp.c_fc", label="addmm")
    assert c_fc["op"] == "torch.addmm" and c_fc["module_type"] == "Conv1D"
    assert c_fc["scope"] == [["h", None], ["h.1", "GPT2Block"], ["h.1.mlp", "GPT2MLP"],
                             ["h.1.mlp.c_fc", "Conv1D"]]
    assert set(c_fc["params"]) == {"h.1.mlp.c_fc.weight", "h.1.mlp.c_fc.bias"}
    assert "h.0.attn/matmul#1" in G


def test_gpt2_ops_without_inputs_and_buffer_reads(gpt2_trace):
    G = gpt2_trace
    arange = G.nodes["arange#0"]
    assert arange["op"] == "torch.arange" and G.in_degree("arange#0") == 0
    assert arange["outputs"] == [ir.tensor("int64", [16])]
    [causal] = [op for op in _ops(G, module="h.0.attn") if "h.0.attn.bias" in op["params"]]
    assert causal["label"] == "getitem" and G.in_degree(causal["id"]) == 0
    assert causal["params"]["h.0.attn.bias"] == {"shape": [1, 1, 128, 128], "dtype": "bool",
                                                 "kind": "buffer"}


def test_gpt2_noise_calls_are_not_nodes(gpt2_trace):
    labels = {op["label"] for op in _ops(gpt2_trace)}
    assert not labels & {"size", "shape", "dim", "bool", "len", "dtype", "device", "__get__"}


def test_gpt2_split_outputs_are_ports(gpt2_trace):
    G = gpt2_trace
    [split] = _ops(G, module="h.0.attn", label="split")
    assert split["outputs"] == [ir.tensor("float32", [1, 16, 64])] * 3
    assert sorted(d["src_port"] for _, _, d in G.out_edges(split["id"], data=True)) == [0, 1, 2]


def test_gpt2_lm_tied_weights(gpt2_lm_trace):
    G = gpt2_lm_trace
    [embed] = _ops(G, module="transformer.wte")
    [head] = _ops(G, module="lm_head")
    assert list(embed["params"]) == list(head["params"]) == ["transformer.wte.weight"]
    assert G.graph["outputs"] == ["output:logits"]


# --------------------------------------------------------------------------
# Agreement with the export converter
# --------------------------------------------------------------------------

@pytest.mark.parametrize("factory", [resnet_tiny, gpt2_tiny], ids=["resnet_tiny", "gpt2_tiny"])
def test_trace_agrees_with_export(factory):
    model, example = factory()
    traced = from_trace(model, example)
    exported, _ = from_module(model, example, method="export")

    def modules(G):
        return {(op["module"], op["module_type"], tuple(map(tuple, op["scope"])))
                for op in _ops(G)}

    assert modules(traced) == modules(exported)
    assert _compute_ops_by_module(traced) == _compute_ops_by_module(exported)
    assert [G.nodes[n]["outputs"] for G in (traced,) for n in G.graph["outputs"]] == [
        exported.nodes[n]["outputs"] for n in exported.graph["outputs"]]
    assert traced.graph["inputs"] == exported.graph["inputs"]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_trace_captures_what_export_cannot(sign):
    model = DataDependent()
    nn.init.zeros_(model.lin.weight)
    nn.init.constant_(model.lin.bias, sign)
    x = torch.randn(2, 4)
    with pytest.raises(ConversionError):
        from_module(model, (x,), method="export")
    G = from_trace(model, (x,))
    ir.validate(G)
    taken = "mul" if sign > 0 else "neg"
    assert [op["label"] for op in _ops(G)] == ["linear", "sum", "gt", taken]
    assert _feeds(G, f"{taken}#0") == [("lin/linear#0", 0, 0)]
    assert G.nodes[f"{taken}#0"]["attrs"] == ({"other": 2} if sign > 0 else {})


# --------------------------------------------------------------------------
# Ops: in-place, operators, multi-output, vocabulary, attributes
# --------------------------------------------------------------------------

def test_in_place_ops_become_the_producer():
    G = from_trace(InPlace(), (torch.randn(3, 4),))
    ir.validate(G)
    chain = [op["label"] for op in _ops(G)]
    assert chain == ["linear", "relu_", "add_", "setitem", "mul"]
    for earlier, later in zip(ir.op_nodes(G), ir.op_nodes(G)[1:]):
        assert (earlier, 0, 0) in _feeds(G, later)
    assert _feeds(G, "output:output") == [("mul#0", 0, 0)]


def test_python_operators_views_and_constants():
    G = from_trace(Operators(), (torch.randn(2, 4), torch.randn(2, 4)))
    ir.validate(G)
    ops = _ops(G)
    assert [op["label"] for op in ops] == ["add", "matmul", "getitem", "mul", "rsub", "neg"]
    assert _feeds(G, "add#0") == [("input:x", 0, 0), ("input:y", 0, 1)]
    assert ops[1]["params"] == {"w": {"shape": [4, 4], "dtype": "float32"}}
    assert ops[2]["attrs"] == {"idx": ["...", ":2"]}
    assert ops[3]["params"] == {"scale": {"shape": [], "dtype": "float32", "kind": "constant"}}
    assert ops[4]["attrs"] == {"other": 1.0}


def test_multi_output_ops_fold_into_ports():
    G = from_trace(MaxWithIndices(), (torch.randn(4, 3),))
    ir.validate(G)
    [values] = _ops(G, label="max")
    assert [o["dtype"] for o in values["outputs"]] == ["float32", "int64"]
    assert _feeds(G, "output:output_0") == [("max#0", 0, 0)]
    assert _feeds(G, "output:output_1") == [("max#0", 1, 0)]
    assert _feeds(G, "add#0") == [("chunk#0", 0, 0), ("chunk#0", 1, 1)]
    assert values["attrs"] == {"dim": 1}


def test_op_vocabulary_is_classified_by_the_renderer():
    G = from_trace(Vocabulary(), (torch.randn(1, 2, 3, 3),))
    categories = {op["label"]: op_category(op["label"]) for op in _ops(G)}
    assert categories == {
        "conv2d": "conv", "permute": "shape", "layer_norm": "norm", "linear": "linear",
        "gelu": "activation", "relu": "activation", "add": "elementwise",
        "transpose": "shape", "matmul": "linear", "softmax": "attention"}
    assert G.nodes["norm/layer_norm#0"]["attrs"] == {"normalized_shape": [2], "eps": 1e-05}
    assert G.nodes["softmax#0"]["attrs"] == {"dim": -1, "dtype": None}


def test_functional_calls_inside_modules_are_one_op():
    G = from_trace(Attention(), (torch.randn(1, 5, 8),))
    ir.validate(G)
    assert [op["label"] for op in _ops(G, module="attn")] == [
        "transpose", "multi_head_attention_forward", "transpose"]
    [mha] = _ops(G, label="multi_head_attention_forward")
    assert mha["op"] == "torch.nn.functional.multi_head_attention_forward"
    assert {"attn.in_proj_weight", "attn.out_proj.weight"} <= set(mha["params"])
    assert _feeds(G, mha["id"])[:3] == [("attn/transpose#0", 0, p) for p in range(3)]


# --------------------------------------------------------------------------
# Inputs and outputs
# --------------------------------------------------------------------------

def test_two_tower_inputs_and_dict_outputs(two_tower_trace):
    G = two_tower_trace
    assert G.graph["inputs"] == ["input:image", "input:ids"]
    assert [G.nodes[n]["outputs"] for n in G.graph["inputs"]] == [
        [ir.tensor("float32", [1, 3, 32, 32])], [ir.tensor("int64", [1, 8])]]
    assert G.graph["outputs"] == ["output:logits", "output:embedding"]
    assert G.nodes["output:logits"]["outputs"] == [ir.tensor("float32", [1, 5])]
    assert _feeds(G, "output:embedding") == [("cat#0", 0, 0)]


def test_keyword_inputs_are_named_from_the_signature():
    model, (ids, mask) = gpt2_tiny()
    G = from_trace(model, (ids,), {"attention_mask": mask, "use_cache": False})
    assert G.graph["inputs"] == ["input:input_ids", "input:attention_mask"]
    assert G.out_degree("input:attention_mask") >= 1


# --------------------------------------------------------------------------
# The model is left as it was
# --------------------------------------------------------------------------

def test_module_state_is_unchanged_and_outputs_match_a_plain_forward():
    model, (x,) = resnet_tiny()
    model.train()
    wrapper = Stash(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    G = from_trace(wrapper, (x,))
    assert torch.equal(torch.get_rng_state(), rng) and gc.isenabled()
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in wrapper.modules())
    traced = wrapper.last
    with torch.no_grad():
        plain = model(x)
    assert torch.equal(traced, plain)
    assert G.nodes["model.bn1/batch_norm#0"]["attrs"]["training"] is True


def test_hooks_are_removed_when_the_forward_fails():
    model = Failing()
    with pytest.raises(ConversionError) as info:
        from_trace(model, (torch.randn(2, 4),))
    assert str(info.value).startswith("Failing: running the model on the example inputs "
                                      "failed (RuntimeError: shape '[7, -1]' is invalid")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("module,args,message", [
    (lambda x: x, (torch.randn(1),), "expected a torch.nn.Module"),
    (InPlace(), (torch.randn(2, 4),) * 3, "do not fit InPlace.forward"),
    (NoTensors(), (torch.randn(2, 4),), "returned no tensors"),
])
def test_bad_calls_raise_conversion_errors(module, args, message):
    with pytest.raises(ConversionError, match=message):
        from_trace(module, args)


def test_importable_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from graphir.converters import trace\n"
            "from graphir.errors import MissingDependencyError\n"
            "try:\n    trace.from_trace(object(), ())\n"
            "except MissingDependencyError as exc:\n    print(exc)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert "needs torch, which is not installed" in result.stdout
