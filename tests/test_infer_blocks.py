"""Inferred modules for graphs without module scopes (issue 10, item 6).

Uses the caffe2-era "light" model-zoo files that ship inside the onnx package.
"""

import collections
import os

import onnx
import pytest

from graphir import ir
from graphir.converters.onnx import from_onnx
from graphir.passes.budget import view
from graphir.passes.fold import fold
from graphir.passes.infer_blocks import INFERRED, infer_blocks, layer_name, layer_parts
from graphir.serialize import to_dict

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
_CACHE = {}


def _light(name):
    if name not in _CACHE:
        _CACHE[name] = from_onnx(onnx.load(os.path.join(LIGHT, f"light_{name}.onnx")),
                                 name=name)
    return _CACHE[name]


def _modules(H):
    return collections.Counter(H.nodes[n]["module"] for n in ir.op_nodes(H))


def _anonymous(G):
    """The same graph with every weight renamed t0, t1 … (no names to learn from)."""
    H = G.copy()
    k = 0
    for _, data in H.nodes(data=True):
        renamed = {}
        for info in data["params"].values():
            renamed[f"t{k}"] = info
            k += 1
        data["params"] = renamed
    return H


@pytest.mark.parametrize("name, prefix, layer", [
    ("gpu_0/res2_0_branch2a_bn_s_0", "gpu_0/", "res2_0_branch2a"),
    ("gpu_0/res2_0_branch2a_w_0", "gpu_0/", "res2_0_branch2a"),
    ("conv2_1/x1/bn_scale_0", "", "conv2_1/x1"),
    ("conv2_1/x1_w_0", "", "conv2_1/x1"),
    ("conv1/7x7_s2/bn/sc_w_0", "", "conv1/7x7_s2"),
    ("inception_4a/3x3_reduce_w_0", "", "inception_4a/3x3_reduce"),
    ("fc6_w_0", "", "fc6"),
    ("layer1.0.conv1.weight", "", "layer1.0.conv1"),
])
def test_layer_name(name, prefix, layer):
    assert layer_name(name, prefix) == layer


def test_layer_parts():
    assert layer_parts("res2_0_branch2a") == ["res2", "0", "branch2a"]
    assert layer_parts("inception_4a/1x1") == ["inception_4a", "1x1"]
    assert layer_parts("conv2_1/x1") == ["conv2", "1", "x1"]
    assert layer_parts("conv5_blk") == ["conv5_blk"]
    assert layer_parts("layer1.0.conv1") == ["layer1", "0", "conv1"]  # dots are levels too


def test_resnet50_bottlenecks_from_names_fold():
    H = infer_blocks(_light("resnet50"))
    ir.validate(H)
    modules = _modules(H)
    assert modules["res2.0.branch2a"] == 3  # Conv, BatchNormalization, Relu
    assert modules["res2.0"] == 2  # the Sum and the Relu after it
    assert {m.split(".")[0] for m in modules if m} == {"res2", "res3", "res4", "res5"}
    conv = H.nodes["Conv#1"]
    assert conv["module"] == "res2.0.branch2a" and conv["module_type"] == INFERRED
    assert conv["scope"] == [["res2", INFERRED], ["res2.0", INFERRED],
                             ["res2.0.branch2a", INFERRED]]
    assert H.graph["inferred_modules"] == {"method": "names", "modules": 72}
    assert "inferred from weight and layer names" in H.graph["notes"][-1]
    folded = fold(H).graph["folded"]
    assert [r["label"] for r in folded.values()] == [
        "res2.1 … res2.2 ×2", "res3.1 … res3.3 ×3", "res4.1 … res4.5 ×5",
        "res5.1 … res5.2 ×2"]


def test_densenet121_meets_the_default_budget():
    G = _light("densenet121")
    before = view(G, infer_modules=False)
    assert before.number_of_nodes() == 670
    assert "no modules to collapse" in before.graph["notes"][-1]
    H = view(G)
    assert H.number_of_nodes() <= 300
    assert H.graph["inferred_modules"]["method"] == "names"
    boxes = [n for n in H if H.nodes[n]["kind"] == "module"]
    assert all(H.nodes[n]["module_type"] == INFERRED for n in boxes)
    # the 58 dense layers (6 + 12 + 24 + 16) are modules conv2.1 … conv5.16
    layers = {m.rsplit(".", 1)[0] for m in _modules(infer_blocks(G)) if m.count(".") == 2}
    assert len(layers) == 58 and "conv5.16" in layers
    # a dense layer holds its Concat, so consecutive layers chain
    inferred = infer_blocks(G)
    assert inferred.nodes["Concat#0"]["module"] == "conv2.1"


def test_structure_when_names_say_nothing():
    G = _anonymous(_light("densenet121"))
    H = infer_blocks(G)
    ir.validate(H)
    assert H.graph["inferred_modules"]["method"] == "structure"
    blocks = {m.split(".")[0] if m.startswith("stage") else m for m in _modules(H) if m}
    layers = [m for m in _modules(H) if m]
    assert len(layers) == 58  # one module per dense layer
    assert all(m.startswith(("stage", "block")) for m in layers)
    assert len(blocks) >= 4
    assert view(G).number_of_nodes() <= 300

    resnet = fold(infer_blocks(_anonymous(_light("resnet50"))))
    assert [r["repeat"] for r in resnet.graph["folded"].values()] == [2, 3, 5, 2]


def test_shufflenet_layer_names_interleave_so_structure_is_used():
    H = infer_blocks(_light("shufflenet"))
    assert H.graph["inferred_modules"]["method"] == "structure"
    folded = fold(H).graph["folded"]
    assert [r["repeat"] for r in folded.values()] == [3, 7, 3]
    assert view(_light("shufflenet")).number_of_nodes() < 100


@pytest.mark.parametrize("name", ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2",
                                  "resnet50", "shufflenet", "squeezenet", "vgg19", "zfnet512"])
def test_every_light_model(name):
    G = _light(name)
    H = infer_blocks(G)
    ir.validate(H)
    assert list(H) == list(G)  # ids and order unchanged
    assert infer_blocks(G).graph == H.graph  # deterministic
    assert to_dict(infer_blocks(G)) == to_dict(H)
    V = view(G)
    ir.validate(V)
    assert V.number_of_nodes() <= 300
    if name in ("bvlc_alexnet", "zfnet512"):  # plain chains: nothing to group
        assert "inferred_modules" not in H.graph
    else:
        assert H.graph["inferred_modules"]["modules"] > 0


def test_graphs_with_modules_are_left_alone():
    G = ir.new_graph("onnx", "m")
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    for i in range(3):
        node = ir.add_node(G, f"h.{i}/Relu#0", kind="op", op="Relu", name="res2_0_x",
                           module=f"h.{i}")
        ir.add_edge(G, prev, node)
        prev = node
    H = infer_blocks(G)
    assert ir.graphs_equal(G, H) and H is not G


def test_non_convex_name_groups_are_dropped():
    """``a_1`` and ``b_1`` interleave: ``a`` and ``b`` would each need a box that a
    path leaves and re-enters, so neither is inferred."""
    G = ir.new_graph("onnx", "m")
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    for i, layer in enumerate(["a_1", "b_1", "a_2", "b_2"]):
        node = ir.add_node(G, f"Conv#{i}", kind="op", op="Conv", name=f"n{i}",
                           params={f"{layer}_w_0": ir.param_info([2, 2, 1, 1], "float32")})
        ir.add_edge(G, prev, node)
        prev = node
    H = infer_blocks(G)
    assert [H.nodes[f"Conv#{i}"]["module"] for i in range(4)] == ["", "", "", ""]
    assert "inferred_modules" not in H.graph


def test_focus_on_an_inferred_module():
    H = view(_light("resnet50"), focus="res3.0")
    ops = [n for n in ir.op_nodes(H)]
    assert ops and all(H.nodes[n]["module"].startswith("res3.0") for n in ops)


def test_inferred_modules_are_drawn_dashed():
    from graphir.renderers.dot import to_dot

    H = view(_light("densenet121"))
    lines = to_dot(H).splitlines()
    start = lines.index('  subgraph "cluster_conv2" {')
    cluster = lines[start + 1]
    assert "dashed" in cluster and "inferred" in cluster
    box = next(line for line in lines if '"module:conv2.1.x1" [' in line)
    assert "dashed" in box
    plain = to_dot(view(_light("densenet121"), infer_modules=False, max_nodes=0))
    assert "dashed" not in plain


def test_torch_export_without_scopes_recovers_the_module_tree():
    """An older exporter's file: weights named like the state_dict, nodes 'Relu_12'."""
    model = onnx.load(os.path.join(os.path.dirname(os.path.dirname(__file__)), "samples",
                                   "resnet_tiny.onnx"))
    for i, node in enumerate(model.graph.node):
        node.name = f"{node.op_type}_{i}"
        del node.metadata_props[:]
    G = from_onnx(model, name="stripped")
    assert set(_modules(G)) == {""}
    H = infer_blocks(G)
    modules = _modules(H)
    assert {"layer1.0", "layer1.1", "layer2.0", "layer2.0.downsample"} <= set(modules)
    assert not any(m.split(".")[0] in ("Relu", "Add", "Identity") for m in modules)
    assert list(fold(H).graph["folded"]) == ["layer1.0"]


def _residual_chain(stages, blocks, layers="abcd"):
    """A caffe2-style chain: stage s, block k, layers a-d (one named ``b``), then an Add."""
    G = ir.new_graph("onnx", "chain")
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    k = 0
    for s in range(stages):
        for b in range(blocks):
            start = prev
            for j, layer in enumerate(layers):
                prefix = f"gpu_0/stage{s}_{b}_{layer}"
                node = ir.add_node(G, f"Conv#{k}", kind="op", op="Conv", name=f"n{k}",
                                   outputs=[ir.tensor("float32", [1, 8])],
                                   params={f"{prefix}_w_0": ir.param_info([8, 8], "float32"),
                                           f"{prefix}_bn_s_0": ir.param_info([8], "float32")})
                ir.add_edge(G, prev if j else start, node)
                prev, k = node, k + 1
            add = ir.add_node(G, f"Add#{k}", kind="op", op="Add", name=f"n{k}",
                              outputs=[ir.tensor("float32", [1, 8])])
            ir.add_edge(G, start, add)
            ir.add_edge(G, prev, add, 0, 1)
            prev, k = add, k + 1
    return G


def test_nested_runs_fold_and_a_layer_named_b_is_not_a_bias():
    G = _residual_chain(stages=6, blocks=100)  # 3,001 nodes
    H = infer_blocks(G)
    assert H.graph["inferred_modules"]["method"] == "names"
    assert H.nodes["Conv#1"]["module"] == "stage0.0"  # layer "stage0_0_b", not a bias
    V = view(G)
    assert V.number_of_nodes() < 40
    labels = [r["label"] for r in V.graph["folded"].values()]
    assert "stage1 … stage5 ×5" in labels and "stage0.1 … stage0.99 ×99" in labels
