"""A node budget for drawings (``--max-nodes``) and the whole view pipeline.

:func:`fit_budget` collapses (and folds) a graph to the requested depth,
and when the result still has more than ``max_nodes`` nodes it collapses
one level shallower at a time until it fits, then says so in
``graph["notes"]``. :func:`view` is what ``render`` and ``diff`` run for
the view options: focus, then depth, fold and budget.

Counting: every node counts (ops, boxes, weights and constants drawn as
nodes, inputs, outputs). ``max_nodes`` 0 or None means no budget.

Notes (``graph["notes"]``, a list of str the CLI prints on stderr and the
renderer draws on the figure) look like::

    collapsed to --depth 2 to fit --max-nodes 300 (1842 nodes at full depth, 57 now);
    pass --max-nodes 0 with --depth N to expand, or --focus MODULE to look inside one

    1842 nodes exceed --max-nodes 300 and the graph has no modules to collapse;
    drawing all of them (use --focus MODULE, or --max-nodes 0 to accept)
"""

from graphir.errors import InputError
from graphir.passes.collapse import collapse
from graphir.passes.common import IO_KINDS, add_note, copy_graph, home_scopes, module_depth
from graphir.passes.fold import fold as fold_graph
from graphir.passes.focus import focus as focus_graph
from graphir.passes.infer_blocks import has_module_scopes, infer_blocks
from graphir.passes.outputs import group_cache_outputs
from graphir.util.graphs import node_attrs

__all__ = ["DEFAULT_MAX_NODES", "fit_budget", "view"]

#: Default ``--max-nodes``: a drawing Graphviz lays out quickly and a reader can follow.
DEFAULT_MAX_NODES = 300


def budget_for(depth, max_nodes):
    """The node budget ``--max-nodes`` means: None is the default budget when no
    ``--depth`` is given and no budget when one is (an explicit depth is drawn as
    asked); 0 is no budget.

    >>> budget_for(None, None), budget_for(2, None), budget_for(None, 50)
    (300, 0, 50)
    """
    if max_nodes is None:
        return DEFAULT_MAX_NODES if depth is None else 0
    return max_nodes


def _check_count(value, flag):
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{flag} must be a whole number >= 0, not {value!r}",
                         hint=f"for example {flag} 2")


def _collapsed_size(G, homes, depth):
    """Node count of ``collapse(G, depth)`` (exact unless a box had to be split)."""
    kept, boxes = 0, set()
    for node, scope in homes.items():
        if node_attrs(G)[node].get("kind") in IO_KINDS or len(scope) < depth:
            kept += 1
        else:
            boxes.add(scope[depth - 1][0] if depth else "")
    return kept + len(boxes)


def _where_full(depth):
    return "at full depth" if depth is None else f"at --depth {depth}"


def fit_budget(G, max_nodes=DEFAULT_MAX_NODES, *, depth=None, fold=True, base_depth=0):
    """Collapse and fold ``G``, shallower and shallower until it fits ``max_nodes``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph (already focused, if at all); it is not changed.
    max_nodes : int or None
        Node budget; 0 or None for none.
    depth : int, optional
        Requested depth (see :func:`graphir.passes.collapse.collapse`),
        counted from ``base_depth``; None for full depth.
    fold : bool
        Fold repeated blocks (:func:`graphir.passes.fold.fold`) at every try.
    base_depth : int
        Depth of the module the view starts at (the focused module), so
        ``depth=1`` under ``--focus h.0`` shows ``h.0``'s children as boxes.

    Returns
    -------
    (networkx.MultiDiGraph, int or None)
        The new graph and the depth used (relative to ``base_depth``; None
        when nothing was collapsed). When the budget forced a shallower
        depth, ``graph["notes"]`` says so (see the module docstring).

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    >>> for i in range(4):
    ...     n = ir.add_node(G, f"mlp.{i}/Relu#0", kind="op", op="Relu", name="r",
    ...                     module=f"mlp.{i}", outputs=[ir.tensor("float32", [1, 2 + i])])
    ...     ir.add_edge(G, prev, n)
    ...     prev = n
    >>> H, used = fit_budget(G, 3)
    >>> used, list(H)
    (1, ['input:x', 'module:mlp'])
    >>> H.graph["notes"][0][:46]
    'collapsed to --depth 1 to fit --max-nodes 3 (5'
    """
    _check_count(max_nodes, "--max-nodes")
    _check_count(depth, "--depth")
    base = fold_graph(G) if fold else G  # fold once; collapse and fold commute
    homes = None if fold else home_scopes(G)
    H = None
    if fold or not max_nodes:
        H = base if depth is None else collapse(base, base_depth + depth)
        size = H.number_of_nodes()
    else:  # without folding the size is known before collapsing
        size = (G.number_of_nodes() if depth is None
                else _collapsed_size(G, homes, base_depth + depth))
    if not max_nodes or size <= max_nodes:
        if H is None:
            H = copy_graph(G) if depth is None else collapse(G, base_depth + depth)
        return (copy_graph(H) if H is G else H), depth
    deepest = module_depth(G) - base_depth
    start = deepest if depth is None else min(depth - 1, deepest)
    stop = -1 if deepest > 0 else 0
    best, best_depth = H, depth
    for d in range(start, stop, -1):
        if homes is not None and d > stop + 1 \
                and _collapsed_size(G, homes, base_depth + d) > max_nodes:
            continue  # without folding the size is known before collapsing
        best, best_depth = collapse(base, base_depth + d), d
        if best.number_of_nodes() <= max_nodes:
            add_note(best, f"collapsed to --depth {d} to fit --max-nodes {max_nodes} "
                           f"({size} nodes {_where_full(depth)}, {best.number_of_nodes()} now); "
                           "pass --max-nodes 0 with --depth N to expand, "
                           "or --focus MODULE to look inside one")
            return best, d
    if best is None:
        best = copy_graph(G) if depth is None else collapse(G, base_depth + depth)
    if deepest <= 0:
        add_note(best, f"{size} nodes exceed --max-nodes {max_nodes} and the graph has no "
                       "modules to collapse; drawing all of them "
                       "(use --focus MODULE, or --max-nodes 0 to accept)")
    else:
        add_note(best, f"{size} nodes exceed --max-nodes {max_nodes} even collapsed to "
                       f"--depth {best_depth} ({best.number_of_nodes()} nodes); drawing that "
                       "(use --focus MODULE, or --max-nodes 0 with --depth N to expand)")
    return best, best_depth


def _focus_depth(G, path):
    for scope in dict(G.nodes(data="scope")).values():
        for index, (entry, _) in enumerate(scope or ()):
            if entry == path:
                return index + 1
    return 0


def view(G, *, depth=None, focus=None, fold=True, max_nodes=DEFAULT_MAX_NODES,
         infer_modules=True):
    """Apply the view options in order: infer modules, focus, depth, fold, node budget.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph; it is not changed.
    depth : int, optional
        ``--depth``; under ``focus`` it counts from the focused module
        (``--focus h.0 --depth 1`` shows ``h.0``'s children as boxes).
    focus : str, optional
        ``--focus`` module path.
    fold : bool
        ``--fold`` (default) / ``--no-fold``.
    max_nodes : int or None
        ``--max-nodes``; 0 or None for no budget.
    infer_modules : bool
        When no op of ``G`` has a module (caffe2-era ONNX files, hand-built
        graphs), infer blocks first from names and repeated structure
        (:func:`graphir.passes.infer_blocks.infer_blocks`; the inferred
        modules are marked ``"inferred"`` and a note says so), so the
        graph can be collapsed, folded and focused. ``--no-infer-modules``.

    Returns
    -------
    networkx.MultiDiGraph
        The graph to draw. ``graph["view"]`` records ``{"depth": depth used
        or None, "focus": path or None, "fold": bool, "max_nodes": int or
        None}``; ``graph["notes"]`` holds what the budget did.

    Raises
    ------
    InputError
        On an unknown ``focus`` path or a bad ``depth``/``max_nodes``.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> for k in range(2):
    ...     _ = ir.add_node(G, f"h.0.mlp/Relu#{k}", kind="op", op="Relu", name="r",
    ...                     module="h.0.mlp")
    >>> H = view(G, focus="h.0", depth=1)
    >>> list(H), H.graph["view"]["depth"]
    (['module:h.0.mlp'], 1)
    """
    _check_count(depth, "--depth")
    base = 0
    H = group_cache_outputs(G)
    if infer_modules and not has_module_scopes(H):
        H = infer_blocks(H)
    if focus:
        H = focus_graph(H, focus)
        base = _focus_depth(H, focus)
    H, used = fit_budget(H, max_nodes, depth=depth, fold=fold, base_depth=base)
    H.graph["view"] = {"depth": used, "focus": focus or None, "fold": bool(fold),
                       "max_nodes": max_nodes}
    return H
