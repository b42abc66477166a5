"""The IR passes on models converted by ``graphir.converters.fx`` (torch needed).

GPT-2 (12 layers, ``samples/gpt2.py``): all twelve blocks fold into
``h.0 ×12``. ``h.0`` is structurally identical to ``h.1`` here because the
attention mask is computed once at the root and every block receives the
hidden state with the same shape; a model whose first block differed (an
extra input, another shape) would fold ``h.1 … h.11 ×11`` instead.

ResNet-18 (``samples/resnet.py``): only ``layer1.0``/``layer1.1`` fold; the
first block of every later stage has a stride-2 convolution and a
``downsample``, so it differs from the block after it, and the stages have
only two blocks each.
"""

import pathlib
import sys

import pytest

from graphir import ir
from graphir.passes import collapse, focus, fold, module_tree, view

torch = pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _convert(factory_name):
    sys.path.insert(0, str(ROOT))
    try:
        fx = pytest.importorskip("graphir.converters.fx")
        if factory_name == "gpt2_12":
            from samples.gpt2 import gpt2_12

            model, inputs = gpt2_12()
        else:
            from samples.resnet import resnet18

            model, inputs = resnet18(), (torch.randn(1, 3, 224, 224),)
    finally:
        sys.path.remove(str(ROOT))
    G, _ = fx.from_module(model, tuple(inputs), None)
    ir.validate(G)
    return G


@pytest.fixture(scope="module")
def gpt2():
    return _convert("gpt2_12")


@pytest.fixture(scope="module")
def resnet18():
    return _convert("resnet18")


def _ops(G):
    return module_tree(G)[""]["ops"]


def test_gpt2_blocks_fold_into_one_times_twelve(gpt2):
    H = fold(gpt2)
    ir.validate(H)
    assert set(H.graph["folded"]) == {"h.0"}
    record = H.graph["folded"]["h.0"]
    assert record["repeat"] == 12 and record["paths"] == [f"h.{i}" for i in range(12)]
    assert record["label"] == "h.0 … h.11 ×12" and record["collapsed"] is False
    assert not [n for n in H if n.startswith("h.1")]
    assert _ops(H) == len(ir.op_nodes(gpt2))
    assert module_tree(H)[""]["params"] == module_tree(gpt2)[""]["params"]


def test_gpt2_collapsed_blocks_fold_into_one_box(gpt2):
    H = fold(collapse(gpt2, 2))
    ir.validate(H)
    boxes = [n for n, k in H.nodes(data="kind") if k == "module"]
    assert "module:h.0" in boxes and not [b for b in boxes if b.startswith("module:h.1")]
    box = H.nodes["module:h.0"]
    assert box["repeat"] == 12 and box["module_type"] == "GPT2Block"
    assert box["outputs"][0]["shape"] == [1, 16, 64]
    assert box["input_shapes"][0]["shape"] == [1, 16, 64]
    assert _ops(H) == len(ir.op_nodes(gpt2))


def test_gpt2_default_view_fits_the_budget_without_collapsing(gpt2):
    H = view(gpt2)
    ir.validate(H)
    assert H.graph["view"]["depth"] is None and not H.graph.get("notes")
    assert H.number_of_nodes() <= 300


def test_gpt2_focus_on_one_attention(gpt2):
    H = focus(gpt2, "h.3.attn")
    ir.validate(H)
    shapes = [H.nodes[n]["outputs"][0]["shape"] for n in H.graph["inputs"]]
    assert [1, 16, 64] in shapes and [1, 1, 1, 16] in shapes
    assert [H.nodes[n]["outputs"][0]["shape"] for n in H.graph["outputs"]] == [[1, 16, 64]]
    assert all(H.nodes[n]["module"].startswith("h.3.attn")
               for n, k in H.nodes(data="kind") if k == "op")


def test_resnet18_folds_only_the_first_stage(resnet18):
    H = fold(resnet18)
    ir.validate(H)
    assert {p: r["paths"] for p, r in H.graph["folded"].items()} == {
        "layer1.0": ["layer1.0", "layer1.1"]}
    assert any(n.startswith("layer2.0.downsample") for n in H)
    assert any(n.startswith("layer2.1") for n in H)
    assert _ops(H) == len(ir.op_nodes(resnet18))


def test_resnet18_depth_three_keeps_one_op_modules_as_ops(resnet18):
    H = collapse(resnet18, 3)
    ir.validate(H)
    # ``relu`` runs twice per block: one box would close a cycle, and each
    # call alone is a single op, so both stay ops
    relus = [n for n in H if n.startswith("layer1.0.relu")]
    assert len(relus) == 2 and all(H.nodes[n]["kind"] == "op" for n in relus)
    assert H.nodes["module:layer2.0.downsample"]["children"] == 2
    assert _ops(H) == len(ir.op_nodes(resnet18))
    boxed = view(resnet18, depth=2)
    assert boxed.nodes["module:layer1.0"]["repeat"] == 2
    assert "module:layer1.1" not in boxed and "module:layer2.1" in boxed
