"""Graph diff: matching, classification, union IR, context, reports.

The graphs are built by hand with graphir.ir: a synthetic GPT-2 in the
layout torch.fx gives (``h.{i}.ln_1``, ``h.{i}.attn.c_attn`` …, ids
``<module>/<op>#<k>``), of any depth and width, with knobs to widen a
layer, rename a module, insert a block, or make one block different.
"""

import json
import time

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphir import ir, serialize
from graphir.diffing import (context, diff_graphs, match_graphs, to_html, to_json_dict,
                          to_text)
from graphir.diffing.graph import node_changes


class _Builder:
    """Adds op nodes in execution order with ``<module>/<op>#<k>`` ids."""

    def __init__(self, name="gpt2", seq=16):
        self.G = ir.new_graph("fx", name)
        self.ids = ir.IdAllocator()
        self.seq = seq

    def op(self, module, op, inputs, shape, dtype="float32", params=None, attrs=None,
           module_type=None):
        node = ir.add_node(self.G, self.ids.allocate(module, op), kind="op", op=op,
                           name=op.split(".")[1] if "." in op else op, module=module,
                           module_type=module_type,
                           outputs=[ir.tensor(dtype, shape)],
                           params={f"{module}.{k}": ir.param_info(v, "float32")
                                   for k, v in (params or {}).items()},
                           attrs=attrs or {})
        for port, src in enumerate(inputs):
            ir.add_edge(self.G, src, node, dst_port=port)
        return node

    def conv1d(self, module, x, n_in, n_out):
        flat = self.op(module, "aten.view.default", [x], [self.seq, n_in])
        mm = self.op(module, "aten.addmm.default", [flat], [self.seq, n_out],
                     params={"weight": [n_in, n_out], "bias": [n_out]}, module_type="Conv1D")
        return self.op(module, "aten.view.default", [mm], [1, self.seq, n_out])

    def layer_norm(self, module, x, width, eps=1e-5):
        return self.op(module, "aten.layer_norm.default", [x], [1, self.seq, width],
                       params={"weight": [width], "bias": [width]}, attrs={"eps": eps},
                       module_type="LayerNorm")


def _attention(b, path, x, mask, width, heads=4):
    s, hd = b.seq, width // heads
    qkv = b.conv1d(f"{path}.c_attn", x, width, 3 * width)
    parts = [b.op(path, "aten.split.Tensor", [qkv], [1, s, width], attrs={"index": i})
             for i in range(3)]
    q, k, v = [b.op(path, "aten.permute.default",
                    [b.op(path, "aten.view.default", [p], [1, s, heads, hd])], [1, heads, s, hd])
               for p in parts]
    kt = b.op(path, "aten.transpose.int", [k], [1, heads, hd, s])
    scores = b.op(path, "aten.div.Tensor", [b.op(path, "aten.matmul.default", [q, kt],
                                                 [1, heads, s, s])], [1, heads, s, s])
    scores = b.op(path, "aten.where.self", [scores], [1, heads, s, s])
    scores = b.op(path, "aten.add.Tensor", [scores, mask], [1, heads, s, s])
    probs = b.op(f"{path}.attn_dropout", "aten.dropout.default",
                 [b.op(path, "aten.softmax.int", [scores], [1, heads, s, s])], [1, heads, s, s])
    out = b.op(path, "aten.matmul.default", [probs, v], [1, heads, s, hd])
    out = b.op(path, "aten.reshape.default",
               [b.op(path, "aten.permute.default", [out], [1, s, heads, hd])], [1, s, width])
    out = b.conv1d(f"{path}.c_proj", out, width, width)
    return b.op(f"{path}.resid_dropout", "aten.dropout.default", [out], [1, s, width])


def _mlp(b, path, x, width, inner, act="gelu", extra_relu=False):
    s = b.seq
    h = b.conv1d(f"{path}.c_fc", x, width, inner)
    if act == "gelu":
        a = f"{path}.act"
        cube = b.op(a, "aten.pow.Tensor_Scalar", [h], [1, s, inner], attrs={"exponent": 3})
        inner_sum = b.op(a, "aten.add.Tensor", [h, b.op(a, "aten.mul.Tensor", [cube],
                                                           [1, s, inner])], [1, s, inner])
        t = b.op(a, "aten.tanh.default", [b.op(a, "aten.mul.Tensor", [inner_sum],
                                                [1, s, inner])], [1, s, inner])
        h = b.op(a, "aten.mul.Tensor", [h, b.op(a, "aten.add.Tensor", [t], [1, s, inner])],
                 [1, s, inner])
    else:
        h = b.op(f"{path}.act", "aten.relu.default", [h], [1, s, inner])
    if extra_relu:
        h = b.op(path, "aten.relu.default", [h], [1, s, inner])
    h = b.conv1d(f"{path}.c_proj", h, inner, width)
    return b.op(f"{path}.dropout", "aten.dropout.default", [h], [1, s, width])


def gpt2_ir(n_layer=2, width=64, *, widen=None, mlp_name="mlp", variant=None, act=None,
            eps=None, name="gpt2"):
    """A GPT-2-like IR.

    Parameters
    ----------
    widen : dict, optional
        Block index → inner MLP width (default ``4 * width``).
    mlp_name : str
        Local name of the MLP module (``mlp`` or a renamed ``ffn``).
    variant : int, optional
        Block index whose MLP has one extra ReLU (a structurally different block).
    act : dict, optional
        Block index → activation (``gelu`` or ``relu``).
    eps : dict, optional
        Block index → ``ln_1`` eps.
    """
    b = _Builder(name)
    s = b.seq
    ids = ir.add_node(b.G, "input:input_ids", kind="input", op="input", name="input_ids",
                      outputs=[ir.tensor("int64", [1, s])])
    mask_in = ir.add_node(b.G, "input:attention_mask", kind="input", op="input",
                          name="attention_mask", outputs=[ir.tensor("int64", [1, s])])
    b.G.graph["inputs"] += [ids, mask_in]
    tok = b.op("wte", "aten.embedding.default", [ids], [1, s, width],
               params={"weight": [1000, width]}, module_type="Embedding")
    pos = b.op("wpe", "aten.embedding.default",
               [b.op("", "aten.arange.default", [], [s], dtype="int64")], [1, s, width],
               params={"weight": [128, width]}, module_type="Embedding")
    hidden = b.op("drop", "aten.dropout.default", [b.op("", "aten.add.Tensor", [tok, pos],
                                                        [1, s, width])], [1, s, width])
    mask = b.op("", "aten.mul.Tensor", [b.op("", "aten.rsub.Scalar", [mask_in], [1, 1, 1, s])],
                [1, 1, 1, s])
    for i in range(n_layer):
        p = f"h.{i}"
        x = b.layer_norm(f"{p}.ln_1", hidden, width, eps=(eps or {}).get(i, 1e-5))
        hidden = b.op(p, "aten.add.Tensor", [hidden, _attention(b, f"{p}.attn", x, mask, width)],
                      [1, s, width])
        x = b.layer_norm(f"{p}.ln_2", hidden, width)
        inner = (widen or {}).get(i, 4 * width)
        m = _mlp(b, f"{p}.{mlp_name}", x, width, inner, act=(act or {}).get(i, "gelu"),
                 extra_relu=(i == variant))
        hidden = b.op(p, "aten.add.Tensor", [hidden, m], [1, s, width])
    hidden = b.layer_norm("ln_f", hidden, width)
    out = ir.add_node(b.G, "output:last_hidden_state", kind="output", op="output",
                      name="last_hidden_state", outputs=[ir.tensor("float32", [1, s, width])])
    ir.add_edge(b.G, hidden, out)
    b.G.graph["outputs"].append(out)
    ir.validate(b.G)
    return b.G


def _block(G, i):
    return {n for n, m in G.nodes(data="module") if m == f"h.{i}" or m.startswith(f"h.{i}.")}


# --------------------------------------------------------------- basics


def test_generator_builds_a_valid_gpt2_like_graph():
    G = gpt2_ir(3)
    assert "h.2.attn.c_attn/aten.addmm.default#0" in G
    assert len(_block(G, 1)) == len(_block(G, 0)) > 30


def test_self_diff_is_empty():
    G = gpt2_ir(4)
    result = diff_graphs(G, gpt2_ir(4))
    assert not result.has_differences
    assert result.summary == {"added": 0, "removed": 0, "changed": 0,
                              "same": G.number_of_nodes()}
    assert all(o == n for o, n in result.matches.items())
    assert to_text(result, "a", "b") == f"a → b: no differences ({G.number_of_nodes()} nodes)"
    data = to_json_dict(result)
    assert data["added"] == data["removed"] == data["changed"] == data["renamed"] == []


@pytest.mark.parametrize("n_layer", [1, 2, 5, 12])
def test_one_more_block_at_the_end_adds_exactly_that_block(n_layer):
    old, new = gpt2_ir(n_layer), gpt2_ir(n_layer + 1)
    result = diff_graphs(old, new)
    assert set(result.added) == _block(new, n_layer)
    assert result.removed == [] and result.changed == {} and result.renames == {}
    assert f"h.{n_layer}  +{len(_block(new, n_layer))} ops (added)" in to_text(result)


def test_identical_block_inserted_in_the_middle_is_one_block_added():
    # Twelve identical blocks and thirteen: which one is "new" cannot be
    # told from structure; the answer is one block's nodes added, nothing else.
    old, new = gpt2_ir(12), gpt2_ir(13)
    result = diff_graphs(old, new)
    assert len(result.added) == len(_block(new, 0))
    assert result.removed == [] and result.changed == {}


def test_distinct_block_inserted_in_the_middle_shifts_the_rest_as_renames():
    old = gpt2_ir(12)
    new = gpt2_ir(13, variant=6)
    result = diff_graphs(old, new)
    assert set(result.added) == _block(new, 6)
    assert result.removed == [] and result.changed == {}
    assert result.renames == {f"h.{i}": f"h.{i + 1}" for i in range(6, 12)}
    assert result.matches["h.6.attn/aten.softmax.int#0"] == "h.7.attn/aten.softmax.int#0"
    text = to_text(result)
    assert "h.6 … h.11 → h.7 … h.12 (6 modules)" in text
    assert "h.6" in text and "(added)" in text


@pytest.mark.parametrize("n_layer,position", [(12, 0), (12, 11), (12, 12), (3, 1), (1, 0)])
def test_distinct_block_inserted_anywhere_is_one_block_added(n_layer, position):
    old, new = gpt2_ir(n_layer), gpt2_ir(n_layer + 1, variant=position)
    result = diff_graphs(old, new)
    assert set(result.added) == _block(new, position)
    assert result.removed == [] and result.changed == {}
    assert result.renames == {f"h.{i}": f"h.{i + 1}" for i in range(position, n_layer)}


def test_twelve_identical_blocks_are_never_cross_matched():
    old, new = gpt2_ir(12), gpt2_ir(12, eps={3: 1e-6})
    result = diff_graphs(old, new)
    for node, other in result.matches.items():
        assert node == other
    assert list(result.changed) == ["h.3.ln_1/aten.layer_norm.default#0"]
    assert result.changed["h.3.ln_1/aten.layer_norm.default#0"] == {"attrs": {"eps": [1e-5, 1e-6]}}


def test_widened_layer_marks_exactly_the_nodes_that_differ():
    old, new = gpt2_ir(4), gpt2_ir(4, widen={2: 512})
    result = diff_graphs(old, new)
    expected = {n for n in new if n in old and node_changes(old.nodes[n], new.nodes[n])}
    assert set(result.changed) == expected
    assert expected and all(n.startswith("h.2.mlp") for n in expected)
    assert result.added == [] and result.removed == []
    fc = result.changed["h.2.mlp.c_fc/aten.addmm.default#0"]
    assert fc["params"] == {"weight": [[64, 256], [64, 512]], "bias": [[256], [512]]}
    assert fc["outputs"] == [[[16, 256]], [[16, 512]]]
    text = to_text(result)
    assert "h.2.mlp.c_fc" in text and "params weight 64×256 → 64×512" in text


def test_renamed_module_with_identical_contents_is_a_rename():
    old, new = gpt2_ir(3), gpt2_ir(3, mlp_name="ffn")
    result = diff_graphs(old, new)
    assert result.renames == {f"h.{i}.mlp": f"h.{i}.ffn" for i in range(3)}
    assert result.summary["added"] == result.summary["removed"] == 0
    assert result.changed == {}
    assert result.has_differences
    assert "h.*.mlp → h.*.ffn (3 modules)" in to_text(result)
    assert to_json_dict(result)["renamed"][0] == {"old": "h.0.mlp", "new": "h.0.ffn"}


def test_renamed_container_pairs_its_whole_subtree():
    old = gpt2_ir(3)
    new = nx.relabel_nodes(old, lambda n: n.replace("h.", "layers.", 1), copy=True)
    for _, data in new.nodes(data=True):
        if data["module"].startswith("h."):
            data["module"] = "layers." + data["module"][2:]
            data["scope"] = ir.scope_from_path(data["module"])
            data["params"] = {"layers." + k[2:]: v for k, v in data["params"].items()}
    result = diff_graphs(old, new)
    assert result.renames == {"h": "layers"}
    assert result.summary["added"] == result.summary["removed"] == result.summary["changed"] == 0


def test_swapped_activation_is_an_op_change_when_one_to_one():
    old = gpt2_ir(2)
    new = gpt2_ir(2)
    node = "h.1.mlp.act/aten.tanh.default#0"
    new.nodes[node]["op"] = "aten.sigmoid.default"
    result = diff_graphs(old, new)
    assert result.changed == {node: {"op": ["aten.tanh.default", "aten.sigmoid.default"]}}
    assert result.added == result.removed == []


def test_different_activation_is_added_and_removed_ops():
    old, new = gpt2_ir(2), gpt2_ir(2, act={1: "relu"})
    result = diff_graphs(old, new)
    assert set(result.added) == {"h.1.mlp.act/aten.relu.default#0"}
    assert {n.split("/")[0] for n in result.removed} == {"h.1.mlp.act"}
    assert result.changed == {}


def test_rewired_input_is_reported_as_a_change():
    old, new = gpt2_ir(2), gpt2_ir(2)
    # The second residual add of h.1 now reads h.1's first add twice.
    add = "h.1/aten.add.Tensor#1"
    new.remove_edges_from([(u, v, k) for u, v, k in new.in_edges(add, keys=True)
                           if new.edges[u, v, k]["dst_port"] == 1])
    ir.add_edge(new, "h.1/aten.add.Tensor#0", add, dst_port=1)
    result = diff_graphs(old, new)
    assert list(result.changed) == [add]
    assert result.changed[add]["inputs"] == {
        "1": [["h.1.mlp.dropout/aten.dropout.default#0"], ["h.1/aten.add.Tensor#0"]]}


# --------------------------------------------------------- properties


@st.composite
def small_dags(draw):
    """Random small IR DAGs over a few modules and ops."""
    n = draw(st.integers(1, 14))
    G = ir.new_graph("fx", "rand")
    ids = ir.IdAllocator()
    nodes = []
    for i in range(n):
        module = draw(st.sampled_from(["", "a", "a.0", "a.1", "a.0.x", "b"]))
        op = draw(st.sampled_from(["add", "mul", "relu", "conv"]))
        width = draw(st.sampled_from([4, 8]))
        node = ir.add_node(G, ids.allocate(module, op), kind="op", op=op, name=op,
                           module=module, outputs=[ir.tensor("float32", [1, width])],
                           params=({f"{module}.weight": ir.param_info([width, 4], "float32")}
                                   if op == "conv" and module else {}))
        for src in draw(st.sets(st.sampled_from(nodes), max_size=2)) if nodes else ():
            ir.add_edge(G, src, node, dst_port=len(G.in_edges(node)))
        nodes.append(node)
    return G


@settings(max_examples=60, deadline=None)
@given(small_dags())
def test_property_self_diff_is_empty(G):
    result = diff_graphs(G, G.copy())
    assert not result.has_differences
    assert result.summary["same"] == G.number_of_nodes()


@settings(max_examples=80, deadline=None)
@given(small_dags(), small_dags())
def test_property_swapping_sides_swaps_added_and_removed(a, b):
    forward, backward = diff_graphs(a, b), diff_graphs(b, a)
    assert set(forward.added) == set(backward.removed)
    assert set(forward.removed) == set(backward.added)
    assert len(forward.changed) == len(backward.changed)
    assert forward.matches == {n: o for o, n in backward.matches.items()}
    counts = forward.summary
    assert counts["added"] + counts["changed"] + counts["same"] == b.number_of_nodes()
    assert counts["removed"] + counts["changed"] + counts["same"] == a.number_of_nodes()
    ir.validate(forward.union)


@settings(max_examples=80, deadline=None)
@given(small_dags(), st.data())
def test_property_one_reshaped_node_is_exactly_one_change(G, data):
    node = data.draw(st.sampled_from(list(G)))
    H = G.copy()
    H.nodes[node]["outputs"] = [ir.tensor("float32", [1, 99])]
    result = diff_graphs(G, H)
    assert result.changed == {node: {"outputs": [[G.nodes[node]["outputs"][0]["shape"]],
                                                 [[1, 99]]]}}
    assert result.added == result.removed == []


def test_swapping_the_middle_insertion_swaps_added_and_removed():
    old, new = gpt2_ir(6), gpt2_ir(7, variant=3)
    forward, backward = diff_graphs(old, new), diff_graphs(new, old)
    assert set(forward.added) == set(backward.removed) == _block(new, 3)
    assert backward.renames == {f"h.{i + 1}": f"h.{i}" for i in range(3, 6)}


# ------------------------------------------------------- union and context


def test_union_graph_validates_and_marks_every_node():
    old, new = gpt2_ir(3, widen={0: 128}), gpt2_ir(2, act={1: "relu"})
    result = diff_graphs(old, new)
    U = result.union
    ir.validate(U)
    states = nx.get_node_attributes(U, "diff")
    assert set(states) == set(U)
    assert sum(s == "removed" for s in states.values()) == len(result.removed)
    assert sum(s == "added" for s in states.values()) == len(result.added)
    for node, changes in result.changed.items():
        assert U.nodes[node]["changes"] == changes
    removed_edges = [d for _, _, d in U.edges(data=True) if d.get("diff") == "removed"]
    assert removed_edges
    assert U.graph["diff_summary"] == result.summary
    assert U.graph["renames"] == result.renames
    # The union survives the JSON round trip.
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(U)), U)


def _one_block(kind_of_x):
    """input -> blk/Relu#0 -> output, or blk/Relu#0 as a constant read by a Sigmoid."""
    G = ir.new_graph("onnx", "m")
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", [1, 4])])
    node = ir.add_node(G, "blk/Relu#0", kind=kind_of_x,
                       op="Relu" if kind_of_x == "op" else "constant", name="r", module="blk",
                       outputs=[ir.tensor("float32", [1, 4])])
    y = ir.add_node(G, "output:y", kind="output", op="output", name="y")
    if kind_of_x == "op":
        ir.add_edge(G, x, node)
        ir.add_edge(G, node, y)
    else:
        sigmoid = ir.add_node(G, "blk/Sigmoid#0", kind="op", op="Sigmoid", name="s",
                              module="blk", outputs=[ir.tensor("float32", [1, 4])])
        ir.add_edge(G, x, sigmoid)
        ir.add_edge(G, node, sigmoid)
        ir.add_edge(G, sigmoid, y)
    return G


def test_union_prefixes_a_removed_node_whose_id_is_taken():
    # the old op's id names a constant on the new side: the op is removed and
    # the constant added, so the union needs both under distinct ids
    result = diff_graphs(_one_block("op"), _one_block("const"))
    assert result.removed == ["blk/Relu#0"]
    assert "blk/Relu#0" in result.added
    assert result.union_ids["blk/Relu#0"] == "removed:blk/Relu#0"
    assert result.union.nodes["removed:blk/Relu#0"]["old_id"] == "blk/Relu#0"
    assert result.union.nodes["removed:blk/Relu#0"]["diff"] == "removed"
    assert result.union.nodes["blk/Relu#0"]["diff"] == "added"
    ir.validate(result.union)


def _within(G, sources, hops):
    undirected = G.to_undirected(as_view=True)
    near = set()
    for source in sources:
        near |= set(nx.single_source_shortest_path_length(undirected, source, cutoff=hops))
    return near


def _accounted(C, U):
    """Every node of U is kept in C or counted by exactly one summary."""
    kept = [n for n in C if not n.startswith("elided:")]
    summarised = sum(d["elided"] for n, d in C.nodes(data=True) if n.startswith("elided:"))
    return len(kept) + summarised == U.number_of_nodes()


def test_context_keeps_just_the_neighbourhood():
    old, new = gpt2_ir(6), gpt2_ir(6, eps={4: 1e-6})
    result = diff_graphs(old, new)
    changed = "h.4.ln_1/aten.layer_norm.default#0"
    C = context(result.union, 1)
    ir.validate(C)
    assert {n for n, d in C.nodes(data=True) if d["diff"] != "same"} == {changed}
    neighbours = set(new.pred[changed]) | set(new.succ[changed])
    assert {changed} | neighbours <= set(C)
    summaries = {n: d for n, d in C.nodes(data=True) if n.startswith("elided:")}
    assert "elided:h.0" in summaries and summaries["elided:h.0"]["kind"] == "module"
    assert summaries["elided:h.0"]["children"] == len(_block(new, 0))
    assert _accounted(C, result.union)
    assert any("context 1" in note for note in C.graph["notes"])
    assert C.number_of_nodes() < new.number_of_nodes() / 5
    assert nx.is_directed_acyclic_graph(C)


@pytest.mark.parametrize("edit", [dict(widen={1: 512}), dict(eps={2: 1e-6})])
def test_context_keeps_more_with_more_hops(edit):
    old, new = gpt2_ir(4), gpt2_ir(4, **edit)
    result = diff_graphs(old, new)
    U = result.union
    sizes = []
    for hops in (0, 1, 3):
        C = context(U, hops)
        ir.validate(C)
        assert {n for n, d in C.nodes(data=True) if d["diff"] != "same"} == set(result.changed)
        assert _within(U, result.changed, hops) <= set(C)
        assert _accounted(C, U)
        assert nx.is_directed_acyclic_graph(C)
        sizes.append(sum(not n.startswith("elided:") for n in C))
    assert sizes == sorted(sizes) and sizes[-1] < U.number_of_nodes() / 2
    if "eps" in edit:
        assert sizes[0] < sizes[1] < sizes[2]


# ------------------------------------------------------------- reports


def test_json_has_exactly_the_issue_keys():
    old, new = gpt2_ir(3, widen={1: 512}), gpt2_ir(2, mlp_name="ffn", act={0: "relu"})
    data = to_json_dict(diff_graphs(old, new))
    assert set(data) == {"summary", "added", "removed", "changed", "renamed"}
    assert set(data["summary"]) == {"added", "removed", "changed", "same"}
    assert data["added"] and data["removed"] and data["changed"]
    for key in ("added", "removed"):
        assert all(set(e) == {"id", "op", "module"} for e in data[key])
    assert all(set(e) == {"id", "op", "module", "changes"} for e in data["changed"])
    ids = [e["id"] for e in data["removed"]]
    assert ids == sorted(ids, key=lambda s: [int(p) if p.isdigit() else p for p in
                                             __import__("re").split(r"(\d+)", s)])
    text = json.dumps(data, sort_keys=True, allow_nan=False)
    assert json.loads(text) == data
    assert to_json_dict(diff_graphs(old, new)) == data


def test_text_is_a_short_stat_per_module():
    old, new = gpt2_ir(3), gpt2_ir(4, widen={0: 512})
    text = to_text(diff_graphs(old, new), "v1.json", "v2.json")
    lines = text.splitlines()
    assert lines[0].startswith("v1.json → v2.json: ")
    assert any(line.split()[0] == "h.3" and "(added)" in line for line in lines)
    assert any(line.split()[0] == "h.0.mlp.c_fc" and "~" in line for line in lines)
    assert len(lines) < 15


def test_html_is_one_self_contained_page():
    old, new = gpt2_ir(2), gpt2_ir(3, mlp_name="ffn")
    new.nodes["h.0.ffn.c_fc/aten.addmm.default#0"]["attrs"]["note"] = "<script>alert(1)</script>"
    svg = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"'
           ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
           '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><g id="graph0"/></svg>')
    page = to_html(diff_graphs(old, new), svg, "diff <v1> & <v2>")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<svg" in page and "<?xml" not in page and "DTD SVG" not in page
    assert 'src="http' not in page and "<link" not in page and "@import" not in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "diff &lt;v1&gt; &amp; &lt;v2&gt;" in page
    assert page.count("<tr class=") == diff_graphs(old, new).summary["added"] + \
        diff_graphs(old, new).summary["changed"] + diff_graphs(old, new).summary["removed"]


# -------------------------------------------------------------- matching


def test_match_graphs_reports_module_pairs():
    old, new = gpt2_ir(4), gpt2_ir(5, variant=1)
    matching = match_graphs(old, new)
    assert matching.modules["h.1.attn.c_attn"] == "h.2.attn.c_attn"
    assert matching.modules["ln_f"] == "ln_f"
    assert matching.renames == {"h.1": "h.2", "h.2": "h.3", "h.3": "h.4"}


def test_graph_without_modules_aligns_shifted_ids():
    def flat(ops):
        G = ir.new_graph("onnx", "flat")
        prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
        for i, op in enumerate(ops):
            node = ir.add_node(G, f"node_{op}_{i}", kind="op", op=op, name=op,
                               outputs=[ir.tensor("float32", [1, 4])])
            ir.add_edge(G, prev, node)
            prev = node
        return G
    ops = ["Conv", "Relu", "Conv", "Relu", "Add", "Mul"]
    result = diff_graphs(flat(ops), flat(ops[:2] + ["Sigmoid"] + ops[2:]))
    assert result.added == ["node_Sigmoid_2"]
    assert result.removed == []


# ---------------------------------------------------------------- timing


def _cpu(work):
    start = time.process_time()
    work()
    return time.process_time() - start


def test_timing_two_10k_node_graphs(capsys):
    t0 = time.perf_counter()
    old = gpt2_ir(250, width=32)
    new = gpt2_ir(251, width=32, variant=120, widen={30: 256})
    built = time.perf_counter() - t0
    old_text, new_text = serialize.to_json(old), serialize.to_json(new)
    t0 = time.perf_counter()
    old, new = serialize.from_json(old_text), serialize.from_json(new_text)
    loaded = time.perf_counter() - t0
    cpu_load = _cpu(lambda: (serialize.from_json(old_text), serialize.from_json(new_text)))
    t0 = time.perf_counter()
    result = diff_graphs(old, new)
    diffed = time.perf_counter() - t0
    cpu_diff = _cpu(lambda: diff_graphs(old, new))
    t0 = time.perf_counter()
    C = context(result.union, 1)
    cut = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[diff timing] {old.number_of_nodes()} vs {new.number_of_nodes()} nodes: "
              f"build {built:.2f}s, load JSON {loaded:.2f}s (cpu {cpu_load:.2f}s), "
              f"diff+union {diffed:.2f}s (cpu {cpu_diff:.2f}s), "
              f"context {cut:.2f}s -> {C.number_of_nodes()} nodes")
    assert old.number_of_nodes() > 10_000
    assert set(result.added) == _block(new, 120)
    assert all(n.startswith("h.30.mlp") for n in result.changed)
    assert len(result.renames) == 130
    assert diffed < 30  # generous: only catches a quadratic blow-up


# ------------------------------------------------- real GPT-2 through fx


@pytest.fixture(scope="module")
def real_gpt2():
    """IRs of the sample GPT-2 with 2 and 3 layers, from the fx converter."""
    pytest.importorskip("torch")
    fx = pytest.importorskip("graphir.converters.fx")
    gpt2 = pytest.importorskip("samples.gpt2")
    graphs = {}
    for n_layer in (2, 3):
        graphs[n_layer], _ = fx.from_module(gpt2.gpt2_model(n_layer=n_layer),
                                            gpt2._example_inputs())
    return graphs


def test_real_gpt2_one_more_layer_adds_exactly_that_block(real_gpt2):
    old, new = real_gpt2[2], real_gpt2[3]
    result = diff_graphs(old, new)
    block = {n for n, m in new.nodes(data="module") if m == "h.2" or m.startswith("h.2.")}
    assert block and set(result.added) == block
    assert result.removed == [] and result.changed == {} and result.renames == {}
    assert to_text(result).splitlines()[-1].split() == ["h.2", f"+{len(block)}", "ops", "(added)"]
    ir.validate(result.union)
    backward = diff_graphs(new, old)
    assert set(backward.removed) == block and backward.added == [] and backward.changed == {}


def test_real_gpt2_against_itself_is_empty(real_gpt2):
    result = diff_graphs(real_gpt2[3], real_gpt2[3].copy())
    assert not result.has_differences
