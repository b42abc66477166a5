"""Ops that compute constants are shown as the weights they produce (issue 10, item 5)."""

import collections
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from graphir.converters.onnx import from_onnx
from graphir.ir import graph_param_count, op_nodes, validate

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def _light(name):
    return onnx.load(os.path.join(LIGHT, f"light_{name}.onnx"))


def _ops(G):
    return collections.Counter(G.nodes[n]["op"] for n in op_nodes(G))


def test_light_resnet50_convs_show_weight_shapes():
    model = _light("resnet50")
    G = from_onnx(model, name="resnet50")
    validate(G)
    ops = _ops(G)
    assert "ConstantOfShape" not in ops
    assert sum(ops.values()) == 176  # 415 nodes minus the 239 weight generators
    assert ops["Conv"] == 53 and ops["BatchNormalization"] == 53
    conv = G.nodes["Conv#0"]
    assert conv["params"] == {"gpu_0/conv1_w_0": {"shape": [64, 3, 7, 7], "dtype": "float32"}}
    assert all(G.nodes[n]["params"] for n in op_nodes(G) if G.nodes[n]["op"] == "Conv")
    bn = G.nodes["BatchNormalization#0"]
    assert [info.get("kind") for info in bn["params"].values()] == [None, None, "buffer", "buffer"]
    # ResNet-50 has 25.56 M trainable weights; the BN running statistics add 53,120.
    assert graph_param_count(G) == 25_610_152
    assert "239 ops computing constants (ConstantOfShape \u00d7239)" in G.graph["notes"][0]


def test_keep_constants_draws_the_generators():
    G = from_onnx(_light("resnet50"), name="resnet50", keep_constants=True)
    validate(G)
    assert _ops(G)["ConstantOfShape"] == 239
    assert len(op_nodes(G)) == 415
    assert "notes" not in G.graph
    assert G.nodes["Conv#0"]["params"] == {}


@pytest.mark.parametrize("name", ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2",
                                  "resnet50", "shufflenet", "squeezenet", "vgg19", "zfnet512"])
def test_every_light_model_folds_its_generators(name):
    model = _light(name)
    G = from_onnx(model, name=name)
    validate(G)
    ops = _ops(G)
    assert "ConstantOfShape" not in ops
    # every op that reads a weight in the file now shows it
    for node in op_nodes(G):
        data = G.nodes[node]
        if data["op"] in ("Conv", "Gemm", "BatchNormalization"):
            assert data["params"], (name, node)
            assert all(isinstance(d, int) for info in data["params"].values()
                       for d in info["shape"])
    kept = from_onnx(model, name=name, keep_constants=True)
    assert len(op_nodes(G)) < len(op_nodes(kept))
    assert graph_param_count(G) > graph_param_count(kept)


def test_densenet_unsqueezed_scales_keep_the_weight_name():
    G = from_onnx(_light("densenet121"), name="densenet121")
    assert "Unsqueeze" not in _ops(G)
    assert G.nodes["Mul#0"]["params"] == {"conv1/bn_w_0": {"shape": [64, 1, 1],
                                                           "dtype": "float32"}}


def _shape_chain_model(big=(1000, 1000)):
    """x[2,3,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])),
    plus a MatMul with a ConstantOfShape weight of shape ``big``."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["g"], axis=0),
        helper.make_node("Unsqueeze", ["g", "axes"], ["u"]),
        helper.make_node("Concat", ["u", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("ConstantOfShape", ["wshape"], ["w"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMul", ["r", "wt"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"),
             numpy_helper.from_array(np.array([0], dtype=np.int64), "axes"),
             numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus1"),
             numpy_helper.from_array(np.array([12, big[1]], dtype=np.int64), "wshape")]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_chain_on_static_shapes_becomes_a_value():
    G = from_onnx(_shape_chain_model(), name="chain")
    validate(G)
    assert [G.nodes[n]["op"] for n in op_nodes(G)] == ["Reshape", "MatMul"]
    # the target shape was evaluated (tiny): Shape[2,3,4] -> gather 0 -> [2] ++ [-1]
    assert G.nodes["Reshape#0"]["attrs"]["const_inputs"] == {"shape": [2, -1]}
    # the large generated weight is never evaluated; its shape comes from inference
    # and it keeps the name of the weight the Transpose reads
    assert G.nodes["MatMul#0"]["params"] == {"w": {"shape": [1000, 12], "dtype": "float32"}}
    assert G.nodes["Reshape#0"]["outputs"][0]["shape"] == [2, 12]
    assert list(G.predecessors("Reshape#0")) == ["input:x"]


def test_large_generated_tensor_is_not_materialised(monkeypatch):
    calls = []
    import onnx.reference

    original = onnx.reference.ReferenceEvaluator.run

    def spy(self, *args, **kwargs):
        calls.append([n.op_type for n in self.proto_.graph.node])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(onnx.reference.ReferenceEvaluator, "run", spy)
    from_onnx(_shape_chain_model(), name="chain")
    assert ["ConstantOfShape"] not in calls and ["Transpose"] not in calls
    assert ["Concat"] in calls


def test_dynamic_shape_is_not_folded():
    model = _shape_chain_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    G = from_onnx(model, name="chain")
    ops = [G.nodes[n]["op"] for n in op_nodes(G)]
    assert ops[0] == "Shape" and "Reshape" in ops
    assert "ConstantOfShape" not in ops  # its shape input is still a constant


def test_fold_constants_false_keeps_everything():
    G = from_onnx(_shape_chain_model(), name="chain", fold_constants=False)
    assert len(op_nodes(G)) == 8
