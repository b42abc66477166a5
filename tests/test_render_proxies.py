"""Widely shared producers are drawn once per consuming module (render-only rule)."""

from graphir import ir
from graphir.renderers.dot import to_dot
from graphir.renderers.proxies import MIN_MODULES, with_proxies


def _fan_out_graph(blocks):
    G = ir.new_graph("fx", "fan")
    ir.add_node(G, "mask#0", kind="op", op="mul", name="mask",
                outputs=[ir.tensor("float32", [1, 1, 1, 16])])
    previous = None
    for i in range(blocks):
        node = ir.add_node(G, f"h.{i}.attn/add#0", kind="op", op="add", name="a",
                           module=f"h.{i}.attn", outputs=[ir.tensor("float32", [1, 4, 16, 16])])
        ir.add_edge(G, "mask#0", node, dst_port=1)
        if previous:
            ir.add_edge(G, previous, node)
        previous = node
    return G


def test_one_proxy_per_consumer_beyond_the_first_and_the_ir_is_untouched():
    G = _fan_out_graph(6)
    before = sorted(G.edges)
    H = with_proxies(G)
    assert sorted(G.edges) == before and "mask#0~h.1.attn/add#0" not in G
    proxies = [n for n in H if H.nodes[n].get("proxy_of") == "mask#0"]
    assert len(proxies) == 5
    assert H.out_degree("mask#0") == 1
    proxy = H.nodes["mask#0~h.3.attn/add#0"]
    assert proxy["module"] == "h.3.attn" and proxy["outputs"] == G.nodes["mask#0"]["outputs"]
    assert [d["dst_port"] for _, _, d in H.out_edges("mask#0~h.3.attn/add#0", data=True)] == [1]


def test_few_consumers_draw_the_real_edges():
    G = _fan_out_graph(MIN_MODULES - 1)
    assert with_proxies(G) is G


def test_proxies_are_dashed_and_classed_in_dot():
    dot = to_dot(_fan_out_graph(6))
    assert dot.count("proxy") >= 5 and "dashed" in dot
    assert dot == to_dot(_fan_out_graph(6))
