"""Write the ONNX sample models graphir's tests, demos and benchmarks use.

Run ``python samples/make_onnx.py OUT_DIR [NAME ...]`` to write them all (or
the named ones) into ``OUT_DIR``; each writer is also importable and returns
the path it wrote.

Exported from the PyTorch samples (need torch):

- ``resnet50.onnx`` -- ResNet-50, TorchScript exporter, opset 17, dynamic
  batch (about 100 MB, a few seconds).
- ``resnet_tiny.onnx`` -- the tiny ResNet with BatchNormalization kept
  (``training=PRESERVE``); the bundled README sample (about 40 KB).
- ``gpt2_tiny_dynamo.onnx`` -- two-layer GPT-2 via ``dynamo=True``, with the
  ``pkg.torch.onnx.name_scopes`` / ``class_hierarchy`` node metadata.
- ``two_tower.onnx`` -- two inputs, two outputs, batch axis named ``batch``.

Built by hand with ``onnx.helper`` (no torch, byte-for-byte stable):

- ``if_model.onnx`` -- an ``If`` whose branches read a value from outside.
- ``loop_model.onnx`` -- a ``Loop`` with loop-carried and scan outputs.
- ``external_data.onnx`` + ``external_data.bin`` -- an MLP whose weights
  and a Constant live in a data file next to the model.
- ``constants_model.onnx`` -- Constants, an Identity alias, a custom-domain
  op, TorchScript-style names and dynamo-style scope metadata.

Examples
--------
>>> from samples.make_onnx import make_if_model
>>> path = make_if_model(tmp_dir)                          # doctest: +SKIP
"""

import argparse
import os
import sys

__all__ = [
    "export_resnet50", "export_resnet_tiny", "export_gpt2_tiny_dynamo",
    "export_two_tower", "make_if_model", "make_loop_model",
    "make_external_data_model", "make_constants_model", "WRITERS", "main",
]

_OPSET = 17
_IR_VERSION = 8
_PRODUCER = "graphir-samples"


# ---------------------------------------------------------------- torch exports

def _torch_export(model, args, path, **kwargs):
    import torch

    with torch.no_grad():
        torch.onnx.export(model, args, path, **kwargs)
    return path


def export_resnet50(folder):
    """ResNet-50 via the TorchScript exporter (opset 17, batch axis ``batch``)."""
    import torch

    from samples.resnet import resnet50

    return _torch_export(resnet50(), (torch.randn(1, 3, 224, 224),),
                         os.path.join(folder, "resnet50.onnx"), dynamo=False,
                         opset_version=_OPSET, input_names=["input"],
                         output_names=["logits"],
                         dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def export_resnet_tiny(folder):
    """The tiny ResNet; BatchNormalization stays a node (``training=PRESERVE``)."""
    import torch

    from samples.resnet import resnet_tiny

    model, example = resnet_tiny()
    return _torch_export(model, example, os.path.join(folder, "resnet_tiny.onnx"),
                         dynamo=False, opset_version=_OPSET,
                         training=torch.onnx.TrainingMode.PRESERVE,
                         input_names=["input"], output_names=["logits"])


def export_gpt2_tiny_dynamo(folder):
    """Two-layer GPT-2 via ``dynamo=True`` (one file, scope metadata on nodes)."""
    from samples.gpt2 import gpt2_tiny

    model, example = gpt2_tiny()
    return _torch_export(model, example, os.path.join(folder, "gpt2_tiny_dynamo.onnx"),
                         kwargs={"return_dict": False}, dynamo=True,
                         external_data=False, verbose=False,
                         input_names=["input_ids", "attention_mask"],
                         output_names=["last_hidden_state"])


def export_two_tower(folder):
    """Two inputs (image, ids), two outputs (logits, embedding), dynamic ``batch``."""
    from samples.multi_io import two_tower

    model, example = two_tower()
    batch = {0: "batch"}
    return _torch_export(model, example, os.path.join(folder, "two_tower.onnx"),
                         dynamo=False, opset_version=_OPSET,
                         input_names=["image", "ids"],
                         output_names=["logits", "embedding"],
                         dynamic_axes={"image": batch, "ids": batch,
                                       "logits": batch, "embedding": batch})


# ----------------------------------------------------------- hand-built (no torch)

def _weights(name, shape, seed):
    import numpy as np
    from onnx import numpy_helper

    values = np.random.RandomState(seed).standard_normal(shape).astype("float32")
    return numpy_helper.from_array(values, name)


def _save(graph, path, extra_opsets=(), **save_kwargs):
    import onnx
    from onnx import helper

    opsets = [helper.make_opsetid("", _OPSET)]
    opsets += [helper.make_opsetid(domain, version) for domain, version in extra_opsets]
    model = helper.make_model(graph, producer_name=_PRODUCER, ir_version=_IR_VERSION,
                              opset_imports=opsets)
    onnx.save_model(model, path, **save_kwargs)
    return path


def make_if_model(folder):
    """``y = If(flag, Relu(h), h * 0.5)`` with ``h = Gemm(x)`` read by both branches."""
    from onnx import TensorProto as T
    from onnx import helper

    then_graph = helper.make_graph(
        [helper.make_node("Relu", ["h"], ["then_out"], name="/then/Relu")],
        "then_branch", [], [helper.make_tensor_value_info("then_out", T.FLOAT, None)])
    else_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["half"], name="/else/Constant",
                          value=helper.make_tensor("half", T.FLOAT, [], [0.5])),
         helper.make_node("Mul", ["h", "half"], ["else_out"], name="/else/Mul")],
        "else_branch", [], [helper.make_tensor_value_info("else_out", T.FLOAT, None)])
    nodes = [
        helper.make_node("Gemm", ["x", "proj.weight", "proj.bias"], ["h"],
                         name="/proj/Gemm", transB=1),
        helper.make_node("If", ["flag"], ["y"], name="/If",
                         then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(
        nodes, "if_model",
        [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 4]),
         helper.make_tensor_value_info("flag", T.BOOL, [])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["batch", 4])],
        initializer=[_weights("proj.weight", (4, 4), 1), _weights("proj.bias", (4,), 2)])
    return _save(graph, os.path.join(folder, "if_model.onnx"))


def make_loop_model(folder):
    """Three steps of ``acc = acc + step`` (``step`` read from outside the body)."""
    from onnx import TensorProto as T
    from onnx import helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="/body/Identity"),
         helper.make_node("Add", ["acc_in", "step"], ["acc_out"], name="/body/Add"),
         helper.make_node("Identity", ["acc_out"], ["scan_out"], name="/body/Identity_1")],
        "loop_body",
        [helper.make_tensor_value_info("i", T.INT64, []),
         helper.make_tensor_value_info("cond_in", T.BOOL, []),
         helper.make_tensor_value_info("acc_in", T.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("cond_out", T.BOOL, []),
         helper.make_tensor_value_info("acc_out", T.FLOAT, [2, 3]),
         helper.make_tensor_value_info("scan_out", T.FLOAT, [2, 3])])
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trip_count", "keep_going", "x"], ["y", "ys"],
                          name="/Loop", body=body)],
        "loop_model",
        [helper.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", T.FLOAT, [2, 3]),
         helper.make_tensor_value_info("ys", T.FLOAT, [3, 2, 3])],
        initializer=[helper.make_tensor("trip_count", T.INT64, [], [3]),
                     helper.make_tensor("keep_going", T.BOOL, [], [True]),
                     _weights("step", (2, 3), 3)])
    return _save(graph, os.path.join(folder, "loop_model.onnx"))


def make_external_data_model(folder, location="external_data.bin"):
    """A two-layer MLP whose tensors (and a Constant) live in ``location``.

    ``location`` is written as given into the model, so tests can point it
    anywhere; the data file itself is written next to the model.
    """
    from onnx import TensorProto as T
    from onnx import helper

    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"],
                         name="/fc1/Gemm", transB=1),
        helper.make_node("Relu", ["h1"], ["a1"], name="/act/Relu"),
        helper.make_node("Constant", [], ["scale"], name="/Constant",
                         value=_weights("scale_value", (1, 16), 4)),
        helper.make_node("Mul", ["a1", "scale"], ["s1"], name="/Mul"),
        helper.make_node("Gemm", ["s1", "fc2.weight", "fc2.bias"], ["y"],
                         name="/fc2/Gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "external_data",
        [helper.make_tensor_value_info("x", T.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", T.FLOAT, [1, 4])],
        initializer=[_weights("fc1.weight", (16, 8), 5), _weights("fc1.bias", (16,), 6),
                     _weights("fc2.weight", (4, 16), 7), _weights("fc2.bias", (4,), 8)])
    path = os.path.join(folder, "external_data.onnx")
    data = os.path.join(folder, "external_data.bin")
    if os.path.exists(data):
        os.remove(data)  # onnx appends to an existing data file
    _save(graph, path, save_as_external_data=True, all_tensors_to_one_file=True,
          location="external_data.bin", size_threshold=0, convert_attribute=True)
    if location != "external_data.bin":
        _relocate(path, location)
    return path


def _relocate(path, location):
    """Point every external tensor of the model at ``path`` to ``location``."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    tensors = list(model.graph.initializer)
    tensors += [attr.t for node in model.graph.node for attr in node.attribute
                if attr.HasField("t")]
    for tensor in tensors:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(model, path)


def _scoped(node, scopes, classes):
    """Attach dynamo-style scope metadata (as ``torch.onnx.export`` writes it)."""
    from onnx import helper

    helper.set_metadata_props(node, {"pkg.torch.onnx.name_scopes": repr(scopes),
                                     "pkg.torch.onnx.class_hierarchy": repr(classes)})
    return node


def make_constants_model(folder):
    """Constants to fold, an Identity alias, a custom op and both naming styles."""
    from onnx import TensorProto as T
    from onnx import helper

    def const(name, data_type, dims, values):
        return helper.make_node("Constant", [], [name], name=f"/{name}/Constant",
                                value=helper.make_tensor(name, data_type, dims, values))

    nodes = [
        const("shape", T.INT64, [2], [-1, 8]),
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="/encoder/Reshape"),
        helper.make_node("Identity", ["enc.weight"], ["enc.weight.alias"], name="Identity_0"),
        _scoped(helper.make_node("MatMul", ["flat", "enc.weight.alias"], ["mm"],
                                 name="node_MatMul_3"),
                ["", "encoder", "encoder.proj", "matmul"],
                ["demo.Model", "demo.Encoder", "torch.nn.Linear", "aten.matmul.default"]),
        const("gain", T.FLOAT, [], [2.0]),
        _scoped(helper.make_node("Mul", ["mm", "gain"], ["scaled"], name="node_mul"),
                ["", "encoder", "mul"], ["demo.Model", "demo.Encoder", "aten.mul.Tensor"]),
        helper.make_node("Scale", ["scaled"], ["custom"], domain="com.example", alpha=0.5),
        helper.make_node("Relu", ["scaled"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "constants_model",
        [helper.make_tensor_value_info("x", T.FLOAT, ["batch", 2, 4])],
        [helper.make_tensor_value_info("y", T.FLOAT, ["batch", 6]),
         helper.make_tensor_value_info("custom", T.FLOAT, None)],
        initializer=[_weights("enc.weight", (8, 6), 9)])
    return _save(graph, os.path.join(folder, "constants_model.onnx"),
                 extra_opsets=[("com.example", 1)])


#: Sample name -> writer(folder) -> path.
WRITERS = {
    "resnet50": export_resnet50,
    "resnet_tiny": export_resnet_tiny,
    "gpt2_tiny_dynamo": export_gpt2_tiny_dynamo,
    "two_tower": export_two_tower,
    "if_model": make_if_model,
    "loop_model": make_loop_model,
    "external_data": make_external_data_model,
    "constants_model": make_constants_model,
}


def main(argv=None):
    """Command line: ``make_onnx.py OUT_DIR [NAME ...]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="folder to write the .onnx files into")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"samples to write (default: all of {', '.join(WRITERS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(WRITERS))
    if unknown:
        parser.error(f"unknown sample(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(WRITERS)}")
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.names or list(WRITERS):
        path = WRITERS[name](args.out_dir)
        print(f"{path}  {os.path.getsize(path):,} bytes")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
