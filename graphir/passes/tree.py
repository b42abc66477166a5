"""The module hierarchy of an IR graph, read from the nodes' ``scope``.

:func:`module_tree` gives every module's type, depth, op count, parameter
count and child modules; :func:`list_modules` just the paths. Both list
modules in pre-order (a module before its children, siblings in the order
their first node appears in the graph), so the output is deterministic.

Depth counts scope entries: the root ``""`` is depth 0, ``h`` depth 1,
``h.0`` depth 2, ``h.0.attn`` depth 3. Weights that only one module reads
count for that module (see :func:`graphir.passes.common.home_scopes`).

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("onnx", "m")
>>> _ = ir.add_node(G, "h.0.fc/Gemm#0", kind="op", op="Gemm", name="g",
...                 module="h.0.fc", module_type="Linear",
...                 params={"h.0.fc.weight": ir.param_info([4, 4], "float32")})
>>> tree = module_tree(G)
>>> list(tree)
['', 'h', 'h.0', 'h.0.fc']
>>> tree["h.0"]["depth"], tree["h.0"]["ops"], tree["h.0"]["params"], tree["h.0"]["children"]
(2, 1, 16, ['h.0.fc'])
>>> list_modules(G)
['h', 'h.0', 'h.0.fc']
"""

from graphir.passes.common import home_scopes, op_count, open_repeats, repeat_factor, weight_counts
from graphir.util.hierarchy import module_hierarchy, preorder

__all__ = ["module_tree", "list_modules"]


def module_tree(G):
    """Every module of ``G`` with its type, depth, ops, params and children.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph. Collapsed and folded graphs count what they stand for:
        a ``module`` node its ``children`` × ``repeat`` ops and its
        ``total_params`` × ``repeat``; the nodes of a folded open module
        (``graph["folded"]``) count ``repeat`` times. A folded module's own
        entry counts one instance; the modules containing it count all.

    Returns
    -------
    dict
        path -> ``{"type": str or None, "depth": int, "parent": str or None,
        "ops": int, "params": int, "children": [path, …]}`` in pre-order,
        starting with the root ``""`` (depth 0, parent None). ``ops`` and
        ``params`` include sub-modules; ``params`` counts each distinct
        weight once.
    """
    homes = home_scopes(G)
    H = module_hierarchy(homes.items())
    tree = {path: {"type": H.types[path], "depth": H.depth[path], "parent": H.parent[path],
                   "ops": 0, "params": 0, "children": H.children[path]} for path in H.order}
    weights = {path: {} for path in H.order}
    repeats = open_repeats(G)
    for node, scope in homes.items():
        data = G.nodes[node]
        base_ops, repeat = op_count(data), data.get("repeat") or 1
        for level, path in enumerate([""] + [p for p, _ in scope]):
            factor = repeat_factor(scope, level, repeats)
            if data.get("kind") == "module" and level == len(scope) and repeat > 1:
                factor = factor / repeat  # a folded box's own entry: one instance
            tree[path]["ops"] += int(base_ops * factor)
            weights[path].update(weight_counts(node, data, factor))
    for path, entry in tree.items():
        entry["params"] = sum(weights[path].values())
    return {path: tree[path] for path in preorder(H)}


def list_modules(G):
    """Paths of all modules of ``G`` (not the root), in pre-order.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> _ = ir.add_node(G, "a", kind="op", op="Relu", name="a", module="layer1.0.relu")
    >>> list_modules(G)
    ['layer1', 'layer1.0', 'layer1.0.relu']
    """
    return [path for path in module_tree(G) if path]
