"""Reports of a graph diff: text (like ``git diff --stat``) and JSON.

:func:`to_text` prints the counts, the renamed modules, then one line per
module with what changed in it. :func:`to_json_dict` is the issue's JSON
(plus ``renamed``). The interactive HTML page is :func:`graphir.explore.diff_page`.

Examples
--------
>>> from graphir import ir
>>> from graphir.diffing.graph import diff_graphs
>>> def net(width):
...     G = ir.new_graph("fx", "net")
...     x = ir.add_node(G, "input:x", kind="input", op="input", name="x")
...     fc = ir.add_node(G, "fc/linear#0", kind="op", op="linear", name="fc", module="fc",
...                      params={"fc.weight": ir.param_info([width, 4], "float32")})
...     ir.add_edge(G, x, fc)
...     return G
>>> print(to_text(diff_graphs(net(8), net(16)), "a.json", "b.json"))
a.json → b.json: 0 added, 0 removed, 1 changed, 1 same
changes by module:
  fc  ~1 changed: params weight 8×4 → 16×4
>>> print(to_text(diff_graphs(net(8), net(8)), "a.json", "b.json"))
a.json → b.json: no differences (2 nodes)
"""

import json
import re
from collections import defaultdict

from graphir.diffing.match import parent_path

__all__ = [
    "to_text",
    "to_json_dict",
    "describe_changes",
    "format_shape",
    "natural_key",
    "rename_lines",
]

_MAX_DESCRIPTIONS = 3
_MAX_PATH_WIDTH = 40


def natural_key(text):
    """Sort key that orders numbers inside names by value (``h.2`` < ``h.10``).

    >>> sorted(["h.10", "h.2", "h.1"], key=natural_key)
    ['h.1', 'h.2', 'h.10']
    """
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", str(text))]


def format_shape(shape):
    """A shape as ``64×192``; ``?`` when unknown, ``scalar`` for ``[]``.

    >>> format_shape([1, "batch", None]), format_shape(None), format_shape([])
    ('1×batch×?', '?', 'scalar')
    """
    if shape is None:
        return "?"
    if not shape:
        return "scalar"
    return "×".join("?" if d is None else str(d) for d in shape)


def _shapes(shapes):
    if shapes is None:
        return "none"
    return ", ".join(format_shape(s) for s in shapes) or "none"


def _value(value):
    return "none" if value is None else json.dumps(value, ensure_ascii=False, default=str)


def describe_changes(changes):
    """Short human descriptions of a node's ``changes`` dict.

    >>> describe_changes({"params": {"weight": [[64, 192], [64, 256]]},
    ...                   "attrs": {"eps": [1e-05, 1e-06]}})
    ['attrs eps 1e-05 → 1e-06', 'params weight 64×192 → 64×256']
    """
    out = []
    for key in ("kind", "op", "children", "repeat"):
        if key in changes:
            old, new = changes[key]
            out.append(f"{key} {_value(old)} → {_value(new)}")
    if "outputs" in changes:
        old, new = changes["outputs"]
        out.append(f"outputs {_shapes(old)} → {_shapes(new)}")
    if "dtype" in changes:
        old, new = changes["dtype"]
        out.append(f"dtype {', '.join(map(str, old)) or 'none'} → {', '.join(map(str, new)) or 'none'}")
    for name, (old, new) in (changes.get("attrs") or {}).items():
        out.append(f"attrs {name} {_value(old)} → {_value(new)}")
    for name, (old, new) in (changes.get("params") or {}).items():
        old_text = "none" if old is None else format_shape(old)
        new_text = "none" if new is None else format_shape(new)
        out.append(f"params {name} {old_text} → {new_text}")
    for name, (old, new) in (changes.get("param_dtype") or {}).items():
        out.append(f"params {name} {old} → {new}")
    for port, (old, new) in (changes.get("inputs") or {}).items():
        out.append(f"input #{port} {', '.join(old) or 'none'} → {', '.join(new) or 'none'}")
    out += _module_descriptions(changes)
    return sorted(out) if "op" not in changes else out


def _module_descriptions(changes):
    """Descriptions of a cross-source module diff's keys (:mod:`graphir.diffing.modules`).

    >>> _module_descriptions({"ops": {"changed": [["relu", "Sigmoid"]]},
    ...                       "input_shapes": [[[1, 8]], [["batch", 8]]],
    ...                       "input_why": ["dynamic → static"]})
    ['op relu → Sigmoid', 'input 1×8 → batch×8 (dynamic → static)']
    """
    out = []
    ops = changes.get("ops") or {}
    out += [f"op {old} → {new}" for old, new in ops.get("changed", [])]
    for state in ("removed", "added"):
        if ops.get(state):
            out.append(f"ops {state}: " + ", ".join(ops[state]))
    for what in ("input", "output"):
        if what + "_shapes" in changes:
            old, new = changes[what + "_shapes"]
            why = changes.get(what + "_why")
            out.append(f"{what} {_shapes(old)} → {_shapes(new)}"
                       + (f" ({', '.join(why)})" if why else ""))
        if what + "_dtypes" in changes:
            old, new = changes[what + "_dtypes"]
            out.append(f"{what} dtype {', '.join(map(str, old))} → {', '.join(map(str, new))}")
    for name, (old, constant, new) in (changes.get("constants") or {}).items():
        out.append(f"buffer {name} {format_shape(old)} folded into the constant {constant} "
                   f"{format_shape(new)}")
    for name, copies in (changes.get("duplicated") or {}).items():
        out.append(f"tied weight {name} stored {len(copies)} times ({', '.join(copies)})")
    return out


def _top_unmatched(path, matched):
    """The shallowest module on ``path``'s chain that is not in ``matched``."""
    if not path:
        return None
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if prefix not in matched:
            return prefix
    return None


def _entries(result):
    """``(state, old or new node data, node id)`` of every node that differs.

    In the union IR's order when there is one (removed nodes sit next to
    their old neighbours), else added, changed, then removed.
    """
    if result.union is None:
        yield from (("added", result.new.nodes[n], n) for n in result.added)
        yield from (("changed", result.new.nodes[n], n) for n in result.changed)
        yield from (("removed", result.old.nodes[n], n) for n in result.removed)
        return
    for node, data in result.union.nodes(data=True):
        state = data.get("diff")
        if state == "removed":
            old = data.get("old_id", node)
            yield state, result.old.nodes[old], old
        elif state in ("added", "changed"):
            yield state, result.new.nodes[node], node


def _module_groups(result):
    """Module → added and removed counts, changed node ids, ``whole`` states.

    An added node counts under the shallowest module of its path that only
    the new graph has (``h.6 … (added)``), else under its own module; the
    same for removed nodes and the old graph. Changed nodes count under
    their own module.
    """
    matched = {"added": set(result.modules.values()), "removed": set(result.modules)}
    groups = defaultdict(lambda: {"added": 0, "removed": 0, "changed": [], "whole": set(),
                                  "ops": True})
    for state, data, node in _entries(result):
        path = data.get("module") or ""
        if state == "changed":
            groups[path]["changed"].append(node)
            continue
        top = _top_unmatched(path, matched[state])
        group = groups[path if top is None else top]
        group[state] += 1
        group["ops"] = group["ops"] and data.get("kind") == "op"
        if top is not None:
            group["whole"].add(state)
    return groups


def _numbered(path):
    parent = parent_path(path)
    local = path[len(parent) + 1:] if parent else path
    return (parent, int(local)) if local.isdigit() else None


def _index_template(path):
    """``h.3.mlp`` → (``h.*.mlp``, (3,)): numbered parts replaced by ``*``."""
    parts = path.split(".")
    numbers = tuple(int(p) for p in parts if p.isdigit())
    return ".".join("*" if p.isdigit() else p for p in parts), numbers


def _fold_same_index(renames):
    """Fold renames that repeat in every block (``h.*.mlp → h.*.ffn``).

    Returns the folded lines and the renames left over.
    """
    groups = {}
    for old, new in renames.items():
        (t_old, n_old), (t_new, n_new) = _index_template(old), _index_template(new)
        if n_old and n_old == n_new:
            groups.setdefault((t_old, t_new), []).append(old)
    lines, rest = [], dict(renames)
    for (t_old, t_new), olds in sorted(groups.items()):
        if len(olds) >= 3:
            lines.append(f"{t_old} → {t_new} ({len(olds)} modules)")
            for old in olds:
                del rest[old]
    return lines, rest


def rename_lines(renames):
    """Renames as lines, repetitive ones folded.

    A rename repeated in every block folds to one ``*`` line, and a run of
    shifted numbered blocks to one ``…`` line.

    >>> rename_lines({"h.6": "h.7", "h.7": "h.8", "h.8": "h.9", "mlp": "ffn"})
    ['h.6 … h.8 → h.7 … h.9 (3 modules)', 'mlp → ffn']
    >>> rename_lines({f"h.{i}.mlp": f"h.{i}.ffn" for i in range(12)})
    ['h.*.mlp → h.*.ffn (12 modules)']
    """
    folded, renames = _fold_same_index(renames)
    lines, run = [], []

    def flush():
        if len(run) >= 3:
            (o0, n0), (o1, n1) = run[0], run[-1]
            lines.append(f"{o0} … {o1} → {n0} … {n1} ({len(run)} modules)")
        else:
            lines.extend(f"{o} → {n}" for o, n in run)
        run.clear()

    for old in sorted(renames, key=natural_key):
        new = renames[old]
        if run:
            prev_o, prev_n = _numbered(run[-1][0]), _numbered(run[-1][1])
            cur_o, cur_n = _numbered(old), _numbered(new)
            follows = (prev_o and prev_n and cur_o and cur_n
                       and (cur_o[0], cur_n[0]) == (prev_o[0], prev_n[0])
                       and cur_o[1] == prev_o[1] + 1 and cur_n[1] == prev_n[1] + 1)
            if not follows:
                flush()
        run.append((old, new))
    flush()
    return folded + lines


def _group_text(group):
    """``+23 ops (added)`` / ``-1 op`` / ``~2 changed: …`` for one module."""
    parts = []
    for state, sign in (("added", "+"), ("removed", "-")):
        count = group[state]
        if count:
            noun = "op" if group["ops"] else "node"
            whole = f" ({state})" if state in group["whole"] else ""
            parts.append(f"{sign}{count} {noun}{'s' if count != 1 else ''}{whole}")
    return parts


def to_text(result, old_name="old", new_name="new"):
    """The diff as text: counts, renames, then what changed per module.

    One line per module that differs, in graph order, like ``git diff
    --stat``: ``h.6  +23 ops (added)``, ``h.0.attn.c_attn  ~1 changed:
    params weight 64×192 → 64×256``. When nothing differs, one line says so.
    """
    counts = result.summary
    head = f"{old_name} → {new_name}: "
    if not result.has_differences:
        return head + f"no differences ({counts['same']} nodes)"
    lines = [head + ", ".join(f"{counts[k]} {k}" for k in ("added", "removed", "changed", "same"))]
    if result.renames:
        lines.append("renamed:")
        lines += ["  " + line for line in rename_lines(result.renames)]
    groups = _module_groups(result)
    if groups:
        lines.append("changes by module:")
        width = min(_MAX_PATH_WIDTH, max(len(path or "(root)") for path in groups))
        for path, group in groups.items():
            parts = _group_text(group)
            if group["changed"]:
                described = []
                for node in group["changed"]:
                    described += [d for d in describe_changes(result.changed[node])
                                  if d not in described]
                more = "; …" if len(described) > _MAX_DESCRIPTIONS else ""
                parts.append(f"~{len(group['changed'])} changed: "
                             + "; ".join(described[:_MAX_DESCRIPTIONS]) + more)
            lines.append(f"  {(path or '(root)'):<{width}}  " + "  ".join(parts))
    return "\n".join(lines)


def _node_entry(data, node):
    return {"id": node, "op": data.get("op"), "module": data.get("module") or ""}


def to_json_dict(result):
    """The diff in the issue's JSON form, sorted and deterministic.

    ``{"summary": {"added", "removed", "changed", "same"}, "added": [{"id",
    "op", "module"}…], "removed": […] (old ids), "changed": [{"id", "op",
    "module", "changes"}…], "renamed": [{"old", "new"}…]}``; entries sorted
    by id (numbers by value), renames by old path.
    """
    def entries(graph, ids):
        return sorted((_node_entry(graph.nodes[n], n) for n in ids),
                      key=lambda e: natural_key(e["id"]))

    changed = [dict(_node_entry(result.new.nodes[n], n), changes=result.changed[n])
               for n in result.changed]
    return {
        "summary": result.summary,
        "added": entries(result.new, result.added),
        "removed": entries(result.old, result.removed),
        "changed": sorted(changed, key=lambda e: natural_key(e["id"])),
        "renamed": [{"old": old, "new": result.renames[old]}
                    for old in sorted(result.renames, key=natural_key)],
    }
