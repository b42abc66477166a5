"""Draw a widely shared tensor once per consuming module ("proxy" copies).

A value read by many distant modules — the expanded attention mask every
transformer block adds, position ids, rotary tables — makes Graphviz route
one long edge per block through every rank in between. On a 48-layer GPT-2
that is ~45,000 virtual nodes and 99% of the layout time (44 s of 46 s).
Drawing a small dashed copy of the producer inside each consuming module,
and keeping the real edge only to the first consumer, cuts the layout to
~1.5 s and makes the picture narrower. The IR is not changed: this is a
rendering rule applied to a copy.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("fx", "m")
>>> _ = ir.add_node(G, "mask#0", kind="op", op="mul", name="mask")
>>> for i in range(5):
...     n = ir.add_node(G, f"h.{i}/add#0", kind="op", op="add", name="a", module=f"h.{i}")
...     ir.add_edge(G, "mask#0", n)
>>> H = with_proxies(G)
>>> sorted(n for n in H if H.nodes[n].get("proxy_of"))[:2]
['mask#0~h.1/add#0', 'mask#0~h.2/add#0']
"""

__all__ = ["MIN_MODULES", "with_proxies"]

#: A producer feeding at least this many distinct modules other than its own
#: is drawn once per consumer (beyond the first).
MIN_MODULES = 4


def _outer_consumers(G, node):
    """``[(consumer, edge key, edge data)]`` of ``node`` in other modules than its own."""
    own = G.nodes[node].get("module", "")
    found = []
    for _, consumer, key, data in G.out_edges(node, keys=True, data=True):
        target = G.nodes[consumer]
        if target.get("kind") in ("op", "module") and target.get("module", "") != own:
            found.append((consumer, key, data))
    return found


def _shared_producers(G):
    """Producers whose outer consumers sit in at least :data:`MIN_MODULES` modules."""
    shared = {}
    for node, kind in G.nodes(data="kind"):
        if kind not in ("op", "input", "const"):
            continue
        consumers = _outer_consumers(G, node)
        modules = {G.nodes[c].get("module", "") for c, _, _ in consumers}
        if len(modules) >= MIN_MODULES:
            shared[node] = consumers
    return shared


def with_proxies(G):
    """A copy of ``G`` where widely shared producers get one proxy per consumer.

    Returns ``G`` itself when nothing qualifies. A proxy node has the
    producer's attributes, the consumer's ``module``/``scope`` (so it is drawn
    inside the consumer's cluster), ``proxy_of`` naming the producer, and an
    edge to that consumer carrying the original ports.
    """
    shared = _shared_producers(G)
    if not shared:
        return G
    H = G.copy()
    for producer, consumers in shared.items():
        for consumer, key, edge in consumers[1:]:
            proxy = f"{producer}~{consumer}"
            target = G.nodes[consumer]
            H.add_node(proxy, **dict(G.nodes[producer], module=target.get("module", ""),
                                     scope=target.get("scope") or [], proxy_of=producer,
                                     params={}))
            H.remove_edge(producer, consumer, key)
            H.add_edge(proxy, consumer, **edge)
    return H
