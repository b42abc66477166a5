"""Activation statistics (graphir.converters.stats) on traced and exported graphs."""

import math

import pytest
torch = pytest.importorskip("torch")  # an ONNX-only install skips this module

from graphir import ir, serialize
from graphir.converters.fx import from_exported_program, from_module
from graphir.converters.stats import STATS_KEYS, stats_for_exported, tensor_stats
from graphir.converters.trace import from_trace
from samples.gpt2 import gpt2_tiny
from samples.resnet import resnet_tiny

FLOATS = ("float64", "float32", "float16", "bfloat16")


def _float_ops(G):
    return [n for n in ir.op_nodes(G)
            if G.nodes[n]["outputs"] and G.nodes[n]["outputs"][0]["dtype"] in FLOATS]


@pytest.fixture(scope="session")
def resnet_tiny_stats():
    model, example = resnet_tiny()
    return from_trace(model, example, stats=True)


@pytest.fixture(scope="session")
def gpt2_export_stats():
    model, example = gpt2_tiny()
    G, _ = from_module(model, example, method="export")
    filled = stats_for_exported(model, G, example)
    return G, filled


# --------------------------------------------------------------------------
# tensor_stats
# --------------------------------------------------------------------------

def test_tensor_stats_values():
    stats = tensor_stats(torch.tensor([[0.0, 2.0], [0.0, -2.0]]))
    assert list(stats) == list(STATS_KEYS)
    assert stats == {"mean": 0.0, "std": math.sqrt(2.0), "min": -2.0, "max": 2.0,
                     "zeros": 0.5, "numel": 4, "nonfinite": 0}


def test_tensor_stats_non_finite_values_become_null():
    stats = tensor_stats(torch.tensor([1.0, float("inf"), float("nan"), 0.0]))
    assert stats["mean"] is None and stats["std"] is None and stats["max"] is None
    assert stats["nonfinite"] == 2 and stats["zeros"] == 0.25 and stats["numel"] == 4
    serialize.to_json(_graph_with_stats(stats))


def test_tensor_stats_do_not_overflow_in_low_precision():
    huge = torch.full((8,), torch.finfo(torch.float32).min)
    assert tensor_stats(huge)["std"] == 0.0 and tensor_stats(huge)["mean"] == float(huge[0])
    half = tensor_stats(torch.full((4,), 60000.0, dtype=torch.float16))
    assert half["mean"] == 60000.0 and half["nonfinite"] == 0


@pytest.mark.parametrize("value", [torch.arange(3), torch.ones(2, dtype=torch.bool),
                                   torch.ones(2, dtype=torch.complex64), None, (1.0,)])
def test_tensor_stats_only_for_real_floats(value):
    assert tensor_stats(value) is None


def test_tensor_stats_of_an_empty_tensor():
    assert tensor_stats(torch.zeros(0, 3)) == {
        "mean": None, "std": None, "min": None, "max": None, "zeros": None, "numel": 0,
        "nonfinite": 0}


def _graph_with_stats(stats):
    G = ir.new_graph("trace", "m")
    ir.add_node(G, "op#0", kind="op", op="op", name="op", stats=stats)
    return G


# --------------------------------------------------------------------------
# from_trace(stats=True)
# --------------------------------------------------------------------------

def test_trace_stats_on_every_float_op(resnet_tiny_stats):
    G = resnet_tiny_stats
    ir.validate(G)
    for node in _float_ops(G) + G.graph["inputs"]:
        stats = G.nodes[node]["stats"]
        assert stats["numel"] == math.prod(G.nodes[node]["outputs"][0]["shape"])
        assert stats["nonfinite"] == 0 and stats["std"] >= 0


def test_trace_stats_see_relus(resnet_tiny_stats):
    G = resnet_tiny_stats
    relus = [n for n in ir.op_nodes(G) if G.nodes[n]["label"] == "relu"]
    assert relus
    for node in relus:
        stats = G.nodes[node]["stats"]
        assert stats["min"] >= 0 and stats["zeros"] > 0


def test_trace_stats_survive_json(resnet_tiny_stats):
    text = serialize.to_json(resnet_tiny_stats)
    again = serialize.from_json(text)
    assert ir.graphs_equal(again, resnet_tiny_stats)
    assert serialize.to_json(again) == text


def test_trace_without_stats_has_none(resnet_tiny_stats):
    model, example = resnet_tiny()
    plain = from_trace(model, example)
    assert not any("stats" in data for _, data in plain.nodes(data=True))
    for node, data in resnet_tiny_stats.nodes(data=True):
        assert {k: v for k, v in data.items() if k != "stats"} == plain.nodes[node]


# --------------------------------------------------------------------------
# stats_for_exported
# --------------------------------------------------------------------------

def test_export_stats_fill_float_ops(gpt2_export_stats):
    G, filled = gpt2_export_stats
    ir.validate(G)
    floats = _float_ops(G)
    with_stats = [n for n in floats if "stats" in G.nodes[n]]
    assert len(with_stats) >= 0.95 * len(floats), \
        f"only {len(with_stats)} of {len(floats)} float ops have stats"
    assert filled == sum("stats" in data for _, data in G.nodes(data=True))
    assert "stats" not in G.nodes["input:input_ids"]
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(G)), G)


def test_export_stats_match_trace_stats():
    model, example = resnet_tiny()
    exported, _ = from_module(model, example, method="export")
    stats_for_exported(model, exported, example)
    traced = from_trace(model, example, stats=True)
    for node in ("conv1/conv2d#0", "layer1.0.conv2/conv2d#0", "fc/linear#0"):
        for key in STATS_KEYS:
            assert exported.nodes[node]["stats"][key] == pytest.approx(
                traced.nodes[node]["stats"][key], rel=1e-5, abs=1e-6), (node, key)


def test_export_stats_from_a_program_leave_the_model_alone():
    model, (x,) = resnet_tiny()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ep = torch.export.export(model, (x,))
    G = from_exported_program(ep, name="ResNet")
    filled = stats_for_exported(ep, G, x)
    assert filled == len(_float_ops(G)) + 1
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(state[k], v) for k, v in ep.state_dict.items())
