"""Did the export keep my model? A CNN and a transformer against their exports (issue 14).

Each model is exported once per module (dynamo ONNX, legacy ONNX, .pt2,
TorchScript) and compared by module with
:func:`graphir.diffing.modules.diff_across_sources`; altered ONNX copies
(one block's activation changed, a layer removed, an input made static, a
weight perturbed) must be found and named at the right module.
"""

import warnings

import onnx
import pytest
import torch

from graphir import ir
from graphir.converters.fx import from_exported_program
from graphir.converters.onnx import from_onnx
from graphir.converters.torchscript import from_torchscript
from graphir.converters.trace import from_trace
from graphir.diffing.modules import default_level, diff_across_sources, to_json_dict, to_text
from graphir.diffing.numeric import compare_numeric
from graphir.overlay.numeric import (exported_runner, module_runner, onnx_runner,
                                     torchscript_runner)
from samples.gpt2 import GPT2LMHeadModel, GPT2Model, _example_inputs, gpt2_lm, gpt2_tiny
from samples.resnet import resnet_tiny
from samples.vit import HFViTModel, hf_vit_tiny, vit_tiny


class PlainGPT2(GPT2Model):
    """The sample GPT-2 returning a tensor (TorchScript traces no dataclasses)."""

    def forward(self, input_ids, attention_mask):
        return super().forward(input_ids, attention_mask, return_dict=False)[0]


def _export_all(folder, model, inputs, names, dynamic):
    """Trace IR plus the four exports as ``{kind: (IR, artefact)}``."""
    warnings.filterwarnings("ignore")
    dims = {name: {axis: torch.export.Dim(label, min=2 if label == "batch" else 1, max=64)
                   for axis, label in axes.items()} for name, axes in dynamic.items()}
    out = {"trace": (from_trace(model, inputs, name="trace"), model)}
    path = folder / "dyn.onnx"
    torch.onnx.export(model, inputs, str(path), dynamo=True, input_names=names,
                      dynamic_shapes=dims, verbose=False)
    out["dynamo"] = (from_onnx(onnx.load(str(path)), name="dynamo"), onnx.load(str(path)))
    path = folder / "legacy.onnx"
    torch.onnx.export(model, inputs, str(path), dynamo=False, input_names=names,
                      dynamic_axes=dynamic)
    out["legacy"] = (from_onnx(onnx.load(str(path)), name="legacy"), onnx.load(str(path)))
    program = torch.export.export(model, inputs, dynamic_shapes=dims)
    torch.export.save(program, str(folder / "m.pt2"))
    loaded = torch.export.load(str(folder / "m.pt2"))
    out["pt2"] = (from_exported_program(loaded, name="pt2"), loaded)
    scripted = torch.jit.trace(model, inputs)
    scripted.save(str(folder / "m.ts"))
    loaded_ts = torch.jit.load(str(folder / "m.ts"))
    out["torchscript"] = (from_torchscript(loaded_ts, name="ts"), loaded_ts)
    return out


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    model, (x,) = resnet_tiny()
    x = x.repeat(2, 1, 1, 1)             # batch 2: a batch of 1 would be specialised
    exports = _export_all(tmp_path_factory.mktemp("cnn"), model, (x,), ["x"],
                          {"x": {0: "batch"}})
    return model, (x,), exports


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    base, (ids, mask) = gpt2_tiny()
    model = PlainGPT2(base.config).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():                # trained-like weights: no zero biases, no equal norms
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    inputs = (ids.repeat(2, 1), mask.repeat(2, 1))
    exports = _export_all(tmp_path_factory.mktemp("gpt"), model, inputs,
                          ["input_ids", "attention_mask"],
                          {"input_ids": {0: "batch", 1: "seq"},
                           "attention_mask": {0: "batch", 1: "seq"}})
    return model, inputs, exports


KINDS = ["dynamo", "legacy", "pt2", "torchscript"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("which", ["cnn", "gpt"])
def test_faithful_export_has_no_structural_difference(request, which, kind):
    _, _, exports = request.getfixturevalue(which)
    old, new = exports["trace"][0], exports[kind][0]
    # trace and torch.export speak the same (torch) vocabulary
    assert default_level(old, new) == ("op" if kind == "pt2" else "module")
    result = diff_across_sources(old, new)
    text = to_text(result, "model", kind)
    assert not result.has_differences, text
    assert "modules, shapes and weights agree" in text and "(module level" in text
    assert result.summary["same"] >= 10
    ir.validate(result.union)
    assert {d for _, d in result.union.nodes(data="diff")} <= {"same"}
    swapped = diff_across_sources(new, old)
    assert not swapped.has_differences, to_text(swapped)


def test_folds_are_notes_not_differences(cnn):
    _, _, exports = cnn
    dyn = diff_across_sources(exports["trace"][0], exports["dynamo"][0])
    assert "layer1.0.conv1 (old side only) merged into layer1.0.bn1" in dyn.notes
    assert dyn.groups["layer1.0.bn1"]["old"] == ["layer1.0.bn1", "layer1.0.conv1"]
    legacy = diff_across_sources(exports["trace"][0], exports["legacy"][0])
    assert "layer1.0.bn1 (old side only) folded into layer1.0.conv1" in legacy.notes
    assert any(n.startswith("layer1.0.conv1: layer1.0.conv1.weight stored as onnx::Conv_")
               for n in legacy.notes)
    assert "layer1.0.relu_1 (new) read as layer1.0.relu: a repeated call" in legacy.notes


def _copy(model):
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


def _onnx_node(model, G, node_id):
    name = G.nodes[node_id]["name"]
    return next(n for n in model.graph.node if n.name == name)


def _relu_to_sigmoid(model, G, node_id):
    altered = _copy(model)
    _onnx_node(altered, G, node_id).op_type = "Sigmoid"
    return altered


def _remove_node(model, G, node_id):
    """Drop one single-input node and feed its consumers its first input."""
    altered = _copy(model)
    node = _onnx_node(altered, G, node_id)
    source, output = node.input[0], node.output[0]
    altered.graph.node.remove(node)
    for other in altered.graph.node:
        for i, name in enumerate(other.input):
            if name == output:
                other.input[i] = source
    del altered.graph.value_info[:]
    return altered


@pytest.mark.parametrize("kind,relu", [("dynamo", "layer1.1.relu/Relu#0"),
                                       ("legacy", "layer1.1.relu/Relu#0")])
def test_changed_activation_is_named_at_its_module(cnn, kind, relu):
    _, _, exports = cnn
    G, model = exports[kind]
    altered = from_onnx(_relu_to_sigmoid(model, G, relu), name="altered")
    result = diff_across_sources(exports["trace"][0], altered)
    assert result.has_differences
    modules = {f["module"]: f for f in result.findings}
    assert set(modules) == {"layer1.1.relu"}, to_text(result)
    assert modules["layer1.1.relu"]["changes"]["ops"] == {"changed": [["relu", "Sigmoid"]]}
    assert "layer1.1.relu  ~ op relu → Sigmoid" in to_text(result)
    assert result.union.nodes["module:layer1.1.relu"]["diff"] == "changed"
    swapped = diff_across_sources(altered, exports["trace"][0])
    assert swapped.findings[0]["changes"]["ops"] == {"changed": [["Sigmoid", "relu"]]}
    data = to_json_dict(result)
    assert data["level"] == "module" and data["sources"] == ["trace", "onnx"]


def test_op_level_aligns_ops_inside_modules(gpt):
    _, _, exports = gpt
    result = diff_across_sources(exports["trace"][0], exports["dynamo"][0], level="op")
    assert not result.has_differences, to_text(result)
    steps = result.ops["h.0.mlp.c_fc"]
    assert {s["state"] for s in steps} <= {"same", "glue"}
    assert any(s["old"] == ["torch.addmm"] and s["new"] == ["Gemm"]      # GPT-2 Conv1D
               for s in steps), steps
    ln = [s for s in result.ops["h.0.ln_1"] if s["state"] == "same"]
    assert ln and ln[0]["old"] == ["torch.nn.functional.layer_norm"]
    assert "(op level" in to_text(result)


def test_removed_layer_is_found_and_sides_swap(cnn):
    _, _, exports = cnn
    G, model = exports["legacy"]
    altered = from_onnx(_remove_node(model, G, "layer1.1.conv2/Conv#0"), name="altered")
    result = diff_across_sources(exports["trace"][0], altered)
    removed = [f["module"] for f in result.findings if f["state"] == "removed"]
    # the legacy Conv carried the folded BatchNorm: both modules went with it
    assert removed == ["layer1.1.bn2", "layer1.1.conv2"], to_text(result)
    assert result.summary["removed"] == 2 and result.summary["added"] == 0
    swapped = diff_across_sources(altered, exports["trace"][0])
    assert [f["module"] for f in swapped.findings if f["state"] == "added"] == removed
    assert swapped.summary["added"] == 2 and swapped.summary["removed"] == 0
    assert "module:layer1.1.conv2" in result.removed
    assert "module:layer1.1.conv2" in swapped.added


def _static_batch(model):
    """A copy of an ONNX model whose dynamic batch dim is fixed to 2 (inputs and outputs)."""
    altered = _copy(model)
    for value in list(altered.graph.input) + list(altered.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    del altered.graph.value_info[:]
    return from_onnx(altered, name="static")


def test_input_made_static_is_found(cnn):
    _, _, exports = cnn
    G = _static_batch(exports["dynamo"][1])
    pt2 = exports["pt2"][0]
    assert not diff_across_sources(pt2, exports["dynamo"][0]).has_differences
    result = diff_across_sources(pt2, G)
    text = to_text(result)
    assert result.has_differences
    graph = next(f for f in result.findings if f["module"] == "(graph)")
    assert graph["changes"]["input_why"] == ["dynamic → static"], text
    assert "conv1" not in {f["module"] for f in result.findings}      # merged into bn1
    assert any(f["module"] == "layer1.0.bn1" and "dynamic → static" in
               f["changes"].get("input_why", []) for f in result.findings), text
    # the trace records the example's sizes only: it cannot tell
    assert not diff_across_sources(exports["trace"][0], G).has_differences


def test_numeric_finds_a_perturbed_weight_at_its_module(cnn):
    model, inputs, exports = cnn
    G, onnx_model = exports["dynamo"]
    result = diff_across_sources(exports["trace"][0], G)
    numeric = compare_numeric(result, module_runner(model), onnx_runner(onnx_model, G), inputs)
    assert numeric["ok"], numeric
    assert {r["module"] for r in numeric["modules"]} >= {"layer1.0.bn1", "fc", ""}
    G, legacy = exports["legacy"]                    # relu_1 (second call) joins relu
    result = diff_across_sources(exports["trace"][0], G, old_runner=module_runner(model),
                                 new_runner=onnx_runner(legacy, G), example_inputs=inputs)
    rows = {r["module"]: r for r in result.numeric["modules"]}
    assert result.numeric["ok"] and rows["layer1.0.relu"]["tensors"] == 2
    altered = _copy(onnx_model)
    init = next(t for t in altered.graph.initializer if t.name == "layer1.1.conv2.weight")
    array = onnx.numpy_helper.to_array(init).copy()
    array.flat[0] += 1e-2
    init.CopyFrom(onnx.numpy_helper.from_array(array, init.name))
    G2 = from_onnx(altered, name="perturbed")
    assert not diff_across_sources(exports["trace"][0], G2).findings  # structure cannot show it
    result = diff_across_sources(exports["trace"][0], G2, old_runner=module_runner(model),
                                 new_runner=onnx_runner(altered, G2), example_inputs=inputs)
    numeric = result.numeric
    bad = [r["module"] for r in numeric["modules"] if not r["ok"]]
    assert "layer1.1.bn2" in bad, numeric
    # upstream of the perturbed conv, everything agrees
    assert not any(m.startswith(("layer1.0", "layer1.1.bn1", "bn1", "maxpool")) for m in bad)
    first = next(r for r in numeric["modules"] if r["module"] == "layer1.1.bn2")
    assert 1e-4 < first["max_abs"] < 1.0
    assert result.has_differences
    assert "layer1.1.bn2  max abs" in to_text(result)


def test_numeric_pt2_and_torchscript(cnn):
    model, inputs, exports = cnn
    trace = exports["trace"][0]
    pt2 = diff_across_sources(trace, exports["pt2"][0])
    numeric = compare_numeric(pt2, module_runner(model), exported_runner(exports["pt2"][1]),
                              inputs)
    assert numeric["ok"] and len(numeric["modules"]) > 10
    ts = diff_across_sources(trace, exports["torchscript"][0])
    numeric = compare_numeric(ts, module_runner(model),
                              torchscript_runner(exports["torchscript"][1]), inputs)
    assert numeric["ok"] and [r["module"] for r in numeric["modules"]] == [""]


class PlainLM(GPT2LMHeadModel):
    """The sample GPT-2 LM (embedding tied to the head) returning a tensor."""

    def forward(self, input_ids, attention_mask):
        return super().forward(input_ids, attention_mask, return_dict=False)[0]


def test_tied_weight_stored_twice_and_mask_folded(tmp_path):
    base = gpt2_lm()
    model = PlainLM(base.transformer.config).eval()
    model.load_state_dict(base.state_dict())
    inputs = _example_inputs()
    path = tmp_path / "lm.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, str(path), dynamo=False,
                          input_names=["input_ids", "attention_mask"])
        trace = from_trace(model, inputs, name="lm")
    exported = from_onnx(onnx.load(str(path)), name="lm.onnx")
    result = diff_across_sources(trace, exported)
    found = {f["module"]: f["changes"] for f in result.findings}
    copies = found["lm_head"]["duplicated"]["transformer.wte.weight"]
    assert copies[0] == "transformer.wte.weight" and copies[1].startswith("onnx::MatMul_")
    folded = found["transformer.h.0.attn"]["constants"]["transformer.h.0.attn.bias"]
    assert folded[0] == [1, 1, 128, 128] and folded[2] == [1, 1, 16, 16]
    text = to_text(result)
    assert "tied weight transformer.wte.weight stored 2 times" in text
    assert "folded into the constant" in text
    swapped = diff_across_sources(exported, trace)
    assert {f["module"] for f in swapped.findings} == set(found)


def test_dynamic_to_static_cascade_is_one_line(cnn):
    _, _, exports = cnn
    result = diff_across_sources(exports["pt2"][0], _static_batch(exports["dynamo"][1]))
    lines = to_text(result).splitlines()
    assert lines[2].startswith("  (graph)") and "(dynamic → static)" in lines[2]
    assert lines[3].startswith("  … and ") and "modules whose boundaries follow" in lines[3]
    assert len(result.findings) > 10          # the JSON keeps every module


class PlainHFViT(HFViTModel):
    """The HF-layout ViT returning its last hidden state only (its pooler is then unused)."""

    def forward(self, pixel_values):
        return super().forward(pixel_values, return_dict=False)[0]


def _legacy(model, inputs, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, inputs, str(path), dynamo=False)
    return from_onnx(onnx.load(str(path)), name=path.name)


def test_multi_head_attention_and_dead_code(tmp_path):
    model, inputs = vit_tiny()              # nn.MultiheadAttention: one op in the trace
    result = diff_across_sources(from_trace(model, inputs, name="vit"),
                                 _legacy(model, inputs, tmp_path / "vit.onnx"), level="op")
    assert not result.has_differences, to_text(result)
    steps = [s for s in result.ops["blocks.0.attn"] if s["state"] == "same"]
    mha = next(s for s in steps if s["old"] == ["torch.nn.functional.multi_head_attention_forward"])
    assert {"MatMul", "Softmax"} <= set(mha["new"])
    base, inputs = hf_vit_tiny()
    model = PlainHFViT(base.config).eval()
    model.load_state_dict(base.state_dict())
    result = diff_across_sources(from_trace(model, inputs, name="hf"),
                                 _legacy(model, inputs, tmp_path / "hf.onnx"))
    assert not result.has_differences, to_text(result)
    assert any(n.startswith("pooler.dense (old side only) computes nothing the outputs use")
               for n in result.notes)


def test_transformer_altered_export_is_named_at_its_module(gpt):
    _, _, exports = gpt
    G, model = exports["dynamo"]
    altered = _copy(model)
    _onnx_node(altered, G, "h.1.attn/Softmax#0").op_type = "Sigmoid"
    result = diff_across_sources(exports["trace"][0], from_onnx(altered, name="altered"))
    assert [f["module"] for f in result.findings] == ["h.1.attn"], to_text(result)
    assert result.findings[0]["changes"]["ops"] == {"changed": [["softmax", "Sigmoid"]]}
    G, model = exports["legacy"]
    removed = from_onnx(_remove_node(model, G, "h.0.mlp.act/Tanh#0"), name="removed")
    result = diff_across_sources(exports["trace"][0], removed)
    found = {f["module"]: f for f in result.findings}
    assert list(found) == ["h.0.mlp.act"], to_text(result)
    assert found["h.0.mlp.act"]["changes"]["ops"].get("removed") == ["tanh"]


def test_numeric_without_onnxruntime_names_the_extra(cnn, monkeypatch):
    import sys

    from graphir.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    G, model = cnn[2]["dynamo"]
    with pytest.raises(MissingDependencyError, match="onnxruntime") as info:
        onnx_runner(model, G)
    assert "graphir[numeric]" in info.value.one_line()


def test_op_level_union_draws_ops_with_their_states(cnn):
    _, _, exports = cnn
    G, model = exports["legacy"]
    altered = from_onnx(_remove_node(model, G, "layer1.1.conv2/Conv#0"), name="altered")
    result = diff_across_sources(exports["trace"][0], altered, level="op")
    U = result.union
    ir.validate(U)
    assert U.graph["diff_level"] == "op"
    states = {n: d for n, d in U.nodes(data="diff")}
    assert states["layer1.1.conv2/conv2d#0"] == "removed"       # the trace's op, drawn back
    assert result.removed == ["layer1.1.conv2/conv2d#0", "layer1.1.bn2/batch_norm#0"]
    assert "layer1.1.bn2/batch_norm#0" in U                     # the op, not the module
    assert states["layer1.1.conv1/Conv#0"] == "same"
    assert "removed" not in {s for n, s in states.items() if not n.startswith("layer1.1.")}
    swapped = diff_across_sources(altered, exports["trace"][0], level="op")
    assert swapped.added == result.removed and not swapped.removed
    from graphir import explore
    assert "layer1.1.conv2/conv2d#0" in explore.diff_page(result)


def test_bad_level_and_half_numeric_are_input_errors(cnn):
    from graphir.errors import InputError

    _, inputs, exports = cnn
    old, new = exports["trace"][0], exports["legacy"][0]
    with pytest.raises(InputError, match="unknown diff level 'ops'"):
        diff_across_sources(old, new, level="ops")
    with pytest.raises(InputError, match="runner for each side"):
        diff_across_sources(old, new, old_runner=module_runner(cnn[0]), example_inputs=inputs)
