"""Group a model's KV-cache outputs into one output node (any source).

A decoder's KV cache leaves the model as two tensors per layer. Converters
that see the cache object group them already (the eager trace); IR from other
sources (torch.export flattens the cache into ``cache.layers.0.keys`` …,
ONNX exports name them ``present.0.key`` …) carries one output node per
tensor. :func:`group_cache_outputs` merges the output nodes whose names start
with a cache key followed by a layer index into one ``output:<key>`` node,
like the trace's: ``outputs`` the distinct tensor types, ``attrs`` ``{"group":
"kv_cache", "count", "shapes"}``, each producer feeding it once on port 0.
Folding lets blocks feed such a node (:func:`graphir.passes.fold.fold`).
"""

import re

from graphir import ir
from graphir.passes.common import new_like

__all__ = ["CACHE_OUTPUT", "group_cache_outputs"]

#: Output names of KV-cache tensors: a cache key, then (after anything) a layer index.
CACHE_OUTPUT = re.compile(
    r"^(past_key_values|present_key_values|presents?|cache)(?=[._]).*?[._]\d+(?:[._]|$)")


def _group_attrs(entries):
    shapes = []
    for entry in entries:
        if entry.get("shape") not in shapes:
            shapes.append(entry.get("shape"))
    return {"group": "kv_cache", "count": len(entries), "shapes": shapes[:8]}


def group_cache_outputs(G):
    """Merge KV-cache output nodes into one per cache key.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph; not changed.

    Returns
    -------
    networkx.MultiDiGraph
        ``G`` itself when fewer than two outputs match
        :data:`CACHE_OUTPUT`, else a new graph with the group node at the
        place of the group's first output.

    Examples
    --------
    >>> G = ir.new_graph("fx", "m")
    >>> _ = ir.add_node(G, "mm#0", kind="op", op="mm", name="mm",
    ...                 outputs=[ir.tensor("float32", [1, 2])])
    >>> for name in ("logits", "cache.layers.0.keys", "cache.layers.0.values"):
    ...     node = ir.add_node(G, f"output:{name}", kind="output", op="output", name=name,
    ...                        outputs=[ir.tensor("float32", [1, 2])])
    ...     ir.add_edge(G, "mm#0", node)
    ...     G.graph["outputs"].append(node)
    >>> H = group_cache_outputs(G)
    >>> H.graph["outputs"], H.nodes["output:cache"]["attrs"]["count"]
    (['output:logits', 'output:cache'], 2)
    """
    groups = {}
    for node in G.graph.get("outputs") or []:
        data = G.nodes[node]
        if data.get("kind") != "output" or (data.get("attrs") or {}).get("group"):
            continue
        match = CACHE_OUTPUT.match(str(data.get("name") or ""))
        if match:
            groups.setdefault(match.group(1), []).append(node)
    groups = {key: nodes for key, nodes in groups.items()
              if len(nodes) > 1 and f"output:{key}" not in G}
    if not groups:
        return G
    merged = {node: key for key, nodes in groups.items() for node in nodes}
    H = new_like(G)
    for node, data in G.nodes(data=True):
        if node not in merged:
            H.add_node(node, **dict(data))
            continue
        key = merged[node]
        if node != groups[key][0]:
            continue
        entries = [(G.nodes[n].get("outputs") or [{}])[0] for n in groups[key]]
        distinct = []
        for entry in entries:
            if entry not in distinct:
                distinct.append(entry)
        H.add_node(f"output:{key}", **dict(
            data, name=key, label=f"{key} ({len(entries)} tensors)", outputs=distinct[:8],
            attrs=_group_attrs(entries)))
    seen = set()
    for u, v, data in G.edges(data=True):
        if v in merged:
            target = f"output:{merged[v]}"
            if (u, data["src_port"], target) in seen:
                continue
            seen.add((u, data["src_port"], target))
            H.add_edge(u, target, src_port=data["src_port"], dst_port=0)
        else:
            H.add_edge(u, v, **dict(data))
    outputs = []
    for node in G.graph.get("outputs") or []:
        node = f"output:{merged[node]}" if node in merged else node
        if node not in outputs:
            outputs.append(node)
    H.graph["outputs"] = outputs
    return H
