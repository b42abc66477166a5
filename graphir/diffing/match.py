"""Match the nodes of two IR graphs, in layers, without graph edit distance.

Matching works on the module tree first, then on the nodes inside each
pair of matched modules:

1. Modules. The roots match. Children of a matched pair match by their
   local name (``attn`` ↔ ``attn``); numbered children (the blocks of a
   ``ModuleList``: ``h.0`` … ``h.11``) are aligned as a sequence by a
   small weighted edit alignment over their structural signatures, so an
   inserted block shifts the later ones (``h.6`` → ``h.7``, reported as
   renames) instead of changing them all, and identical blocks are never
   crossed (``h.3`` ↔ ``h.3``). Children left over on both sides pair when
   their structural signature (path-free hash of the subtree: ops, shapes,
   attributes, local weight names and wiring) is equal — a renamed module
   (``mlp`` → ``ffn``) — then when their loose signature (ops and wiring
   only) is equal. Modules left over anywhere pair across parents by equal
   signature (a moved module).
2. Nodes, inside each pair of matched modules, among that module's own
   nodes. When both sides carry the same labels in the same order they
   pair by position. Otherwise nodes with the same id, after the module
   rename (``h.6/add#0`` ↔ ``h.7/add#0``), and the same 2-round
   Weisfeiler-Lehman hash of their neighbourhood (op, shapes, attributes,
   weights as labels, both directions, with ports) pair first. The rest
   of the two sequences (topological order) are aligned with ``difflib``
   on those hashes: equal runs pair, and each stretch left unequal (then
   whatever is left in the module) goes through (a) the same id and op;
   (b) a 1-round hash unique on both sides; (c) an order-preserving
   alignment of the ops; (d) the same op and occurrence index.

   An id alone is not trusted before the alignment: an occurrence index
   (``Conv#12``) or a global counter shifts when an op of its kind is
   inserted upstream, and the hash check catches that shift.

Everything is linear in the size of the graphs except the alignments,
which run per module, on distinctive keys or small leftovers, and are
bounded (:data:`MAX_ALIGNMENT_CELLS`). Heuristics break ties by order, so
:func:`match_graphs` runs them in a canonical direction to stay symmetric.

Examples
--------
>>> from graphir import ir
>>> def chain(*ops):
...     G = ir.new_graph("fx", "m")
...     prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
...     for i, op in enumerate(ops):
...         node = ir.add_node(G, f"m{i}/{op}#0", kind="op", op=op, name=op, module=f"m{i}")
...         ir.add_edge(G, prev, node)
...         prev = node
...     return G
>>> sorted(match_nodes(chain("Relu", "Tanh"), chain("Relu", "Tanh", "Exp")).items())
[('input:x', 'input:x'), ('m0/Relu#0', 'm0/Relu#0'), ('m1/Tanh#0', 'm1/Tanh#0')]
"""

import hashlib
import json
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import networkx as nx
from graphir.util.graphs import node_attrs, succ_map

__all__ = [
    "Matching",
    "ModuleTree",
    "match_graphs",
    "match_nodes",
    "module_tree",
    "topological_order",
    "node_label",
    "local_param_name",
    "parent_path",
    "local_name",
]

#: Rounds of Weisfeiler-Lehman refinement for the node sequence alignment.
WL_ROUNDS = 2
#: Largest ``len(old) * len(new)`` aligned with a quadratic algorithm.
MAX_ALIGNMENT_CELLS = 250_000


_LABEL_ENCODER = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


@dataclass
class Matching:
    """What :func:`match_graphs` found.

    Attributes
    ----------
    nodes : dict
        Old node id → new node id, for every matched node.
    modules : dict
        Old module path → new module path, for every matched module
        (``""`` ↔ ``""`` always).
    renames : dict
        Old module path → new module path for the matched modules whose
        path changed and whose rename is not implied by a renamed parent.
    """

    nodes: dict = field(default_factory=dict)
    modules: dict = field(default_factory=dict)
    renames: dict = field(default_factory=dict)


@dataclass
class ModuleTree:
    """The module tree of one graph, with path-free structural signatures.

    Attributes
    ----------
    order : list
        Node ids in topological order.
    direct : dict
        Module path → its own nodes (``module`` equal to the path), in order.
    children : dict
        Module path → child module paths, in order of first appearance.
    size : dict
        Module path → number of nodes in its subtree.
    signature, loose : dict
        Module path → exact and loose structural signature of its subtree.
    labels, loose_labels : dict
        Node id → exact and loose content label.
    """

    order: list
    direct: dict
    children: dict
    size: dict
    signature: dict
    loose: dict
    labels: dict
    loose_labels: dict
    occurrence: dict


def parent_path(path):
    """The dotted path of a module's parent (``""`` for the root's children).

    >>> parent_path("h.0.attn"), parent_path("h"), parent_path("")
    ('h.0', '', '')
    """
    return path.rsplit(".", 1)[0] if "." in path else ""


def local_name(path, parent):
    """The name of module ``path`` inside ``parent``.

    >>> local_name("h.0.attn", "h.0"), local_name("h", "")
    ('attn', 'h')
    """
    return path[len(parent) + 1:] if parent else path


def local_param_name(name, module):
    """A weight's name relative to the module of the op reading it.

    Renamed modules then keep their weights' names (``weight``).

    >>> local_param_name("h.0.attn.c_attn.weight", "h.0.attn.c_attn")
    'weight'
    >>> local_param_name("wte.weight", "lm_head")
    'wte.weight'
    """
    if module and name.startswith(module + "."):
        return name[len(module) + 1:]
    return name


def topological_order(G):
    """Node ids in topological order, preferring the graph's own order.

    Converters add nodes in execution order; when that order is already
    topological it is kept (it follows the source), otherwise networkx's
    is used, and for a cyclic graph the insertion order.
    """
    order = list(G)
    position = {node: i for i, node in enumerate(order)}
    if all(position[u] < position[v] for u, nbrs in succ_map(G).items() for v in nbrs):
        return order
    try:
        return list(nx.topological_sort(G))
    except nx.NetworkXUnfeasible:
        return order


def node_label(data, loose=False):
    """Content label of a node: what must be equal for it to be unchanged.

    The exact label holds kind, op, output shapes and dtypes, attributes,
    weights by local name, and ``children``/``repeat`` of module nodes; the
    loose label only kind and op. Neither holds names or ids.
    """
    kind, op = data.get("kind"), data.get("op")
    if loose:
        return f"{kind}|{op}"
    module = data.get("module") or ""
    params = {local_param_name(name, module): info
              for name, info in (data.get("params") or {}).items()}
    content = [kind, op, data.get("outputs"), data.get("attrs"), params,
               data.get("children"), data.get("repeat")]
    return _LABEL_ENCODER.encode(content)


def _digest(value):
    return hashlib.blake2b(repr(value).encode("utf-8"), digest_size=12).hexdigest()


def _common_module(a, b):
    """The deepest module path containing both ``a`` and ``b``."""
    if a == b:
        return a
    pa, pb = a.split(".") if a else [], b.split(".") if b else []
    common = []
    for x, y in zip(pa, pb):
        if x != y:
            break
        common.append(x)
    return ".".join(common)


def _tree_skeleton(G, order):
    """Direct nodes, children (first-appearance order) and occurrence index."""
    direct = defaultdict(list)
    children = defaultdict(list)
    known = {""}
    occurrence = {}
    for node in order:
        path = G.nodes[node].get("module") or ""
        occurrence[node] = len(direct[path])
        direct[path].append(node)
        while path not in known:
            known.add(path)
            parent = parent_path(path)
            children[parent].append(path)
            path = parent
    return direct, children, occurrence, known


def module_tree(G, order=None):
    """Build the :class:`ModuleTree` of ``G`` with its signatures.

    A module's signature hashes, bottom-up, its children's signatures with
    their local names, the content labels of its own nodes, and every edge
    whose deepest common module is this one, described by the relative
    module paths and occurrence indexes of its ends. It never contains the
    module's own path, so two identical blocks ``h.3`` and ``h.7`` (or
    ``mlp`` and a renamed ``ffn``) have equal signatures.
    """
    order = topological_order(G) if order is None else order
    direct, children, occurrence, known = _tree_skeleton(G, order)
    labels = {n: node_label(G.nodes[n]) for n in order}
    loose_labels = {n: node_label(G.nodes[n], loose=True) for n in order}
    wiring = defaultdict(list)
    module_of = {n: data.get("module") or "" for n, data in node_attrs(G).items()}
    for u, v, data in _edges(G):
        pu, pv = module_of[u], module_of[v]
        top = _common_module(pu, pv)
        wiring[top].append((local_name(pu, top) if pu != top else "", occurrence[u],
                            data.get("src_port", 0),
                            local_name(pv, top) if pv != top else "", occurrence[v],
                            data.get("dst_port", 0)))
    size, signature, loose = {}, {}, {}
    for path in _postorder(children):
        kids = children.get(path, [])
        size[path] = len(direct.get(path, ())) + sum(size[k] for k in kids)
        edges = sorted(wiring.get(path, ()))
        own = direct.get(path, ())
        signature[path] = _digest((sorted((local_name(k, path), signature[k]) for k in kids),
                                   [labels[n] for n in own], edges))
        loose[path] = _digest((sorted((local_name(k, path), loose[k]) for k in kids),
                               [loose_labels[n] for n in own], edges))
    return ModuleTree(order=order, direct=dict(direct), children=dict(children), size=size,
                      signature=signature, loose=loose, labels=labels,
                      loose_labels=loose_labels, occurrence=occurrence)


def _edges(G):
    """``(u, v, data)`` of every edge, straight from the adjacency (fast)."""
    for u, nbrs in succ_map(G).items():
        for v, keyed in nbrs.items():
            for data in keyed.values():
                yield u, v, data


def _postorder(children):
    """Module paths from the leaves up, starting from the root ``""``."""
    out, stack = [], [("", False)]
    while stack:
        path, done = stack.pop()
        if done:
            out.append(path)
            continue
        stack.append((path, True))
        stack.extend((kid, False) for kid in reversed(children.get(path, ())))
    return out


def _subtree_counter(tree, path, cache):
    """Multiset of loose node labels in a module's subtree (cached)."""
    if path not in cache:
        counts = Counter(tree.loose_labels[n] for n in tree.direct.get(path, ()))
        for kid in tree.children.get(path, ()):
            counts.update(_subtree_counter(tree, kid, cache))
        cache[path] = counts
    return cache[path]


def _align_numbered(olds, news, t_old, t_new, cache):
    """Pair two sequences of numbered sibling modules, order-preserving.

    A weighted edit alignment. In units ``U`` larger than all the small
    costs together: leaving a module unpaired costs its size; pairing two
    structurally different modules (loose signatures differ) costs the
    number of ops one has and the other lacks, plus one. Small costs break
    the remaining ties: pairing modules that differ only in shapes or
    attributes costs 1, pairing modules whose names differ (a shifted
    block, reported as a rename) costs 2. So an inserted block of another
    structure shifts the later ones, while a block that only changed
    shapes keeps its name. Equal ends are trimmed first; sequences too
    long for the quadratic table fall back to
    :class:`difflib.SequenceMatcher` over the signatures.
    """
    pairs = []
    lo, hi_o, hi_n = 0, len(olds), len(news)
    name_o = [local_name(p, parent_path(p)) for p in olds]
    name_n = [local_name(p, parent_path(p)) for p in news]
    while lo < min(hi_o, hi_n) and name_o[lo] == name_n[lo] \
            and t_old.signature[olds[lo]] == t_new.signature[news[lo]]:
        pairs.append((olds[lo], news[lo]))
        lo += 1
    tail = []
    while hi_o > lo and hi_n > lo and name_o[hi_o - 1] == name_n[hi_n - 1] \
            and t_old.signature[olds[hi_o - 1]] == t_new.signature[news[hi_n - 1]]:
        hi_o, hi_n = hi_o - 1, hi_n - 1
        tail.append((olds[hi_o], news[hi_n]))
    mid_o, mid_n = olds[lo:hi_o], news[lo:hi_n]
    if mid_o and mid_n:
        if len(mid_o) * len(mid_n) > MAX_ALIGNMENT_CELLS:
            pairs += _align_by_matcher([t_old.signature[p] for p in mid_o],
                                       [t_new.signature[p] for p in mid_n], mid_o, mid_n)
        else:
            pairs += _align_weighted(mid_o, mid_n, t_old, t_new, cache)
    return pairs + tail[::-1]


def _align_weighted(olds, news, t_old, t_new, cache):
    """Dynamic-programming core of :func:`_align_numbered` (integer costs)."""
    n, m = len(olds), len(news)
    unit = 4 * (n + m + 1)
    gap_o = [unit * t_old.size[p] for p in olds]
    gap_n = [unit * t_new.size[p] for p in news]
    names_o = [local_name(p, parent_path(p)) for p in olds]
    names_n = [local_name(p, parent_path(p)) for p in news]
    # Costs depend on the signatures only: one row of costs per old signature.
    first_o, first_n = {}, {}
    for p in olds:
        first_o.setdefault(t_old.signature[p], p)
    for p in news:
        first_n.setdefault(t_new.signature[p], p)
    by_signature = {}
    for so, po in first_o.items():
        by_signature[so] = {sn: _pair_cost(po, pn, t_old, t_new, cache, unit)
                            for sn, pn in first_n.items()}
    cost_rows = [[by_signature[t_old.signature[po]][t_new.signature[pn]] for pn in news]
                 for po in olds]
    for i in range(n):
        for j in range(m):
            if names_o[i] != names_n[j]:
                cost_rows[i][j] += 2

    def cost(i, j):
        return cost_rows[i][j]

    table = [[0] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        table[0][j] = table[0][j - 1] + gap_n[j - 1]
    for i in range(1, n + 1):
        row, above, costs, gap = table[i], table[i - 1], cost_rows[i - 1], gap_o[i - 1]
        row[0] = above[0] + gap
        for j in range(1, m + 1):
            row[j] = min(above[j - 1] + costs[j - 1], above[j] + gap, row[j - 1] + gap_n[j - 1])
    pairs, i, j = [], n, m
    while i and j:
        if table[i][j] == table[i - 1][j - 1] + cost(i - 1, j - 1):
            pairs.append((olds[i - 1], news[j - 1]))
            i, j = i - 1, j - 1
        elif table[i][j] == table[i - 1][j] + gap_o[i - 1]:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def _pair_cost(po, pn, t_old, t_new, cache, unit):
    """Cost of pairing two modules in :func:`_align_weighted` (names aside)."""
    if t_old.signature[po] == t_new.signature[pn]:
        return 0
    if t_old.loose[po] == t_new.loose[pn]:
        return 1
    a = _subtree_counter(t_old, po, cache[0])
    b = _subtree_counter(t_new, pn, cache[1])
    return unit * (sum(((a - b) + (b - a)).values()) + 1)


def _align_by_matcher(keys_old, keys_new, olds, news):
    """Order-preserving pairs from ``SequenceMatcher`` over two key lists.

    Equal runs pair up; a replaced run pairs position by position when both
    sides have the same length (an op swapped for another).
    """
    pairs = []
    matcher = SequenceMatcher(None, keys_old, keys_new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            pairs += list(zip(olds[i1:i2], news[j1:j2]))
    return pairs


def _pair_by_key(olds, news, key_old, key_new):
    """Pair the k-th item of ``olds`` with the k-th of ``news`` of equal key."""
    waiting = defaultdict(deque)
    for path in olds:
        waiting[key_old(path)].append(path)
    pairs = []
    for path in news:
        queue = waiting.get(key_new(path))
        if queue:
            pairs.append((queue.popleft(), path))
    return pairs


def _pair_children(po, pn, t_old, t_new, cache):
    """Pair the child modules of two matched modules; return the leftovers.

    By local name for named children, by :func:`_align_numbered` for
    numbered ones, then leftovers by equal exact and loose signature.
    """
    kids_o, kids_n = t_old.children.get(po, []), t_new.children.get(pn, [])
    numbered_o = sorted((k for k in kids_o if local_name(k, po).isdigit()),
                        key=lambda k: int(local_name(k, po)))
    numbered_n = sorted((k for k in kids_n if local_name(k, pn).isdigit()),
                        key=lambda k: int(local_name(k, pn)))
    named_n = {local_name(k, pn): k for k in kids_n if not local_name(k, pn).isdigit()}
    pairs = [(k, named_n[local_name(k, po)]) for k in kids_o
             if local_name(k, po) in named_n]
    pairs += _align_numbered(numbered_o, numbered_n, t_old, t_new, cache)
    for table_o, table_n in ((t_old.signature, t_new.signature), (t_old.loose, t_new.loose)):
        done_o, done_n = {p for p, _ in pairs}, {p for _, p in pairs}
        left_o = [k for k in kids_o if k not in done_o]
        left_n = [k for k in kids_n if k not in done_n]
        pairs += _pair_by_key(left_o, left_n, table_o.get, table_n.get)
    done_o, done_n = {p for p, _ in pairs}, {p for _, p in pairs}
    return (pairs, [k for k in kids_o if k not in done_o],
            [k for k in kids_n if k not in done_n])


def _descendants(tree, path):
    """``path`` and every module below it, parents first."""
    out, stack = [], [path]
    while stack:
        top = stack.pop()
        out.append(top)
        stack.extend(reversed(tree.children.get(top, ())))
    return out


def _same_subtree_pairs(po, pn, t_old, t_new):
    """Module pairs below two modules of equal signature, by relative path.

    Equal signatures mean equal child names all the way down, so every
    module below ``po`` has its twin below ``pn``.
    """
    pairs = []
    for path in _descendants(t_old, po)[1:]:
        rest = local_name(path, po)
        twin = f"{pn}.{rest}" if pn else rest
        if twin in t_new.size:
            pairs.append((path, twin))
    return pairs


def _match_below(queue, modules, matched_new, t_old, t_new, cache):
    """Match the subtrees of the module pairs in ``queue``; return leftovers."""
    left_o, left_n = [], []
    queue = deque(queue)
    while queue:
        po, pn = queue.popleft()
        if t_old.signature[po] == t_new.signature[pn]:
            for co, cn in _same_subtree_pairs(po, pn, t_old, t_new):
                modules[co] = cn
                matched_new.add(cn)
            continue
        pairs, lo, ln = _pair_children(po, pn, t_old, t_new, cache)
        for co, cn in pairs:
            modules[co] = cn
            matched_new.add(cn)
            queue.append((co, cn))
        left_o += lo
        left_n += ln
    return left_o, left_n


def _match_modules(t_old, t_new):
    """Old module path → new module path for every matched module.

    Breadth-first from the roots with :func:`_pair_children`; then a module
    left over anywhere (or below a leftover) pairs across parents with an
    old leftover of equal exact signature (a moved module), parents before
    children, and its subtree is matched the same way.
    """
    modules, matched_new, cache = {"": ""}, {""}, ({}, {})
    left_o, left_n = _match_below([("", "")], modules, matched_new, t_old, t_new, cache)
    waiting = defaultdict(deque)
    for top in left_o:
        for path in _descendants(t_old, top):
            waiting[t_old.signature[path]].append(path)
    for top in left_n:
        for path in _descendants(t_new, top):
            if path in matched_new:
                continue
            candidates = waiting.get(t_new.signature[path])
            while candidates and candidates[0] in modules:
                candidates.popleft()
            if candidates:
                old = candidates.popleft()
                modules[old] = path
                matched_new.add(path)
                _match_below([(old, path)], modules, matched_new, t_old, t_new, cache)
    return modules


def _renames(modules):
    """The renames that are not implied by a renamed parent."""
    renames = {}
    for old, new in modules.items():
        if old == new or not old:
            continue
        po, pn = parent_path(old), parent_path(new)
        if modules.get(po) == pn and local_name(old, po) == local_name(new, pn):
            continue
        renames[old] = new
    return renames


class _NeighbourhoodHashes:
    """Weisfeiler-Lehman hashes of node neighbourhoods, computed on demand.

    Round 0 hashes a node's exact content label; round ``k`` hashes round
    ``k-1`` of the node with the sorted round ``k-1`` hashes of its
    producers and consumers (with ports). Only the balls around the nodes
    asked for are computed, so modules that are unchanged cost nothing.
    """

    def __init__(self, G, labels):
        self.G, self.labels, self.memo = G, labels, {}

    def __call__(self, node, rounds=WL_ROUNDS):
        key = (node, rounds)
        if key not in self.memo:
            if rounds == 0:
                self.memo[key] = _digest(self.labels[node])
            else:
                below = rounds - 1
                ins = sorted((d.get("dst_port", 0), d.get("src_port", 0), self(u, below))
                             for u, _, d in self.G.in_edges(node, data=True))
                outs = sorted((d.get("src_port", 0), d.get("dst_port", 0), self(v, below))
                              for _, v, d in self.G.out_edges(node, data=True))
                self.memo[key] = _digest((self(node, below), ins, outs))
        return self.memo[key]


def _translated_id(node, old_path, new_path):
    """An old node id as it reads after its module's rename."""
    if old_path == new_path:
        return node
    if old_path and node.startswith(old_path + "/"):
        rest = node[len(old_path) + 1:]
        return f"{new_path}/{rest}" if new_path else rest
    if not old_path and "/" not in node:
        return f"{new_path}/{node}"
    return node


def _match_module_nodes(po, pn, t_old, t_new, hashes):
    """Pairs of the own nodes of two matched modules.

    When both modules' own nodes carry the same labels in the same order
    they pair by position. Otherwise: nodes with the same id (after the
    module rename) and the same 2-round Weisfeiler-Lehman hash pair first;
    the rest of the two sequences are aligned on those hashes (distinctive,
    so ``difflib`` stays fast and a shifted run of ops lines up even in
    repetitive graphs); each stretch the alignment leaves unequal goes to
    :func:`_match_region`, and finally whatever is left in the module.
    """
    nodes_o, nodes_n = t_old.direct.get(po, []), t_new.direct.get(pn, [])
    if not nodes_o or not nodes_n:
        return []
    if len(nodes_o) == len(nodes_n) and all(
            t_old.labels[o] == t_new.labels[n] for o, n in zip(nodes_o, nodes_n)):
        return list(zip(nodes_o, nodes_n))
    in_new = set(nodes_n)
    pairs = [(o, t) for o, t in ((o, _translated_id(o, po, pn)) for o in nodes_o)
             if t in in_new and hashes[0](o, WL_ROUNDS) == hashes[1](t, WL_ROUNDS)]
    done_o, done_n = {o for o, _ in pairs}, {n for _, n in pairs}
    rest_o = [o for o in nodes_o if o not in done_o]
    rest_n = [n for n in nodes_n if n not in done_n]
    keys_o = [hashes[0](o, WL_ROUNDS) for o in rest_o]
    keys_n = [hashes[1](n, WL_ROUNDS) for n in rest_n]
    matcher = SequenceMatcher(None, keys_o, keys_n, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += zip(rest_o[i1:i2], rest_n[j1:j2])
        elif i1 < i2 and j1 < j2:
            pairs += _match_region(rest_o[i1:i2], rest_n[j1:j2], po, pn, t_old, t_new, hashes)
    done_o, done_n = {o for o, _ in pairs}, {n for _, n in pairs}
    left_o = [o for o in rest_o if o not in done_o]
    left_n = [n for n in rest_n if n not in done_n]
    if left_o and left_n:
        pairs += _match_region(left_o, left_n, po, pn, t_old, t_new, hashes)
    return pairs


def _match_region(olds, news, po, pn, t_old, t_new, hashes):
    """Pair the nodes of one unequal stretch, in layers.

    (a) the same id after the module rename and the same op; (b) a
    neighbourhood hash (one round) unique on both sides; (c) an
    order-preserving alignment by op (:func:`_align_nodes`); (d) the same
    op and occurrence index in the module.
    """
    pairs, done_o, done_n = [], set(), set()

    def take(found):
        for o, n in found:
            if o not in done_o and n not in done_n:
                pairs.append((o, n))
                done_o.add(o)
                done_n.add(n)

    def rest():
        return [o for o in olds if o not in done_o], [n for n in news if n not in done_n]

    in_region = set(news)
    take((o, t) for o, t in ((o, _translated_id(o, po, pn)) for o in olds)
         if t in in_region and t_old.loose_labels[o] == t_new.loose_labels[t])
    left_o, left_n = rest()
    if left_o and left_n:
        take(_pair_unique(left_o, left_n, lambda o: hashes[0](o, 1), lambda n: hashes[1](n, 1)))
        left_o, left_n = rest()
    if left_o and left_n:
        take(_align_nodes(left_o, left_n, t_old, t_new))
        left_o, left_n = rest()
    if left_o and left_n:
        take(_pair_by_key(left_o, left_n,
                          lambda o: (t_old.loose_labels[o], t_old.occurrence[o]),
                          lambda n: (t_new.loose_labels[n], t_new.occurrence[n])))
    return pairs


def _pair_unique(olds, news, key_old, key_new):
    """Pairs of items whose key is unique among ``olds`` and among ``news``."""
    count_o = Counter(key_old(o) for o in olds)
    count_n = Counter(key_new(n) for n in news)
    by_key = {key_old(o): o for o in olds if count_o[key_old(o)] == 1}
    return [(by_key[key_new(n)], n) for n in news
            if count_n[key_new(n)] == 1 and key_new(n) in by_key]


def _align_nodes(olds, news, t_old, t_new):
    """Order-preserving alignment of leftover nodes by op, bounded in size.

    Beyond :data:`MAX_ALIGNMENT_CELLS` the k-th leftover of an op on one
    side pairs with the k-th of that op on the other (linear).
    """
    keys_o = [t_old.loose_labels[o] for o in olds]
    keys_n = [t_new.loose_labels[n] for n in news]
    if len(olds) * len(news) <= MAX_ALIGNMENT_CELLS:
        return _align_by_matcher(keys_o, keys_n, olds, news)
    return _pair_by_key(olds, news, t_old.loose_labels.get, t_new.loose_labels.get)


def _fingerprint(tree):
    """A key that orders two graphs canonically (see :func:`match_graphs`).

    The root signature covers contents and wiring, the digest of the node
    order covers ids; graphs equal in both match the same either way.
    """
    return (tree.signature.get("", ""), _digest(tree.order))


def _match_directed(old, new, t_old, t_new):
    modules = _match_modules(t_old, t_new)
    hashes = (_NeighbourhoodHashes(old, t_old.labels), _NeighbourhoodHashes(new, t_new.labels))
    nodes = {}
    for po in _postorder(t_old.children):
        if po in modules:
            nodes.update(_match_module_nodes(po, modules[po], t_old, t_new, hashes))
    return nodes, modules


def match_graphs(old, new, *, trees=None):
    """Match two IR graphs: modules first, then nodes inside matched modules.

    The heuristics break ties by order, so to make the result symmetric
    (matching ``new`` against ``old`` gives exactly the inverse pairs) they
    always run in one canonical direction, chosen by a fingerprint of the
    two graphs, and the pairs are inverted when that direction is reversed.

    Parameters
    ----------
    old, new : networkx.MultiDiGraph
        IR graphs (schema graphir/1).
    trees : tuple of ModuleTree, optional
        Precomputed :func:`module_tree` of ``old`` and ``new``.

    Returns
    -------
    Matching
        Node pairs (in ``old``'s order), module pairs and module renames.
    """
    t_old, t_new = trees or (module_tree(old), module_tree(new))
    if _fingerprint(t_old) <= _fingerprint(t_new):
        nodes, modules = _match_directed(old, new, t_old, t_new)
    else:
        nodes, modules = _match_directed(new, old, t_new, t_old)
        nodes = {o: n for n, o in nodes.items()}
        modules = {o: n for n, o in modules.items()}
    ordered = {o: nodes[o] for o in t_old.order if o in nodes}
    return Matching(nodes=ordered, modules=modules, renames=_renames(modules))


def match_nodes(old, new):
    """Old node id → new node id for every node matched between two IR graphs.

    See :func:`match_graphs` for the layers.
    """
    return match_graphs(old, new).nodes
