"""The IR schema: validate() and the JSON round trip."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphir import ir, serialize
from graphir.errors import IRValidationError, SchemaError


def small_graph():
    G = ir.new_graph("onnx", "small")
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", ["batch", 3, 8, 8])])
    ids = ir.IdAllocator()
    conv = ir.add_node(G, ids.allocate("block.conv", "Conv"), kind="op", op="Conv", name="c",
                       module="block.conv", module_type="Conv2d",
                       outputs=[ir.tensor("float32", ["batch", 4, 8, 8])],
                       params={"block.conv.weight": ir.param_info([4, 3, 3, 3], "float32")},
                       attrs={"kernel_shape": [3, 3]})
    out = ir.add_node(G, "output:y", kind="output", op="output", name="y",
                      outputs=[ir.tensor("float32", ["batch", 4, 8, 8])])
    ir.add_edge(G, x, conv)
    ir.add_edge(G, conv, out)
    G.graph["inputs"].append(x)
    G.graph["outputs"].append(out)
    return G


def test_valid_graph_passes_and_has_scope_from_module():
    G = small_graph()
    ir.validate(G)
    assert G.nodes["block.conv/Conv#0"]["scope"] == [["block", None], ["block.conv", "Conv2d"]]


@pytest.mark.parametrize("breakage,expected", [
    (lambda G: G.nodes["input:x"].pop("kind"), "missing key 'kind'"),
    (lambda G: G.nodes["input:x"].update(kind="weird"), "unknown kind"),
    (lambda G: G.nodes["input:x"]["outputs"][0].update(shape=[1, -3]), "bad dim -3"),
    (lambda G: G.nodes["input:x"]["outputs"][0].update(dtype="float33"), "unknown dtype"),
    (lambda G: G.graph.update(schema="graphir/2"), "graph schema"),
    (lambda G: G.graph["outputs"].append("nope"), "missing node 'nope'"),
    (lambda G: ir.add_edge(G, "output:y", "input:x"), "cycle"),
    (lambda G: ir.add_edge(G, "input:x", "output:y", src_port=3), "beyond the 1 outputs"),
    (lambda G: G.nodes["block.conv/Conv#0"].update(module="other"), "scope does not end"),
])
def test_validate_reports_each_problem(breakage, expected):
    G = small_graph()
    breakage(G)
    with pytest.raises(IRValidationError) as info:
        ir.validate(G)
    assert expected in str(info.value)


def test_json_round_trip_is_equal_and_byte_identical():
    G = small_graph()
    text = serialize.to_json(G)
    again = serialize.from_json(text)
    assert ir.graphs_equal(G, again)
    assert serialize.to_json(again) == text
    assert json.loads(text)["schema"] == "graphir/1"


def test_other_schema_major_is_refused_with_a_clear_message():
    data = serialize.to_dict(small_graph())
    data["schema"] = "graphir/2"
    with pytest.raises(SchemaError, match=r"m.json: IR schema 'graphir/2' is not supported"):
        serialize.from_dict(data, path="m.json")


@pytest.mark.parametrize("text", ["", "{", "[]", '{"nodes": [], "edges": []}', "nul\x00l"])
def test_garbage_json_raises_schema_error(text):
    with pytest.raises(SchemaError):
        serialize.from_json(text, path="x.json")


dims = st.one_of(st.integers(0, 4096), st.sampled_from(["batch", "seq", None]))


@settings(max_examples=60, deadline=None)
@given(shapes=st.lists(st.one_of(st.none(), st.lists(dims, max_size=5)), min_size=1, max_size=8),
       dtype=st.sampled_from(ir.DTYPES))
def test_round_trip_property(shapes, dtype):
    G = ir.new_graph("fx", "prop")
    prev = None
    ids = ir.IdAllocator()
    for shape in shapes:
        node = ir.add_node(G, ids.allocate("m", "op"), kind="op", op="op", name="n",
                           module="m", outputs=[ir.tensor(dtype, shape)])
        if prev is not None:
            ir.add_edge(G, prev, node)
        prev = node
    ir.validate(G)
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(G)), G)


def test_param_counts():
    G = small_graph()
    assert ir.graph_param_count(G) == 4 * 3 * 3 * 3
    assert ir.node_param_count(G.nodes["block.conv/Conv#0"]) == 108
