"""Keep one module's subtree, with its inputs and outputs as the boundary (``--focus``).

``focus(G, "h.3.attn")`` keeps every node whose home scope (see
:func:`graphir.passes.common.home_scopes`) contains ``h.3.attn`` (its ops,
sub-modules and collapsed boxes), the weights and constants they read, the model inputs and outputs wired to them directly,
and replaces the rest of the model by boundary nodes:

* each distinct tensor (producer, port) entering the module becomes an
  ``input`` node ``input:<producer id>:<port>`` with that tensor as its one
  output, named after where it comes from (``h.3.ln_1/layer_norm``, or
  ``…[1]`` for a producer's second output), ``attrs`` ``{"boundary": "in",
  "from": producer id, "port": port}``;
* each distinct tensor leaving it becomes an ``output`` node
  ``output:<producer id>:<port>`` named after its first consumer
  (``to h.3/add``, ``+2`` when more read it), ``attrs``
  ``{"boundary": "out", "to": [consumer ids]}``.

``graph["inputs"]`` and ``graph["outputs"]`` list the kept model inputs and
outputs, then the boundary nodes, each in the order of their producers;
``graph["focus"]`` is the path. Boundary inputs come first in node order,
boundary outputs last. An unknown path raises
:class:`graphir.errors.InputError` naming the closest module paths.

Depth under focus counts from the focused module (see
:func:`graphir.passes.budget.view`).
"""

import difflib

from graphir import ir
from graphir.errors import InputError
from graphir.passes.common import copy_graph, home_scopes, new_like, positions, tensor_of
from graphir.passes.tree import list_modules

__all__ = ["focus", "check_module_path"]


def check_module_path(G, path):
    """Raise :class:`InputError` unless ``path`` is a module of ``G``.

    The message names up to five close matches and how to list all paths.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> _ = ir.add_node(G, "n", kind="op", op="Relu", name="n", module="layer1.0")
    >>> check_module_path(G, "layer1.0")
    >>> check_module_path(G, "layer1.1")
    Traceback (most recent call last):
    ...
    graphir.errors.InputError: no module 'layer1.1' in the model (did you mean layer1.0, ...
    """
    if any(entry == path for scope in dict(G.nodes(data="scope")).values()
           for entry, _ in scope or ()):
        return
    paths = list_modules(G)
    close = difflib.get_close_matches(path, paths, n=5, cutoff=0.6)
    if not close:
        close = [p for p in paths if p.endswith("." + path) or path in p][:5]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise InputError(f"no module {path!r} in the model{hint}",
                     hint="list the module paths with `graphir summary MODEL`")


def _where(data, node):
    label = data.get("label") or data.get("op") or node
    module = data.get("module") or ""
    return f"{module}/{label}" if module else str(label)


def _kept_nodes(G, path):
    """Nodes inside ``path``, plus model inputs/outputs, weights and constants wired to them."""
    keep = {n for n, scope in home_scopes(G).items() if any(p == path for p, _ in scope)}
    extra = set()
    for node in keep:
        for src in G.predecessors(node):
            kind = G.nodes[src].get("kind")
            if kind == "input" or (kind in ("param", "const") and not G.in_degree(src)):
                extra.add(src)
        for dst in G.successors(node):
            if G.nodes[dst].get("kind") == "output":
                extra.add(dst)
    return keep, extra


def _boundary_nodes(G, core, keep, pos):
    """(entering, leaving): (producer, port) -> its consumers, sorted by producer.

    Only tensors reaching ``core`` from outside ``keep`` enter, and only
    tensors of ``core`` read outside ``keep`` leave.
    """
    entering, leaving = {}, {}
    for u, v, data in G.edges(data=True):
        tensor = (u, data["src_port"])
        if v in core and u not in keep:
            entering.setdefault(tensor, []).append(v)
        elif u in core and v not in keep:
            leaving.setdefault(tensor, []).append(v)
    order = lambda item: (pos[item[0][0]], item[0][1])  # noqa: E731
    return sorted(entering.items(), key=order), sorted(leaving.items(), key=order)


def _fresh(G, node):
    """``node``, primed until no node of ``G`` has that id."""
    while node in G:
        node += "'"
    return node


def focus(G, path):
    """Only the subtree of module ``path``, with boundary input and output nodes.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph; it is not changed.
    path : str or None
        Dotted module path (``"h.3.attn"``); ``""`` or None returns a copy.

    Returns
    -------
    networkx.MultiDiGraph
        A new, valid IR graph (see the module docstring).

    Raises
    ------
    InputError
        When ``path`` is not a module of ``G``.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> prev = ir.add_node(G, "input:x", kind="input", op="input", name="x",
    ...                    outputs=[ir.tensor("float32", [1, 8])])
    >>> for i in range(3):
    ...     n = ir.add_node(G, f"h.{i}/Relu#0", kind="op", op="Relu", name="r",
    ...                     module=f"h.{i}", outputs=[ir.tensor("float32", [1, 8])])
    ...     ir.add_edge(G, prev, n)
    ...     prev = n
    >>> H = focus(G, "h.1")
    >>> list(H)
    ['input:h.0/Relu#0:0', 'h.1/Relu#0', 'output:h.1/Relu#0:0']
    >>> H.nodes['input:h.0/Relu#0:0']["name"], H.graph["inputs"]
    ('h.0/Relu', ['input:h.0/Relu#0:0'])
    """
    if not path:
        return copy_graph(G)
    check_module_path(G, path)
    core, extra = _kept_nodes(G, path)
    keep, pos = core | extra, positions(G)
    entering, leaving = _boundary_nodes(G, core, keep, pos)
    H = new_like(G)
    H.graph["focus"] = path
    renamed, gone = {}, {}
    for (src, port), _ in entering:
        node = _fresh(G, f"input:{src}:{port}")
        multi = len(G.nodes[src].get("outputs") or []) > 1
        ir.add_node(H, node, kind="input", op="input",
                    name=_where(G.nodes[src], src) + (f"[{port}]" if multi else ""),
                    outputs=[tensor_of(G, src, port)],
                    attrs={"boundary": "in", "from": src, "port": port})
        renamed[(src, port)] = node
    H.add_nodes_from((n, dict(d)) for n, d in G.nodes(data=True) if n in keep)
    for (src, port), consumers in leaving:
        first = _where(G.nodes[consumers[0]], consumers[0])
        more = len(set(consumers)) - 1
        gone[(src, port)] = _fresh(G, f"output:{src}:{port}")
        ir.add_node(H, gone[(src, port)], kind="output", op="output",
                    name=f"to {first}" + (f" +{more}" if more else ""),
                    outputs=[tensor_of(G, src, port)],
                    attrs={"boundary": "out", "to": sorted(set(consumers), key=pos.get)})
    seen = set()
    for u, v, data in G.edges(data=True):
        sp, dp = data["src_port"], data["dst_port"]
        if u in keep and v in keep:
            edge = (u, sp, v, dp)
        elif (u, sp) in renamed and v in core:
            edge = (renamed[(u, sp)], 0, v, dp)
        elif (u, sp) in gone and u in core:
            edge = (u, sp, gone[(u, sp)], 0)
        else:
            continue
        if edge not in seen:
            seen.add(edge)
            H.add_edge(edge[0], edge[2], src_port=edge[1], dst_port=edge[3])
    H.graph["inputs"] = [n for n in G.graph.get("inputs", []) if n in keep] + list(renamed.values())
    H.graph["outputs"] = [n for n in G.graph.get("outputs", []) if n in keep] + list(gone.values())
    return H
