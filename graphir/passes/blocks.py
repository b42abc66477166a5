"""Block view: an architecture as papers draw it, one block per module.

:func:`block_view` collapses the modules at one depth (:func:`block_depth`
picks the shallowest depth giving 5–25 blocks), folds repeated siblings into
one block ``×N``, and keeps only the main data flow: weights, constants,
shape bookkeeping (``view``, ``flatten``, ``transpose``, ``getitem``,
dropout …) and ops that do not lie between an input and an output (mask
and position-id arithmetic) are removed, their producers wired to their
consumers. Every remaining node gets a ``block`` dict the block renderer
(:mod:`graphir.renderers.blocks`) reads:

``title``
    The module's short path (``layer1``, ``h.0 … h.11``) or the op name.
``role``
    The module type; for containers (``Sequential``, ``ModuleList``) the
    type of their children, ``2× BasicBlock``.
``shape``
    The (first) output shape, or None.
``repeat``
    ×N of a folded run (0 when not folded).
``residual``
    True when the module adds its input (or a short branch of it) back to
    its output: drawn as an arc over the block.
``symbol``
    ``+``, ``×`` or ``C`` for element-wise add, multiply and concatenate
    ops left between blocks (drawn as small circles), else ''.
``kind``
    ``block``, ``op``, ``input`` or ``output``.

The order of nodes is the data-flow order (a deterministic topological
order), so renderers can place blocks left to right.
"""

import re

import networkx as nx

from graphir.errors import InputError
from graphir.passes.budget import view as view_graph
from graphir.passes.common import module_depth, new_like
from graphir.util.text import short_name

__all__ = ["block_depth", "block_view", "BLOCK_RANGE"]

#: Default number of blocks :func:`block_depth` aims for.
BLOCK_RANGE = (5, 25)

_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_DROP_OPS = re.compile(
    r"(?:^|[._:])(view|reshape|flatten|unflatten|permute|transpose|contiguous|getitem|"
    r"__getitem__|expand|expand_as|size|unsqueeze|squeeze|to|type|clone|detach|dropout\w*|"
    r"identity|Identity|Dropout|Reshape|Flatten|Transpose|Squeeze|Unsqueeze|Shape|Gather|"
    r"Cast|Constant|Expand|split|chunk|t|_assert\w*|float|int|long|arange|ones|zeros|full)$")
_SYMBOLS = (
    (re.compile(r"(?:^|[._:])(add|__add__|__iadd__|iadd|add_|Add|sum)$"), "+"),
    (re.compile(r"(?:^|[._:])(mul|__mul__|mul_|Mul)$"), "×"),
    (re.compile(r"(?:^|[._:])(cat|concat|concatenate|Concat|stack)$"), "C"),
)


def _op_name(data):
    return str(data.get("op") or data.get("label") or "")


def _is_dropped_op(data):
    return data.get("kind") == "op" and bool(_DROP_OPS.search(_op_name(data)))


def _symbol(data):
    if data.get("kind") != "op":
        return ""
    name = _op_name(data)
    for pattern, symbol in _SYMBOLS:
        if pattern.search(name):
            return symbol
    return ""


def _children_types(G, path):
    """Types of the direct child modules of ``path``, in first-seen order, with counts."""
    counts = {}
    prefix = path + "."
    for _, scope in G.nodes(data="scope"):
        for entry_path, entry_type in scope or []:
            if entry_path.startswith(prefix) and "." not in entry_path[len(prefix):]:
                counts.setdefault(entry_type or "?", set()).add(entry_path)
    return [(mtype, len(paths)) for mtype, paths in counts.items()]


def _inside(module, path):
    return module == path or module.startswith(path + ".")


def _has_residual(G, path):
    """Whether an add inside ``path`` joins two branches of very different length.

    Distances count ops from the module's entry (ops fed from outside it);
    an add whose operands are 0 and ≥ 2 ops away, or whose operand comes
    straight from outside, is a skip connection.
    """
    members = [n for n, d in G.nodes(data=True)
               if d.get("kind") == "op" and _inside(str(d.get("module") or ""), path)]
    if not members:
        return False
    member_set = set(members)
    dist = {}
    for node in nx.topological_sort(G.subgraph(members)):
        preds = [p for p in G.predecessors(node)
                 if G.nodes[p].get("kind") not in ("param", "const")]
        inner = [dist[p] for p in preds if p in member_set and p in dist]
        dist[node] = (max(inner) + 1) if inner else 1
    for node in members:
        if _symbol(G.nodes[node]) != "+":
            continue
        operands = []
        for p in G.predecessors(node):
            if G.nodes[p].get("kind") in ("param", "const"):
                continue
            operands.append(dist.get(p, 0) if p in member_set else 0)
        if len(operands) >= 2 and max(operands) - min(operands) >= 2:
            return True
    return False


def _main_flow(H):
    """Nodes on some path from an input to an output (all nodes if there is none)."""
    inputs = [n for n, k in H.nodes(data="kind") if k == "input"]
    outputs = [n for n, k in H.nodes(data="kind") if k == "output"]
    if not inputs or not outputs:
        return set(H.nodes)
    forward = set(inputs)
    for n in inputs:
        forward |= nx.descendants(H, n)
    backward = set(outputs)
    for n in outputs:
        backward |= nx.ancestors(H, n)
    keep = forward & backward
    # modules and weighted ops stay even when fed only by constants
    # (position embeddings read an arange)
    keep |= {n for n in backward if H.nodes[n].get("kind") == "module"
             or (H.nodes[n].get("kind") == "op" and H.nodes[n].get("params"))}
    return keep


def _simplify(V):
    """V without weights, bookkeeping ops and side computations; edges bypass them."""
    drop = {n for n, d in V.nodes(data=True)
            if d.get("kind") in ("param", "const") or _is_dropped_op(d)}
    keep = _main_flow(V) - drop
    order = {n: k for k, n in enumerate(V.nodes)}
    H = new_like(V)
    for node, data in V.nodes(data=True):
        if node in keep:
            H.add_node(node, **dict(data))
    for node in H.nodes:
        # nearest kept producers, through dropped nodes
        seen, stack, found = set(), list(V.predecessors(node)), set()
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            if p in keep:
                found.add(p)
            elif p not in keep and V.nodes[p].get("kind") not in ("param", "const"):
                stack.extend(V.predecessors(p))
        for p in sorted(found, key=order.get):
            if not H.has_edge(p, node):
                H.add_edge(p, node)
    return H


def _annotate(G, H):
    """Write the ``block`` dict on every node of H, in data-flow order."""
    order = {n: k for k, n in enumerate(H.nodes)}
    ordered = list(nx.lexicographical_topological_sort(H, key=order.get))
    R = new_like(H)
    for node in ordered:
        data = dict(H.nodes[node])
        kind = data.get("kind")
        outputs = data.get("outputs") or []
        shape = (outputs[0] or {}).get("shape") if outputs else None
        info = {"kind": "op", "title": "", "role": "", "shape": shape, "repeat": 0,
                "residual": False, "symbol": _symbol(data)}
        if kind in ("input", "output"):
            info.update(kind=kind, title=str(data.get("name") or node))
        elif kind == "module":
            path = str(data.get("module") or "")
            folded = data.get("folded") or []
            title = short_name(path) if "." in path else path
            if len(folded) > 1:
                title = f"{folded[0]} … {folded[-1].rsplit('.', 1)[-1]}"
            role = str(data.get("module_type") or "")
            repeat = int(data.get("repeat") or 0)
            if role in _CONTAINERS or not role:
                kids = _children_types(G, path)
                if len(kids) == 1:
                    role = kids[0][0]
                    repeat = max(repeat, 1) * kids[0][1] if kids[0][1] > 1 else repeat
                elif kids:
                    role = " + ".join(t for t, _ in kids[:2]) + (" …" if len(kids) > 2 else "")
            paths = folded or [path]
            info.update(kind="block", title=title, role=role, repeat=repeat,
                        residual=any(_has_residual(G, p) for p in paths[:1]))
        else:
            module = str(data.get("module") or "")
            label = str(data.get("label") or data.get("op") or node)
            info.update(title=label, role=(data.get("module_type") or "") if module else "")
            if module and data.get("module_type") and not info["symbol"]:
                info.update(kind="block", title=short_name(module) if "." in module else module,
                            role=str(data["module_type"]))
        data["block"] = info
        R.add_node(node, **data)
    for u, v, data in H.edges(data=True):
        R.add_edge(u, v, **dict(data))
    return R


def block_view(G, depth=None, *, lo=BLOCK_RANGE[0], hi=BLOCK_RANGE[1]):
    """The block-diagram IR of a model (see the module notes).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A full IR (not yet collapsed).
    depth : int, optional
        Module depth of the blocks (1 = top-level modules); None picks it
        with :func:`block_depth`.
    lo, hi : int
        Block count range for the automatic depth.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes in data-flow order, each with a ``block`` dict;
        ``graph["blocks"] = {"depth": int, "count": int}``.

    Raises
    ------
    InputError
        On a bad ``depth``.
    """
    if depth is None:
        depth = block_depth(G, lo=lo, hi=hi)
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise InputError(f"block depth {depth!r} is not a positive integer",
                         hint="give --depth 1 for top-level modules, 2 for their children …")
    V = view_graph(G, depth=depth, fold=True, max_nodes=None)
    H = _annotate(G, _simplify(V))
    count = sum(1 for _, b in H.nodes(data="block") if b["kind"] in ("block", "op"))
    H.graph["blocks"] = {"depth": depth, "count": count}
    return H


def block_depth(G, lo=BLOCK_RANGE[0], hi=BLOCK_RANGE[1]):
    """The shallowest module depth whose block view has ``lo``–``hi`` blocks.

    When no depth gives a count in range, the depth whose count is closest
    to the range (the shallower on ties).

    Parameters
    ----------
    G : networkx.MultiDiGraph
    lo, hi : int

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("torch", "m")
    >>> x = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    >>> prev = x
    >>> for k in range(6):
    ...     node = ir.add_node(G, f"l{k}/relu#0", kind="op", op="relu", name="r",
    ...                        module=f"l{k}", module_type="ReLU")
    ...     ir.add_edge(G, prev, node)
    ...     prev = node
    >>> y = ir.add_node(G, "output:y", kind="output", op="output", name="y")
    >>> ir.add_edge(G, prev, y)
    >>> block_depth(G)
    1
    """
    deepest = max(1, module_depth(G))
    best, best_gap = 1, None
    for depth in range(1, deepest + 1):
        V = _simplify(view_graph(G, depth=depth, fold=True, max_nodes=None))
        count = sum(1 for _, d in V.nodes(data=True) if d.get("kind") not in ("input", "output"))
        if lo <= count <= hi:
            return depth
        gap = lo - count if count < lo else count - hi
        if best_gap is None or gap < best_gap:
            best, best_gap = depth, gap
    return best
