"""Infer module blocks for graphs whose nodes carry no module scope.

Older converters (caffe2's, hand-built ONNX graphs) record no module paths,
so such a graph has no clusters: it can be neither collapsed nor folded and
the node budget cannot be met (light DenseNet-121 draws 1,748 nodes).
:func:`infer_blocks` gives every op a ``module``/``scope``, marked as
inferred, so these graphs collapse and fold like any other.

Two sources, tried in this order:

From names
    The name of the first weight an op reads (else the op's own name),
    without a prefix every weight shares (``gpu_0/``) and without trailing
    role tokens (``_w``, ``_b``, ``_s``, ``_bn``, ``bn_scale``, ``_riv``,
    ``_0`` …), is the op's *layer*. A layer splits on ``/`` and, inside a
    part, before and after every purely numeric token: ``res2_0_branch2a``
    -> ``res2 . 0 . branch2a``, ``conv2_1/x1`` -> ``conv2 . 1 . x1``,
    ``inception_4a/1x1`` -> ``inception_4a . 1x1``. The op's module is the
    layer without its last part (``res2.0``, ``conv2.1``, ``inception_4a``):
    the layer is the leaf, as an ``nn.Conv2d`` is in PyTorch. Ops without a
    usable name (``Relu``, ``Sum``, ``Concat``) join the module of their
    latest-computed input. A module whose members are not *convex* in the
    graph (some path leaves it and comes back, as shufflenet's ``gconv1_0``
    … ``gconv1_31`` interleaved with ``gconv3_*``) is dropped, its members
    moving to its parent. Names are used when they put at least half of
    the ops in a module.
From structure
    Otherwise the graph is cut wherever a single tensor is live (every
    value computed before is dead but one). The pieces between cuts that
    branch (a residual block, an inception module, a dense layer) are
    blocks; consecutive blocks with the same op sequence form a stage:
    ``stage1.0``, ``stage1.1`` …; a block alone is ``block3``.

Every inferred scope level has type ``"inferred"`` (so a module box reads
``res2.0 : inferred``); ``graph["inferred_modules"]`` records
``{"method": "names" | "structure", "modules": count}`` and a note says so.
Node ids do not change. The pass is deterministic.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("onnx", "m")
>>> prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
>>> for i, layer in enumerate(["conv1_1", "conv1_2", "conv2_1", "conv2_2"]):
...     n = ir.add_node(G, f"Conv#{i}", kind="op", op="Conv", name=f"n{i}",
...                     params={f"{layer}_w_0": ir.param_info([4, 4, 3, 3], "float32")})
...     ir.add_edge(G, prev, n)
...     prev = n
>>> H = infer_blocks(G)
>>> [H.nodes[f"Conv#{i}"]["module"] for i in range(4)]
['conv1', 'conv1', 'conv2', 'conv2']
>>> H.nodes["Conv#0"]["scope"], H.graph["inferred_modules"]
([['conv1', 'inferred']], {'method': 'names', 'modules': 2})
"""

import os
import re

import networkx as nx

from graphir.passes.common import IO_KINDS, add_note, copy_graph, positions
from graphir.util.graphs import pred_map, succ_map

__all__ = ["INFERRED", "infer_blocks", "has_module_scopes", "layer_name", "layer_parts"]

#: ``module_type`` of every inferred scope level.
INFERRED = "inferred"

# The last token of a weight name that says its role (caffe2 adds a version: ``_w_0``).
_ROLE_TOKENS = frozenset({
    "w", "b", "s", "weight", "weights", "bias", "biases", "scale", "scales", "shift",
    "mean", "var", "variance", "rm", "riv", "rv", "gamma", "beta", "kernel",
})
# Tokens between a layer and its role that name no layer (``x1/bn/sc_w``, ``bn1.running_mean``).
_STRUCTURAL_TOKENS = frozenset({"bn", "sc", "running", "moving"})
_NUMBER = re.compile(r"\d+\Z")
_ANONYMOUS = re.compile(r"[A-Za-z]{0,2}\d*\Z")  # n0, r12, "": converter counters
_MIN_NAMED_SHARE = 0.5


def has_module_scopes(G):
    """True when some op of ``G`` has a module (then no inference is needed)."""
    return any(data.get("module") for _, data in G.nodes(data=True)
               if data.get("kind") not in IO_KINDS)


def layer_name(name, prefix=""):
    """The layer a weight (or op) name stands for, without role tokens.

    Examples
    --------
    >>> layer_name("gpu_0/res2_0_branch2a_bn_s_0", "gpu_0/")
    'res2_0_branch2a'
    >>> layer_name("conv2_1/x1/bn_scale_0"), layer_name("conv1/7x7_s2/bn/sc_w_0")
    ('conv2_1/x1', 'conv1/7x7_s2')
    >>> layer_name("bn1.running_mean"), layer_name("blk_5_b_w_0"), layer_name("relu5_3")
    ('bn1', 'blk_5_b', 'relu5_3')
    """
    name = str(name)
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    name = name.strip("/_.")
    tokens = re.split(r"([_/.])", name)  # tokens at even indices, separators between
    if len(tokens) >= 5 and tokens[-1].isdigit() and tokens[-2] == "_" \
            and tokens[-3].lower() in _ROLE_TOKENS:
        tokens = tokens[:-2]  # the caffe2 version: res2_0_branch2a_w_0
    if len(tokens) >= 3 and tokens[-1].lower() in _ROLE_TOKENS:
        tokens = tokens[:-2]
    while len(tokens) >= 3 and tokens[-1].lower() in _STRUCTURAL_TOKENS:
        tokens = tokens[:-2]
    return "".join(tokens)


def layer_parts(layer):
    """Hierarchy of a layer name: split on ``/`` and around numeric tokens.

    Examples
    --------
    >>> layer_parts("res2_0_branch2a"), layer_parts("inception_4a/3x3_reduce")
    (['res2', '0', 'branch2a'], ['inception_4a', '3x3_reduce'])
    >>> layer_parts("conv2_1/x1"), layer_parts("fc6"), layer_parts("layer1.0.conv1")
    (['conv2', '1', 'x1'], ['fc6'], ['layer1', '0', 'conv1'])
    """
    parts = []
    for piece in re.split(r"[/.]", str(layer)):
        current = []
        for token in piece.split("_"):
            if not token:
                continue
            if _NUMBER.match(token):
                if current:
                    parts.append("_".join(current))
                parts.append(token)
                current = []
            else:
                current.append(token)
        if current:
            parts.append("_".join(current))
    return [p for p in parts if p]


# ------------------------------------------------------------------ from names

def _name_of(data):
    """The most telling name of an op: its first weight, else its own name."""
    params = data.get("params") or {}
    if params:
        return next(iter(params))
    name = data.get("name") or ""
    op = str(data.get("op") or "").rsplit("::", 1)[-1].rsplit(".", 1)[-1]
    if _ANONYMOUS.match(name) or re.fullmatch(rf"{re.escape(op)}[_:]?\d*", name, re.I):
        return ""  # a converter's counter (n12) or the op type with one (Relu_12)
    return name


def _shared_prefix(names):
    """A ``dir/`` prefix every name shares (``gpu_0/``), else ``""``."""
    names = [n for n in names if n]
    if len(names) < 2:
        return ""
    common = os.path.commonprefix(names)
    cut = common.rfind("/")
    return common[:cut + 1] if cut >= 0 else ""


def _named_modules(G, ops, order, pos):
    """Module path (tuple of parts) for every op, from names; None when unnamed."""
    names = {n: _name_of(G.nodes[n]) for n in ops}
    prefix = _shared_prefix(list(names.values()))
    layers = {}
    for node in ops:
        parts = layer_parts(layer_name(names[node], prefix)) if names[node] else []
        layers[node] = tuple(parts) if parts else None
    sizes = {}
    for layer in layers.values():
        sizes[layer] = sizes.get(layer, 0) + 1
    # a layer of several named ops (Conv, BatchNormalization, Mul, Add) is a module
    # itself; a layer of one op (a Conv) is that op, inside the layer's parent
    leaves = {layer for layer, size in sizes.items() if layer and size > 1}
    modules = {node: (layer if layer in leaves else layer[:-1]) if layer else None
               for node, layer in layers.items()}
    deferred = []
    for node in order:  # unnamed ops join their latest-computed producer ...
        if node not in modules or modules[node] is not None:
            continue
        inputs = [u for u in pred_map(G)[node] if u in ops or G.nodes[u].get("kind") in IO_KINDS]
        if len(inputs) == 1 and len(succ_map(G)[inputs[0]]) > 1:
            deferred.append(node)  # ... but a branch head joins the branch it starts
            continue
        producers = [u for u in inputs if modules.get(u) is not None]
        if producers:
            latest = modules[max(producers, key=pos.__getitem__)]
            # an op joining several values (Sum, Concat) combines layers: it sits
            # in the block that holds them, not inside the last layer
            if len(inputs) > 1 and latest in leaves:
                latest = latest[:-1]
            modules[node] = latest
        else:
            deferred.append(node)
    for node in reversed(deferred):
        consumers = [modules[v] for v in succ_map(G)[node] if modules.get(v) is not None]
        if consumers:
            modules[node] = _common(consumers)
        else:
            producers = [u for u in pred_map(G)[node] if modules.get(u) is not None]
            modules[node] = modules[max(producers, key=pos.__getitem__)] if producers else ()
    modules = {n: (m if m is not None else ()) for n, m in modules.items()}
    _trim_tails(G, modules, layers, pos)
    return modules, layers


def _tail(G, members, layers):
    """The unnamed single-input ops that end a module, each reading the one before."""
    tail = []
    for node in reversed(members):
        inputs = [u for u in pred_map(G)[node] if G.nodes[u].get("kind") not in ("param", "const")]
        if layers.get(node) is not None or len(inputs) != 1:
            break
        if tail and tail[-1] not in succ_map(G)[node]:
            break
        tail.append(node)
    return tail[::-1]


def _trim_tails(G, modules, layers, pos):
    """Give back what the last of a run of similar blocks swallowed after it.

    Unnamed ops join their producer's module, so the pooling and reshape
    after ResNet's last block would land in ``res5.2`` and make it differ
    from ``res5.1``. Among sibling modules with the same named layers, a
    module whose unnamed tail is longer than its siblings' hands the extra
    ops to the modules they feed (their common prefix with its own path).
    """
    members, under = {}, {}
    for node in sorted(modules, key=pos.__getitem__):
        path = modules[node]
        if path:
            members.setdefault(path, []).append(node)
        for depth in range(1, len(path) + 1):
            under.setdefault(path[:depth], []).append(node)
    similar = {}
    for path, nodes in members.items():
        named = frozenset(layers[n][len(path):] for n in under[path] if layers.get(n) is not None
                          and layers[n][:len(path)] == path) - {()}  # () : a layer itself
        if named:
            similar.setdefault((path[:-1], named), []).append(path)
    for group in similar.values():
        if len(group) < 2:
            continue
        tails = {path: _tail(G, members[path], layers) for path in group}
        keep = min(len(t) for t in tails.values())
        for path in group:
            for node in reversed(tails[path][keep:]):
                consumers = [modules[v] for v in succ_map(G)[node] if v in modules]
                modules[node] = _common([path] + consumers)


def _groups_layers(modules, layers):
    """True when some module holds ops of two or more named layers (a real block)."""
    seen = {}
    for node, path in modules.items():
        layer = layers.get(node)
        if not path or layer is None:
            continue
        for depth in range(1, len(path) + 1):
            found = seen.setdefault(path[:depth], set())
            found.add(layer)
            if len(found) > 1:
                return True
    return False


def _common(paths):
    """Longest common prefix of module paths (tuples)."""
    first = paths[0]
    size = len(first)
    for path in paths[1:]:
        size = min(size, len(path))
        while path[:size] != first[:size]:
            size -= 1
    return first[:size]


def _is_convex(G, members, pos):
    """True when no path leaves ``members`` and re-enters it."""
    first, last = min(pos[n] for n in members), max(pos[n] for n in members)
    if last - first + 1 == len(members):
        return True  # contiguous in a topological order: nothing can sit between
    frontier = [v for u in members for v in succ_map(G)[u] if v not in members and pos[v] < last]
    seen = set(frontier)
    while frontier:
        node = frontier.pop()
        for nxt in succ_map(G)[node]:
            if nxt in members:
                return False
            if nxt not in seen and pos[nxt] < last:
                seen.add(nxt)
                frontier.append(nxt)
    return True


def _make_convex(G, modules, pos):
    """Drop (lift to the parent) every module level whose members are not convex."""
    while True:
        groups = {}
        for node, path in modules.items():
            for depth in range(1, len(path) + 1):
                groups.setdefault(path[:depth], set()).add(node)
        bad = [p for p, m in groups.items() if not _is_convex(G, m, pos)]
        if not bad:
            return modules
        depth = min(len(p) for p in bad)  # fix the shallowest level first, all at once
        for worst in sorted(p for p in bad if len(p) == depth):
            for node in groups[worst]:
                path = modules[node]
                if len(path) > depth:  # gconv1 . 22 -> gconv1_22
                    merged = f"{path[depth - 1]}_{path[depth]}"
                    modules[node] = path[:depth - 1] + (merged,) + path[depth + 1:]
                else:
                    modules[node] = path[:depth - 1]


# -------------------------------------------------------------- from structure

def _structural_modules(G, ops, order, pos):
    """Blocks between single-live-tensor cuts, grouped into stages of equal blocks."""
    last_use = {}
    for node in order:
        uses = [pos[v] for v in succ_map(G)[node]]
        last_use[node] = max(uses) if uses else pos[node]
    live, segments, current = set(), [], []
    for node in order:
        live = {n for n in live if last_use[n] > pos[node]}
        if last_use[node] > pos[node]:
            live.add(node)
        if node in ops:
            current.append(node)
        # a lone op whose value fans out (the Relu before a residual block) heads
        # the block that follows
        heads = len(current) == 1 and len(succ_map(G)[current[0]]) > 1
        if len(live) <= 1 and current and not heads:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    blocks = [s for s in segments if len(s) > 2 and _branches(G, s)]
    keys = [tuple(G.nodes[n]["op"] for n in block) for block in blocks]
    modules, stage, unit, i = {}, 0, 0, 0
    while i < len(blocks):
        j = i + 1
        while j < len(blocks) and keys[j] == keys[i]:
            j += 1
        if j - i > 1:
            stage += 1
            for k in range(i, j):
                modules.update((n, (f"stage{stage}", str(k - i))) for n in blocks[k])
        else:
            unit += 1
            modules.update((n, (f"block{unit}",)) for n in blocks[i])
        i = j
    return modules


def _branches(G, segment):
    """True when an op of ``segment`` joins two computed values (a Sum, a Concat)."""
    return any(sum(1 for u in pred_map(G)[n] if G.nodes[u].get("kind") not in ("param", "const"))
               > 1 for n in segment)


# ------------------------------------------------------------------- the pass

def infer_blocks(G):
    """Give ops of a graph without module scopes inferred modules (see module doc).

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph; it is not changed.

    Returns
    -------
    networkx.MultiDiGraph
        A copy whose ops have ``module``, ``scope`` (every level typed
        ``"inferred"``) and ``module_type="inferred"`` when in a module,
        ``graph["inferred_modules"]`` and a note. A plain copy when ``G``
        already has module scopes, or when nothing could be inferred.
    """
    H = copy_graph(G)
    if has_module_scopes(G):
        return H
    index = positions(G)
    order = list(nx.lexicographical_topological_sort(G, key=index.__getitem__))
    pos = {node: i for i, node in enumerate(order)}
    ops = {n for n in order if G.nodes[n].get("kind") not in IO_KINDS}
    if not ops:
        return H
    named, layers = _named_modules(G, ops, order, pos)
    modules, method = _make_convex(G, named, pos), "names"
    enough = sum(1 for p in modules.values() if p) >= _MIN_NAMED_SHARE * len(ops)
    if not (enough and _groups_layers(modules, layers)):
        found = _structural_modules(G, ops, order, pos)
        if found or not enough:
            modules, method = found, "structure"
    paths = set()
    for node, parts in modules.items():
        if not parts:
            continue
        scope = [[".".join(parts[:d]), INFERRED] for d in range(1, len(parts) + 1)]
        paths.update(path for path, _ in scope)
        H.nodes[node].update(module=scope[-1][0], module_type=INFERRED, scope=scope)
    if not paths:
        return H
    H.graph["inferred_modules"] = {"method": method, "modules": len(paths)}
    source = "weight and layer names" if method == "names" else "repeated structure"
    add_note(H, f"the file records no modules; {len(paths)} module boxes were inferred "
                f"from {source} (marked 'inferred')")
    return H
