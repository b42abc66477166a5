"""Hugging Face transformers fold by default: ×N runs, (a, b) ×N patterns, one KV-cache node.

Every model is built from a config (samples/hf_models.py), nothing is downloaded.
"""

import functools
import warnings

import pytest
import torch

import graphir
from graphir import ir
from graphir.passes import fold, view
from graphir.renderers.dot import to_dot

transformers = pytest.importorskip("transformers")
from samples import hf_models  # noqa: E402  (needs transformers)

warnings.filterwarnings("ignore", module="transformers")


@functools.lru_cache(maxsize=None)
def _converted(name):
    """The default conversion of a tiny model, made once (passes never change it)."""
    return _convert(name)


def _convert(name, **options):
    made = hf_models.TINY[name]()
    kwargs = made[2] if len(made) > 2 else None
    return graphir.convert(made[0], made[1], example_kwargs=kwargs, **options)


def _labels(V):
    return {path: record["label"] for path, record in (V.graph.get("folded") or {}).items()}


# family -> {first path of a run: label} expected in the default view (Mistral, Qwen2 and
# RoBERTa share Llama's and BERT's code paths; samples/hf_models.py builds them too)
EXPECTED = {
    "llama": {"model.layers.0": "layers.0 … layers.3 ×4"},
    "gemma": {"model.layers.0": "layers.0 … layers.3 ×4"},
    "phi": {"model.layers.0": "layers.0 … layers.3 ×4"},
    "mixtral": {"model.layers.0": "layers.0 … layers.3 ×4"},
    "gpt2": {"transformer.h.0": "h.0 … h.3 ×4"},
    "gpt_neox": {"gpt_neox.layers.0": "layers.0 … layers.3 ×4"},
    "bert": {"encoder.layer.0": "layer.0 … layer.3 ×4"},
    "distilbert": {"transformer.layer.0": "layer.0 … layer.3 ×4"},
    # T5's first block holds the relative attention bias: a different block
    "t5": {"encoder.block.1": "block.1 … block.3 ×3", "decoder.block.1": "block.1 … block.3 ×3"},
    "bart": {"encoder.layers.0": "layers.0 … layers.3 ×4",
             "decoder.layers.0": "layers.0 … layers.3 ×4"},
    "whisper": {"encoder.layers.0": "layers.0 … layers.3 ×4",
                "decoder.layers.0": "layers.0 … layers.3 ×4"},
    "vit": {"layers.0": "layers.0 … layers.3 ×4"},
    "clip_vision": {"encoder.layers.0": "layers.0 … layers.3 ×4"},
}


@pytest.mark.parametrize("family", sorted(EXPECTED))
def test_identical_blocks_fold_by_default(family):
    G = _converted(family)
    V = view(G)
    labels = _labels(V)
    for path, label in EXPECTED[family].items():
        assert labels.get(path) == label, labels
    assert len(V) <= 300
    caches = [n for n in V.graph["outputs"] if V.nodes[n]["attrs"].get("group") == "kv_cache"]
    assert len(caches) <= 1 and len(V.graph["outputs"]) <= 3


def test_kv_cache_is_one_output_node():
    G = _convert("llama", kv_cache=True)
    assert G.graph["outputs"] == ["output:logits", "output:cache"]
    cache = G.nodes["output:cache"]
    assert cache["attrs"]["count"] == 8  # 4 layers × (keys, values)
    assert cache["attrs"]["shapes"] == [[1, 2, 16, 16]]
    assert G.in_degree("output:cache") == 8
    ir.validate(G)
    dot = to_dot(view(G))
    assert "cache ×8" in dot


def test_kv_cache_of_an_export_is_grouped_in_the_view():
    G = _convert("llama", source="export", kv_cache=True)
    assert sum(1 for n in G.graph["outputs"] if n.startswith("output:cache.")) == 8
    V = view(G)
    assert V.graph["outputs"] == ["output:logits", "output:cache"]
    assert _labels(V)["model.layers.0"] == "layers.0 … layers.3 ×4"


def test_without_cache_helper_switches_the_cache_off():
    from graphir.converters._cache import without_cache

    model, args = hf_models.tiny_llama()
    kwargs, note = without_cache(model, None)
    assert kwargs == {"use_cache": False} and "--kv-cache" in note
    G = graphir.convert(model, args, example_kwargs=kwargs)
    assert G.graph["outputs"] == ["output:logits"]
    assert without_cache(model, None, kv_cache=True) == ({}, None)
    assert without_cache(torch.nn.Linear(2, 2), None) == ({}, None)


@pytest.mark.parametrize("family, stage, blocks", [
    ("gemma2", "model.layers", 6),          # sliding / global attention alternate
    ("swin", "encoder.layers.2.blocks", 6),  # unshifted / shifted windows alternate
])
def test_alternating_blocks_fold_as_a_repeated_pair(family, stage, blocks):
    V = view(_converted(family), max_nodes=0)
    records = V.graph["folded"]
    a, b = records[f"{stage}.0"], records[f"{stage}.1"]
    assert (a["period"], a["position"], a["pattern"], a["repeat"]) == (2, 0, "(a, b)", 3)
    assert (b["period"], b["position"], b["repeat"]) == (2, 1, 3)
    assert a["paths"] == [f"{stage}.{i}" for i in range(0, blocks, 2)]
    assert b["paths"] == [f"{stage}.{i}" for i in range(1, blocks, 2)]
    kept = {n for n in V if V.nodes[n]["module"].startswith(stage + ".")}
    assert {V.nodes[n]["scope"][len(stage.split("."))][0] for n in kept} \
        == {f"{stage}.0", f"{stage}.1"}
    assert "a of (a, b) ×3" in to_dot(V) and "b of (a, b) ×3" in to_dot(V)
    # collapsed, the two boxes say the same
    boxes = view(_converted(family), depth=len(stage.split(".")) + 1, max_nodes=0)
    dot = to_dot(boxes)
    assert "a of (a, b) ×3" in dot and "b of (a, b) ×3" in dot


def test_gemma3_five_sliding_then_one_global_fold_as_one_group():
    V = view(_convert("gemma3", kv_cache=True), max_nodes=0)
    records = V.graph["folded"]
    assert sorted(records) == [f"model.layers.{i}" for i in range(6)]
    assert {r["pattern"] for r in records.values()} == {"(a ×5, b)"}
    assert [records[f"model.layers.{i}"]["letter"] for i in range(6)] == list("aaaaab")
    assert records["model.layers.5"]["paths"] == ["model.layers.5", "model.layers.11"]
    assert all(r["repeat"] == 2 and r["period"] == 6 for r in records.values())
    assert "b of (a ×5, b) ×2" in to_dot(V)
    # the cache node shows both cache shapes: sliding-window layers keep 7 positions
    assert [o["shape"] for o in V.nodes["output:cache"]["outputs"]] == [[1, 2, 7, 16],
                                                                        [1, 2, 16, 16]]


class _Block(torch.nn.Module):
    def __init__(self, width, act):
        super().__init__()
        self.fc = torch.nn.Linear(width, width)
        self.act = act

    def forward(self, x):
        return self.act(self.fc(x))


def _chain(*blocks):
    return torch.nn.Sequential(*blocks)


def test_periodic_pattern_in_plain_torch_and_smallest_period():
    relu, tanh = torch.nn.ReLU, torch.nn.Tanh
    model = _chain(*[_Block(8, relu() if i % 2 == 0 else tanh()) for i in range(6)])
    V = fold(graphir.convert(model, (torch.randn(1, 8),)))
    assert V.graph["folded"]["0"]["pattern"] == "(a, b)"
    assert V.graph["folded"]["0"]["total_params"] == 3 * 72
    # identical blocks fold with period 1, not as a pair
    same = fold(graphir.convert(_chain(*[_Block(8, relu()) for _ in range(4)]),
                                (torch.randn(1, 8),)))
    assert same.graph["folded"]["0"]["repeat"] == 4 and "period" not in same.graph["folded"]["0"]
    # an incomplete period is left out: a b a b a folds (a, b) ×2 and keeps the last a
    five = fold(graphir.convert(
        _chain(*[_Block(8, relu() if i % 2 == 0 else tanh()) for i in range(5)]),
        (torch.randn(1, 8),)))
    assert five.graph["folded"]["0"]["paths"] == ["0", "2"]
    assert five.has_edge("1.act/tanh#0", "4.fc/linear#0")  # the kept b feeds the last a
    ir.validate(five)
    # the period covering most blocks wins: a a b a a b a a b is (a ×2, b) ×3
    aab = fold(graphir.convert(
        _chain(*[_Block(8, tanh() if i % 3 == 2 else relu()) for i in range(9)]),
        (torch.randn(1, 8),)))
    assert [aab.graph["folded"][k]["letter"] for k in "012"] == ["a", "a", "b"]
    assert aab.graph["folded"]["0"]["pattern"] == "(a ×2, b)"
    assert aab.graph["folded"]["2"]["repeat"] == 3
    # folding again finds nothing new
    assert fold(V).graph["folded"] == V.graph["folded"]


def test_blocks_whose_shapes_differ_never_merge():
    relu = torch.nn.ReLU
    widths = _chain(_Block(8, relu()), torch.nn.Linear(8, 16), _Block(16, relu()),
                    torch.nn.Linear(16, 8), _Block(8, relu()))
    V = fold(graphir.convert(widths, (torch.randn(1, 8),)))
    assert not V.graph.get("folded")
    # a b a c: no pattern repeats
    pattern = _chain(_Block(8, relu()), _Block(8, torch.nn.Tanh()), _Block(8, relu()),
                     _Block(8, torch.nn.Sigmoid()))
    assert not fold(graphir.convert(pattern, (torch.randn(1, 8),))).graph.get("folded")


def test_layer_index_attributes_do_not_prevent_folding():
    G = ir.new_graph("fx", "m")
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                       outputs=[ir.tensor("float32", [1, 8])])
    for i in range(3):
        node = ir.add_node(G, f"h.{i}/attn#0", kind="op", op="attn", name="a", module=f"h.{i}",
                           outputs=[ir.tensor("float32", [1, 8])], attrs={"layer_idx": i},
                           params={f"h.{i}.w": ir.param_info([8, 8], "float32")})
        ir.add_edge(G, prev, node)
        prev = node
    assert fold(G).graph["folded"]["h.0"]["repeat"] == 3
    G.nodes["h.2/attn#0"]["attrs"]["scale"] = 2.0  # a real difference still splits the run
    assert fold(G).graph["folded"]["h.0"]["repeat"] == 2


def test_meta_value_reads_survive_with_a_warning():
    model, (ids,) = hf_models.tiny_llama()
    model = model.to("meta")
    ids = ids.to("meta")
    mask = torch.ones(1, 16, dtype=torch.long, device="meta")
    G = graphir.convert(model, (ids,), example_kwargs={"attention_mask": mask}, source="trace")
    ir.validate(G)
    warning = G.graph["warnings"][0]
    assert "meta device" in warning and "placeholders" in warning
    assert "Tensor.__bool__ in model" in warning
    assert _labels(view(G))["model.layers.0"] == "layers.0 … layers.3 ×4"


class _Router(torch.nn.Module):
    """Routes by a data-dependent ``nonzero`` and branches on ``.item()``, as MoE code does."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        hit = (x > 0).nonzero()
        if (hit.shape[0] > 0) and bool(x.sum() > 0):
            return self.fc(x) * x.max().item()
        return x


def test_meta_nonzero_and_item_are_answered_and_warned():
    with torch.device("meta"):
        model = _Router()
    G = graphir.convert(model, (torch.ones(2, 4, device="meta"),), source="trace")
    warning = G.graph["warnings"][0]
    assert "Tensor.nonzero in the top-level forward" in warning
    assert "Tensor.__bool__" in warning and "Tensor.item" in warning
    assert any(G.nodes[n]["op"].endswith("linear") for n in G)  # the all-ones branch
    # real tensors: no placeholder, no warning
    real = graphir.convert(_Router(), (torch.ones(2, 4),), source="trace")
    assert not real.graph.get("warnings")


def test_llama_8b_sized_on_meta_folds_to_32():
    model, args, kwargs = hf_models.llama3_8b()
    G = graphir.convert(model, args, example_kwargs=kwargs, kv_cache=True)
    assert G.graph["source"] == "trace"
    assert graphir.summary(G)["total_params"] == 8_030_261_248
    V = view(G)
    assert len(V) <= 300
    assert _labels(V)["model.layers.0"] == "layers.0 … layers.31 ×32"
    assert V.graph["outputs"] == ["output:logits", "output:cache"]
    assert V.nodes["output:cache"]["attrs"]["count"] == 64
    assert "layers.0 … layers.31" in to_dot(V)


def test_gemma3_without_its_cache_still_tells_sliding_from_global_layers():
    # without the cache the layers differ only in the mask they read: which shared
    # side input a block reads is part of its structure
    V = view(_converted("gemma3"), max_nodes=0)
    records = V.graph["folded"]
    assert {r["pattern"] for r in records.values()} == {"(a ×5, b)"}
    assert records["model.layers.5"]["paths"] == ["model.layers.5", "model.layers.11"]
