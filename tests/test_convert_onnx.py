"""Tests for graphir.converters.onnx (from_onnx) on exported and hand-built models.

IR goldens live in tests/goldens/ir/onnx_<name>.json; regenerate them with
``GRAPHIR_REGEN_GOLDENS=1 python -m pytest tests/test_convert_onnx.py``.
"""

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

from graphir.converters.onnx import from_onnx
from graphir.errors import ConversionError, MissingDependencyError
from graphir.ir import graphs_equal, op_nodes, validate
from graphir.loaders.onnx_file import load_onnx
from graphir.serialize import from_dict, from_json, to_json
from samples import make_onnx

REPO = Path(__file__).resolve().parents[1]
GOLDENS = REPO / "tests" / "goldens" / "ir"
BUNDLED = REPO / "samples" / "resnet_tiny.onnx"


# ----------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx_samples")


def _sample(onnx_dir, name):
    path = onnx_dir / f"{name}.onnx"
    if not path.exists():
        try:
            make_onnx.WRITERS[name](str(onnx_dir))
        except ImportError as exc:  # the torch-exported samples need torch
            pytest.skip(f"writing the {name} sample needs {exc.name or 'torch'}")
    return path


@pytest.fixture(scope="session")
def convert(onnx_dir):
    """``convert(name, **kw)``: the validated IR of a sample, cached per session."""
    cache = {}

    def run(name, fold_constants=True):
        key = (name, fold_constants)
        if key not in cache:
            path = BUNDLED if name == "resnet_tiny" else _sample(onnx_dir, name)
            G = from_onnx(load_onnx(path), name=name, fold_constants=fold_constants)
            validate(G)
            cache[key] = G
        return cache[key]

    return run


def _ops(G, op):
    return [n for n in op_nodes(G) if G.nodes[n]["op"] == op]


def _model(nodes, inputs, outputs, initializer=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializer))
    return helper.make_model(graph, ir_version=8,
                             opset_imports=[helper.make_opsetid("", opset)])


# ------------------------------------------------------------------ ResNet

def test_resnet50_op_nodes_shapes_and_weights(convert):
    G = convert("resnet50")
    ops = op_nodes(G)
    assert 120 <= len(ops) <= 400
    for node in ops:
        outputs = G.nodes[node]["outputs"]
        assert outputs and all(o["shape"] is not None and o["dtype"] for o in outputs), node
    convs = _ops(G, "Conv")
    assert len(convs) == 53
    for node in convs:
        shapes = [p["shape"] for p in G.nodes[node]["params"].values()]
        assert any(len(s) == 4 for s in shapes), node
    assert G.nodes["input:input"]["outputs"][0]["shape"] == ["batch", 3, 224, 224]
    assert G.nodes["fc/Gemm#0"]["outputs"][0] == {"shape": ["batch", 1000], "dtype": "float32"}


def test_resnet50_module_paths_from_torchscript_names(convert):
    G = convert("resnet50")
    conv = G.nodes["layer1.0.conv1/Conv#0"]
    assert conv["name"] == "/layer1/layer1.0/conv1/Conv"
    assert conv["module"] == "layer1.0.conv1" and conv["module_type"] is None
    assert conv["scope"] == [["layer1", None], ["layer1.0", None], ["layer1.0.conv1", None]]
    assert "layer4.0.downsample.0/Conv#0" in G
    assert G.graph["inputs"] == ["input:input"] and G.graph["outputs"] == ["output:logits"]
    assert list(G.predecessors("output:logits")) == ["fc/Gemm#0"]


def test_resnet_tiny_batchnorm_has_four_params(convert):
    G = convert("resnet_tiny")
    bns = _ops(G, "BatchNormalization")
    assert len(bns) == 8
    bn = G.nodes["layer1.0.bn1/BatchNormalization#0"]
    assert list(bn["params"]) == ["layer1.0.bn1.weight", "layer1.0.bn1.bias",
                                  "layer1.0.bn1.running_mean", "layer1.0.bn1.running_var"]
    params = bn["params"]
    assert all(params[f"layer1.0.bn1.{k}"] == {"shape": [8], "dtype": "float32"}
               for k in ("weight", "bias"))
    assert all(params[f"layer1.0.bn1.{k}"] == {"shape": [8], "dtype": "float32", "kind": "buffer"}
               for k in ("running_mean", "running_var"))
    assert bn["attrs"] == {"epsilon": 1e-05, "momentum": 0.9, "training_mode": 0}
    assert all(len(G.nodes[n]["params"]) == 4 for n in bns)


def test_identity_aliases_fold_into_weights(convert):
    folded, kept = convert("resnet_tiny"), convert("resnet_tiny", fold_constants=False)
    assert not _ops(folded, "Identity")
    identities = _ops(kept, "Identity")
    assert len(identities) == 28
    assert all(kept.out_degree(n) >= 1 for n in identities)
    assert len(op_nodes(kept)) == len(op_nodes(folded)) + 28


# ------------------------------------------------------------------- GPT-2

def test_gpt2_dynamo_module_paths_and_types(convert):
    G = convert("gpt2_tiny_dynamo")
    modules = {d["module"] for _, d in G.nodes(data=True)}
    assert {"h.0.attn", "h.0.attn.c_attn", "h.1.mlp.act", "h.1.mlp.c_fc", "ln_f"} <= modules
    scope_types = {path: cls for _, d in G.nodes(data=True) for path, cls in d["scope"]}
    assert scope_types["h.1.mlp"] == "GPT2MLP" and scope_types["h.0.attn"] == "GPT2Attention"
    assert scope_types["h.1.mlp.act"] == "NewGELUActivation"
    gemm = G.nodes["h.0.attn.c_attn/Gemm#0"]
    assert gemm["module_type"] == "Conv1D"
    assert gemm["scope"] == [["h", None], ["h.0", "GPT2Block"], ["h.0.attn", "GPT2Attention"],
                             ["h.0.attn.c_attn", "Conv1D"]]
    assert gemm["params"]["h.0.attn.c_attn.weight"] == {"shape": [64, 192], "dtype": "float32"}
    assert all(G.nodes[n]["module_type"] == "GPT2Attention"
               for n in op_nodes(G) if G.nodes[n]["module"] == "h.0.attn")
    reshape = G.nodes["h.0.attn/Reshape#0"]
    assert reshape["attrs"]["const_inputs"] == {"shape": [1, 16, 4, 16]}
    assert G.graph["inputs"] == ["input:input_ids", "input:attention_mask"]
    assert G.nodes["input:input_ids"]["outputs"] == [{"shape": [1, 16], "dtype": "int64"}]


# ------------------------------------------------------- multiple inputs/outputs

def test_two_tower_inputs_outputs_and_symbolic_batch(convert):
    G = convert("two_tower")
    assert G.graph["inputs"] == ["input:image", "input:ids"]
    assert G.graph["outputs"] == ["output:logits", "output:embedding"]
    assert G.nodes["input:image"]["outputs"] == [
        {"shape": ["batch", 3, 32, 32], "dtype": "float32"}]
    assert G.nodes["input:ids"]["outputs"] == [{"shape": ["batch", 8], "dtype": "int64"}]
    assert G.nodes["output:embedding"]["outputs"] == [{"shape": ["batch", 32],
                                                       "dtype": "float32"}]
    concat = _ops(G, "Concat")[0]
    assert G.nodes[concat]["outputs"][0]["shape"] == ["batch", 32]
    assert sorted(d["dst_port"] for _, _, d in G.in_edges(concat, data=True)) == [0, 1]
    assert list(G.predecessors("output:embedding")) == [concat]
    assert list(G.predecessors("output:logits")) == ["head/Gemm#0"]


# ---------------------------------------------------------------- subgraphs

def test_if_node_keeps_both_branches(convert):
    G = convert("if_model")
    node = G.nodes["If#0"]
    assert node["attrs"]["subgraphs"] == {
        "then_branch": {"nodes": 1, "ops": {"Relu": 1}, "inputs": [], "outputs": ["then_out"]},
        "else_branch": {"nodes": 2, "ops": {"Constant": 1, "Mul": 1}, "inputs": [],
                        "outputs": ["else_out"]}}
    assert node["attrs"]["implicit_inputs"] == ["h"]
    edges = sorted((u, d["src_port"], d["dst_port"]) for u, _, d in G.in_edges("If#0", data=True))
    assert edges == [("input:flag", 0, 0), ("proj/Gemm#0", 0, 1)]
    else_ir = from_dict(node["subgraph_ir"]["else_branch"])
    validate(else_ir)
    assert else_ir.nodes["input:h"]["attrs"] == {"outer_scope": True}
    assert else_ir.nodes["else/Mul#0"]["attrs"] == {"const_inputs": {"B": 0.5}}
    assert else_ir.nodes["else/Mul#0"]["outputs"] == [{"shape": ["batch", 4],
                                                       "dtype": "float32"}]


def test_loop_node_constants_weights_and_body(convert):
    G = convert("loop_model")
    loop = G.nodes["Loop#0"]
    assert loop["attrs"]["const_inputs"] == {"M": 3, "cond": True}
    assert loop["params"] == {"step": {"shape": [2, 3], "dtype": "float32"}}
    assert loop["outputs"] == [{"shape": [2, 3], "dtype": "float32"},
                               {"shape": [3, 2, 3], "dtype": "float32"}]
    assert [(d["src_port"], v) for _, v, d in G.out_edges("Loop#0", data=True)] == [
        (0, "output:y"), (1, "output:ys")]
    body = from_dict(loop["subgraph_ir"]["body"])
    validate(body)
    assert body.graph["inputs"] == ["input:i", "input:cond_in", "input:acc_in", "input:step"]
    assert body.graph["outputs"] == ["output:cond_out", "output:acc_out", "output:scan_out"]


def test_nested_subgraph_capture_reaches_the_outer_node():
    inner = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "inner", [],
                              [helper.make_tensor_value_info("n", T.FLOAT, None)])
    middle = helper.make_graph(
        [helper.make_node("If", ["c"], ["m"], then_branch=inner, else_branch=inner)],
        "middle", [], [helper.make_tensor_value_info("m", T.FLOAT, None)])
    model = _model([helper.make_node("If", ["c"], ["y"], then_branch=middle,
                                     else_branch=middle)],
                   [helper.make_tensor_value_info("c", T.BOOL, []),
                    helper.make_tensor_value_info("x", T.FLOAT, [3])],
                   [helper.make_tensor_value_info("y", T.FLOAT, [3])])
    G = from_onnx(model, name="nested")
    validate(G)
    assert G.nodes["If#0"]["attrs"]["implicit_inputs"] == ["c", "x"]
    assert sorted((u, d["dst_port"]) for u, _, d in G.in_edges("If#0", data=True)) == [
        ("input:c", 0), ("input:c", 1), ("input:x", 2)]


# ---------------------------------------------------------------- constants

def test_constants_folded(convert):
    G = convert("constants_model")
    assert [d["kind"] for _, d in G.nodes(data=True)].count("const") == 0
    assert G.nodes["encoder/Reshape#0"]["attrs"] == {"const_inputs": {"shape": [-1, 8]}}
    assert G.nodes["encoder/Mul#0"]["attrs"] == {"const_inputs": {"B": 2.0}}
    matmul = G.nodes["encoder.proj/MatMul#0"]
    assert matmul["params"] == {"enc.weight.alias": {"shape": [8, 6], "dtype": "float32"}}
    assert matmul["module_type"] == "Linear"
    assert matmul["scope"] == [["encoder", "Encoder"], ["encoder.proj", "Linear"]]
    assert matmul["tensor_names"] == ["mm"]
    custom = G.nodes["Scale#0"]
    assert (custom["op"], custom["label"], custom["name"]) == ("com.example::Scale", "Scale", "")
    assert custom["attrs"] == {"alpha": 0.5}
    assert custom["outputs"] == [{"shape": None, "dtype": "float32"}]


def test_constants_kept_as_nodes(convert):
    G = convert("constants_model", fold_constants=False)
    consts = [n for n, k in G.nodes(data="kind") if k == "const"]
    assert consts == ["shape/Constant#0", "gain/Constant#0"]
    assert G.nodes["shape/Constant#0"]["attrs"] == {
        "value": {"shape": [2], "dtype": "int64", "value": [-1, 8]}}
    assert G.nodes["shape/Constant#0"]["outputs"] == [{"shape": [2], "dtype": "int64"}]
    assert G.nodes["encoder/Reshape#0"]["attrs"] == {}
    edge = G.get_edge_data("shape/Constant#0", "encoder/Reshape#0")[0]
    assert edge == {"src_port": 0, "dst_port": 1}
    identity = G.nodes["Identity#0"]
    assert identity["params"] == {"enc.weight": {"shape": [8, 6], "dtype": "float32"}}


def test_large_constant_becomes_a_param(convert):
    G = convert("external_data")
    assert G.nodes["Mul#0"]["params"] == {"scale": {"shape": [1, 16], "dtype": "float32"}}
    assert G.nodes["fc1/Gemm#0"]["params"] == {
        "fc1.weight": {"shape": [16, 8], "dtype": "float32"},
        "fc1.bias": {"shape": [16], "dtype": "float32"}}


def test_graph_output_from_input_and_initializer():
    model = _model([], [helper.make_tensor_value_info("x", T.FLOAT, [2])],
                   [helper.make_tensor_value_info("x", T.FLOAT, [2]),
                    helper.make_tensor_value_info("w", T.FLOAT, [2])],
                   [numpy_helper.from_array(np.array([1.0, 2.0], "float32"), "w")])
    G = from_onnx(model, name="passthrough")
    validate(G)
    assert list(G.predecessors("output:x")) == ["input:x"]
    assert G.nodes["initializer#0"]["attrs"] == {"value": [1.0, 2.0]}
    assert list(G.predecessors("output:w")) == ["initializer#0"]


def test_initializer_listed_as_input_is_a_weight():
    w = numpy_helper.from_array(np.ones((3, 3), "float32"), "w")
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [helper.make_tensor_value_info("x", T.FLOAT, [1, 3]),
                    helper.make_tensor_value_info("w", T.FLOAT, [3, 3])],
                   [helper.make_tensor_value_info("y", T.FLOAT, [1, 3])], [w])
    G = from_onnx(model, name="old_style")
    validate(G)
    assert G.graph["inputs"] == ["input:x"]
    assert G.nodes["MatMul#0"]["params"] == {"w": {"shape": [3, 3], "dtype": "float32"}}


def test_huge_weights_are_never_read():
    """A 16 GB weight whose data is not loaded: only its dims and dtype are used."""
    big = onnx.TensorProto(name="big", data_type=T.FLOAT, dims=[65536, 65536],
                           data_location=T.EXTERNAL)
    big.external_data.add(key="location", value="big.bin")
    model = _model([helper.make_node("MatMul", ["x", "big"], ["y"])],
                   [helper.make_tensor_value_info("x", T.FLOAT, ["n", 65536])],
                   [helper.make_tensor_value_info("y", T.FLOAT, None)], [big])
    G = from_onnx(model, name="huge")
    validate(G)
    assert G.graph["warnings"] == []
    assert G.nodes["MatMul#0"]["params"] == {"big": {"shape": [65536, 65536],
                                                     "dtype": "float32"}}
    assert G.nodes["MatMul#0"]["outputs"] == [{"shape": ["n", 65536], "dtype": "float32"}]


# -------------------------------------------------------- attributes and types

def test_attribute_values_are_json_safe():
    node = helper.make_node(
        "Clip", ["x", "lo"], ["y"], name="/clip/Clip")
    lo = helper.make_tensor("lo", T.FLOAT, [], [float("-inf")])
    const = helper.make_node("ConstantOfShape", ["s"], ["z"],
                             value=helper.make_tensor("v", T.FLOAT16, [1], [0.1]))
    s = helper.make_tensor("s", T.INT64, [1], [4])
    model = _model([node, const],
                   [helper.make_tensor_value_info("x", T.BFLOAT16, ["n"])],
                   [helper.make_tensor_value_info("y", T.BFLOAT16, ["n"]),
                    helper.make_tensor_value_info("z", T.FLOAT16, [4])], [lo, s])
    G = from_onnx(model, name="attrs")
    validate(G)
    assert G.nodes["clip/Clip#0"]["attrs"] == {"const_inputs": {"min": "-inf"}}
    assert G.nodes["clip/Clip#0"]["outputs"] == [{"shape": ["n"], "dtype": "bfloat16"}]
    assert G.nodes["ConstantOfShape#0"]["attrs"] == {
        "value": {"shape": [1], "dtype": "float16", "value": [0.1]},
        "const_inputs": {"input": [4]}}
    json.loads(to_json(G))


def test_old_opset_and_unknown_element_type():
    up = helper.make_node("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 2.0])
    model = _model([up, helper.make_node("Identity", ["f4"], ["g4"])],
                   [helper.make_tensor_value_info("x", T.FLOAT, [1, 1, 2, 2]),
                    helper.make_tensor_value_info("f4", T.FLOAT4E2M1, [2])],
                   [helper.make_tensor_value_info("y", T.FLOAT, None),
                    helper.make_tensor_value_info("g4", T.FLOAT4E2M1, [2])], opset=7)
    G = from_onnx(model, name="opset7")
    validate(G)
    assert G.nodes["Upsample#0"]["attrs"] == {"scales": [1.0, 1.0, 2.0, 2.0]}
    assert G.nodes["Upsample#0"]["outputs"] == [{"shape": [1, 1, 4, 4], "dtype": "float32"}]
    assert G.nodes["Identity#0"]["outputs"] == [{"shape": [2], "dtype": None}]


# ------------------------------------------------------------ failure modes

def test_shape_inference_failure_is_a_warning(monkeypatch, convert):
    def fail(*args, **kwargs):
        raise onnx.shape_inference.InferenceError("boom")

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", fail)
    G = from_onnx(load_onnx(BUNDLED), name="resnet_tiny")
    validate(G)
    assert G.graph["warnings"] == ["ONNX shape inference failed (boom); only the shapes "
                                   "recorded in the file are shown"]
    assert G.nodes["input:input"]["outputs"] == [{"shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert G.nodes["layer1.0.conv1/Conv#0"]["outputs"] == [{"shape": None, "dtype": None}]
    assert list(G.nodes) == list(convert("resnet_tiny").nodes)


def test_dangling_input_is_a_warning():
    model = _model([helper.make_node("Add", ["x", "ghost"], ["y"])],
                   [helper.make_tensor_value_info("x", T.FLOAT, [1])],
                   [helper.make_tensor_value_info("y", T.FLOAT, [1])])
    G = from_onnx(model, name="dangling")
    validate(G)
    assert G.graph["warnings"] == ["node 'Add#0' reads tensor 'ghost', which nothing in "
                                   "the graph produces; the edge is missing"]


def test_cycle_is_a_conversion_error():
    model = _model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
                   [], [helper.make_tensor_value_info("b", T.FLOAT, [1])])
    with pytest.raises(ConversionError, match="the ONNX graph 'loop' has a cycle"):
        from_onnx(model, name="loop")


def test_missing_onnx_package(monkeypatch, convert):
    model = load_onnx(BUNDLED)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match="pip install onnx"):
        from_onnx(model, name="x")


# ------------------------------------------------- determinism, goldens, JSON

GOLDEN_SAMPLES = ["if_model", "loop_model", "constants_model", "external_data", "resnet_tiny"]


@pytest.mark.parametrize("name", GOLDEN_SAMPLES)
def test_ir_golden(convert, name):
    text = to_json(convert(name))
    golden = GOLDENS / f"onnx_{name}.json"
    if os.environ.get("GRAPHIR_REGEN_GOLDENS") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name", GOLDEN_SAMPLES + ["gpt2_tiny_dynamo", "two_tower"])
def test_json_round_trip(convert, name):
    G = convert(name)
    assert graphs_equal(from_json(to_json(G)), G)


def test_same_file_gives_same_graph(convert, onnx_dir):
    again = from_onnx(load_onnx(_sample(onnx_dir, "gpt2_tiny_dynamo")),
                      name="gpt2_tiny_dynamo")
    assert to_json(again) == to_json(convert("gpt2_tiny_dynamo"))


def test_ids_follow_module_and_op_counts(convert):
    G = convert("gpt2_tiny_dynamo")
    counts = Counter((G.nodes[n]["module"], G.nodes[n]["label"]) for n in op_nodes(G))
    for (module, op), count in counts.items():
        prefix = f"{module}/{op}" if module else op
        assert all(f"{prefix}#{k}" in G for k in range(count))


def test_converting_does_not_import_torch(onnx_dir):
    code = textwrap.dedent(f"""
        import sys
        from graphir.loaders.onnx_file import load_onnx
        from graphir.converters.onnx import from_onnx
        for path in [{str(BUNDLED)!r}, {str(_sample(onnx_dir, "if_model"))!r}]:
            from_onnx(load_onnx(path), name="m")
        assert "torch" not in sys.modules, "torch was imported"
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
