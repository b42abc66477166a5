"""Collapse modules below a depth into single ``module`` nodes (``--depth N``).

Depth semantics
---------------
A module's depth is its position in the scope chain: in GPT-2 ``h`` is
depth 1, ``h.0`` depth 2, ``h.0.attn`` depth 3 (the root is depth 0).
``collapse(G, N)`` keeps modules of depth < N open (drawn as clusters with
their ops) and turns every module of depth N into one box; anything deeper
is inside a box. This is the meaning of ``depth`` in torchinfo and
torchview:

* ``--depth 0``: the whole model body is one box between the inputs and
  outputs;
* ``--depth 1``: the top-level modules (GPT-2's ``h``; ResNet's
  ``layer1`` … ``layer4``) are boxes, with the root's own ops and the
  one-op modules (``wte``, ``ln_f``; ``conv1``, ``fc``) between them;
* ``--depth 2``: GPT-2's blocks ``h.0`` … ``h.11`` are boxes inside the
  ``h`` cluster (folding then draws one ``h.0 ×12``);
* no ``--depth`` (``depth=None``): nothing is collapsed.

Ops that sit directly in a shallower module (the residual ``add`` of
``h.0`` under ``--depth 3``) stay visible, and so does a module that is a
single op (``wte``'s embedding, ResNet's ``conv1``): its box would hide the
op's shapes and weights and save nothing. ``input`` and ``output`` nodes
are never collapsed. A weight or constant node goes into the box of the
module that reads it (see :func:`graphir.passes.common.home_scopes`).

The ``module`` node
-------------------
id ``module:<path>`` (``module:`` for the whole body at depth 0), ``kind``
``"module"``, ``op`` the module type (or ``"module"``), ``name`` the path,
``label`` the short name (``attn``, ``h.0``), ``module`` the path,
``module_type``, ``scope`` ending at the module itself, ``params`` and
``attrs`` empty, and

* ``outputs``: the tensors leaving the module, one per distinct
  (producer, port) read outside it, ordered by producer then port; an edge
  out of the box has ``src_port`` = the index into this list;
* ``input_shapes``: the tensors entering it, one per distinct
  (producer, port), ordered by their first reader inside (then its input
  port), so identical modules number their inputs alike; an edge into the
  box has ``dst_port`` = the index into this list;
* ``children``: how many ``op`` nodes one instance of it stands for (a
  ``module`` node inside counts ``children`` × ``repeat``, an open folded
  module inside counts ``repeat`` times);
* ``total_params``: elements of the distinct weights read inside (one
  instance, folded content inside counted ``repeat`` times);
* ``signature``: the structural hash of its content
  (:func:`graphir.passes.common.structural_signature`), which
  :func:`graphir.passes.fold.fold` compares;
* ``repeat`` and ``folded`` (the run's paths) when the module heads a run
  folded before collapsing, and ``fold_pattern`` (``"a of (a, b)"``) when it
  is one block of a repeated pattern.

Parallel edges carrying the same tensor to the same consumer port are
merged. When a module runs more than once (ResNet's ``relu``) and one box
would close a cycle, each connected call gets its own box
(``module:<path>#1`` …; a call that is one op stays that op); when even
that cycles, the module stays open.

Folding before or after
-----------------------
``collapse(fold(G), N)`` and ``fold(collapse(G, N))`` give the same graph
(only the ``signature`` of a box holding a folded run differs). Collapsing
a folded graph updates ``graph["folded"]``: a run whose first module becomes
a box is marked ``"collapsed": True`` (and the box gets ``repeat`` and
``folded``); runs hidden inside a box are dropped from it.
"""

from collections import Counter

import networkx as nx

from graphir import ir
from graphir.errors import InputError
from graphir.passes.common import (
    IO_KINDS,
    copy_graph,
    home_scopes,
    in_edges,
    module_depth,
    new_like,
    op_count,
    open_repeats,
    out_edges,
    positions,
    repeat_factor,
    structural_signature,
    tensor_of,
    weight_counts,
)
from graphir.util.text import short_name
from graphir.util.graphs import node_attrs

__all__ = ["collapse"]


def _merged_scope(homes, members, depth):
    """The scope of the box: the members' common first ``depth`` entries, types filled in."""
    scope = [list(entry) for entry in homes[members[0]][:depth]]
    for node in members[1:]:
        if all(mtype is not None for _, mtype in scope):
            break
        for entry, (_, mtype) in zip(scope, homes[node][:depth]):
            if entry[1] is None:
                entry[1] = mtype
    return scope


def _boundary(G, members, inside, pos):
    """Distinct tensors entering and leaving ``members``.

    Both are ordered from inside the module, so that identical modules
    number their ports alike wherever their inputs come from: entering
    tensors by their first reader (graph order, then input port), leaving
    tensors by producer, then output port.
    """
    entering, leaving = {}, set()
    for node in members:
        for src, data in in_edges(G, node):
            if src not in inside:
                key, reader = (src, data["src_port"]), (pos[node], data["dst_port"])
                if key not in entering or reader < entering[key]:
                    entering[key] = reader
        for dst, data in out_edges(G, node):
            if dst not in inside:
                leaving.add((node, data["src_port"]))
    return (sorted(entering, key=entering.__getitem__),
            sorted(leaving, key=lambda key: (pos[key[0]], key[1])))


def _diff_summary(G, members):
    """A box's ``diff`` state from its members' (a diff's union IR), if any.

    All members in one state give that state; a mix gives ``changed``. The
    largest ``weight_change`` inside is kept so the box colours by it.
    """
    states = {node_attrs(G)[n].get("diff") for n in members} - {None}
    summary = {}
    if states:
        summary["diff"] = states.pop() if len(states) == 1 else "changed"
    changes = [node_attrs(G)[n]["weight_change"] for n in members
               if node_attrs(G)[n].get("weight_change") is not None]
    if changes:
        summary["weight_change"] = max(changes)
    return summary


def _module_node(G, path, members, homes, depth, pos, repeats):
    """(attribute dict, input index, output index) of the box for ``members``."""
    inside = set(members)
    entering, leaving = _boundary(G, members, inside, pos)
    scope = _merged_scope(homes, members, depth)
    mtype = scope[-1][1] if scope else None
    weights, children = {}, 0
    for node in members:
        data, factor = node_attrs(G)[node], repeat_factor(homes[node], depth, repeats)
        children += op_count(data) * factor
        weights.update(weight_counts(node, data, factor))
    name = path or G.graph.get("name") or "model"
    data = dict(
        kind="module", op=mtype or "module", name=name, label=short_name(path) or name,
        module=path, module_type=mtype, scope=scope,
        outputs=[tensor_of(G, n, p) for n, p in leaving], params={}, attrs={},
        children=children, total_params=sum(weights.values()),
        input_shapes=[tensor_of(G, n, p) for n, p in entering],
        signature=structural_signature(G, members, path))
    data.update(_diff_summary(G, members))
    record = (G.graph.get("folded") or {}).get(path)
    if path in repeats:
        data.update(repeat=record["repeat"], folded=list(record.get("paths") or [path]))
        if (record.get("period") or 1) > 1:  # one block of a repeated pattern
            data["fold_pattern"] = f"{record.get('letter')} of {record.get('pattern')}"
    return data, {t: i for i, t in enumerate(entering)}, {t: i for i, t in enumerate(leaving)}


def _update_folded(G, H, assign, paths, homes, depth):
    """Mark folded runs now drawn as boxes ``collapsed``; drop those hidden inside boxes."""
    records = G.graph.get("folded")
    if not records:
        return
    boxed = {paths[box] for box in set(assign.values())}
    hidden = {p for node in assign for p, _ in homes[node][depth:]}
    kept = {}
    for path, record in records.items():
        if path in boxed:
            kept[path] = dict(record, collapsed=True)
        elif path not in hidden:
            kept[path] = dict(record)
    if kept:
        H.graph["folded"] = kept
    else:
        H.graph.pop("folded", None)


def _build(G, assign, paths, homes, depth, pos):
    """Contract each group of ``assign`` (node -> box id) into its box."""
    repeats = open_repeats(G)
    groups = {}
    for node in G:
        if node in assign:
            groups.setdefault(assign[node], []).append(node)
    H = new_like(G)
    ports = {}
    for node, data in G.nodes(data=True):
        box = assign.get(node)
        if box is None:
            H.add_node(node, **data)
        elif box not in H:
            members = groups[box]
            if len(members) == 1 and box == members[0]:
                H.add_node(box, **data)
                ports[box] = None
            else:
                box_data, ins, outs = _module_node(G, paths[box], members, homes, depth, pos,
                                                   repeats)
                H.add_node(box, **box_data)
                ports[box] = (ins, outs)
    edges = {}
    for u, v, data in G.edges(data=True):
        bu, bv = assign.get(u), assign.get(v)
        if bu is not None and bu == bv:
            continue
        tensor = (u, data["src_port"])
        src, sp, dst, dp = bu or u, data["src_port"], bv or v, data["dst_port"]
        if bu is not None and ports[bu]:  # a rebuilt box numbers its own ports
            sp = ports[bu][1][tensor]
        if bv is not None and ports[bv]:
            dp = ports[bv][0][tensor]
        edges.setdefault((src, sp, dst, dp), None)
    H.add_edges_from((src, dst, {"src_port": sp, "dst_port": dp}) for src, sp, dst, dp in edges)
    _update_folded(G, H, assign, paths, homes, depth)
    return H, groups


def _split_cyclic(G, H, assign, paths, groups):
    """Give each connected call of a box caught in a cycle its own box.

    Returns the boxes involved (empty when ``H`` is acyclic).
    """
    cyclic = [box for comp in nx.strongly_connected_components(H) if len(comp) > 1
              for box in comp if box in groups and len(groups[box]) > 1]
    for box in sorted(cyclic):
        order = {n: i for i, n in enumerate(groups[box])}
        parts = sorted(nx.weakly_connected_components(G.subgraph(groups[box])),
                       key=lambda comp: min(order[n] for n in comp))
        for k, part in enumerate(parts[1:], 1):
            new_box = f"{box}#{k}"
            paths[new_box] = paths[box]
            for node in part:
                assign[node] = new_box
        for part in parts:
            node = next(iter(part))
            if len(part) == 1 and node_attrs(G)[node].get("kind") == "op":
                del assign[node]
    return cyclic


def collapse(G, depth):
    """Replace every module of depth ``depth`` by one ``module`` node.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph; it is not changed.
    depth : int or None
        Modules shallower than ``depth`` stay open, modules at ``depth``
        become boxes (see the module docstring); ``0`` collapses the whole
        body into one box, None returns a copy.

    Returns
    -------
    networkx.MultiDiGraph
        A new, valid IR graph.

    Raises
    ------
    InputError
        When ``depth`` is negative or not an int.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
    ...                 outputs=[ir.tensor("float32", [1, 4])])
    >>> prev = x
    >>> for op in ("Gemm", "Relu"):
    ...     n = ir.add_node(G, f"mlp.fc/{op}#0", kind="op", op=op, name=op, module="mlp.fc",
    ...                     outputs=[ir.tensor("float32", [1, 8])])
    ...     ir.add_edge(G, prev, n)
    ...     prev = n
    >>> H = collapse(G, 1)
    >>> list(H)
    ['input:x', 'module:mlp']
    >>> box = H.nodes["module:mlp"]
    >>> box["children"], box["outputs"], box["input_shapes"]
    (2, [], [{'shape': [1, 4], 'dtype': 'float32'}])
    """
    if depth is None:
        return copy_graph(G)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise InputError(f"--depth must be a whole number >= 0, not {depth!r}",
                         hint="use --depth 1 for the top-level modules")
    if depth > module_depth(G):
        return copy_graph(G)
    homes, pos = home_scopes(G), positions(G)
    lone = {}  # path -> a module node already standing for that module
    for node, scope in homes.items():
        if node_attrs(G)[node].get("kind") == "module" and depth and len(scope) == depth:
            lone.setdefault(scope[-1][0], node)
    assign, paths = {}, {}
    for node, scope in homes.items():
        if node_attrs(G)[node].get("kind") in IO_KINDS or len(scope) < depth:
            continue
        path = scope[depth - 1][0] if depth else ""
        is_box = node_attrs(G)[node].get("kind") == "module" and len(scope) == depth
        box = node if is_box else lone.get(path, f"module:{path}")
        assign[node], paths[box] = box, path
    sizes = Counter(assign.values())
    for node in [n for n, box in assign.items() if sizes[box] == 1]:
        if node_attrs(G)[node].get("kind") == "op":
            del assign[node]  # a box for one op would hide the op and save nothing
    H, groups = _build(G, assign, paths, homes, depth, pos)
    if nx.is_directed_acyclic_graph(H) or not nx.is_directed_acyclic_graph(G):
        return H
    if _split_cyclic(G, H, assign, paths, groups):
        H, groups = _build(G, assign, paths, homes, depth, pos)
    while not nx.is_directed_acyclic_graph(H):
        cyclic = {box for comp in nx.strongly_connected_components(H) if len(comp) > 1
                  for box in comp if box in groups}
        for node in [n for n, b in assign.items() if b in cyclic]:
            del assign[node]
        H, groups = _build(G, assign, paths, homes, depth, pos)
    return H
