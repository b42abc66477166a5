"""Fold runs of identical sibling modules into one drawn ×N (``--fold``).

What is folded
--------------
A *run* is a sequence of consecutive sibling modules (same parent; siblings
ordered by where their first node appears in the graph), at least two long,
in which

* every module has the same structural signature as the first (same ops,
  output shapes and dtypes, weight shapes, attributes and internal wiring,
  with paths made relative; see
  :func:`graphir.passes.common.structural_signature`), so GPT-2's ``h.0`` …
  ``h.11`` fold but a ResNet stage's first block, whose convolution has
  other shapes and a ``downsample``, does not fold with the blocks after it;
* each module feeds the next, and every module but the last sends its
  outputs only to the next one (a chain, as in ``nn.Sequential`` and
  ``nn.ModuleList`` loops).

Open modules (drawn as clusters) and collapsed ``module`` boxes (see
:func:`graphir.passes.collapse.collapse`, whose ``signature`` is compared)
fold the same way. Runs are searched from the root down; inside the kept
first module of a run, runs among its own children fold too (nested
folding: repeated blocks inside repeated stages).

What the folded graph looks like
--------------------------------
The first module of a run stays as it was (open or collapsed); the others
are removed, together with weights and constants read only by them. Edges
that left the run's last module now leave the first module from the
matching node and port; inputs of the removed modules (such as an attention
mask every block reads) are dropped, the first module keeps its own.

The renderer reads:

* ``G.graph["folded"]``: ``{first path: {"repeat": N, "paths": [first, …,
  last], "label": "h.0 … h.11 ×12", "ops": ops in one instance,
  "total_params": weights of all N instances, "collapsed": bool}}`` for every
  run, in the order they were found (outer runs before inner ones). For an
  open module, label its cluster with ``label`` (or append ``×{repeat}``).
* on a collapsed box that heads a run, also ``repeat`` (N) and ``folded``
  (the list of paths), and ``fold_pattern`` (``"a of (a, b)"``) for a block
  of a repeated pattern; its ``children`` and ``total_params`` stay those of
  one instance.

Periodic runs
-------------
Blocks that alternate (Swin's unshifted and shifted windows, Gemma-2's
sliding and global attention, Gemma-3's five sliding layers then a global
one) fold as a repeated group: at each sibling the periods 1 …
:data:`MAX_PERIOD` are tried and the one whose run covers the most blocks,
repeating at least twice, wins, the smallest on a tie (``a a a`` is ``a
×3``, never ``(a, a)``); the run is cut to whole periods and every block
must feed the next. The first period is kept; each of its blocks gets its
own record, keyed by its path, with ``period``, ``position``, ``letter``
(blocks of equal structure share one) and ``pattern`` (``"(a, b)"``,
``"(a ×5, b)"``) added, ``paths`` the blocks at that position and
``repeat`` the number of periods; its label reads ``blocks.0 … blocks.4 a
of (a, b) ×3``.

Every kept node keeps its id, so two folded versions of a model still share
ids. Folding again finds nothing new, and folding commutes with
:func:`graphir.passes.collapse.collapse` (fold the full graph once, then
collapse it to any depth: that is what :func:`graphir.passes.budget.view`
does).

A run whose blocks' outputs are also read elsewhere (every block's output
collected into ``hidden_states``, DenseNet-style skips) is not folded:
rerouting those reads would draw a wrong graph.
"""

from collections import deque

import networkx as nx

from graphir.passes.common import (
    IO_KINDS,
    copy_graph,
    home_scopes,
    new_like,
    op_count,
    out_edges,
    structural_signature,
    weight_counts,
)
from graphir.util.text import short_name
from graphir.util.graphs import node_attrs, succ_map

__all__ = ["fold"]


def _module_index(G, homes):
    """Members (graph order), depth and child modules (first-node order) of each module."""
    members, depth, kids = {}, {}, {"": []}
    nodes = G.nodes
    for node, scope in homes.items():
        if nodes[node].get("kind") in IO_KINDS:
            continue
        parent = ""
        for level, (path, _) in enumerate(scope, 1):
            if path not in members:
                members[path], depth[path], kids[path] = [], level, []
                kids[parent].append(path)
            members[path].append(node)
            parent = path
    return members, depth, kids


def _is_group_output(data):
    """True for an output node standing for a group of tensors (a KV cache)."""
    return data.get("kind") == "output" and bool((data.get("attrs") or {}).get("group"))


def _chains_into(G, homes, block, nxt, members, depth):
    """True when ``block`` feeds ``nxt`` and nothing outside ``block`` and ``nxt``."""
    level = depth[block] - 1
    feeds = False
    nodes = node_attrs(G)
    for node in members[block]:
        for dst in succ_map(G)[node]:
            if _is_group_output(nodes[dst]):
                continue  # a grouped output (KV cache) reads every block; kept as one edge
            scope = homes[dst]
            where = scope[level][0] if len(scope) > level else None
            if where == nxt:
                feeds = True
            elif where != block:
                return False
    return feeds


#: Longest repeating pattern of different blocks that folds as one unit.
MAX_PERIOD = 8


def _periodic_run(siblings, i, same, chains):
    """``(run, period)`` of the periodic run starting at ``siblings[i]``.

    Every period from 1 up to :data:`MAX_PERIOD` is tried; the one whose run
    covers the most blocks (at least two whole periods) wins, the smallest on
    a tie: ``a a a a`` is ``a ×4``, ``a b a b a b`` is ``(a, b) ×3``, and
    Gemma-3's five sliding-window layers then one global layer, repeated, is
    one ``(a ×5, b)`` group rather than ``a ×5, b, a ×5, b …``. The run is
    cut to whole periods. ``same(a, b)`` compares two blocks, ``chains(a,
    b)`` says ``a`` feeds ``b`` only.
    """
    rest = len(siblings) - i
    best = (siblings[i:i + 1], 1)
    for period in range(1, min(MAX_PERIOD, rest // 2) + 1):
        length = 1
        while i + length < len(siblings):
            nxt = siblings[i + length]
            if not chains(siblings[i + length - 1], nxt):
                break
            if length >= period and not same(siblings[i + length - period], nxt):
                break
            length += 1
        covered = (length // period) * period
        if length // period >= 2 and covered > len(best[0]):
            best = (siblings[i:i + covered], period)
    return best


def _pattern(blocks, same):
    """Letters naming ``blocks`` by structure and the pattern text: ``(a ×5, b)``."""
    letters = []
    for k, block in enumerate(blocks):
        match = next((letters[j] for j in range(k) if same(blocks[j], block)), None)
        letters.append(match or chr(ord("a") + len(set(letters))))
    words = []
    for letter in letters:
        if words and words[-1][0] == letter:
            words[-1][1] += 1
        else:
            words.append([letter, 1])
    text = ", ".join(letter if count == 1 else f"{letter} ×{count}" for letter, count in words)
    return letters, f"({text})"


def _find_runs(G, homes, members, depth, kids):
    """Periodic runs ``(paths, period, letters, pattern)`` of chained siblings, outer first."""
    cache = {}

    def signature(path):
        if path not in cache:
            cache[path] = structural_signature(G, members[path], path)
        return cache[path]

    def same(a, b):
        return len(members[a]) == len(members[b]) and signature(a) == signature(b)

    chained = {}

    def chains(a, b):
        if (a, b) not in chained:
            chained[a, b] = _chains_into(G, homes, a, b, members, depth)
        return chained[a, b]

    runs, queue = [], deque([""])
    while queue:
        siblings = kids[queue.popleft()]
        i = 0
        while i < len(siblings):
            run, period = _periodic_run(siblings, i, same, chains)
            if len(run) > 1:
                runs.append((run, period, *_pattern(run[:period], same)))
            queue.extend(run[:period])
            i += len(run)
    return runs


def _removal(G, runs, members):
    """Nodes removed and the alias (removed node -> equivalent kept node)."""
    removed, alias = set(), {}
    for run, period, _, _ in runs:
        for k, block in enumerate(run[period:], period):
            removed.update(members[block])
            alias.update(zip(members[block], members[run[k % period]]))
    for node, kind in G.nodes(data="kind"):
        if kind in ("param", "const") and node not in removed and succ_map(G)[node] \
                and all(dst in removed for dst, _ in out_edges(G, node)):
            removed.add(node)
    return removed, alias


def _rebuild(G, runs, members):
    """The folded graph for ``runs`` (without the ``folded`` records)."""
    removed, alias = _removal(G, runs, members)
    H = new_like(G)
    H.add_nodes_from((n, dict(d)) for n, d in G.nodes(data=True) if n not in removed)
    edges = {}
    for u, v, data in G.edges(data=True):
        if v in removed:
            continue
        while u in removed and u in alias:
            u = alias[u]
        if u in removed:
            continue
        edges.setdefault((u, data["src_port"], v, data["dst_port"]), None)
    H.add_edges_from((u, v, {"src_port": sp, "dst_port": dp}) for u, sp, v, dp in edges)
    return H


def _record(G, H, run, period, letters, pattern, members):
    """Write the ``folded`` records of one run (and ``repeat`` on kept boxes).

    One record per kept block (the first period); with ``period`` > 1 each
    also has ``period``, ``position``, ``letter`` (blocks of equal structure
    share a letter) and ``pattern`` (``"(a, b)"``, ``"(a ×5, b)"``).
    """
    repeat = len(run) // period
    for position in range(period):
        paths = run[position::period]
        first = members[paths[0]]
        box = next((n for n in first if G.nodes[n].get("kind") == "module"
                    and G.nodes[n].get("module") == paths[0]), None)
        total = 0
        for block in paths:
            weights = {}
            for node in members[block]:
                weights.update(weight_counts(node, G.nodes[node]))
            total += sum(weights.values())
        label = f"{short_name(paths[0])} … {short_name(paths[-1])} ×{repeat}"
        record = {
            "repeat": repeat, "paths": list(paths), "label": label,
            "ops": sum(op_count(G.nodes[n]) for n in first), "total_params": total,
            "collapsed": box is not None,
        }
        if period > 1:
            record.update(period=period, position=position, pattern=pattern,
                          letter=letters[position],
                          label=f"{short_name(paths[0])} … {short_name(paths[-1])} "
                                f"{letters[position]} of {pattern} ×{repeat}")
        H.graph.setdefault("folded", {})[paths[0]] = record
        if box is not None:
            data = H.nodes[box]
            data["repeat"] = repeat * (data.get("repeat") or 1)
            data["folded"] = list(paths)
            if period > 1:
                data["fold_pattern"] = f"{letters[position]} of {pattern}"


def fold(G):
    """Draw runs of identical, chained sibling modules once, marked ×N.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph, open or collapsed; it is not changed.

    Returns
    -------
    networkx.MultiDiGraph
        A new, valid IR graph; ``graph["folded"]`` describes each run (see
        the module docstring). A copy when nothing folds.

    Examples
    --------
    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> prev = ir.add_node(G, "input:x", kind="input", op="input", name="x",
    ...                    outputs=[ir.tensor("float32", [1, 8])])
    >>> for i in range(3):
    ...     n = ir.add_node(G, f"h.{i}/Gemm#0", kind="op", op="Gemm", name="g",
    ...                     module=f"h.{i}", outputs=[ir.tensor("float32", [1, 8])],
    ...                     params={f"h.{i}.weight": ir.param_info([8, 8], "float32")})
    ...     ir.add_edge(G, prev, n)
    ...     prev = n
    >>> H = fold(G)
    >>> list(H), list(H.edges)
    (['input:x', 'h.0/Gemm#0'], [('input:x', 'h.0/Gemm#0', 0)])
    >>> H.graph["folded"]["h.0"]["label"], H.graph["folded"]["h.0"]["total_params"]
    ('h.0 … h.2 ×3', 192)
    """
    homes = home_scopes(G)
    members, depth, kids = _module_index(G, homes)
    runs = _find_runs(G, homes, members, depth, kids)
    if not runs:
        return copy_graph(G)
    H = _rebuild(G, runs, members)
    if nx.is_directed_acyclic_graph(G):
        while runs and not nx.is_directed_acyclic_graph(H):
            looped = set().union(*(c for c in nx.strongly_connected_components(H) if len(c) > 1))
            kept = [r for r in runs
                    if all(looped.isdisjoint(members[block]) for block in r[0][:r[1]])]
            runs = kept if len(kept) < len(runs) else []
            H = _rebuild(G, runs, members) if runs else copy_graph(G)
    for run, period, letters, pattern in runs:
        _record(G, H, run, period, letters, pattern, members)
    return H
