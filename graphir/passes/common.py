"""Helpers the IR passes share: module membership, signatures, copying.

Module membership
-----------------
A node belongs to every module of its ``scope`` (``[[path, type], …]`` from
the root to the innermost module). The depth of a module is its position
in that chain, counting from 1: in GPT-2 ``h`` is depth 1, ``h.0`` depth 2
and ``h.0.attn`` depth 3; the root (``""``) is depth 0.

A node's *home scope* is the scope passes group it by. It is its own
``scope``, except when every node it is wired to (its consumers and its
producers other than weights and constants; an op needs both) sits deeper
inside one module than it does: then it is the longest scope those
neighbours share. So a
weight at the root that only ``h.0.attn`` reads (an ONNX initializer), or
an op a converter left without module (an exported ``Split`` between two
ops of ``h.0.attn``) is collapsed, folded and focused with that module, and
a box never has to close a cycle around it. ``input`` and ``output`` nodes
belong to no module.

Structural signature
--------------------
:func:`structural_signature` hashes what a module *is*, not what it is
called: for each member, in graph order, its kind, op, module path relative
to the module, module type, output shapes and dtypes, weight shapes and
dtypes (not names), attributes (strings under the module path made
relative), and for a ``module`` node its ``children``, ``repeat`` and own
``signature``; then the internal edges (local indices and ports) and the
entering tensors (which member and port they reach, their shape and dtype).
Where tensors leave is context, not structure, and is left out. ``h.0`` and
``h.1`` of a GPT-2 get the same signature; a block with one weight of
another shape does not. Attributes that only number a layer
(:data:`INDEX_ATTRS`: ``layer_idx``, a cache slot) are left out, so blocks
that differ only in them still fold.

Copies
------
Passes build new graphs. Node and graph attribute dicts are new; nested
values (shape lists, params dicts) that a pass does not change are shared
with the input graph, as in :meth:`networkx.Graph.copy`. Treat them as
read-only.
"""

import hashlib

import networkx as nx

from graphir import ir
from graphir.util.graphs import in_edges, node_attrs, out_edges, pred_map, succ_map

__all__ = [
    "tensor_of",
    "IO_KINDS",
    "positions",
    "in_edges",
    "out_edges",
    "home_scopes",
    "module_depth",
    "relative_path",
    "structural_signature",
    "weight_counts",
    "op_count",
    "open_repeats",
    "repeat_factor",
    "new_like",
    "copy_graph",
    "add_note",
]

#: Node kinds that never belong to a module and are never collapsed or removed.
IO_KINDS = ("input", "output")


def positions(G):
    """Map each node to its index in the graph's node order.

    Examples
    --------
    >>> G = ir.new_graph("onnx", "m")
    >>> _ = ir.add_node(G, "a", kind="op", op="Relu", name="a")
    >>> _ = ir.add_node(G, "b", kind="op", op="Relu", name="b")
    >>> positions(G)
    {'a': 0, 'b': 1}
    """
    return {node: index for index, node in enumerate(G)}


def _common_prefix(a, b):
    k = 0
    for (pa, _), (pb, _) in zip(a, b):
        if pa != pb:
            break
        k += 1
    return a[:k]


def tensor_of(G, node, port):
    """A copy of the tensor ``node`` produces on ``port`` (an unknown tensor past its outputs)."""
    outs = node_attrs(G)[node].get("outputs") or []
    return dict(outs[port]) if port < len(outs) else ir.tensor()


def home_scopes(G):
    """The scope each node is grouped by (see the module docstring).

    Returns
    -------
    dict
        node -> list of ``[path, type]``; ``[]`` for inputs, outputs and
        root-level nodes.

    Examples
    --------
    >>> G = ir.new_graph("onnx", "m")
    >>> w = ir.add_node(G, "w", kind="param", op="param", name="fc.weight")
    >>> fc = ir.add_node(G, "fc/Gemm#0", kind="op", op="Gemm", name="g", module="fc")
    >>> ir.add_edge(G, w, fc)
    >>> home_scopes(G)["w"]
    [['fc', None]]
    """
    homes = {}
    nodes, pred, succ_of = node_attrs(G), pred_map(G), succ_map(G)
    for node, data in nodes.items():
        kind = data.get("kind")
        if kind in IO_KINDS:
            homes[node] = []
            continue
        scope = data.get("scope") or []
        neighbours = [n for n in pred[node] if nodes[n].get("kind") not in ("param", "const")]
        if not succ_of[node] or (not neighbours and kind not in ("param", "const")):
            homes[node] = scope  # a source op (arange) or a dead end stays where it is
            continue
        neighbours += succ_of[node]
        common = None
        for other in neighbours:
            other_scope = [] if nodes[other].get("kind") in IO_KINDS \
                else nodes[other].get("scope") or []
            if len(other_scope) <= len(scope):
                common = None
                break
            common = list(other_scope) if common is None else _common_prefix(common, other_scope)
        if common and len(common) > len(scope) and \
                [p for p, _ in common[:len(scope)]] == [p for p, _ in scope]:
            scope = common
        homes[node] = scope
    return homes


def module_depth(G):
    """Depth of the deepest module in ``G`` (0 when there is no module).

    Examples
    --------
    >>> G = ir.new_graph("onnx", "m")
    >>> _ = ir.add_node(G, "n", kind="op", op="Relu", name="n", module="h.0.mlp")
    >>> module_depth(G)
    3
    """
    return max((len(s) for _, s in G.nodes(data="scope") if s), default=0)


def relative_path(path, base):
    """``path`` relative to the module ``base`` (``""`` for ``base`` itself).

    Examples
    --------
    >>> relative_path("h.0.attn.c_attn", "h.0"), relative_path("h.0", "h.0")
    ('attn.c_attn', '')
    """
    if not base:
        return path
    if path == base:
        return ""
    if path.startswith(base + "."):
        return path[len(base) + 1:]
    return path


def _tensor_key(info):
    if not isinstance(info, dict):
        return None
    shape = info.get("shape")
    return (None if shape is None else tuple(shape), info.get("dtype"))


def _relative_value(value, base):
    if isinstance(value, str):
        return relative_path(value, base) if base else value
    if isinstance(value, (list, tuple)):
        return tuple(_relative_value(v, base) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((str(k), _relative_value(v, base)) for k, v in value.items()),
                            key=lambda item: item[0]))
    return value


#: Attribute names that number a layer (its index, its cache slot): they differ
#: between otherwise identical blocks and are left out of the signature.
INDEX_ATTRS = frozenset({"layer_idx", "layer_id", "layer_index", "layer_number", "layer_num",
                         "block_idx", "block_index", "cache_position_idx", "cache_slot"})


def _node_row(data, base):
    attrs = data.get("attrs") or {}
    if not INDEX_ATTRS.isdisjoint(attrs):
        attrs = {k: v for k, v in attrs.items() if k not in INDEX_ATTRS}
    return (
        data.get("kind"), data.get("op"), relative_path(data.get("module") or "", base),
        data.get("module_type"),
        tuple(_tensor_key(o) for o in data.get("outputs") or ()),
        tuple(_tensor_key(p) for p in (data.get("params") or {}).values()),
        _relative_value(attrs, base),
        data.get("children"), data.get("repeat"), data.get("signature"),
        data.get("diff"),
    )


def _sibling_of(module, parent):
    """The child of ``parent`` that module path ``module`` lies in, else None."""
    if parent:
        if not module.startswith(parent + "."):
            return None
        module = module[len(parent) + 1:]
    elif not module:
        return None
    return module.partition(".")[0]


def _feeds_several_siblings(G, src, base):
    """True when ``src`` (outside module ``base``) feeds two or more of ``base``'s siblings
    besides the one it lies in.

    Such a producer is a shared side input (an attention mask, rotary
    position tables): which one a block reads is part of its structure, so
    Gemma-2's sliding-window layers (one mask) and global layers (another)
    differ, while GPT-2's blocks (all the same mask) stay equal. The main
    chain's input (the previous block's output) feeds one sibling only and
    stays anonymous.
    """
    parent = base.rsplit(".", 1)[0] if "." in base else ""
    nodes = node_attrs(G)
    own = _sibling_of(nodes[src].get("module") or "", parent)
    siblings = set()
    for dst in succ_map(G)[src]:
        sibling = _sibling_of(nodes[dst].get("module") or "", parent)
        if sibling is not None and sibling != own:
            siblings.add(sibling)
            if len(siblings) > 1:
                return True
    return False


def structural_signature(G, members, base):
    """Hash of the structure of the nodes ``members`` of module ``base``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        The IR graph.
    members : list
        The module's nodes, in graph order.
    base : str
        The module's path; member paths and attribute strings are taken
        relative to it.

    Returns
    -------
    str
        A hex digest; equal digests mean equal structure (see the module
        docstring for what counts).

    Examples
    --------
    >>> G = ir.new_graph("onnx", "m")
    >>> prev = ir.add_node(G, "input:x", kind="input", op="input", name="x",
    ...                    outputs=[ir.tensor("float32", [1, 4])])
    >>> for i in range(2):
    ...     n = ir.add_node(G, f"h.{i}/Relu#0", kind="op", op="Relu", name="r",
    ...                     module=f"h.{i}", outputs=[ir.tensor("float32", [1, 4])])
    ...     ir.add_edge(G, prev, n)
    ...     prev = n
    >>> a = structural_signature(G, ["h.0/Relu#0"], "h.0")
    >>> a == structural_signature(G, ["h.1/Relu#0"], "h.1")
    True
    """
    local = {node: index for index, node in enumerate(members)}
    nodes = node_attrs(G)
    rows, edges, entering = [], [], []
    for index, node in enumerate(members):
        rows.append(_node_row(nodes[node], base))
        for src, data in in_edges(G, node):
            if src in local:
                edges.append((local[src], data["src_port"], index, data["dst_port"]))
            else:
                outs = nodes[src].get("outputs") or []
                port = data["src_port"]
                shared = src if _feeds_several_siblings(G, src, base) else None
                entering.append((index, data["dst_port"],
                                 _tensor_key(outs[port]) if port < len(outs) else None, shared))
    edges.sort()
    entering.sort(key=repr)
    text = repr((rows, edges, entering))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def weight_counts(node, data, factor=1):
    """``{key: element count × factor}`` of the distinct weights a node stands for.

    Keys are weight names; a ``module`` node gives one ``("module", id)``
    key worth its ``total_params`` × ``repeat``.

    Examples
    --------
    >>> weight_counts("n", {"kind": "op", "params": {"w": {"shape": [4, 2], "dtype": None}}})
    {'w': 8}
    """
    kind = data.get("kind")
    if kind == "module" and "total_params" in data:
        repeat = data.get("repeat") or 1
        return {("module", node): int((data.get("total_params") or 0) * repeat * factor)}
    found = {name: int((ir.numel(info.get("shape")) or 0) * factor)
             for name, info in (data.get("params") or {}).items()}
    if kind == "param" and not found:
        outs = data.get("outputs") or [{}]
        found[data.get("name") or node] = int((ir.numel((outs[0] or {}).get("shape")) or 0)
                                              * factor)
    return found


def op_count(data):
    """How many ``op`` nodes a node stands for: 1 for an op, ``children`` ×
    ``repeat`` for a ``module`` node, else 0."""
    kind = data.get("kind")
    if kind == "op":
        return 1
    if kind == "module":
        return (data.get("children") or 0) * (data.get("repeat") or 1)
    return 0


def open_repeats(G):
    """``{path: repeat}`` of the folded runs whose first module is drawn open.

    Nodes inside such a module stand for ``repeat`` copies (see
    :func:`graphir.passes.fold.fold`); a folded ``module`` node carries its
    own ``repeat`` instead.
    """
    return {path: record.get("repeat") or 1
            for path, record in (G.graph.get("folded") or {}).items()
            if isinstance(record, dict) and not record.get("collapsed")}


def repeat_factor(scope, start, repeats):
    """Product of ``repeats`` over the paths of ``scope[start:]``.

    Examples
    --------
    >>> repeat_factor([["h", None], ["h.0", "Block"]], 0, {"h.0": 12})
    12
    """
    factor = 1
    if repeats:
        for path, _ in scope[start:]:
            factor *= repeats.get(path, 1)
    return factor


def new_like(G):
    """An empty graph with a copy of ``G``'s graph attributes.

    Lists and dicts among the graph attributes (``inputs``, ``outputs``,
    ``notes``, ``folded`` …) are copied one level deep so the new graph can
    change them.
    """
    H = nx.MultiDiGraph()
    for key, value in G.graph.items():
        if isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = {k: dict(v) if isinstance(v, dict) else v for k, v in value.items()}
        H.graph[key] = value
    return H


def copy_graph(G):
    """A copy of ``G``: new attribute dicts, same node and edge order.

    Examples
    --------
    >>> G = ir.new_graph("onnx", "m")
    >>> H = copy_graph(G)
    >>> H is not G and ir.graphs_equal(G, H)
    True
    """
    H = new_like(G)
    H.add_nodes_from((node, dict(data)) for node, data in G.nodes(data=True))
    H.add_edges_from((u, v, dict(data)) for u, v, data in G.edges(data=True))
    return H


def add_note(H, text):
    """Append ``text`` to ``H.graph["notes"]`` (a list of str)."""
    H.graph["notes"] = list(H.graph.get("notes") or []) + [str(text)]
