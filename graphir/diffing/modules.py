"""Did the export keep my model? Diff two IRs from different sources by module.

A model captured from PyTorch (``trace``, ``export``, ``fx``) and its ONNX or
TorchScript export speak different op vocabularies (``conv2d`` vs ``Conv``),
so the op-level matcher of :mod:`graphir.diffing.match` finds little in
common. :func:`diff_across_sources` compares them where they agree: the
**module tree**.

1. **Paths.** Each side's module paths are normalised against the other's:
   the TorchScript-based ONNX exporter names a module's second call
   ``relu_1``; it becomes ``relu`` when ``relu`` exists.
2. **Folding.** Exporters fold modules into their neighbours. A module
   present on one side only is *merged* into the module that holds its
   weights on the other side (the dynamo exporter puts the Conv that
   absorbed a BatchNorm in ``bn1`` with the weight ``conv1.weight``); a
   module whose ops are all foldable (``batch_norm``) is *folded* into the
   module that feeds it (the legacy exporter's Conv in ``conv1`` gains the
   BatchNorm as a bias); a module whose ops are all no-ops in eval mode
   (dropout) is *elided*. These are notes, not differences.
3. **Per module (or folded group)**, both sides are compared on: the
   tensors crossing the module boundary (shapes and dtypes; a dim symbolic
   on one side and fixed on the other is a difference when both sides can
   express dynamic dims, ONNX and torch.export, e.g. a dynamic batch made
   static), its weights by qualified name and shape (ONNX initializers that
   lost their names, ``onnx::Conv_123``, are paired by shape and reported
   as renamed; weights that vanished, appeared or were duplicated are
   findings unless a fold explains them), and its ops through the
   equivalence table (:mod:`graphir.diffing.equivalence`): ``conv2d ≈ Conv``,
   ``linear ≈ Gemm``, ``layer_norm ≈`` its decomposition; a different op at
   the same place (``relu`` → ``Sigmoid``) or an op on one side only is a
   difference.

The result (:class:`ModuleDiffResult`) keeps today's diff contract
(:class:`graphir.diffing.graph.DiffResult`): ``summary``,
``has_differences``, ``added``/``removed``/``changed``/``same`` and a union
IR built by :func:`graphir.diffing.graph.union_graph` over two module-level
graphs (one ``module:<path>`` node per module or folded group, with
``diff`` and ``changes``), so :func:`graphir.diffing.report.to_html` and the
renderer work unchanged. It adds ``level`` (``"module"`` or ``"op"``),
``findings`` (one per module that differs), ``notes`` (what the exporters
did that is not a difference) and ``numeric`` (filled by
:func:`graphir.diffing.numeric.compare_numeric` when runners are given).
:func:`to_text` and :func:`to_json_dict` print it with the level stated. Swapping the two sides
swaps ``added``/``removed``.

Examples
--------
>>> from graphir import ir
>>> def side(source, act, static=False):
...     G = ir.new_graph(source, source)
...     b = 1 if static or source == "trace" else "batch"
...     x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
...                     outputs=[ir.tensor("float32", [b, 4])])
...     fc = ir.add_node(G, "fc/op#0", kind="op", op="Gemm" if source == "onnx" else
...                      "torch.nn.functional.linear", name="fc", module="fc",
...                      outputs=[ir.tensor("float32", [b, 8])],
...                      params={"fc.weight": ir.param_info([8, 4], "float32")})
...     a = ir.add_node(G, "act/op#0", kind="op", op=act, name="act", module="act",
...                     outputs=[ir.tensor("float32", [b, 8])])
...     y = ir.add_node(G, "output:y", kind="output", op="output", name="y",
...                     outputs=[ir.tensor("float32", [b, 8])])
...     ir.add_edge(G, x, fc); ir.add_edge(G, fc, a); ir.add_edge(G, a, y)
...     G.graph["inputs"], G.graph["outputs"] = [x], [y]
...     return G
>>> r = diff_across_sources(side("trace", "torch.nn.functional.relu"), side("onnx", "Relu"))
>>> r.has_differences, r.level
(False, 'module')
>>> r = diff_across_sources(side("trace", "torch.nn.functional.relu"), side("onnx", "Sigmoid"))
>>> r.changed
{'module:act': {'ops': {'changed': [['relu', 'Sigmoid']]}}}
"""

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graphir import ir
from graphir.diffing.equivalence import ELIDABLE, FOLDABLE, align_ops, canonical_op
from graphir.diffing.graph import union_graph
from graphir.diffing.match import topological_order
from graphir.diffing.numeric import compare_numeric
from graphir.diffing.report import describe_changes, format_shape, natural_key
from graphir.errors import InputError
from graphir.util.text import short_name

__all__ = [
    "LEVELS",
    "SOURCE_FAMILIES",
    "ModuleDiffResult",
    "source_family",
    "default_level",
    "diff_across_sources",
    "normalise_paths",
    "to_text",
    "to_json_dict",
]

#: The levels a cross-source diff can run at.
LEVELS = ("module", "op")

#: ``G.graph["source"]`` → the family whose op vocabulary it speaks.
SOURCE_FAMILIES = {"trace": "torch", "export": "torch", "fx": "torch", "autograd": "torch",
                   "onnx": "onnx", "torchscript": "torchscript", "state_dict": "weights"}

#: Sources whose shapes say which dims are dynamic (symbolic names); the
#: others record the example's concrete sizes only.
_DYNAMIC_AWARE = {"onnx", "export"}

_MODULE_PREFIX = "module:"
_MAX_NOTES = 12
#: Ops an exporter moves across module boundaries (the dynamo exporter's
#: head-merging reshape lands in the next projection, its Split in the root).
_BOUNDARY_GLUE = frozenset({"reshape", "transpose", "flatten", "split", "getitem",
                            "unsqueeze", "squeeze", "expand"})
_DYNAMISM = {"dynamic → static", "static → dynamic"}
_CALL_SUFFIX = re.compile(r"^(.*[^\d_])_(\d+)$")


def source_family(G: nx.MultiDiGraph) -> str:
    """The op-vocabulary family of an IR: ``torch``, ``onnx``, ``torchscript``.

    >>> source_family(ir.new_graph("export", "m")), source_family(ir.new_graph("onnx", "m"))
    ('torch', 'onnx')
    """
    source = G.graph.get("source")
    return SOURCE_FAMILIES.get(source, source or "unknown")


def default_level(old: nx.MultiDiGraph, new: nx.MultiDiGraph) -> str:
    """``"module"`` when the two IRs come from different source families, else ``"op"``.

    >>> default_level(ir.new_graph("trace", "a"), ir.new_graph("onnx", "b"))
    'module'
    >>> default_level(ir.new_graph("onnx", "a"), ir.new_graph("onnx", "b"))
    'op'
    """
    return "module" if source_family(old) != source_family(new) else "op"


# ------------------------------------------------------------------ facts

def normalise_paths(paths: Iterable[str], other: Iterable[str]) -> dict:
    """Map each module path of one side onto the other side's spelling.

    A component ``name_K`` (K digits) that the other side does not have
    becomes ``name`` when ``name`` exists at that place on either side: the
    TorchScript-based ONNX exporter names the K-th extra call of a module so
    (``layer1.0.relu_1``). Everything else is kept.

    >>> normalise_paths({"a.relu", "a.relu_1", "b_1"}, {"a.relu", "b_1"})
    {'a.relu': 'a.relu', 'a.relu_1': 'a.relu', 'b_1': 'b_1'}
    """
    known = set(paths) | set(other)
    out = {}
    for path in sorted(paths):
        if path in other:
            out[path] = path
            continue
        parts, rebuilt = path.split("."), []  # type: list[str], list[str]
        for part in parts:
            candidate = ".".join(rebuilt + [part])
            m = _CALL_SUFFIX.match(part)
            if m and candidate not in known and candidate not in other:
                stripped = ".".join(rebuilt + [m.group(1)])
                if stripped in known:
                    part = m.group(1)
            elif m and candidate not in other:
                stripped = ".".join(rebuilt + [m.group(1)])
                if stripped in other or stripped in known:
                    part = m.group(1)
            rebuilt.append(part)
        out[path] = ".".join(rebuilt)
    return out


def _ancestors(path):
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


@dataclass
class _Side:
    """One IR seen by module: canonical module of every node, ops and weights."""

    G: nx.MultiDiGraph
    order: list
    module_of: dict            # node id -> canonical module path
    direct: dict               # path -> op node ids (in order)
    types: dict                # path -> module type (or None)
    paths: set                 # every canonical path with ops, plus ancestors

    @property
    def dynamic_aware(self):
        return self.G.graph.get("source") in _DYNAMIC_AWARE


def _module_path(data):
    """A node's module path; torch.export's placeholder stacks count as the root."""
    path = data.get("module") or ""
    return "" if path.startswith("_empty_nn_module_stack") else path


def _raw_paths(G):
    return {_module_path(data) for _, data in G.nodes(data=True) if data.get("kind") == "op"}


def _side(G, mapping):
    order = topological_order(G)
    module_of, direct, types = {}, defaultdict(list), {}
    for node in order:
        data = G.nodes[node]
        path = mapping.get(_module_path(data), _module_path(data))
        if data.get("kind") != "op":
            path = ""
        module_of[node] = path
        if data.get("kind") == "op":
            direct[path].append(node)
            if data.get("module_type") and path not in types:
                types[path] = data["module_type"]
            for prefix, module_type in data.get("scope") or []:
                if module_type:
                    types.setdefault(mapping.get(prefix, prefix), module_type)
    paths = set()
    for path in direct:
        paths.add(path)
        paths.update(_ancestors(path))
    return _Side(G=G, order=order, module_of=module_of, direct=dict(direct), types=types,
                 paths=paths)


def _ops(side, paths):
    """Op node ids directly in any of ``paths``, in topological order."""
    wanted = set(paths)
    return [n for n in side.order if side.module_of[n] in wanted and side.G.nodes[n]["kind"] == "op"]


def _params(side, paths):
    """``{name: info}`` of the weights read by the ops directly in ``paths``."""
    out = {}
    for node in _ops(side, paths):
        for name, info in (side.G.nodes[node].get("params") or {}).items():
            out.setdefault(name, dict(info or {}))
    return out


def _within(path, group):
    return any(path == g or (g and path.startswith(g + ".")) or g == "" for g in group)


def _boundary(side, members, subtree=True):
    """``(inputs, outputs)``: the tensors entering and leaving a set of modules.

    Each is a list of ``(node, port)`` in order of first use. With
    ``subtree`` the modules' descendants count as inside.
    """
    G = side.G
    inside = ((lambda n: G.nodes[n]["kind"] == "op" and _within(side.module_of[n], members))
              if subtree else
              (lambda n: G.nodes[n]["kind"] == "op" and side.module_of[n] in members))
    inputs, outputs, seen_in, seen_out = [], [], set(), set()
    for node in side.order:
        if not inside(node):
            continue
        for src, keyed in G._pred[node].items():
            if inside(src):
                continue
            for data in keyed.values():
                key = (src, data.get("src_port", 0))
                if key not in seen_in:
                    seen_in.add(key)
                    inputs.append(key)
        for dst, keyed in G._succ[node].items():
            if inside(dst):
                continue
            for data in keyed.values():
                key = (node, data.get("src_port", 0))
                if key not in seen_out:
                    seen_out.add(key)
                    outputs.append(key)
    return inputs, outputs


def _tensor(G, key):
    node, port = key
    outs = G.nodes[node].get("outputs") or []
    return outs[port] if port < len(outs) else {"shape": None, "dtype": None}


# ------------------------------------------------------------------ comparison

def _dims_differ(a, b, dynamic_a, dynamic_b):
    """How two shapes differ: None (they agree), or a short reason."""
    if a is None or b is None:
        return None
    if len(a) != len(b):
        return "rank"
    for da, db in zip(a, b):
        if da is None or db is None:
            continue
        sym_a, sym_b = isinstance(da, str), isinstance(db, str)
        if sym_a and sym_b:
            continue
        if sym_a != sym_b:
            if dynamic_a and dynamic_b:
                return "dynamic → static" if sym_a else "static → dynamic"
            continue
        if da != db:
            return "size"
    return None


def _known(shape):
    """A shape with ONNX shape inference's invented names (``unk__3``) as unknown."""
    if shape is None:
        return None
    return [None if isinstance(d, str) and d.startswith("unk__") else d for d in shape]


def _boundary_tensors(side, keys):
    """Distinct tensors of rank ≥ 1 with a known shape, in order."""
    out, seen = [], set()
    for key in keys:
        t = _tensor(side.G, key)
        shape = _known(t.get("shape"))
        if not shape or (len(shape) == 1 and t.get("dtype") in ("int64", "int32")):
            continue                     # scalars and shape tensors: plumbing
        mark = (repr(shape), t.get("dtype"))
        if mark not in seen:
            seen.add(mark)
            out.append({"shape": shape, "dtype": t.get("dtype")})
    return out


def _compare_tensors(old, new, old_side, new_side, what, reshaped=False):
    """Changes between two boundary tensor lists (``what`` is input/output).

    Keys: ``<what>_shapes`` ``[old shapes, new shapes]``, ``<what>_why``
    (``rank``, ``size``, ``dynamic → static``, ``static → dynamic``) and
    ``<what>_dtypes``.

    Only tensors of known shape and rank ≥ 1 count (scalars and symbolic
    sizes are exporter plumbing); when the two sides cross a boundary with
    a different number of such tensors (an exporter hoisted a shared mask
    or constant out of the module), the boundary is not compared.
    """
    to, tn = _boundary_tensors(old_side, old), _boundary_tensors(new_side, new)
    changes = {}
    if len(to) != len(tn) or not to:
        return changes
    shapes_o = [t["shape"] for t in to]
    shapes_n = [t["shape"] for t in tn]
    reasons = [_dims_differ(a, b, old_side.dynamic_aware, new_side.dynamic_aware)
               for a, b in zip(shapes_o, shapes_n)]
    if reshaped:            # a reshape or split moved across the boundary by an exporter
        reasons = [None if r in ("rank", "size") else r for r in reasons]
    if any(reasons):
        changes[what + "_shapes"] = [shapes_o, shapes_n]
        changes[what + "_why"] = sorted({r for r in reasons if r})
    dtypes_o = [t.get("dtype") for t in to]
    dtypes_n = [t.get("dtype") for t in tn]
    if any(a and b and a != b for a, b in zip(dtypes_o, dtypes_n)):
        changes[what + "_dtypes"] = [dtypes_o, dtypes_n]
    return changes


def _edge_glue(side, members):
    """Whether a group's first and last ops are reshapes/transposes."""
    ops = _ops(side, members)
    if not ops:
        return False, False
    is_glue = [canonical_op(side.G.nodes[n]["op"]) in _BOUNDARY_GLUE for n in (ops[0], ops[-1])]
    return is_glue[0], is_glue[1]


def _same_or_transposed(a, b):
    if a == b:
        return "same"
    if a and b and len(a) == 2 and list(reversed(a)) == list(b):
        return "transposed"
    return None


_EXPORTER_CONSTANT = re.compile(r"(^|/)Constant(_\d+)?_output_\d+$|^onnx::|^_?val_\d+$")


def _exporter_scalar(name, info):
    """A scalar or one-element constant an exporter stored as an initializer (``/a/Constant_18_output_0``)."""
    shape = info.get("shape")
    return bool(_EXPORTER_CONSTANT.search(name)) and shape is not None and \
        all(isinstance(d, int) for d in shape) and ir.numel(shape) is not None and \
        ir.numel(shape) <= 1


def _compare_params(po, pn, folded_prefixes, notes, where):
    """Pair weights by name, then by shape; return the changes that are differences."""
    changes = {}
    shared = [n for n in po if n in pn]
    for name in shared:
        so, sn = po[name].get("shape"), pn[name].get("shape")
        how = _same_or_transposed(so, sn)
        if how is None:
            changes.setdefault("params", {})[name] = [so, sn]
        elif how == "transposed":
            notes.append(f"{where}: {name} stored transposed ({format_shape(so)} → "
                         f"{format_shape(sn)})")
        elif po[name].get("dtype") and pn[name].get("dtype") and \
                po[name]["dtype"] != pn[name]["dtype"]:
            changes.setdefault("param_dtype", {})[name] = [po[name]["dtype"], pn[name]["dtype"]]
    only_o = [n for n in po if n not in pn and not _exporter_scalar(n, po[n])]
    only_n = [n for n in pn if n not in po and not _exporter_scalar(n, pn[n])]

    def folded(name):
        return any(name == p or name.startswith(p + ".") for p in folded_prefixes)

    # unnamed initializers (``onnx::Conv_82``) paired by shape, in order
    renamed = []
    for name_o in list(only_o):
        if folded(name_o):
            continue
        for name_n in only_n:
            if _same_or_transposed(po[name_o].get("shape"), pn[name_n].get("shape")):
                renamed.append((name_o, name_n))
                only_o.remove(name_o)
                only_n.remove(name_n)
                break
    for name_o, name_n in renamed:
        notes.append(f"{where}: {name_o} stored as {name_n}")
    for name in list(only_o):                 # a buffer sliced and folded (a causal mask)
        if folded(name) or po[name].get("kind") != "buffer":
            continue
        target = next((n for n in only_n if len(pn[n].get("shape") or []) ==
                       len(po[name].get("shape") or [])), None)
        if target is not None:
            changes.setdefault("constants", {})[name] = [po[name].get("shape"), target,
                                                         pn[target].get("shape")]
            only_o.remove(name)
            only_n.remove(target)
    for name in only_o:
        if folded(name):
            continue
        changes.setdefault("params", {})[name] = [po[name].get("shape"), None]
    for name in only_n:
        if folded_prefixes:            # a fold creates a bias (``onnx::Conv_83``)
            notes.append(f"{where}: {name} {format_shape(pn[name].get('shape'))} "
                         "created by folding")
            continue
        changes.setdefault("params", {})[name] = [None, pn[name].get("shape")]
    folded_names = sorted(n for n in po if n not in pn and folded(n)) + \
        sorted(n for n in pn if n not in po and folded(n))
    if folded_names:
        notes.append(f"{where}: {', '.join(folded_names)} folded away")
    return changes


def _is_shape_arithmetic(data):
    """An op computing only integer/bool scalars or 1-D shape tensors (``Mul`` on a size)."""
    outs = data.get("outputs") or []
    return bool(outs) and all(
        o.get("dtype") in ("int64", "int32", "bool") and o.get("shape") is not None
        and len(o["shape"]) <= 1 for o in outs)


def _compute_ops(side, members):
    """The op node ids of a group that compute values (shape arithmetic left out)."""
    return [n for n in _ops(side, members) if not _is_shape_arithmetic(side.G.nodes[n])]


def _op_changes(old_side, new_side, members_o, members_n, steps_out=None):
    """Op differences of one group; ``steps_out`` gets ``(step, old ids, new ids)``."""
    ids_o = _compute_ops(old_side, members_o)
    ids_n = _compute_ops(new_side, members_n)
    steps = align_ops([old_side.G.nodes[n]["op"] for n in ids_o],
                      [new_side.G.nodes[n]["op"] for n in ids_n])
    if steps_out is not None:
        steps_out.extend((step, [ids_o[i] for i in step.old_index],
                          [ids_n[j] for j in step.new_index]) for step in steps)
    changes = defaultdict(list)
    for step in steps:
        if step.state == "changed":
            changes["changed"].append([_short(step.old[0]), _short(step.new[0])])
        elif step.state == "removed":
            changes["removed"].append(_short(step.old[0]))
        elif step.state == "added":
            changes["added"].append(_short(step.new[0]))
    return dict(changes)


def _short(op):
    """An op as users know it: ``relu`` for torch spellings, ONNX types as written."""
    canonical = canonical_op(op)
    if op and op[0].isupper() and "." not in op and "::" not in op:
        return op
    return canonical


# ------------------------------------------------------------------ grouping

@dataclass
class _Group:
    """A module, or modules an exporter folded together, compared as one."""

    key: str                       # the representative path (on both sides)
    old: list                      # member paths on the old side
    new: list                      # member paths on the new side
    how: str = ""                  # "", "merged", "folded", "elided"


def _canonical_ops(side, path):
    return [canonical_op(side.G.nodes[n]["op"]) for n in side.direct.get(path, ())]


def _producer_module(side, path):
    """The module that feeds the first op of ``path``."""
    ops = side.direct.get(path) or []
    if not ops:
        return None
    for src in side.G._pred[ops[0]]:
        if side.G.nodes[src]["kind"] == "op":
            return side.module_of[src]
    return None


def _weight_home(side, names):
    """The module whose ops read any of ``names`` on a side, or None."""
    for path, nodes in side.direct.items():
        for node in nodes:
            if set(side.G.nodes[node].get("params") or {}) & names:
                return path
    return None


def _group(old_side, new_side, notes):
    """Pair modules with ops on both sides; fold one-sided ones where an exporter did."""
    groups = {p: _Group(p, [p], [p]) for p in old_side.direct if p in new_side.direct}
    if "" not in groups and ("" in old_side.direct or "" in new_side.direct):
        # the root always exists; exporters move glue ops in and out of it
        groups[""] = _Group("", [""] if "" in old_side.direct else [],
                            [""] if "" in new_side.direct else [])
    pending = [("old", p) for p in old_side.direct if p not in new_side.direct and p] + \
              [("new", p) for p in new_side.direct if p not in old_side.direct and p]
    only = {"old": [], "new": []}
    constants = set()
    for which, path in pending:
        this, that = (old_side, new_side) if which == "old" else (new_side, old_side)
        names = set(_params(this, [path]))
        home = _weight_home(that, names) if names else None
        ops = _canonical_ops(this, path)
        how = None
        if home is not None and home in groups:
            how = "merged"
        elif ops and all(op in FOLDABLE or op in ELIDABLE for op in ops) and \
                any(op in FOLDABLE for op in ops):
            home = _producer_module(this, path)
            how = "folded" if home in groups else None
        elif ops and all(op in ELIDABLE for op in ops):
            how = "elided"
        elif names and home is None:
            constant = _folded_constant(this, that, path)
            if constant is not None:
                how = "constant"
                constants.add(constant)
                shape = _params(that, list(that.direct)).get(constant, {}).get("shape")
                notes.append(f"{path} ({which} side only) folded into the constant {constant} "
                             f"({format_shape(shape)}): its inputs were fixed at export")
                groups[path] = _Group(path, [path] if which == "old" else [],
                                      [path] if which == "new" else [], "elided")
                continue
        if how in ("merged", "folded"):
            group = groups[home]
            getattr(group, which).append(path)
            group.how = group.how or how
            verb = "merged into" if how == "merged" else "folded into"
            notes.append(f"{path} ({which} side only) {verb} {home}")
        elif how == "elided":
            notes.append(f"{path} ({which} side only) elided: "
                         f"{', '.join(sorted(set(ops)))} is a no-op in eval mode")
            groups[path] = _Group(path, [path] if which == "old" else [],
                                  [path] if which == "new" else [], "elided")
        elif not _reaches_output(this, path):
            notes.append(f"{path} ({which} side only) computes nothing the outputs use: "
                         "the other side dropped it as dead code")
            groups[path] = _Group(path, [path] if which == "old" else [],
                                  [path] if which == "new" else [], "elided")
        else:
            only[which].append(path)
    return groups, only, constants


def _reaches_output(side, path):
    """Whether any op of module ``path`` (or its submodules) feeds a graph output."""
    live = side.__dict__.get("_live")
    if live is None:
        live = set()
        for out in side.G.graph.get("outputs", []):
            if out in side.G:
                live.add(out)
                live |= nx.ancestors(side.G, out)
        side.__dict__["_live"] = live
    return any(n in live for n in _ops(side, [path]))


def _duplicated(tied_side, other_side, groups, which, notes=None):
    """Weights one side reads in several modules under one name, stored as copies on the other.

    Returns ``{group key: {name: [the other side's names]}}`` for every group
    but the first that reads the tied weight (the legacy ONNX exporter
    stores a tied embedding twice: once for the Gather, once transposed for
    the MatMul).
    """
    users = defaultdict(list)
    for key, group in groups.items():
        for name in _params(tied_side, getattr(group, which)):
            users[name].append(key)
    other = "new" if which == "old" else "old"
    out = {}
    for name, keys in users.items():
        if len(keys) < 2:
            continue
        shape = _params(tied_side, getattr(groups[keys[0]], which))[name].get("shape")
        copies = []
        for key in keys:
            theirs = _params(other_side, getattr(groups[key], other))
            match = name if name in theirs else next(
                (n for n, info in theirs.items()
                 if _same_or_transposed(shape, info.get("shape"))), None)
            if match is not None and match not in copies:
                copies.append(match)
        if len(copies) > 1 and name in copies and source_family(tied_side.G) != "onnx":
            for key in keys[1:]:
                out.setdefault(key, {})[name] = copies
        elif len(copies) > 1 and notes is not None:
            # equal tensors stored once by the exporter (two causal-mask buffers)
            notes.append(f"{', '.join(copies)} stored once as {name} (equal values shared)")
    return out


def _folded_constant(this, that, path):
    """The weight on ``that`` side holding ``path``'s output, computed at export time.

    ``wpe(arange(16))`` becomes a 1×16×64 initializer when the sequence
    length is fixed: a weight only ``that`` side has, shaped like the
    module's output.
    """
    ops = this.direct.get(path) or []
    if not ops:
        return None
    outs = this.G.nodes[ops[-1]].get("outputs") or []
    shape = outs[0].get("shape") if outs else None
    if not shape:
        return None
    mine = set(_params(this, list(this.direct)))
    for name, info in _params(that, list(that.direct)).items():
        if name not in mine and info.get("shape") == shape:
            return name
    return None


# ------------------------------------------------------------------ result

@dataclass
class ModuleDiffResult:
    """A cross-source diff; duck-compatible with :class:`~graphir.diffing.graph.DiffResult`.

    Attributes
    ----------
    old, new : networkx.MultiDiGraph
        The two module-level graphs compared (one ``module:<path>`` node per
        module or folded group with ops, plus the inputs and outputs).
    old_ir, new_ir : networkx.MultiDiGraph
        The IRs given.
    level : str
        ``"module"`` or ``"op"``.
    matches, modules, renames, added, removed, changed, same, union, union_ids
        As in :class:`~graphir.diffing.graph.DiffResult`, over the module
        graphs' node ids. ``changed`` maps a node id to ``{"ops",
        "input_shapes", "input_why", "input_dtypes", "output_shapes",
        "output_why", "output_dtypes", "params", "param_dtype", "constants",
        "duplicated"}`` (only those that differ; described by
        :func:`graphir.diffing.report.describe_changes`).
    findings : list of dict
        One per module (with or without own ops) that differs:
        ``{"module", "state", "changes"}``, ``state`` ∈ added, removed, changed.
    notes : list of str
        What the exporter did that is not a difference (folds, renamed
        initializers, elided dropout).
    ops : dict
        Only at ``level="op"``: module path → the op alignment, a list of
        ``{"state", "old", "new", "old_ids", "new_ids"}``.
    raw_paths : dict
        ``{"old": {path as written: canonical path}, "new": {...}}``.
    numeric : dict or None
        Filled by :func:`graphir.diffing.numeric.compare_numeric`.
    """

    old: nx.MultiDiGraph
    new: nx.MultiDiGraph
    old_ir: nx.MultiDiGraph
    new_ir: nx.MultiDiGraph
    level: str
    matches: dict
    modules: dict
    renames: dict
    added: list
    removed: list
    changed: dict
    same: list
    findings: list
    notes: list
    groups: dict = field(default_factory=dict)
    ops: dict = field(default_factory=dict)
    raw_paths: dict = field(default_factory=dict)
    numeric: Any = None
    union: object = None
    union_ids: dict = field(default_factory=dict)

    @property
    def summary(self):
        """Module counts: ``{"added", "removed", "changed", "same"}``.

        Modules (or folded groups), not drawn nodes: a module only on one
        side, a module that differs, a matched module that agrees.
        """
        states = [f["state"] for f in self.findings if f["module"] != "(graph)"]
        changed = sum(1 for s in states if s == "changed")
        return {"added": states.count("added"), "removed": states.count("removed"),
                "changed": changed,
                "same": max(0, sum(1 for g in self.groups.values() if g["how"] != "elided")
                            - changed)}

    @property
    def has_differences(self):
        """True when a module or the graph's inputs/outputs differ, or numbers disagree."""
        numeric_fail = bool(self.numeric and not self.numeric.get("ok", True))
        return bool(self.findings or numeric_fail)


def _calls(side, members):
    """The op nodes of a group split into calls, so that contracting each stays acyclic.

    Walking the ops in topological order, a new call starts at an op that
    the current call reaches through a node outside the group (a ReLU
    module applied twice in a block; an attention module whose ops run
    before and after its child projection).
    """
    G = side.G
    ops = _ops(side, members)
    inside = set(ops)
    calls, current, escaped = [], [], set()
    for op in ops:
        if current and op in escaped:
            calls.append(current)
            current, escaped = [], set()
        current.append(op)
        for succ in G._succ[op]:
            if succ not in inside and succ not in escaped:
                escaped.add(succ)
                escaped |= nx.descendants(G, succ)
    if current:
        calls.append(current)
    return calls


def _call_id(key, k):
    return _MODULE_PREFIX + key + (f"#{k}" if k else "")


def _short_name(path):
    """``conv1`` for ``layer1.0.conv1``; ``layer1.0`` for a numbered module; ``(root)``."""
    return short_name(path) if path else "(root)"


def _call_label(side, members, call, is_container):
    """A module node's label: its name(s), and for a container or the root its ops."""
    label = "+".join(_short_name(p) for p in members)
    if is_container:
        ops = []
        for n in call:
            op = _short(side.G.nodes[n]["op"])
            if op not in ops:
                ops.append(op)
        label += " · " + ", ".join(ops[:2]) + (", …" if len(ops) > 2 else "")
    return label


def _module_graph(side, node_groups, other_types=None):
    """One ``module:<key>[#k]`` node per call of each group, plus the I/O nodes.

    A module called twice (a ReLU reused in a block) gets one node per call,
    so the module graph stays acyclic as the op graph is.
    """
    G = side.G
    node_of, calls_of = {}, {}
    for key, members in node_groups.items():
        calls = _calls(side, members)
        calls_of[key] = calls
        for k, call in enumerate(calls):
            node_of.update((n, _call_id(key, k)) for n in call)
    for node in side.order:
        node_of.setdefault(node, node if G.nodes[node]["kind"] != "op"
                           else _MODULE_PREFIX + side.module_of[node])
    outs_of, ports = {}, {}
    for node in side.order:
        target = node_of[node]
        for dst, keyed in G._succ[node].items():
            if node_of[dst] == target:
                continue
            for data in keyed.values():
                key = (node, data.get("src_port", 0))
                if key not in ports:
                    outs = outs_of.setdefault(target, [])
                    ports[key] = len(outs)
                    outs.append(key)
    M = ir.new_graph(G.graph.get("source", "trace"), G.graph.get("name", ""))
    done = set()
    for node in side.order:
        target = node_of[node]
        if target in done:
            continue
        done.add(target)
        data = G.nodes[node]
        if data["kind"] != "op":
            extra = {k: v for k, v in data.items() if k not in ("kind", "op", "name")}
            ir.add_node(M, node, kind=data["kind"], op=data["op"], name=data["name"], **extra)
            continue
        key = target[len(_MODULE_PREFIX):].split("#")[0]
        members = node_groups.get(key, [key])
        call = next((c for c in calls_of.get(key, []) if node in c), [node])
        types = {**(other_types or {}), **{p: t for p, t in side.types.items() if t}}
        module_type = "+".join(t for t in (types.get(p) for p in members) if t) or None
        is_container = not key or any(p.startswith(key + ".") for p in side.paths)
        label = _call_label(side, members, call, is_container)
        params = {}
        for n in call:
            for name, info in (G.nodes[n].get("params") or {}).items():
                params.setdefault(name, dict(info or {}))
        ir.add_node(M, target, kind="module", op="module", name=key or "(root)",
                    label=label, module=key, module_type=module_type,
                    scope=ir.scope_from_path(key, module_type,
                                             {p: types.get(p) for p in _ancestors(key)}),
                    outputs=[_tensor(G, k) for k in outs_of.get(target, [])],
                    params=params, children=len(call), members=list(members))
        M.graph.setdefault("_call_ops", {})[target] = [G.nodes[n]["op"] for n in call]
    seen = set()
    for u, v, data in G.edges(data=True):
        su, sv = node_of[u], node_of[v]
        if su == sv:
            continue
        port = (ports.get((u, data.get("src_port", 0)), 0) if su.startswith(_MODULE_PREFIX)
                else data.get("src_port", 0))
        if (su, sv, port) in seen:
            continue
        seen.add((su, sv, port))
        ir.add_edge(M, su, sv, port, sum(1 for e in seen if e[1] == sv) - 1)
    M.graph["inputs"] = list(G.graph.get("inputs", []))
    M.graph["outputs"] = list(G.graph.get("outputs", []))
    dropped = 0
    while not nx.is_directed_acyclic_graph(M):   # two groups interleaved: rare
        u, v, key = nx.find_cycle(M)[-1][:3]
        M.remove_edge(u, v, key)
        dropped += 1
    if dropped:
        M.graph["notes"] = [f"dropped {dropped} module edges that closed a cycle"]
    return M


def _check_level(level):
    if level not in LEVELS:
        raise InputError(f"unknown diff level {level!r}", hint="use --level module or op")


def diff_across_sources(old: nx.MultiDiGraph, new: nx.MultiDiGraph, *, level: str = "module",
                        union: bool = True, old_runner: Callable | None = None,
                        new_runner: Callable | None = None,
                        example_inputs: Sequence | None = None, atol: float = 1e-4,
                        rtol: float = 1e-3) -> "ModuleDiffResult":
    """Compare two IRs from (usually) different sources, by module.

    Parameters
    ----------
    old, new : networkx.MultiDiGraph
        IRs of any sources (trace, export, fx, onnx, torchscript).
    level : {"module", "op"}
        ``"module"``: one verdict per module (ops compared through the
        equivalence table, boundaries, weights). ``"op"``: the same, plus the
        op alignment of every matched module in ``result.ops`` (and the
        per-op steps in ``changes["ops"]``).
    union : bool
        Build the union IR for the renderer into ``result.union``.
    old_runner, new_runner : callable, optional
        With both (and ``example_inputs``), also compare numbers:
        :func:`graphir.diffing.numeric.compare_numeric` fills
        ``result.numeric``. Runners come from :mod:`graphir.overlay.numeric`
        (``module_runner``, ``onnx_runner``, ``exported_runner``,
        ``torchscript_runner``).
    example_inputs : sequence, optional
        Positional inputs both runners get.
    atol, rtol : float
        Numeric tolerance: a module fails where
        ``|old - new| > atol + rtol * |old|``.

    Returns
    -------
    ModuleDiffResult
    """
    _check_level(level)
    if (old_runner is None) != (new_runner is None) or \
            (old_runner is not None and example_inputs is None):
        raise InputError("a numeric diff needs a runner for each side and example inputs",
                         hint="pass old_runner, new_runner and example_inputs, or none")
    raw_o, raw_n = _raw_paths(old), _raw_paths(new)
    map_o, map_n = normalise_paths(raw_o, raw_n), normalise_paths(raw_n, raw_o)
    so, sn = _side(old, map_o), _side(new, map_n)
    notes = []
    for side, mapping, which in ((so, map_o, "old"), (sn, map_n, "new")):
        for raw, canonical in sorted(mapping.items()):
            if raw != canonical:
                notes.append(f"{raw} ({which}) read as {canonical}: a repeated call")
    groups, only, constants = _group(so, sn, notes)
    findings, changed_nodes, same_nodes = [], {}, []
    duplicated = _duplicated(so, sn, groups, "old", notes)
    for key, names in _duplicated(sn, so, groups, "new", notes).items():
        duplicated.setdefault(key, {}).update(names)
    op_alignment = {}
    for key in sorted(groups, key=natural_key):
        group = groups[key]
        if group.how == "elided":
            continue
        changes = {}
        steps: list | None = [] if level == "op" else None
        ops = _op_changes(so, sn, group.old, group.new, steps)
        if ops:
            changes["ops"] = ops
        if steps is not None:
            op_alignment[key] = [{"state": st.state, "old": list(st.old), "new": list(st.new),
                                  "old_ids": o_ids, "new_ids": n_ids}
                                 for st, o_ids, n_ids in steps]
        if key:            # the root's boundary is the graph's: compared below
            i_o, o_o = _boundary(so, group.old, subtree=False)
            i_n, o_n = _boundary(sn, group.new, subtree=False)
            first, last = _edge_glue(so, group.old), _edge_glue(sn, group.new)
            changes.update(_compare_tensors(i_o, i_n, so, sn, "input",
                                            reshaped=first[0] or last[0]))
            changes.update(_compare_tensors(o_o, o_n, so, sn, "output",
                                            reshaped=first[1] or last[1]))
        folded = []
        if group.how:
            folded = [p for p in group.old + group.new
                      if p != key or any(op in FOLDABLE for op in
                                         _canonical_ops(so, p) + _canonical_ops(sn, p))]
        params_o = {k: v for k, v in _params(so, group.old).items() if k not in constants}
        params_n = {k: v for k, v in _params(sn, group.new).items() if k not in constants}
        changes.update(_compare_params(params_o, params_n, folded, notes, key or "(root)"))
        if key in duplicated:
            changes["duplicated"] = duplicated[key]
        node = _MODULE_PREFIX + key
        if changes:
            changed_nodes[node] = changes
            findings.append({"module": key, "state": "changed", "changes": changes})
        else:
            same_nodes.append(node)
    # container modules: boundary shapes of modules without own ops
    containers = sorted((so.paths & sn.paths) - set(groups) - {""}, key=natural_key)
    for path in containers:
        i_o, o_o = _boundary(so, [path])
        i_n, o_n = _boundary(sn, [path])
        changes = {}
        changes.update(_compare_tensors(i_o, i_n, so, sn, "input"))
        changes.update(_compare_tensors(o_o, o_n, so, sn, "output"))
        if changes:
            findings.append({"module": path, "state": "changed", "changes": changes})
    graph_io = {}
    for key in ("inputs", "outputs"):
        graph_io.update(_compare_tensors(
            [(n, 0) for n in old.graph.get(key, [])], [(n, 0) for n in new.graph.get(key, [])],
            so, sn, key[:-1]))
    if graph_io:
        findings.append({"module": "(graph)", "state": "changed", "changes": graph_io})
    findings += [{"module": p, "state": "removed", "changes": {}} for p in only["old"]]
    findings += [{"module": p, "state": "added", "changes": {}} for p in only["new"]]
    findings.sort(key=lambda f: natural_key(f["module"]))
    groups_o = {k: g.old for k, g in groups.items() if g.old}
    groups_o.update({p: [p] for p in only["old"]})
    groups_n = {k: g.new for k, g in groups.items() if g.new}
    groups_n.update({p: [p] for p in only["new"]})
    M_old = _module_graph(so, groups_o, sn.types)
    M_new = _module_graph(sn, groups_n, so.types)
    matches: dict[str, str] = {}
    for key in ("inputs", "outputs"):
        matches.update(zip(M_old.graph[key], M_new.graph[key]))
    for node in M_old:
        if node.startswith(_MODULE_PREFIX) and node in M_new:
            matches[node] = node
    inverse = {v: k for k, v in matches.items()}
    added = [n for n in M_new if n not in inverse]
    removed = [n for n in M_old if n not in matches]
    changed, same = {}, []
    for node in M_new:
        if node not in inverse:
            continue
        key = M_new.nodes[node].get("module") if node.startswith(_MODULE_PREFIX) else None
        if key is not None and _MODULE_PREFIX + key in changed_nodes:
            changed[node] = changed_nodes[_MODULE_PREFIX + key]
        else:
            same.append(node)
    result = ModuleDiffResult(
        old=M_old, new=M_new, old_ir=old, new_ir=new, level=level, matches=matches,
        modules={k: k for k in groups}, renames={}, added=added, removed=removed,
        changed=changed, same=same, findings=findings, notes=notes,
        groups={k: {"old": g.old, "new": g.new, "how": g.how} for k, g in groups.items()},
        ops=op_alignment, raw_paths={"old": map_o, "new": map_n})
    if level == "op":
        _op_result(result, so, sn, op_alignment, only, union)
    elif union:
        U = union_graph(M_old, M_new, result, old_order=list(M_old))
        _restate(U, result, groups, only, _per_call(M_old, M_new, changed_nodes))
        U.graph["diff_level"] = level
        U.graph["diff_summary"] = result.summary
        result.union = U
    if old_runner is not None and new_runner is not None and example_inputs is not None:
        compare_numeric(result, old_runner, new_runner, example_inputs, atol=atol, rtol=rtol)
    return result


def _op_states(so, sn, alignment, only):
    """Old → new op matches and the diff state of every op node on each side."""
    matches, state_o, state_n, changes = {}, {}, {}, {}
    for steps in alignment.values():
        for step in steps:
            olds, news = step["old_ids"], step["new_ids"]
            if step["state"] in ("same", "changed") and olds and news:
                matches[olds[0]] = news[0]
            if step["state"] == "changed":
                changes[news[0]] = {"op": [_short(step["old"][0]), _short(step["new"][0])]}
            state = {"changed": "changed", "added": "added", "removed": "removed"}.get(
                step["state"], "same")
            state_o.update((n, state) for n in olds)
            state_n.update((n, state) for n in news)
    for side, states, which in ((so, state_o, "old"), (sn, state_n, "new")):
        gone = "removed" if which == "old" else "added"
        for node in side.order:
            if side.G.nodes[node]["kind"] != "op":
                continue
            path = side.module_of[node]
            if any(path == p or path.startswith(p + ".") for p in only[which]):
                states[node] = gone
            states.setdefault(node, "same")
    return matches, state_o, state_n, changes


def _op_result(result, so, sn, alignment, only, union):
    """At ``level="op"`` the result's graphs, lists and union are the IRs' ops."""
    matches, state_o, state_n, changes = _op_states(so, sn, alignment, only)
    result.old, result.new = so.G, sn.G
    result.matches = matches
    result.added = [n for n in sn.order if state_n.get(n) == "added"]
    result.removed = [n for n in so.order if state_o.get(n) == "removed"]
    result.changed = {n: changes.get(n, {}) for n in sn.order if state_n.get(n) == "changed"}
    result.same = [n for n in sn.order if state_n.get(n, "same") == "same"]
    if union:
        result.union = _op_union(so, sn, alignment, only)
        result.union_ids = {n.get("old_id", k): k for k, n in result.union.nodes(data=True)
                            if n.get("diff") == "removed"}


def _op_union(so, sn, alignment, only):
    """The union IR at op level: the new graph's ops, plus the old ops removed.

    Ops are matched through the equivalence alignment inside each module;
    glue, folded and elided ops are drawn unchanged on the side that has
    them (old-only ones are left out), changed ones carry ``changes``
    (``{"op": [old, new]}``), and removed old ops come back under their old
    id (``removed:<id>`` when taken), wired to their matched neighbours.
    """
    matches, state_o, state_n, changes = _op_states(so, sn, alignment, only)
    old_G, new_G = so.G, sn.G
    U = nx.MultiDiGraph()
    U.graph.update(new_G.graph)
    U.graph["inputs"] = list(new_G.graph.get("inputs", []))
    U.graph["outputs"] = list(new_G.graph.get("outputs", []))
    io_o = list(old_G.graph.get("inputs", [])) + list(old_G.graph.get("outputs", []))
    io_n = list(new_G.graph.get("inputs", [])) + list(new_G.graph.get("outputs", []))
    matches.update(zip(io_o, io_n))
    removed = [n for n in so.order if state_o.get(n) == "removed"]
    ids, taken = {}, set(new_G)
    for node in removed:
        ids[node] = node if node not in taken else f"removed:{node}"
        taken.add(ids[node])
    for node in sn.order:
        data = dict(new_G.nodes[node])
        data["diff"] = state_n.get(node, "same")
        if node in changes:
            data["changes"] = changes[node]
        U.add_node(node, **data)
    for node in removed:
        data = dict(old_G.nodes[node], diff="removed")
        if ids[node] != node:
            data["old_id"] = node
        U.add_node(ids[node], **data)
    U.add_edges_from((u, v, k, d) for u, nbrs in new_G._succ.items()
                     for v, keyed in nbrs.items() for k, d in keyed.items())
    for u, v, data in old_G.edges(data=True):
        if u not in ids and v not in ids:
            continue
        src, dst = ids.get(u) or matches.get(u), ids.get(v) or matches.get(v)
        if src is None or dst is None:
            continue
        outs = U.nodes[src].get("outputs") or []
        if outs and data.get("src_port", 0) >= len(outs):
            continue
        U.add_edge(src, dst, **dict(data, diff="removed"))
    while not nx.is_directed_acyclic_graph(U):
        u, v, key = nx.find_cycle(U)[-1][:3]
        U.remove_edge(u, v, key)
    counts = defaultdict(int)
    for _, state in U.nodes(data="diff"):
        counts[state] += 1
    U.graph["diff_summary"] = {k: counts[k] for k in ("added", "removed", "changed", "same")}
    U.graph["diff_level"] = "op"
    U.graph["diff_old"] = old_G.graph.get("name")
    return U


def _per_call(M_old, M_new, changed_nodes):
    """Changes per module call node: a module called twice may differ in one call only.

    When a changed module differs only in its ops and has as many calls on
    both sides, each call's ops are aligned on their own; a call whose ops
    agree is unchanged. Otherwise every call carries the module's changes.
    """
    calls_o = M_old.graph.pop("_call_ops", {})
    calls_n = M_new.graph.pop("_call_ops", {})
    count_o, count_n = defaultdict(int), defaultdict(int)
    for node in calls_o:
        count_o[M_old.nodes[node]["module"]] += 1
    for node in calls_n:
        count_n[M_new.nodes[node]["module"]] += 1
    out = {}
    for node in calls_n:
        key = M_new.nodes[node]["module"]
        changes = changed_nodes.get(_MODULE_PREFIX + key)
        if changes is None:
            continue
        if set(changes) == {"ops"} and count_o[key] == count_n[key] and node in calls_o:
            steps = align_ops(calls_o[node], calls_n[node])
            ops = defaultdict(list)
            for step in steps:
                if step.state == "changed":
                    ops["changed"].append([_short(step.old[0]), _short(step.new[0])])
                elif step.state in ("added", "removed"):
                    ops[step.state].append(_short((step.new or step.old)[0]))
            if ops:
                out[node] = {"ops": dict(ops)}
        else:
            out[node] = changes
    return out


def _restate(U, result, groups, only, changed_nodes):
    """Give every union node its module's verdict, and the result lists with it.

    A module's calls may split differently on the two sides, and an elided
    dropout exists on one side only: neither is a difference, so a node's
    state is its module's (added, removed, changed or same), not whether
    the same node id exists on both sides.
    """
    added, removed, changed, same = [], [], {}, []
    for node, data in U.nodes(data=True):
        state = data["diff"]
        if data.get("kind") == "module":
            key = data.get("module") or ""
            old_only = node not in result.new
            state = ("added" if key in only["new"] else "removed" if key in only["old"] else
                     "same" if old_only else "changed" if node in changed_nodes else "same")
            data.pop("changes", None)
            if state == "changed":
                data["changes"] = changed_nodes[node]
        elif state == "changed":
            state = "same"
        data["diff"] = state
        if state == "added":
            added.append(node)
        elif state == "removed":
            removed.append(data.get("old_id", node))
        elif state == "changed":
            changed[node] = data["changes"]
        else:
            same.append(node)
    result.added, result.removed, result.changed, result.same = added, removed, changed, same


# ------------------------------------------------------------------ reports

def to_text(result: ModuleDiffResult, old_name: str = "old", new_name: str = "new", *,
            notes: bool = True) -> str:
    """The cross-source diff as text; the first line names the level.

    ``old → new (module level, trace vs onnx): modules, shapes and weights
    agree (N modules)`` for a faithful export, else the counts and one line
    per module that differs; then numeric results when present, then the
    exporter's notes (folds, renamed initializers).
    """
    src = f"{result.old_ir.graph.get('source')} vs {result.new_ir.graph.get('source')}"
    head = f"{old_name} → {new_name} ({result.level} level, {src}): "
    counts = result.summary
    lines = []
    if not (result.added or result.removed or result.changed or result.findings):
        if result.numeric and not result.numeric.get("ok", True):
            lines.append(head + f"modules, shapes and weight shapes agree ({counts['same']} "
                         "modules), numbers do not")
        else:
            lines.append(head + f"modules, shapes and weights agree ({counts['same']} modules)")
    else:
        lines.append(head + ", ".join(f"{counts[k]} {k}" for k in
                                      ("added", "removed", "changed", "same")))
        lines.append("changes by module:")
        shown, cascade = _split_cascade(result.findings)
        width = min(40, max(len(f["module"] or "(root)") for f in shown))
        for f in shown:
            what = "; ".join(describe_changes(f["changes"])) or f"module only in {'new' if f['state'] == 'added' else 'old'}"
            sign = {"added": "+", "removed": "-", "changed": "~"}[f["state"]]
            lines.append(f"  {(f['module'] or '(root)'):<{width}}  {sign} {what}")
        if cascade:
            reasons = sorted({r for f in cascade for k in ("input_why", "output_why")
                              for r in f["changes"].get(k, [])})
            lines.append(f"  … and {len(cascade)} modules whose boundaries follow "
                         f"({', '.join(reasons)}): {_path_list([f['module'] for f in cascade])}")
    if result.numeric:
        lines += numeric_lines(result.numeric)
    if result.level == "op" and result.ops:
        for key, steps in result.ops.items():
            diffs = [s for s in steps if s["state"] in ("changed", "added", "removed")]
            if diffs:
                lines.append(f"ops in {key or '(root)'}: " + "; ".join(
                    f"{s['state']} {'+'.join(map(_short, s['old'])) or '∅'} → "
                    f"{'+'.join(map(_short, s['new'])) or '∅'}" for s in diffs))
    if notes and result.notes:
        lines.append("notes (exporter changes that are not differences):")
        lines += [f"  {n}" for n in result.notes[:_MAX_NOTES]]
        if len(result.notes) > _MAX_NOTES:
            lines.append(f"  … {len(result.notes) - _MAX_NOTES} more (see the JSON output)")
    return "\n".join(lines) + "\n"


def _split_cascade(findings):
    """Findings to print, and those that only repeat the graph's dynamic/static change.

    When the graph's inputs went from a dynamic to a fixed dim, every module
    boundary after it says the same; those are printed as one line.
    """
    graph = next((f for f in findings if f["module"] == "(graph)"), None)
    if graph is None:
        return findings, []
    why = set(graph["changes"].get("input_why", [])) & _DYNAMISM
    if not why:
        return findings, []
    shown, cascade = [], []
    for f in findings:
        keys = set(f["changes"])
        reasons = {r for k in ("input_why", "output_why") for r in f["changes"].get(k, [])}
        if f is not graph and keys <= {"input_shapes", "output_shapes", "input_why",
                                       "output_why"} \
                and reasons and reasons <= why:
            cascade.append(f)
        else:
            shown.append(f)
    return shown, cascade


def _path_list(paths, limit=4):
    return ", ".join(paths[:limit]) + (f", … ({len(paths) - limit} more)" if len(paths) > limit
                                       else "")


def numeric_lines(numeric: dict) -> list:
    """Text lines of a numeric comparison (see :func:`graphir.diffing.numeric.compare_numeric`)."""
    lines = [f"numeric (atol {numeric['atol']:g}, rtol {numeric['rtol']:g}): "
             + ("all modules within tolerance" if numeric.get("ok") else
                f"{sum(1 for r in numeric['modules'] if not r['ok'])} modules out of tolerance")]
    for row in numeric["modules"]:
        if not row["ok"]:
            which = ""
            if row.get("tensors", 1) > 1 and row.get("failing"):
                which = (f" (output {', '.join(map(str, row['failing']))} of "
                         f"{row['tensors']})")
            lines.append(f"  {row['module'] or '(output)'}{which}  max abs "
                         f"{row['max_abs']:.3g}, max rel {row['max_rel']:.3g}")
    lines += [f"  note: {n}" for n in numeric.get("notes", [])]
    return lines


def to_json_dict(result: ModuleDiffResult) -> dict:
    """The cross-source diff as JSON: today's keys plus ``level``, ``findings``, ``notes``.

    ``{"level", "sources": [old, new], "summary", "added", "removed",
    "changed", "renamed", "findings": [{"module", "state", "changes"}],
    "notes": [...], "numeric": {...} or null, "ops": {...} (op level)}``.
    """
    def entry(M, node):
        data = M.nodes[node]
        return {"id": node, "op": data.get("op"), "module": data.get("module") or ""}

    out = {
        "level": result.level,
        "sources": [result.old_ir.graph.get("source"), result.new_ir.graph.get("source")],
        "summary": result.summary,
        "added": sorted((entry(result.new, n) for n in result.added),
                        key=lambda e: natural_key(e["id"])),
        "removed": sorted((entry(result.old, n) for n in result.removed),
                          key=lambda e: natural_key(e["id"])),
        "changed": sorted((dict(entry(result.new, n), changes=c)
                           for n, c in result.changed.items()),
                          key=lambda e: natural_key(e["id"])),
        "renamed": [],
        "findings": result.findings,
        "notes": list(result.notes),
        "numeric": result.numeric,
    }
    if result.level == "op":
        out["ops"] = result.ops
    return out
