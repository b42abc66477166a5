"""Fast reads of an IR graph's adjacency: the one place that uses networkx internals.

``G.predecessors(n)`` and ``G.nodes[n]`` build view objects on every call;
passes and the differ that walk 20,000-node graphs several times read the
adjacency dicts instead. Those dicts (``_pred``, ``_succ``, ``_node``) are
networkx internals, so they are read here and nowhere else; if networkx
changes them, this module is the one to fix.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("onnx", "m")
>>> a = ir.add_node(G, "a", kind="op", op="Relu", name="a")
>>> b = ir.add_node(G, "b", kind="op", op="Relu", name="b")
>>> ir.add_edge(G, a, b)
>>> list(successors(G, "a")), list(predecessors(G, "b")), node_attrs(G)["a"]["op"]
(['b'], ['a'], 'Relu')
"""

__all__ = ["node_attrs", "succ_map", "pred_map", "successors", "predecessors", "adjacency",
           "out_edges", "in_edges", "edges"]


def node_attrs(G):
    """``{node: attribute dict}`` (the live dicts, not copies)."""
    return G._node


def succ_map(G):
    """``{node: {consumer: {key: edge data}}}`` (live)."""
    return G._succ


def pred_map(G):
    """``{node: {producer: {key: edge data}}}`` (live)."""
    return G._pred


def successors(G, node):
    """``{consumer: {key: edge data}}`` of ``node`` (live; iterate for the consumers)."""
    return G._succ[node]


def predecessors(G, node):
    """``{producer: {key: edge data}}`` of ``node`` (live; iterate for the producers)."""
    return G._pred[node]


def adjacency(G):
    """``(node attrs, predecessors, successors)`` dicts, for tight loops."""
    return G._node, G._pred, G._succ


def out_edges(G, node):
    """``[(consumer, edge data), …]`` out of ``node``."""
    return [(dst, data) for dst, keyed in G._succ[node].items() for data in keyed.values()]


def in_edges(G, node):
    """``[(producer, edge data), …]`` into ``node``."""
    return [(src, data) for src, keyed in G._pred[node].items() for data in keyed.values()]


def edges(G):
    """``(u, v, data)`` of every edge, straight from the adjacency."""
    for u, nbrs in G._succ.items():
        for v, keyed in nbrs.items():
            for data in keyed.values():
                yield u, v, data
