"""Diff two IR graphs: classify every node, build the union IR, cut context.

:func:`diff_graphs` matches the nodes (:mod:`graphir.diffing.match`), calls
each node ``added``, ``removed``, ``changed`` or ``same``, says what changed
(:func:`node_changes`) and builds the union IR (:func:`union_graph`) the
renderer draws: every node of the new graph plus the removed ones of the
old, each with a ``diff`` attribute and, when changed, ``changes``.
:func:`context` keeps only what changed and a few hops around it.

Examples
--------
>>> from graphir import ir
>>> def net(width):
...     G = ir.new_graph("fx", "net")
...     x = ir.add_node(G, "input:x", kind="input", op="input", name="x")
...     fc = ir.add_node(G, "fc/linear#0", kind="op", op="linear", name="fc", module="fc",
...                      params={"fc.weight": ir.param_info([width, 4], "float32")})
...     ir.add_edge(G, x, fc)
...     return G
>>> result = diff_graphs(net(8), net(16))
>>> result.summary
{'added': 0, 'removed': 0, 'changed': 1, 'same': 1}
>>> result.changed["fc/linear#0"]
{'params': {'weight': [[8, 4], [16, 4]]}}
>>> result.union.nodes["fc/linear#0"]["diff"]
'changed'
"""

from collections import defaultdict
from dataclasses import dataclass, field

import networkx as nx

from graphir import ir
from graphir.diffing.match import (local_param_name, match_graphs, module_tree,
                                   parent_path)
from graphir.util.graphs import pred_map, succ_map

__all__ = [
    "DiffResult",
    "diff_graphs",
    "node_changes",
    "input_changes",
    "union_graph",
    "context",
    "REMOVED_PREFIX",
]

#: Prefix of a removed node's id in the union IR when its old id is taken.
REMOVED_PREFIX = "removed:"


@dataclass
class DiffResult:
    """The difference between two IR graphs.

    Attributes
    ----------
    old, new : networkx.MultiDiGraph
        The two graphs compared.
    matches : dict
        Old node id → new node id.
    modules : dict
        Old module path → new module path for matched modules.
    renames : dict
        Old module path → new module path of renamed (or moved) modules.
    added : list
        New node ids without an old counterpart, in the new graph's order.
    removed : list
        Old node ids without a new counterpart, in the old graph's order.
    changed : dict
        New node id → what changed (see :func:`node_changes`).
    same : list
        New node ids matched and unchanged.
    union : networkx.MultiDiGraph or None
        The union IR (see :func:`union_graph`).
    union_ids : dict
        Removed old node id → its id in the union IR.
    """

    old: nx.MultiDiGraph
    new: nx.MultiDiGraph
    matches: dict
    modules: dict
    renames: dict
    added: list
    removed: list
    changed: dict
    same: list
    union: object = None
    union_ids: dict = field(default_factory=dict)

    @property
    def summary(self):
        """Counts: ``{"added", "removed", "changed", "same"}``."""
        return {"added": len(self.added), "removed": len(self.removed),
                "changed": len(self.changed), "same": len(self.same)}

    @property
    def has_differences(self):
        """True when a node was added, removed or changed, or a module renamed."""
        return bool(self.added or self.removed or self.changed or self.renames)


def _shapes_and_dtypes(data):
    outputs = data.get("outputs") or []
    return ([o.get("shape") for o in outputs], [o.get("dtype") for o in outputs])


def _local_params(data):
    module = data.get("module") or ""
    return {local_param_name(name, module): info or {}
            for name, info in (data.get("params") or {}).items()}


def node_changes(old_data, new_data):
    """What differs between two matched nodes, as a JSON-safe dict.

    Keys appear only when something differs: ``kind``, ``op`` (``[old,
    new]``), ``outputs`` (``[old shapes, new shapes]``, one shape per
    output), ``dtype`` (``[old dtypes, new dtypes]``), ``attrs`` (``{key:
    [old, new]}``, null for a missing key), ``params`` (``{local name:
    [old shape, new shape]}``, null when absent on one side, names relative
    to the node's module so a renamed module does not differ),
    ``param_dtype`` (``{local name: [old, new]}``), and for module nodes
    ``children`` and ``repeat``.

    Examples
    --------
    >>> node_changes({"op": "Relu", "outputs": [{"shape": [1, 4], "dtype": "float32"}]},
    ...              {"op": "Gelu", "outputs": [{"shape": [1, 8], "dtype": "float32"}]})
    {'op': ['Relu', 'Gelu'], 'outputs': [[[1, 4]], [[1, 8]]]}
    """
    changes = {}
    for key in ("kind", "op"):
        if old_data.get(key) != new_data.get(key):
            changes[key] = [old_data.get(key), new_data.get(key)]
    (shapes_o, dtypes_o), (shapes_n, dtypes_n) = (_shapes_and_dtypes(old_data),
                                                  _shapes_and_dtypes(new_data))
    if shapes_o != shapes_n:
        changes["outputs"] = [shapes_o, shapes_n]
    if dtypes_o != dtypes_n:
        changes["dtype"] = [dtypes_o, dtypes_n]
    attrs_o, attrs_n = old_data.get("attrs") or {}, new_data.get("attrs") or {}
    attrs = {key: [attrs_o.get(key), attrs_n.get(key)]
             for key in sorted(set(attrs_o) | set(attrs_n)) if attrs_o.get(key) != attrs_n.get(key)}
    if attrs:
        changes["attrs"] = attrs
    params_o, params_n = _local_params(old_data), _local_params(new_data)
    shapes, dtypes = {}, {}
    for name in sorted(set(params_o) | set(params_n)):
        po, pn = params_o.get(name), params_n.get(name)
        if po is None or pn is None or po.get("shape") != pn.get("shape"):
            shapes[name] = [po and po.get("shape"), pn and pn.get("shape")]
        elif po.get("dtype") != pn.get("dtype"):
            dtypes[name] = [po.get("dtype"), pn.get("dtype")]
    if shapes:
        changes["params"] = shapes
    if dtypes:
        changes["param_dtype"] = dtypes
    for key in ("children", "repeat"):
        if old_data.get(key) != new_data.get(key):
            changes[key] = [old_data.get(key), new_data.get(key)]
    return changes


def _sources_by_port(G, node, rename):
    """``{dst_port: sorted sources}``; a source ``rename`` maps to None is unknown."""
    ports = defaultdict(list)
    for src, keyed in pred_map(G)[node].items():
        for data in keyed.values():
            ports[data.get("dst_port", 0)].append(rename(src))
    return {port: sorted(srcs, key=str) for port, srcs in ports.items()}


def input_changes(old, new, old_node, new_node, matches, inverse=None):
    """Inputs of a matched node rewired between matched producers.

    Compares, port by port, the producers of ``old_node`` (mapped to new
    ids) with those of ``new_node``. A port fed by an added or removed node
    on either side is an edit elsewhere (an inserted block rewires the next
    one) and does not count. Returns ``{str(port): [old producers, new
    producers]}`` with old ids on the old side, or ``{}``.

    Parameters
    ----------
    matches : dict
        Old node id → new node id.
    inverse : dict, optional
        New node id → old node id (the inverse of ``matches``), to save
        building it on every call.
    """
    inverse = {n: o for o, n in matches.items()} if inverse is None else inverse
    old_ports = _sources_by_port(old, old_node, matches.get)
    new_ports = _sources_by_port(new, new_node, lambda n: n if n in inverse else None)
    changes = {}
    for port in sorted(set(old_ports) | set(new_ports)):
        srcs_o, srcs_n = old_ports.get(port, []), new_ports.get(port, [])
        if None in srcs_o or None in srcs_n or srcs_o == srcs_n:
            continue
        changes[str(port)] = [sorted(inverse[s] for s in srcs_o), srcs_n]
    return changes


def diff_graphs(old, new, *, union=True):
    """Compare two IR graphs node by node.

    Parameters
    ----------
    old, new : networkx.MultiDiGraph
        IR graphs (schema graphir/1).
    union : bool, default True
        Also build the union IR (:func:`union_graph`) into ``result.union``.

    Returns
    -------
    DiffResult
        Matches, renames, the added, removed, changed and unchanged nodes;
        a changed node's ``changes`` say what differs (:func:`node_changes`,
        plus ``inputs`` from :func:`input_changes` when it is rewired).
    """
    t_old, t_new = module_tree(old), module_tree(new)
    matching = match_graphs(old, new, trees=(t_old, t_new))
    matches = matching.nodes
    inverse = {n: o for o, n in matches.items()}
    changed, same, added = {}, [], []
    for node in t_new.order:
        if node not in inverse:
            added.append(node)
            continue
        previous = inverse[node]
        changes = ({} if t_old.labels[previous] == t_new.labels[node]
                   else node_changes(old.nodes[previous], new.nodes[node]))
        rewired = input_changes(old, new, previous, node, matches, inverse)
        if rewired:
            changes["inputs"] = rewired
        if changes:
            changed[node] = changes
        else:
            same.append(node)
    removed = [node for node in t_old.order if node not in matches]
    result = DiffResult(old=old, new=new, matches=matches, modules=matching.modules,
                        renames=matching.renames, added=added, removed=removed,
                        changed=changed, same=same)
    if union:
        result.union = union_graph(old, new, result, old_order=t_old.order)
    return result


def _union_ids(old, new, removed):
    """Ids of the removed old nodes in the union IR (prefixed when taken)."""
    ids, taken = {}, set(new)
    for node in removed:
        candidate, k = node, 0
        while candidate in taken:
            candidate = f"{REMOVED_PREFIX}{node}" + (f"#{k}" if k else "")
            k += 1
        ids[node] = candidate
        taken.add(candidate)
    return ids


def _union_order(new, old_order, matches, removed):
    """New nodes in order, each removed node right after its last matched predecessor."""
    removed_set, after, head = set(removed), defaultdict(list), []
    anchor = None
    for node in old_order:
        if node in matches:
            anchor = matches[node]
        elif node in removed_set:
            (after[anchor] if anchor is not None else head).append(node)
    order = [("old", n) for n in head]
    for node in new:
        order.append(("new", node))
        order += [("old", n) for n in after.get(node, ())]
    return order


def union_graph(old, new, result, *, old_order=None):
    """The union IR of a diff, for the renderer.

    Every node of ``new`` (changed ones carry ``changes``; matched ones
    whose id changed carry ``old_id``) plus every removed node of ``old``
    (under its old id, or ``removed:<old id>`` when that id is taken in
    ``new``, then with ``old_id``), each with ``diff`` ∈ {added, removed,
    changed, same}. Edges: all of ``new``'s, plus ``old``'s edges that touch
    a removed node, with ``diff: "removed"``. Graph attributes are
    ``new``'s plus ``diff_summary`` (counts), ``renames`` and ``diff_old``
    (the old graph's name). The result passes :func:`graphir.ir.validate`.
    """
    union_ids = _union_ids(old, new, result.removed)
    result.union_ids = union_ids
    inverse = {n: o for o, n in result.matches.items()}
    added = set(result.added)
    U = nx.MultiDiGraph()
    U.graph.update(new.graph)
    U.graph.update(inputs=list(new.graph.get("inputs", [])),
                   outputs=list(new.graph.get("outputs", [])),
                   diff_summary=result.summary, renames=dict(result.renames),
                   diff_old=old.graph.get("name"), notes=list(new.graph.get("notes", [])))
    order = old_order or list(old)
    for side, node in _union_order(new, order, result.matches, result.removed):
        if side == "new":
            data = dict(new.nodes[node])
            state = ("added" if node in added else
                     "changed" if node in result.changed else "same")
            if state == "changed":
                data["changes"] = result.changed[node]
            if node in inverse and inverse[node] != node:
                data["old_id"] = inverse[node]
            data["diff"] = state
            U.add_node(node, **data)
        else:
            data = dict(old.nodes[node])
            if union_ids[node] != node:
                data["old_id"] = node
            data["diff"] = "removed"
            U.add_node(union_ids[node], **data)
    U.add_edges_from((u, v, key, data) for u, nbrs in succ_map(new).items()
                     for v, keyed in nbrs.items() for key, data in keyed.items())
    _add_removed_edges(U, old, result, union_ids)
    for key in ("inputs", "outputs"):
        U.graph[key] += [union_ids[n] for n in old.graph.get(key, []) if n in union_ids]
    if not U.graph["notes"]:
        del U.graph["notes"]
    return U


def _add_removed_edges(U, old, result, union_ids):
    """Add old edges that touch a removed node; keep the union acyclic."""
    placed = []
    for u, v, data in old.edges(data=True):
        if u not in union_ids and v not in union_ids:
            continue
        src = union_ids.get(u) or result.matches[u]
        dst = union_ids.get(v) or result.matches[v]
        outputs = U.nodes[src].get("outputs") or []
        if outputs and data.get("src_port", 0) >= len(outputs):
            U.graph["notes"].append(f"dropped removed edge {u} -> {v}: port beyond new outputs")
            continue
        key = U.add_edge(src, dst, **dict(data, diff="removed"))
        if v not in union_ids:
            placed.append((src, dst, key))
    # Removed nodes follow the old DAG among themselves; only an edge from a
    # removed node back into a matched one can close a cycle.
    if placed and not nx.is_directed_acyclic_graph(U):
        U.remove_edges_from(placed)
        U.graph["notes"].append("dropped removed edges into matched nodes: they closed a cycle")


def _near_changes(U, hops):
    """Nodes whose ``diff`` is not ``same``, and those within ``hops`` edges."""
    frontier = [n for n, state in U.nodes(data="diff") if state not in (None, "same")]
    keep = set(frontier)
    for _ in range(max(0, int(hops))):
        step = []
        for node in frontier:
            for other in list(U.pred[node]) + list(U.succ[node]):
                if other not in keep:
                    keep.add(other)
                    step.append(other)
        frontier = step
    return keep


def _elided_groups(U, keep):
    """Elided node → group key: a wholly elided module, or a run inside one."""
    kept_below = defaultdict(int)
    for node in keep:
        path = U.nodes[node].get("module") or ""
        while True:
            kept_below[path] += 1
            if not path:
                break
            path = parent_path(path)
    group, partial = {}, defaultdict(list)
    for node, data in U.nodes(data=True):
        if node in keep:
            continue
        path = data.get("module") or ""
        parts = path.split(".") if path else []
        top = next((".".join(parts[:i]) for i in range(1, len(parts) + 1)
                    if not kept_below.get(".".join(parts[:i]))), None)
        if top is not None:
            group[node] = ("module", top)
        else:
            partial[path].append(node)
    for path, nodes in partial.items():
        position = {n: i for i, n in enumerate(nodes)}
        runs = nx.weakly_connected_components(U.subgraph(nodes))
        for k, run in enumerate(sorted(runs, key=lambda r: min(position[n] for n in r))):
            group.update({n: ("run", f"{path}#{k}") for n in run})
    return group


def _summary_node(U, C, key, members):
    """Add the node standing for a group of elided nodes to ``C``."""
    kind, where = key
    first = U.nodes[members[0]]
    ops = sum(1 for n in members if U.nodes[n].get("kind") == "op")
    if kind == "module":
        types = {path: module_type for path, module_type in first.get("scope") or []}
        scope = ir.scope_from_path(where, types=types)
        node = ir.add_node(C, f"elided:{where}", kind="module", op="module", name=where,
                           label=f"{where.rsplit('.', 1)[-1]} ({len(members)} same)",
                           module=where, module_type=scope[-1][1], scope=scope,
                           children=ops, elided=len(members), diff="same")
    else:
        path = first.get("module") or ""
        node = ir.add_node(C, f"elided:{where}", kind="op", op="elided", name=where,
                           label=f"… {len(members)} same", module=path,
                           module_type=first.get("module_type"),
                           scope=[list(s) for s in first.get("scope") or []],
                           children=ops, elided=len(members), diff="same")
    return node


def context(U, hops=1):
    """Keep only what changed in a union IR and ``hops`` edges around it.

    Every elided node joins a summary: a wholly elided module becomes one
    ``kind: module`` node (id ``elided:<path>``), and elided runs inside a
    module that keeps some nodes become one ``op: elided`` node per
    connected run (id ``elided:<path>#<k>``). Summaries carry ``children``
    (the op nodes they stand for) and ``elided`` (all nodes); a group of
    one node keeps the node itself. Edges between summaries and kept nodes
    are kept once. ``G.graph["notes"]`` says how much was elided. A summary
    that would close a cycle (a path leaving it and coming back) is
    expanded into its nodes again, so nothing is ever lost.

    Parameters
    ----------
    U : networkx.MultiDiGraph
        A union IR from :func:`union_graph` (``diff`` on every node).
    hops : int, default 1
        How many edges around the changed nodes to keep.

    Returns
    -------
    networkx.MultiDiGraph
        A smaller IR that still passes :func:`graphir.ir.validate`.
    """
    keep = _near_changes(U, hops)
    group = _elided_groups(U, keep)
    members = defaultdict(list)
    for node in U:
        if node in group:
            members[group[node]].append(node)
    for key, nodes in list(members.items()):
        if len(nodes) == 1:              # a summary of one node says less than the node
            keep.add(nodes[0])
            del group[nodes[0]], members[key]
    while True:
        C, summaries = _contracted(U, keep, group, members)
        if nx.is_directed_acyclic_graph(C):
            break
        cycle = {n for edge in nx.find_cycle(C) for n in edge[:2]}
        key = next(k for k, node in summaries.items() if node in cycle)
        keep.update(members.pop(key))
        for node in keep:
            group.pop(node, None)
    C.graph["notes"] = list(U.graph.get("notes", [])) + [
        f"context {hops}: kept {len(keep)} of {U.number_of_nodes()} nodes, "
        f"{len(group)} unchanged nodes summarised in {len(members)} groups"]
    for key in ("inputs", "outputs"):
        C.graph[key] = [n for n in U.graph.get(key, []) if n in keep]
    return C


def _contracted(U, keep, group, members):
    """``U`` with each group of elided nodes contracted to one summary node.

    Returns the graph and group key → summary node id. Edges between kept
    nodes are copied; edges touching a summary are kept once per pair of
    ends, with the summary's side on port 0.
    """
    C = nx.MultiDiGraph()
    C.graph.update(U.graph)
    rep, summaries = {}, {}
    for node in U:
        if node in keep:
            C.add_node(node, **U.nodes[node])
            rep[node] = node
        else:
            key = group[node]
            if key not in summaries:
                summaries[key] = _summary_node(U, C, key, members[key])
            rep[node] = summaries[key]
    seen = set()
    for u, v, data in U.edges(data=True):
        src, dst = rep[u], rep[v]
        if src == dst:
            continue
        if u in keep and v in keep:
            C.add_edge(src, dst, **data)
        elif (src, dst) not in seen:
            seen.add((src, dst))
            C.add_edge(src, dst, **dict(data, src_port=data.get("src_port", 0) if u in keep else 0,
                                        dst_port=data.get("dst_port", 0) if v in keep else 0))
    return C, summaries
