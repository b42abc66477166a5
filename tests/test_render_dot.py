"""DOT generation, labels and themes (no Graphviz needed).

Golden files
------------
``tests/goldens/dot/<name>.dot`` hold the exact DOT text of the hand-built
graphs below. When a change to the renderer is intended, regenerate them
and review the diff::

    GRAPHIR_REGEN_GOLDENS=1 .venv/bin/python -m pytest tests/test_render_dot.py

Without the variable the text must match byte for byte.
"""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from graphir import ir
from graphir.errors import InputError
from graphir.renderers import backend, dot, labels, themes
from graphir.renderers.dot import DEFAULT_SHOW, parse_show, to_dot
from graphir.renderers.labels import (
    OP_CATEGORIES,
    format_count,
    format_dtype,
    format_shape,
    op_category,
    short_param_name,
)
from graphir.renderers.themes import THEMES, Theme, get_theme

GOLDEN_DIR = Path(__file__).parent / "goldens" / "dot"
LEGEND = "__graphir_legend"
REGEN = os.environ.get("GRAPHIR_REGEN_GOLDENS") == "1"


# --- hand-built graphs -------------------------------------------------------

def _op(G, ids, module, mtype, op, label, shape, *, types=None, params=None,
        attrs=None, dtype="float32", outputs=None):
    node = ids.allocate(module, op)
    ir.add_node(G, node, kind="op", op=op, name=node, label=label, module=module,
                module_type=mtype, scope=ir.scope_from_path(module, mtype, types or {}),
                outputs=outputs or [ir.tensor(dtype, shape)], params=params or {},
                attrs=attrs or {})
    return node


def small_cnn():
    """Stem conv, then a residual block with nested modules and weights."""
    G = ir.new_graph("fx", "SmallCNN")
    ids = ir.IdAllocator()
    types = {"features": "Sequential", "features.block": "ResBlock",
             "features.block.act": "GELUTanh"}
    shape = ["batch", 16, 32, 32]
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", ["batch", 3, 32, 32])])
    stem = _op(G, ids, "stem", "Conv2d", "aten.convolution.default", "Conv", shape,
               params={"stem.weight": ir.param_info([16, 3, 3, 3], "float32"),
                       "stem.bias": ir.param_info([16], "float32")},
               attrs={"strides": [1, 1], "kernel_shape": [3, 3]})
    conv = _op(G, ids, "features.block.conv", "Conv2d", "aten.convolution.default", "Conv",
               shape, types=types,
               params={"features.block.conv.weight": ir.param_info([16, 16, 3, 3], "float32"),
                       "features.block.conv.bias": ir.param_info([16], "float32")})
    bn = _op(G, ids, "features.block.bn", "BatchNorm2d",
             "aten._native_batch_norm_legit_no_training.default", "BatchNorm", shape, types=types,
             params={f"features.block.bn.{n}": ir.param_info([16], "float32")
                     for n in ("weight", "bias", "running_mean", "running_var")})
    relu = _op(G, ids, "features.block.relu", "ReLU", "aten.relu.default", "ReLU", shape,
               types=types)
    mul = _op(G, ids, "features.block.act", "GELUTanh", "aten.mul.Tensor", "mul", shape,
              types=types)
    tanh = _op(G, ids, "features.block.act", "GELUTanh", "aten.tanh.default", "tanh", shape,
               types=types)
    add = _op(G, ids, "features.block", "ResBlock", "aten.add.Tensor", "add", shape, types=types)
    relu2 = _op(G, ids, "features.block.relu", "ReLU", "aten.relu.default", "ReLU", shape,
                types=types)
    out = ir.add_node(G, "output:y", kind="output", op="output", name="y",
                      outputs=[ir.tensor("float32", shape)])
    for src, dst in ((x, stem), (stem, conv), (conv, bn), (bn, relu), (relu, mul),
                     (mul, tanh), (tanh, add), (add, relu2), (relu2, out)):
        ir.add_edge(G, src, dst)
    ir.add_edge(G, stem, add, dst_port=1)
    G.graph["inputs"].append(x)
    G.graph["outputs"].append(out)
    ir.validate(G)
    return G


def multi_output():
    """A Split with three outputs, a TopK with an int64 output, weight and constant nodes."""
    G = ir.new_graph("onnx", "multi_output")
    ids = ir.IdAllocator()
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", ["batch", 12])])
    w = ir.add_node(G, "param:proj.weight", kind="param", op="param", name="proj.weight",
                    module="proj", module_type="Linear",
                    outputs=[ir.tensor("float32", [12, 12])])
    k = ir.add_node(G, "const:k", kind="const", op="Constant", name="onnx::TopK_7",
                    outputs=[ir.tensor("int64", [1])], attrs={"value": [2]})
    mm = _op(G, ids, "proj", "Linear", "MatMul", "MatMul", ["batch", 12])
    split = _op(G, ids, "", None, "Split", "Split", None,
                outputs=[ir.tensor("float32", ["batch", 4])] * 3, attrs={"axis": 1})
    topk = _op(G, ids, "", None, "TopK", "TopK", None,
               outputs=[ir.tensor("float32", ["batch", 2]), ir.tensor("int64", ["batch", 2])])
    concat = _op(G, ids, "", None, "Concat", "Concat", ["batch", 10], attrs={"axis": 1})
    y = ir.add_node(G, "output:values", kind="output", op="output", name="values",
                    outputs=[ir.tensor("float32", ["batch", 10])])
    i = ir.add_node(G, "output:indices", kind="output", op="output", name="indices",
                    outputs=[ir.tensor("int64", ["batch", 2])])
    ir.add_edge(G, x, mm)
    ir.add_edge(G, w, mm, dst_port=1)
    ir.add_edge(G, mm, split)
    ir.add_edge(G, split, topk, src_port=0)
    ir.add_edge(G, k, topk, dst_port=1)
    ir.add_edge(G, split, concat, src_port=1)
    ir.add_edge(G, split, concat, src_port=2, dst_port=1)
    ir.add_edge(G, topk, concat, src_port=0, dst_port=2)
    ir.add_edge(G, concat, y)
    ir.add_edge(G, topk, i, src_port=1)
    G.graph["inputs"].append(x)
    G.graph["outputs"] += [y, i]
    ir.validate(G)
    return G


def folded_module():
    """GPT-2-like: embeddings, twelve blocks drawn as one box ×12, final norm."""
    G = ir.new_graph("export", "TinyGPT")
    ids = ir.IdAllocator()
    types = {"transformer": "GPT2Model", "transformer.h": "ModuleList"}
    shape = [1, "seq", 768]
    x = ir.add_node(G, "input:input_ids", kind="input", op="input", name="input_ids",
                    outputs=[ir.tensor("int64", [1, "seq"])])
    wte = _op(G, ids, "transformer.wte", "Embedding", "aten.embedding.default", "Embedding",
              shape, types=types,
              params={"transformer.wte.weight": ir.param_info([50257, 768], "float32")})
    box = ir.add_node(G, "module:transformer.h.0", kind="module", op="GPT2Block",
                      name="transformer.h.0", label="h.0", module="transformer.h.0",
                      module_type="GPT2Block",
                      scope=ir.scope_from_path("transformer.h.0", "GPT2Block", types),
                      outputs=[ir.tensor("float32", shape)], children=14, repeat=12,
                      total_params=7087872,
                      folded=[f"transformer.h.{i}" for i in range(12)])
    ln = _op(G, ids, "transformer.ln_f", "LayerNorm", "aten.layer_norm.default", "LayerNorm",
             shape, types=types,
             params={"transformer.ln_f.weight": ir.param_info([768], "float32"),
                     "transformer.ln_f.bias": ir.param_info([768], "float32")})
    out = ir.add_node(G, "output:hidden", kind="output", op="output", name="hidden",
                      outputs=[ir.tensor("float32", shape)])
    for src, dst in ((x, wte), (wte, box), (box, ln), (ln, out)):
        ir.add_edge(G, src, dst)
    G.graph["inputs"].append(x)
    G.graph["outputs"].append(out)
    ir.validate(G)
    return G


def diff_graph():
    """A union IR written by a diff: one node of each state."""
    G = ir.new_graph("onnx", "diff")
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", [1, 8])], diff="same")
    states = [("fc1/Gemm#0", "Gemm", "same", [1, 16]), ("act/Relu#0", "Relu", "removed", [1, 16]),
              ("act/Gelu#0", "Gelu", "added", [1, 16]), ("fc2/Gemm#0", "Gemm", "changed", [1, 4])]
    prev = x
    for node, op, state, shape in states:
        module = node.split("/")[0]
        extra = {"changes": {"shape": [[1, 2], [1, 4]]}} if state == "changed" else {}
        ir.add_node(G, node, kind="op", op=op, name=node, module=module,
                    outputs=[ir.tensor("float32", shape)], diff=state, **extra)
        if op != "Gelu":
            ir.add_edge(G, prev, node)
            prev = node if state != "removed" else prev
        else:
            ir.add_edge(G, "fc1/Gemm#0", node)
            prev = node
    ir.add_edge(G, "act/Relu#0", "fc2/Gemm#0")
    out = ir.add_node(G, "output:y", kind="output", op="output", name="y",
                      outputs=[ir.tensor("float32", [1, 4])], diff="same")
    ir.add_edge(G, "fc2/Gemm#0", out)
    G.graph["inputs"].append(x)
    G.graph["outputs"].append(out)
    ir.validate(G)
    return G


def test_dot_does_not_depend_on_hash_seed():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from graphir.renderers.dot import to_dot; "
            "from test_render_dot import small_cnn; "
            "sys.stdout.write(to_dot(small_cnn(), show=['attrs', 'dtypes', 'params']))")
    outputs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                              capture_output=True, env=env, check=True,
                              cwd=Path(__file__).parent.parent)
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_render_modules_import_no_framework():
    code = ("import sys, graphir.renderers, graphir.renderers.dot, graphir.renderers.backend; "
            "print(sorted(m for m in ('torch', 'onnx') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parent.parent)
    assert done.stdout.strip() == "[]"


def test_doctests_pass():
    for module in (labels, themes, dot, backend):
        assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


# --- structure ----------------------------------------------------------------

def _statement(text, node):
    """The DOT statement of one node (its whole line)."""
    quoted = '"' + node.replace("\\", "\\\\").replace('"', '\\"') + '"'
    lines = [line for line in text.splitlines() if line.strip().startswith(quoted + " [")]
    assert len(lines) == 1, f"{node!r} not found once"
    return lines[0]


def _cluster_of(text, node):
    """Path of the cluster whose body holds the node statement (innermost)."""
    stack = []
    quoted = '"' + node + '" ['
    for line in text.splitlines():
        stripped = line.strip()
        match = re.match(r'subgraph "cluster_(.*)" \{$', stripped)
        if match:
            stack.append(match.group(1))
        elif stripped == "}" and stack:
            stack.pop()
        elif stripped.startswith(quoted):
            return stack[-1] if stack else None
    raise AssertionError(f"{node} not found")


def test_nested_modules_become_nested_clusters():
    text = to_dot(small_cnn())
    assert 'subgraph "cluster_features" {' in text
    assert 'subgraph "cluster_features.block" {' in text
    assert 'subgraph "cluster_features.block.act" {' in text
    assert text.index('"cluster_features" {') < text.index('"cluster_features.block" {')
    assert _cluster_of(text, "features.block/aten.add.Tensor#0") == "features.block"
    assert _cluster_of(text, "features.block.act/aten.mul.Tensor#0") == "features.block.act"
    assert _cluster_of(text, "input:x") is None
    assert 'label=<<B>block</B> : ResBlock>' in text
    assert 'tooltip="features.block : ResBlock", id="cluster_features.block"' in text


def test_loose_leaf_modules_get_no_box_and_name_the_module():
    text = to_dot(small_cnn())
    # A Conv2d around one Conv, and a ReLU called twice without an edge between the calls.
    assert 'cluster_features.block.conv"' not in text
    assert 'cluster_features.block.relu"' not in text
    assert _cluster_of(text, "features.block.conv/aten.convolution.default#0") == "features.block"
    assert _cluster_of(text, "features.block.relu/aten.relu.default#1") == "features.block"
    conv = _statement(text, "features.block.conv/aten.convolution.default#0")
    assert '<B>Conv</B>  <FONT COLOR="#57606A">conv</FONT>' in conv


def test_op_label_shows_op_shapes_and_short_weight_names():
    conv = _statement(to_dot(small_cnn()), "stem/aten.convolution.default#0")
    assert "<B>Conv</B>" in conv
    assert "batch×16×32×32" in conv
    assert "weight ⟨16×3×3×3⟩" in conv and "bias ⟨16⟩" in conv
    bn = _statement(to_dot(small_cnn()), "features.block.bn/"
                    "aten._native_batch_norm_legit_no_training.default#0")
    assert "weight, bias +2 ⟨16⟩" in bn
    assert "param features.block.bn.running_var: 16 float32" in bn


def test_show_controls_detail_lines():
    G = small_cnn()
    node = "stem/aten.convolution.default#0"
    bare = _html_labels(_statement(to_dot(G, show=[]), node))[0]
    assert bare == "<B>Conv</B>  <FONT COLOR=\"#57606A\">stem</FONT>"
    full = _html_labels(_statement(to_dot(G, show="shapes,params,dtypes,attrs,module"), node))[0]
    assert "batch×16×32×32 f32" in full
    assert "kernel_shape=3,3 strides=1,1" in full
    assert "<I>stem</I>" in full


def test_dtype_rule_non_float32_only_by_default():
    text = to_dot(multi_output())
    assert "batch×2 i64" in _statement(text, "TopK#0")
    assert "f32" not in _statement(text, "TopK#0")
    assert "f32" in _statement(to_dot(multi_output(), show={"shapes", "dtypes"}), "TopK#0")


def test_multiple_outputs_are_listed_and_runs_compacted():
    text = to_dot(multi_output())
    assert "batch×4 (×3)" in _statement(text, "Split#0")
    assert "batch×2, batch×2 i64" in _statement(text, "TopK#0")


def test_edge_labels_only_with_edges_option():
    plain = to_dot(multi_output())
    assert '"Split#0" -> "Concat#0";' in plain
    labelled = to_dot(multi_output(), show={"shapes", "edges"})
    assert '"Split#0" -> "Concat#0" [label="#1 batch×4"];' in labelled
    assert '"Split#0" -> "Concat#0" [label="#2 batch×4"];' in labelled
    assert '"TopK#0" -> "output:indices" [label="#1 batch×2 i64"];' in labelled
    assert '"input:x" -> "proj/MatMul#0";' in labelled
    no_shapes = to_dot(multi_output(), show={"edges"})
    assert '"input:x" -> "proj/MatMul#0" [label="batch×12"];' in no_shapes


def test_edges_follow_graph_edge_order():
    G = multi_output()
    text = to_dot(G)
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)"', text, flags=re.M)
    assert [e for e in edges if e[1] != LEGEND] == [(u, v) for u, v in G.edges()]


def test_node_kinds_are_drawn_distinctly():
    text = to_dot(multi_output())
    assert "shape=oval" in _statement(text, "input:x")
    assert "class=input" in _statement(text, "input:x")
    assert "class=output" in _statement(text, "output:values")
    param = _statement(text, "param:proj.weight")
    assert "<B>weight</B>" in param and "⟨12×12⟩" in param and "height=0.2" in param
    assert "<B>TopK_7</B>" not in _statement(text, "const:k")
    assert "<B>Constant</B>" in _statement(text, "const:k")


def test_module_node_is_a_box_with_repeat_count_and_params():
    text = to_dot(folded_module())
    box = _statement(text, "module:transformer.h.0")
    assert "shape=box3d" in box
    assert "<B>h.0 … h.11</B> : GPT2Block  <B>×12</B>" in box
    assert "14 ops · 7.09M params" in box
    assert 'class=module' in box
    assert _cluster_of(text, "module:transformer.h.0") == "transformer"


def test_folded_open_cluster_is_labelled_with_the_run():
    G = small_cnn()
    G.graph["folded"] = {"features.block": {"repeat": 4, "paths": [
        "features.block", "features.block2", "features.block3", "features.block4"]}}
    text = to_dot(G)
    assert "<B>block … block4</B> : ResBlock  <B>×4</B>" in text
    assert "folded: features.block … features.block4 (4 instances)" in text


def test_diff_states_get_fill_style_class_and_legend():
    theme = get_theme("default")
    text = to_dot(diff_graph())
    removed = _statement(text, "act/Relu#0")
    assert f'fillcolor="{theme.fill_for_diff("removed")}"' in removed
    assert "dashed" in removed and "diff-removed" in removed
    changed = _statement(text, "fc2/Gemm#0")
    assert "bold" in changed and "diff-changed" in changed
    assert 'diff: changed ({\\"shape\\": [[1, 2], [1, 4]]})' in changed
    assert f'fillcolor="{theme.fill_for_diff("added")}"' in _statement(text, "act/Gelu#0")
    legend = _statement(text, LEGEND)
    assert 'id="graphir-legend"' in legend and "class=legend" in legend
    assert '<B>diff</B>' in legend and 'STYLE="dashed"' in legend and 'BORDER="2"' in legend
    for state in ir.DIFF_STATES:
        assert f'BGCOLOR="{theme.fill_for_diff(state)}"' in legend and f">{state}<" in legend
    assert '"act/Relu#0" -> "fc2/Gemm#0" [style=dashed];' in text
    assert LEGEND not in to_dot(diff_graph(), show="-legend")


def test_title_defaults_to_graph_name():
    assert "<B>SmallCNN</B>" in to_dot(small_cnn())
    assert "<B>Other</B>" in to_dot(small_cnn(), title="Other")
    assert "labelloc=t" in to_dot(small_cnn(), title="")
    assert "<B>SmallCNN</B>" not in to_dot(small_cnn(), title="")


def test_bad_options_raise_input_error():
    with pytest.raises(InputError, match="rankdir"):
        to_dot(small_cnn(), rankdir="UP")
    with pytest.raises(InputError, match="choose from: shapes, params"):
        to_dot(small_cnn(), show={"shapes", "colours"})
    with pytest.raises(InputError, match="unknown theme"):
        to_dot(small_cnn(), theme="neon")


def test_parse_show():
    assert parse_show(None) == DEFAULT_SHOW == {"shapes", "params", "legend"}
    assert parse_show("") == frozenset()
    assert parse_show(["attrs"]) == {"attrs"}
    assert parse_show("+attrs,-legend") == {"shapes", "params", "attrs"}
    assert parse_show(["shapes", "+stats"]) == {"shapes", "stats"}
    assert parse_show("-shapes,-params,-legend") == frozenset()
    with pytest.raises(InputError, match=r"'\+colour'|'colour'"):
        parse_show("+colour")


# --- escaping -----------------------------------------------------------------

def _tricky_graph():
    G = ir.new_graph("onnx", 'we<ird> & "name"')
    a = ir.add_node(G, 'in"put<&>', kind="input", op="input", name='x<&>"',
                    outputs=[ir.tensor("float32", [1])])
    b = ir.add_node(G, "onnx::Add_1\\", kind="op", op="Add", name="onnx::Add_1",
                    label='a<b>&"c"', module="m<1>", module_type="T&T",
                    outputs=[ir.tensor("float32", [1])],
                    params={"onnx::Mul_<7>": ir.param_info([1], "float32")},
                    attrs={"note": 'x"<y>\n&z'})
    ir.add_edge(G, a, b)
    return G


def _html_labels(text):
    return re.findall(r"label=<(.*?)>(?:, |\])", text)


def test_escaping_of_ids_labels_and_tooltips():
    text = to_dot(_tricky_graph(), show=sorted(dot.SHOW_OPTIONS))
    assert '"in\\"put<&>" [' in text
    assert '"onnx::Add_1\\\\" [' in text
    assert '"in\\"put<&>" -> "onnx::Add_1\\\\";' in text
    assert "<B>a&lt;b&gt;&amp;&quot;c&quot;</B>" in text
    assert "<B>x&lt;&amp;&gt;&quot;</B>" in text
    assert "Mul_&lt;7&gt; ⟨1⟩" in text
    assert "<I>m&lt;1&gt;</I>" in text
    assert 'note = \\"x\\\\\\"<y>\\\\n&z\\"' in text
    assert "id=node_in_put___," in text and "id=node_onnx__Add_1_," in text
    for label in _html_labels(text):
        inner = re.sub(r"</?(B|I|BR|FONT)\b[^<>]*>", "", label)
        assert "<" not in inner and ">" not in inner and '"' not in inner
    assert 'digraph "we<ird> & \\"name\\"" {' in text


def test_dom_ids_are_unique_after_sanitising():
    G = ir.new_graph("onnx", "ids")
    for node in ("a/b", "a:b", "a#b"):
        ir.add_node(G, node, kind="op", op="Relu", name=node)
    text = to_dot(G)
    assert re.findall(r'id="?(node_[^",\]]+)', text) == ["node_a_b", "node_a_b-2", "node_a_b-3"]


# --- labels ------------------------------------------------------------------

@pytest.mark.parametrize("shape, text", [
    ([1, 3, 224, 224], "1×3×224×224"), (["batch", 3], "batch×3"), (None, "?"),
    ([], "()"), ([None, 4], "?×4"), ((2, "s"), "2×s"), ([0], "0"),
])
def test_format_shape(shape, text):
    assert format_shape(shape) == text


def test_format_dtype():
    assert format_dtype("float32") == "float32"
    assert [format_dtype(d, short=True) for d in ("float32", "bfloat16", "int64", "uint8",
                                                  "bool", "float8_e5m2")] == \
        ["f32", "bf16", "i64", "u8", "bool", "f8e5m2"]
    assert format_dtype(None) == format_dtype(None, short=True) == "?"


@pytest.mark.parametrize("name, short", [
    ("layer1.0.conv1.weight", "weight"), ("fc.bias", "bias"), ("weight", "weight"),
    ("onnx::Conv_123", "Conv_123"), ("/encoder/layer.0/w", "w"), ("blocks.3", "blocks.3"),
    ("model.embed_tokens.weight", "weight"), ("", ""),
])
def test_short_param_name(name, short):
    assert short_param_name(name) == short


@pytest.mark.parametrize("n, text", [
    (0, "0"), (7, "7"), (999, "999"), (1000, "1K"), (1234, "1.23K"), (12345, "12.3K"),
    (123456, "123K"), (999_999, "1M"), (1234567, "1.23M"), (25_557_032, "25.6M"),
    (175_000_000_000, "175B"), (3 * 10**12, "3T"), (-1500, "-1.5K"), (None, "?"),
])
def test_format_count(n, text):
    assert format_count(n) == text


@pytest.mark.parametrize("category, ops", [
    ("conv", ["Conv", "ConvTranspose", "aten.convolution.default", "convolution", "Conv2d",
              "ConvolutionBackward0", "aten::_convolution", "QLinearConv",
              "aten.conv2d.default", "CudnnConvolutionBackward0"]),
    ("linear", ["MatMul", "Gemm", "aten.addmm.default", "aten.mm.default", "Linear",
                "AddmmBackward0", "aten::linear", "aten::matmul", "BmmBackward0",
                "torch.nn.functional.linear", "Embedding", "Einsum", "<built-in function matmul>"]),
    ("norm", ["BatchNormalization", "LayerNormalization", "aten.native_layer_norm.default",
              "aten._native_batch_norm_legit_no_training.default", "BatchNorm2d",
              "NativeBatchNormBackward0", "aten::batch_norm", "GroupNorm", "RMSNorm",
              "InstanceNormalization"]),
    ("activation", ["Relu", "aten.relu_.default", "ReLU", "ReluBackward0", "aten::gelu", "GELU",
                    "Sigmoid", "Tanh", "SiLU", "LeakyRelu", "HardSwish", "NewGELUActivation",
                    "Elu"]),
    ("pool", ["MaxPool", "GlobalAveragePool", "aten.max_pool2d_with_indices.default",
              "AdaptiveAvgPool2d", "MaxPool2DWithIndicesBackward0", "aten::adaptive_avg_pool2d",
              "ReduceMean", "aten.mean.dim"]),
    ("elementwise", ["Add", "aten.add.Tensor", "add", "AddBackward0", "aten::mul", "Mul", "Div",
                     "Sqrt", "Pow", "Where", "operator.add", "<built-in function add>",
                     "aten.add_.Tensor", "Dropout"]),
    ("shape", ["Reshape", "aten.view.default", "ViewBackward0", "aten::flatten", "Flatten",
               "Transpose", "aten.permute.default", "Concat", "aten.cat.default", "getitem",
               "prim::ListConstruct", "Gather", "Slice", "Unsqueeze", "Cast",
               "prims.convert_element_type.default", "aten._unsafe_view.default",
               "UnsafeViewBackward0", "TBackward0", "Identity"]),
    ("attention", ["Softmax", "aten._softmax.default", "SoftmaxBackward0", "aten::softmax",
                   "aten.scaled_dot_product_attention.default", "MultiheadAttention",
                   "Attention", "GPT2Attention", "LogSoftmax"]),
    ("other", ["TopK", "Loop", "If", "AccumulateGrad", "NonMaxSuppression", "", "input"]),
])
def test_op_category(category, ops):
    assert {op: op_category(op) for op in ops} == {op: category for op in ops}


def test_op_categories_cover_every_theme():
    for theme in THEMES.values():
        assert {c for c, _ in theme.category_fills} == set(OP_CATEGORIES)


# --- themes ------------------------------------------------------------------

def test_theme_registry():
    assert {"default", "paper", "mono", "colorblind", "dark"} <= set(THEMES)
    for name, theme in THEMES.items():
        assert isinstance(theme, Theme) and theme.name == name
        assert get_theme(name) is theme
    assert get_theme(THEMES["dark"]) is THEMES["dark"]
    assert get_theme("paper").fontname == "Times"
    with pytest.raises(AttributeError):
        THEMES["default"].fontname = "Comic Sans"
    with pytest.raises(TypeError):
        THEMES["extra"] = THEMES["default"]


def test_unknown_theme_lists_valid_names():
    with pytest.raises(InputError) as caught:
        get_theme("neon")
    message = str(caught.value)
    assert "neon" in message
    for name in THEMES:
        assert name in message


def _lightness(colour):
    red, green, blue = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.299 * red + 0.587 * green + 0.114 * blue


@pytest.mark.parametrize("name", sorted(THEMES))
def test_diff_fills_differ_in_greyscale(name):
    fills = dict(THEMES[name].diff_fills)
    assert set(fills) == set(ir.DIFF_STATES)
    values = sorted(_lightness(colour) for colour in fills.values())
    assert min(b - a for a, b in zip(values, values[1:])) >= 0.06


@pytest.mark.parametrize("name", sorted(THEMES))
def test_every_theme_renders(name):
    text = to_dot(diff_graph(), theme=name)
    assert THEMES[name].background in text
    assert f"fontname={THEMES[name].fontname}" in text


def test_paper_theme_is_light_and_thin():
    paper = THEMES["paper"]
    assert paper.node_penwidth <= 0.6 and paper.edge_penwidth <= 0.6
    fills = [fill for _, fill in paper.category_fills] + list(paper.cluster_fills)
    assert all(_lightness(fill) > 0.9 for fill in fills)


# --- colour by a number ------------------------------------------------------

def stats_graph():
    """small_cnn with activation statistics on its ops (one int-valued op has none)."""
    G = small_cnn()
    values = {"stem": (0.5, 1.2, 0.0), "features.block.conv": (-0.2, 0.8, 0.0),
              "features.block.bn": (0.0, 1.0, 0.0), "features.block.relu": (0.4, 0.6, 0.5),
              "features.block.act": (0.1, 0.4, 0.0), "features.block": (0.9, 2.5, 0.0)}
    for node, data in G.nodes(data=True):
        if data["kind"] != "op":
            continue
        mean, std, zeros = values[data["module"]]
        data["stats"] = {"std": std, "mean": mean, "min": mean - 2 * std, "max": mean + 2 * std,
                         "zeros": zeros, "numel": 16384, "nonfinite": 0}
    del G.nodes["features.block.act/aten.tanh.default#0"]["stats"]
    return G


def weight_change_graph():
    """The diff graph as a checkpoint diff draws it: weight_change on weighted ops."""
    G = diff_graph()
    G.graph["weight_change_max"] = 0.5
    G.nodes["fc1/Gemm#0"]["weight_change"] = 0.0
    G.nodes["fc2/Gemm#0"]["weight_change"] = 0.5
    return G


def _fill(statement):
    return re.search(r'fillcolor="(#[0-9A-F]{6})"', statement).group(1)


def test_color_by_fills_nodes_from_the_scale_and_adds_a_colour_bar():
    from graphir.renderers.colors import node_value, scale_for

    G = stats_graph()
    text = to_dot(G, color_by="std")
    values = [node_value(d, "std") for _, d in G.nodes(data=True)]
    scale = scale_for("std", [v for v in values if v is not None])
    for node, data in G.nodes(data=True):
        statement = _statement(text, node)
        value = node_value(data, "std")
        if value is None:
            assert _fill(statement) == THEMES["default"].nodata_fill
            assert "no-value" in statement
        else:
            assert _fill(statement) == scale.color(value)
    legend = _statement(text, LEGEND)
    assert "<B>activation std</B>" in legend and "no value" in legend
    assert legend.count('WIDTH="20" HEIGHT="10"') == 7
    for label in scale.labels():
        assert f">{label}<" in legend
    assert "activation std" not in to_dot(G)
    assert "<B>ops</B>" in _statement(to_dot(G), LEGEND)


def test_color_by_is_deterministic_and_ignores_dict_order():
    G = stats_graph()
    H = stats_graph()
    for _, data in H.nodes(data=True):
        if "stats" in data:
            data["stats"] = dict(reversed(list(data["stats"].items())))
    assert to_dot(G, color_by="mean", show="+stats") == to_dot(H, color_by="mean", show="+stats")


def test_mean_uses_a_diverging_scale_centred_on_zero():
    text = to_dot(stats_graph(), color_by="mean")
    bn = _statement(text, "features.block.bn/aten._native_batch_norm_legit_no_training.default#0")
    from graphir.renderers.colors import DIVERGING
    assert _fill(bn) == DIVERGING[len(DIVERGING) // 2]
    assert ">-0.9<" in _statement(text, LEGEND) and ">0.9<" in _statement(text, LEGEND)


def test_text_on_dark_fills_turns_white():
    text = to_dot(stats_graph(), color_by="std")
    darkest = _statement(text, "features.block/aten.add.Tensor#0")
    assert "fontcolor=\"#FFFFFF\"" in darkest and 'COLOR="#E8E8E8"' in darkest
    lightest = _statement(text, "features.block.act/aten.mul.Tensor#0")
    assert "fontcolor" not in lightest or 'fontcolor="#000000"' in lightest


def test_unknown_or_empty_color_by_is_an_input_error():
    with pytest.raises(InputError) as caught:
        to_dot(stats_graph(), color_by="variance")
    for name in ("mean", "std", "zeros", "weight_change", "params", "none"):
        assert name in str(caught.value)
    with pytest.raises(InputError, match="no node of the drawn graph has a 'mean' value"):
        to_dot(small_cnn(), color_by="mean")


def test_weight_change_colours_automatically_and_none_turns_it_off():
    G = weight_change_graph()
    auto = to_dot(G)
    assert "weight change (relative L2)" in _statement(auto, LEGEND)
    from graphir.renderers.colors import SEQUENTIAL
    assert _fill(_statement(auto, "fc2/Gemm#0")) == SEQUENTIAL[-1]
    assert _fill(_statement(auto, "fc1/Gemm#0")) == SEQUENTIAL[0]
    assert "bold" in _statement(auto, "fc2/Gemm#0")  # the diff stroke stays
    assert auto == to_dot(G, color_by="weight_change")
    plain = to_dot(G, color_by="none")
    assert _fill(_statement(plain, "fc2/Gemm#0")) == THEMES["default"].fill_for_diff("changed")
    assert "<B>diff</B>" in _statement(plain, LEGEND)


def test_stats_show_item_and_tooltips():
    text = to_dot(stats_graph(), show="+stats")
    stem = _statement(text, "stem/aten.convolution.default#0")
    assert "μ 0.5  σ 1.2 · 0% zeros" in stem
    assert 'stats: mean=0.5, std=1.2, min=-1.9, max=2.9, zeros=0.0' in stem
    assert "μ 0.5" not in _statement(to_dot(stats_graph()), "stem/aten.convolution.default#0")
    relu = _statement(text, "features.block.relu/aten.relu.default#0")
    assert "50% zeros" in relu
    assert "Δ 0.5" in _statement(to_dot(weight_change_graph(), show="+stats"), "fc2/Gemm#0")


def test_params_colouring_uses_weight_counts():
    text = to_dot(small_cnn(), color_by="params")
    assert "<B>parameters</B>" in _statement(text, LEGEND)
    assert "no-value" in _statement(text, "features.block.relu/aten.relu.default#0")
    assert "no-value" not in _statement(text, "stem/aten.convolution.default#0")


# --- legend ----------------------------------------------------------------

def test_category_legend_lists_categories_drawn_and_hangs_below():
    G = small_cnn()
    text = to_dot(G)
    legend = _statement(text, LEGEND)
    for category in ("conv", "norm", "activation", "elementwise"):
        assert f">{category}<" in legend
    assert ">linear<" not in legend and ">pool<" not in legend
    assert '"output:y" -> "__graphir_legend" [style=invis, weight=0];' in text
    assert LEGEND not in to_dot(G, theme="paper")  # every fill the same: nothing to explain
    assert LEGEND not in to_dot(G, show="-legend")
    assert ">shape · other<" in _statement(to_dot(multi_output(), theme="mono"), LEGEND)


def test_lr_legend_is_a_column():
    tb = _statement(to_dot(stats_graph(), color_by="std"), LEGEND)
    lr = _statement(to_dot(stats_graph(), color_by="std", rankdir="LR"), LEGEND)
    assert tb.count("<TR>") < lr.count("<TR>")
    assert "<B>activation std</B>" in lr


# --- parameter trees ----------------------------------------------------------

def param_tree():
    """The parameter tree of a small ResNet-like state_dict (with a tied head)."""
    from graphir.converters.state_dict import from_state_dict

    tensors = {"conv1.weight": ([64, 3, 7, 7], "float32"),
               "bn1.weight": ([64], "float32"), "bn1.bias": ([64], "float32"),
               "bn1.running_mean": ([64], "float32"), "bn1.running_var": ([64], "float32"),
               "bn1.num_batches_tracked": ([], "int64"),
               "layer1.0.conv1.weight": ([64, 64, 3, 3], "float32"),
               "layer1.0.conv2.weight": ([64, 64, 3, 3], "float32"),
               "fc.weight": ([1000, 512], "float32"), "fc.bias": ([1000], "float32"),
               "head.weight": ([1000, 512], "float32")}
    G = from_state_dict(tensors, name="tinynet",
                        module_types={"": "ResNet", "conv1": "Conv2d", "bn1": "BatchNorm2d",
                                      "fc": "Linear"})
    G.nodes["module:head"]["params"]["head.weight"]["tied_to"] = "fc.weight"
    return G


def test_tree_nodes_show_name_type_own_tensors_and_subtree_count():
    text = to_dot(param_tree())
    conv = _statement(text, "module:conv1")
    assert "<B>conv1</B> : Conv2d" in conv and "9.41K params" in conv
    assert "weight ⟨64×3×7×7⟩" in conv
    bn = _statement(text, "module:bn1")
    assert "weight, bias ⟨64⟩" in bn
    assert "running_mean, running_var ⟨64⟩ buffers" in bn
    assert "num_batches_tracked ⟨scalar⟩ i64 buffer" in bn
    assert "bn1.running_mean: 64 float32 (buffer)" in bn  # tooltip
    root = _statement(text, "module:")
    assert "<B>tinynet</B> : ResNet" in root and "5 children" in root
    assert "1.11M params" in root
    assert "2 children" in _statement(text, "module:layer1.0")
    assert "weight = fc.weight (tied)" in _statement(text, "module:head")
    assert 'BR ALIGN="LEFT"' in conv and "shape=box3d" not in conv


def test_tree_layout_is_flat_lr_and_ordered():
    text = to_dot(param_tree())
    assert "subgraph" not in text
    assert "rankdir=LR" in text and "ordering=out" in text
    assert "rankdir=TB" in to_dot(param_tree(), rankdir="TB")
    assert "rankdir=TB" in to_dot(small_cnn()) and "ordering" not in to_dot(small_cnn())
    legend = _statement(text, LEGEND)
    assert "<B>layers</B>" in legend and ">conv<" in legend and ">norm<" in legend


def test_tree_colours_by_params_on_a_log_scale():
    text = to_dot(param_tree(), color_by="params")
    assert "parameters (log)" in _statement(text, LEGEND)


# --- unscoped ops -------------------------------------------------------------

def loose_split():
    """An op the exporter left without module, wired only to ops of blk.attn."""
    G = ir.new_graph("onnx", "loose")
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", [1, 12])])
    types = {"blk": "Block", "blk.attn": "Attention"}
    qkv = _op(G, ir.IdAllocator(), "blk.attn.qkv", "Linear", "Gemm", "Gemm", [1, 12],
              types=types)
    split = ir.add_node(G, "Split#0", kind="op", op="Split", name="split",
                        outputs=[ir.tensor("float32", [1, 4])] * 3)
    mm = ir.add_node(G, "blk.attn/MatMul#0", kind="op", op="MatMul", name="mm",
                     module="blk.attn", scope=ir.scope_from_path("blk.attn", None, types),
                     outputs=[ir.tensor("float32", [1, 4])])
    mm2 = ir.add_node(G, "blk.attn/MatMul#1", kind="op", op="MatMul", name="mm2",
                      module="blk.attn", scope=ir.scope_from_path("blk.attn", None, types),
                      outputs=[ir.tensor("float32", [1, 4])])
    add = ir.add_node(G, "Add#0", kind="op", op="Add", name="add",
                      outputs=[ir.tensor("float32", [1, 4])])
    ir.add_edge(G, x, qkv)
    ir.add_edge(G, qkv, split)
    ir.add_edge(G, split, mm)
    ir.add_edge(G, split, mm, src_port=1, dst_port=1)
    ir.add_edge(G, mm, mm2)
    ir.add_edge(G, split, mm2, src_port=2, dst_port=1)
    ir.add_edge(G, mm2, add)
    ir.add_edge(G, x, add, dst_port=1)
    ir.validate(G)
    return G


def test_unscoped_op_is_drawn_in_the_cluster_of_its_neighbours():
    text = to_dot(loose_split())
    assert _cluster_of(text, "Split#0") == "blk.attn"
    assert _cluster_of(text, "Add#0") is None  # an input among its producers
    G = loose_split()
    assert G.nodes["Split#0"]["module"] == ""  # the IR is not changed


def test_color_helpers():
    from graphir.renderers import colors

    for stops in (colors.SEQUENTIAL,):
        lum = [colors.luminance(c) for c in stops]
        assert all(a > b for a, b in zip(lum, lum[1:]))
        assert lum[0] - lum[-1] > 0.8
    half = len(colors.DIVERGING) // 2
    lum = [colors.luminance(c) for c in colors.DIVERGING]
    assert all(a < b for a, b in zip(lum[:half], lum[1:half + 1]))
    assert all(a > b for a, b in zip(lum[half:], lum[half + 1:]))
    for stop in colors.SEQUENTIAL + colors.DIVERGING:
        text, muted = colors.ink_for(stop)
        assert colors.contrast(text, stop) >= 4.5 and colors.contrast(muted, stop) >= 3.0
    assert colors.node_value({"stats": {"mean": float("nan")}}, "mean") is None
    assert colors.node_value({"stats": {"mean": True}}, "mean") is None
    assert colors.node_value({"subtree_params": 7, "params": {}}, "params") == 7.0
    assert colors.node_value({"params": {}}, "params") is None
    param = {"kind": "param", "outputs": [ir.tensor("float32", [12, 12])], "params": {}}
    assert colors.node_value(param, "params") == 144.0


@pytest.mark.parametrize("quantity, values, expect", [
    ("zeros", [0.2, 0.3], (0.0, 1.0, False, False)),
    ("weight_change", [0.01, 0.02], (0.0, 0.02, False, False)),
    ("mean", [-0.5, 0.25], (-0.5, 0.5, True, False)),
    ("mean", [0.1, 0.3], (0.1, 0.3, False, False)),
    ("std", [0.01, 5.0], (0.01, 5.0, False, True)),
    ("std", [0.5, 5.0], (0.5, 5.0, False, False)),
])
def test_scale_for_rules(quantity, values, expect):
    from graphir.renderers.colors import scale_for

    scale = scale_for(quantity, values)
    assert (scale.low, scale.high, scale.diverging, scale.log) == pytest.approx(expect)


def test_scale_ignores_extreme_outliers_and_says_so():
    from graphir.renderers.colors import scale_for

    scale = scale_for("mean", [-3.4e38, -0.1, 0.0, 0.05, 0.2, 0.3])
    assert (scale.low, scale.high) == (-0.3, 0.3)
    assert scale.labels() == ("≤ -0.3", "0", "0.3")
    assert scale.position(-3.4e38) == 0.0
    wc = scale_for("weight_change", [0.0, 0.01], maximum=0.04)
    assert wc.high == 0.04 and wc.labels()[2] == "0.04"


def test_colour_mapping_is_monotonic_and_endpoints_differ_in_greyscale():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from graphir.renderers.colors import luminance, scale_for

    finite = st.floats(-1e6, 1e6, allow_nan=False)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(finite, min_size=2, max_size=20),
           st.sampled_from(["std", "weight_change", "max", "zeros"]))
    def check(values, quantity):
        values = [abs(v) / 1e6 for v in values] if quantity == "zeros" else values
        scale = scale_for(quantity, values)
        ordered = sorted(values)
        positions = [scale.position(v) for v in ordered]
        assert positions == sorted(positions)
        if not scale.diverging:
            lums = [luminance(scale.color(v)) for v in ordered]
            assert all(a >= b - 1e-9 for a, b in zip(lums, lums[1:]))
        low, high = scale.cells(7)[0], scale.cells(7)[-1]
        assert abs(luminance(low) - luminance(high)) > 0.8 or scale.diverging

    check()


# --- goldens and determinism ------------------------------------------------

GOLDENS = {
    "small_cnn": (small_cnn, {}),
    "small_cnn_all_lr": (small_cnn, {"show": sorted(dot.SHOW_OPTIONS), "rankdir": "LR",
                                     "theme": "paper", "title": "Small CNN & co"}),
    "multi_output": (multi_output, {"show": {"shapes", "params", "edges"}}),
    "folded_module": (folded_module, {}),
    "diff": (diff_graph, {"theme": "colorblind"}),
    "color_by_std": (stats_graph, {"color_by": "std", "show": "+stats"}),
    "weight_change_dark": (weight_change_graph, {"theme": "dark"}),
    "param_tree": (param_tree, {}),
    "loose_split_lr_mono": (loose_split, {"rankdir": "LR", "theme": "mono"}),
}


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_dot_matches_golden(name):
    build, options = GOLDENS[name]
    text = to_dot(build(), **options)
    path = GOLDEN_DIR / f"{name}.dot"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path}; run with GRAPHIR_REGEN_GOLDENS=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(GOLDENS))
def test_dot_is_deterministic(name):
    build, options = GOLDENS[name]
    assert to_dot(build(), **options) == to_dot(build(), **options)
