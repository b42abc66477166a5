"""The autograd converter: backward ops, module clusters, shapes, saved tensors."""

import collections
import pathlib
import re

import pytest

torch = pytest.importorskip("torch")

from graphir import ir  # noqa: E402
from graphir.converters.autograd import from_autograd  # noqa: E402
from graphir.errors import ConversionError  # noqa: E402
from graphir.loaders import load_factory  # noqa: E402
from graphir.table import summarize  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _sample(spec):
    module, args, kwargs = load_factory(f"{ROOT / 'samples' / spec}")
    return module, args, kwargs


@pytest.fixture(scope="module")
def resnet():
    model, args, _ = _sample("resnet.py:resnet_tiny")
    return model, args, from_autograd(model, args, name="resnet_tiny")


def test_resnet_ops_modules_and_params(resnet):
    model, _, G = resnet
    ir.validate(G)
    assert G.graph["source"] == "autograd"
    conv = G.nodes["layer1.0.conv1/ConvolutionBackward0#0"]
    assert conv["op"] == "ConvolutionBackward0" and conv["module_type"] == "Conv2d"
    assert conv["scope"] == [["layer1", "Sequential"], ["layer1.0", "BasicBlock"],
                             ["layer1.0.conv1", "Conv2d"]]
    assert conv["params"] == {"layer1.0.conv1.weight": {"shape": [8, 8, 3, 3],
                                                        "dtype": "float32"}}
    assert conv["attrs"]["stride"] == [1, 1] and conv["attrs"]["padding"] == [1, 1]
    bn = G.nodes["bn1/NativeBatchNormBackward0#0"]
    assert set(bn["params"]) == {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}
    assert bn["params"]["bn1.running_var"]["kind"] == "buffer"
    assert "layer1.0.relu/ReluBackward0#1" in G, "a module called twice claims both calls"
    assert G.nodes["layer1.0/AddBackward0#0"]["module_type"] == "BasicBlock"
    assert G.nodes["fc/AddmmBackward0#0"]["params"] == {
        "fc.bias": {"shape": [10], "dtype": "float32"}}
    assert summarize(G)["total_params"] == sum(p.numel() for p in model.parameters())


def test_every_edge_carries_a_shape_and_edges_run_forward(resnet):
    _, _, G = resnet
    for src, dst, data in G.edges(data=True):
        entry = G.nodes[src]["outputs"][data["src_port"]]
        assert entry["shape"] is not None and entry["dtype"] == "float32", (src, dst)
    assert G.nodes["conv1/ConvolutionBackward0#0"]["outputs"] == [
        {"shape": [1, 8, 16, 16], "dtype": "float32"}]
    order = {n: i for i, n in enumerate(G)}
    assert all(order[u] < order[v] for u, v in G.edges())


def test_inputs_and_outputs_are_marked(resnet):
    _, _, G = resnet
    assert G.graph["inputs"] == ["input:x"] and G.graph["outputs"] == ["output:output"]
    assert list(G.successors("input:x")) == ["conv1/ConvolutionBackward0#0"]
    assert list(G.predecessors("output:output")) == ["fc/AddmmBackward0#0"]
    assert G.nodes["output:output"]["outputs"] == [{"shape": [1, 10], "dtype": "float32"}]


def test_show_saved_adds_saved_tensors_as_constants():
    model, args, _ = _sample("resnet.py:resnet_tiny")
    G = from_autograd(model, args, name="r", show_saved=True)
    ir.validate(G)
    weight = G.nodes["conv1/ConvolutionBackward0#0/saved_weight"]
    assert weight["kind"] == "const" and weight["attrs"]["tensor"] == "conv1.weight"
    assert weight["outputs"] == [{"shape": [8, 3, 7, 7], "dtype": "float32"}]
    assert "conv1/ConvolutionBackward0#0" in set(
        G.successors("conv1/ConvolutionBackward0#0/saved_input"))
    plain = from_autograd(model, args, name="r")
    assert not [n for n, k in plain.nodes(data="kind") if k == "const"]


def test_gpt2_dataclass_output_token_inputs_and_modules():
    model, args, _ = _sample("gpt2.py:gpt2_tiny")
    G = from_autograd(model, args, name="gpt2")
    ir.validate(G)
    assert G.graph["inputs"] == ["input:input_ids", "input:attention_mask"]
    assert G.graph["outputs"] == ["output:last_hidden_state"]
    assert list(G.successors("input:input_ids")) == ["wte/EmbeddingBackward0#0"]
    modules = {d["module"] for _, d in G.nodes(data=True)}
    assert {"h.0.attn.c_attn", "h.1.mlp.c_fc", "ln_f"} <= modules
    assert summarize(G)["total_params"] == sum(p.numel() for p in model.parameters())


def test_inputs_require_grad_and_dict_outputs():
    model, args, _ = _sample("multi_io.py:two_tower")
    G = from_autograd(model, args, name="two_tower", inputs_require_grad=True)
    ir.validate(G)
    assert G.graph["outputs"] == ["output:logits", "output:embedding"]
    assert list(G.successors("input:image")) == ["image.conv/ConvolutionBackward0#0"]
    assert G.number_of_edges("input:image", "image.conv/ConvolutionBackward0#0") == 1
    assert not args[0].requires_grad


def test_model_state_is_left_as_it_was():
    model, args, _ = _sample("gpt2.py:gpt2_tiny")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    from_autograd(model, args, name="gpt2")
    assert torch.equal(rng, torch.get_rng_state())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    resnet, inputs, _ = _sample("resnet.py:resnet_tiny")
    resnet.train()
    stats = resnet.bn1.running_mean.clone()
    from_autograd(resnet, inputs, name="r")
    assert torch.equal(stats, resnet.bn1.running_mean)


def test_ids_are_deterministic(resnet):
    model, args, G = resnet
    assert ir.graphs_equal(from_autograd(model, args, name="resnet_tiny"), G)


def test_frozen_model_has_no_autograd_graph():
    model = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ConversionError, match="no output carries an autograd graph"):
        from_autograd(model, (torch.zeros(1, 2),), name="frozen")


def test_failing_forward_is_a_conversion_error_and_removes_hooks():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ConversionError, match=r"running Linear.forward failed \(RuntimeError"):
        from_autograd(model, (torch.zeros(1, 3),), name="bad")
    assert not model._forward_hooks and not model._forward_pre_hooks


def _torchviz_facts(model, args):
    """grad_fn types (AccumulateGrad excluded: graphir draws those leaves as params) and
    parameter leaf names of torchviz.make_dot's graph of one forward."""
    torchviz = pytest.importorskip("torchviz")
    out = model(*args)
    if not isinstance(out, torch.Tensor):
        out = next(v for v in (out.values() if isinstance(out, dict) else vars(out).values())
                   if isinstance(v, torch.Tensor) and v.grad_fn is not None)
    dot = torchviz.make_dot(out, params=dict(model.named_parameters()))
    ops, leaves = collections.Counter(), set()
    for line in dot.body:
        match = re.search(r'\[label=(?:"([^"]*)"|(\w+))', line)
        if not match or "->" in line:
            continue
        label = match.group(1) if match.group(1) is not None else match.group(2)
        if "fillcolor=lightblue" in line:
            leaves.add(label.split("\n")[0].strip())
        elif label.endswith(("Backward0", "Backward1", "Backward2")) or "Backward" in label:
            ops[label] += 1
    return ops, leaves


@pytest.mark.parametrize("factory", ["resnet_tiny", "gpt2_tiny"])
def test_torchviz_oracle_same_grad_fns_and_parameter_leaves(factory):
    from samples import gpt2, resnet

    make = {"resnet_tiny": resnet.resnet_tiny, "gpt2_tiny": gpt2.gpt2_tiny}[factory]
    model, args = make()[:2]
    args = args if isinstance(args, tuple) else (args,)
    expected_ops, expected_leaves = _torchviz_facts(model, args)
    G = from_autograd(model, args, name=factory)
    ops = collections.Counter(d["op"] for _, d in G.nodes(data=True) if d["kind"] == "op")
    leaves = {name for _, d in G.nodes(data=True) for name, info in d["params"].items()
              if info.get("kind") != "buffer"}
    assert sum(expected_ops.values()) > 10 and len(expected_leaves) > 5
    assert ops == expected_ops
    assert leaves == expected_leaves
