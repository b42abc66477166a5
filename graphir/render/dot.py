"""Graphviz DOT text from an IR graph: pure functions, no subprocess.

:func:`to_dot` is the entry point. Everything it draws comes from IR
attributes (see :mod:`graphir.ir`); it never looks at framework objects.

Layout rules
------------
* Modules become nested clusters (``subgraph "cluster_<path>"``), built
  from each node's ``scope``. A leaf module (no sub-module) whose nodes
  share no edge gets no box of its own: a ``Conv2d`` around one ``Conv``,
  or ResNet's ``relu`` called three times. Its nodes join the enclosing
  cluster and name the module after their op (``Conv  conv1``).
* A ``module`` node (a collapsed module box) stands for the innermost
  entry of its scope, so it is drawn in the cluster of the entry above.
* Op nodes show their ``label`` in bold, their output shapes, and their
  weights as ``weight ⟨64×3×7×7⟩``; weights of one shape share a line.
* dtypes: a non-``float32`` dtype follows its shape whenever shapes are
  shown (``1×128 i64``); ``"dtypes"`` in ``show`` prints every dtype.
* Every node gets a plain-text ``tooltip`` with all its details, an ``id``
  (``node_<sanitised id>``) and a ``class`` (``op conv``, ``input``,
  ``diff-changed`` …) so the SVG is stable and styleable; clusters get
  ``id="cluster_<sanitised path>"`` and their full path as tooltip.
* Folding (:func:`graphir.passes.fold.fold`): a cluster that heads a run
  in ``G.graph["folded"]`` is labelled ``h.0 … h.11 : GPT2Block ×12``; a
  ``module`` node shows ``×repeat``, its op count and weight count.
* Nodes with a ``diff`` attribute take the theme's diff fill (removed:
  dashed, changed: bold) and a legend cluster is added
  (``id="graphir-legend"``); edges touching a removed node are dashed.

Determinism: nodes, clusters and edges are written in the graph's node and
edge order; attribute dicts of the IR are read in their stored order except
``attrs``, which is sorted by key. The same graph gives byte-identical text.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("onnx", "tiny")
>>> x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
...                 outputs=[ir.tensor("float32", [1, 3])])
>>> r = ir.add_node(G, "Relu#0", kind="op", op="Relu", name="r",
...                 outputs=[ir.tensor("float32", [1, 3])])
>>> ir.add_edge(G, x, r)
>>> text = to_dot(G)
>>> text.startswith('digraph "tiny" {')
True
>>> '"input:x" -> "Relu#0";' in text
True
"""

import json
import re

from graphir.errors import InputError
from graphir.ir import scope_from_path
from graphir.render.labels import (
    format_count,
    format_dtype,
    format_shape,
    op_category,
    short_param_name,
)
from graphir.render.themes import get_theme

__all__ = ["SHOW_OPTIONS", "DEFAULT_SHOW", "RANKDIRS", "parse_show", "to_dot"]

#: What ``show`` may ask for.
SHOW_OPTIONS = ("shapes", "params", "dtypes", "attrs", "module", "edges")
#: What is shown when ``show`` is None.
DEFAULT_SHOW = frozenset({"shapes", "params"})
#: Valid values of ``rankdir``.
RANKDIRS = ("TB", "LR", "BT", "RL")

_MAX_LABEL_CHARS = 40
_MAX_OUTPUTS_SHOWN = 4
_MAX_PARAM_LINES = 4
_MAX_ATTRS_SHOWN = 4
_MAX_ATTR_VALUE_CHARS = 24
_MAX_TOOLTIP_LINE = 200
_MAX_TOOLTIP_LINES = 40
_LEGEND = "__graphir_legend"
_DIFF_STROKES = {"added": "", "removed": ",dashed", "changed": ",bold", "same": ""}
_DOM_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_BARE_ID = re.compile(r"-?(\.[0-9]+|[0-9]+(\.[0-9]*)?)|[A-Za-z_][A-Za-z0-9_]*")
_DOT_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})


class _Html(str):
    """Text already in Graphviz's HTML-like label syntax (written as ``<…>``)."""


def parse_show(show):
    """Normalise a ``show`` argument to a frozenset of :data:`SHOW_OPTIONS`.

    Parameters
    ----------
    show : iterable of str, str or None
        None gives :data:`DEFAULT_SHOW`; a string is read as a
        comma-separated list (``"shapes,params"``).

    Returns
    -------
    frozenset of str

    Raises
    ------
    InputError
        On a name outside :data:`SHOW_OPTIONS`.

    Examples
    --------
    >>> sorted(parse_show("shapes, dtypes"))
    ['dtypes', 'shapes']
    >>> parse_show(None) == DEFAULT_SHOW
    True
    """
    if show is None:
        return DEFAULT_SHOW
    if isinstance(show, str):
        show = [part.strip() for part in show.split(",") if part.strip()]
    chosen = frozenset(show)
    unknown = sorted(chosen.difference(SHOW_OPTIONS))
    if unknown:
        raise InputError(f"cannot show {', '.join(map(repr, unknown))}",
                         hint=f"choose from: {', '.join(SHOW_OPTIONS)}")
    return chosen


def _escape_html(text):
    """Escape text for an HTML-like label; newlines become spaces."""
    text = str(text)
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.replace(raw, entity)
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text)


def _quote(text):
    """Write text as a DOT double-quoted string (also an escString)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return '"' + re.sub(r"[\x00-\x1f\x7f]", " ", text) + '"'


def _value(value):
    """Write one attribute value: HTML label, bare id or number, or quoted."""
    if isinstance(value, _Html):
        return f"<{value}>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = f"{value:g}"
    text = str(value)
    if _BARE_ID.fullmatch(text) and text.lower() not in _DOT_KEYWORDS:
        return text
    return _quote(text)


def _attr_list(pairs):
    """Write ``[key=value, …]`` from (key, value) pairs, skipping None values."""
    body = ", ".join(f"{key}={_value(value)}" for key, value in pairs if value is not None)
    return f" [{body}]" if body else ""


def _truncate(text, limit):
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _font(text, *, size=None, color=None, bold=False, italic=False):
    """Wrap already-escaped text in ``<FONT>``/``<B>``/``<I>`` tags."""
    if bold:
        text = f"<B>{text}</B>"
    if italic:
        text = f"<I>{text}</I>"
    attrs = ""
    if size is not None:
        attrs += f' POINT-SIZE="{size:g}"'
    if color is not None:
        attrs += f' COLOR="{color}"'
    return f"<FONT{attrs}>{text}</FONT>" if attrs else text


def _short_module_name(path):
    """Last component of a dotted path, with its parent when it is an index.

    >>> _short_module_name("layer1.0"), _short_module_name("h.0.attn")
    ('layer1.0', 'attn')
    """
    parts = str(path).split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return ".".join(parts[-2:])
    return parts[-1]


def _node_scope(data):
    """The node's ``[[path, type], …]`` scope, rebuilt from ``module`` if absent.

    A ``module`` node stands for the innermost entry, so that entry is dropped.
    """
    scope = data.get("scope") or scope_from_path(data.get("module") or "",
                                                 data.get("module_type"))
    scope = [(str(path), mtype) for path, mtype in scope]
    if data.get("kind") == "module":
        scope = scope[:-1]
    return scope


def _cluster_tree(G):
    """Group nodes into nested clusters, in graph order.

    Returns
    -------
    root_items : list of (str, str)
        ``("node", id)`` and ``("cluster", path)`` items at the top level,
        in order of first appearance.
    clusters : dict
        Path -> ``{"type": str or None, "depth": int, "items": [...]}``.
    """
    root_items = []
    clusters = {}
    for node, data in G.nodes(data=True):
        items = root_items
        for depth, (path, mtype) in enumerate(_node_scope(data)):
            cluster = clusters.get(path)
            if cluster is None:
                cluster = {"type": mtype, "depth": depth, "items": []}
                clusters[path] = cluster
                items.append(("cluster", path))
            elif cluster["type"] is None:
                cluster["type"] = mtype
            items = cluster["items"]
        items.append(("node", node))
    return root_items, clusters


def _elide_loose_leaf_clusters(G, items, clusters, hints):
    """Drop the box of leaf modules whose nodes share no edge.

    A leaf module with one node (a ``Conv2d`` around one ``Conv``), or one
    called several times (ResNet's shared ``relu``), would only add a box
    around unrelated nodes; its nodes move to the enclosing cluster instead,
    at the box's place. Works bottom-up and in place; ``hints`` receives
    node -> module path for every node that lost its box.
    """
    index = 0
    while index < len(items):
        kind, key = items[index]
        if kind != "cluster":
            index += 1
            continue
        inner = clusters[key]["items"]
        _elide_loose_leaf_clusters(G, inner, clusters, hints)
        members = {node for kind, node in inner if kind == "node"}
        linked = any(succ in members for node in members for succ in G.successors(node))
        if len(members) < len(inner) or linked:
            index += 1
            continue
        for _, node in inner:
            hints.setdefault(node, key)
        items[index:index + 1] = inner
        index += len(inner)
        del clusters[key]


def _dom_id(prefix, name, used):
    """A unique, XML-safe element id ``<prefix><sanitised name>``."""
    base = prefix + _DOM_UNSAFE.sub("_", str(name))
    candidate, k = base, 2
    while candidate in used:
        candidate, k = f"{base}-{k}", k + 1
    used.add(candidate)
    return candidate


def _class_name(text):
    """A CSS-safe class word."""
    return _DOM_UNSAFE.sub("_", str(text)).strip("_").lower() or "none"


def _tensor_text(info, show):
    """One output as ``1×3×224×224`` plus its dtype when the rule says so."""
    info = info or {}
    dtype = info.get("dtype")
    parts = []
    if "shapes" in show:
        parts.append(format_shape(info.get("shape")))
    if dtype is not None and ("dtypes" in show or ("shapes" in show and dtype != "float32")):
        parts.append(format_dtype(dtype, short=True))
    return " ".join(parts)


def _outputs_text(outputs, show):
    """All outputs of a node, comma-separated; '' when nothing is shown.

    Runs of equal outputs are written once with a count: ``1×768 (×3)``.
    """
    runs = []
    for info in outputs or []:
        text = _tensor_text(info, show)
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    if not any(text for text, _ in runs):
        return ""
    words = [text if count == 1 else f"{text} (×{count})"
             for text, count in runs[:_MAX_OUTPUTS_SHOWN]]
    hidden = sum(count for _, count in runs[_MAX_OUTPUTS_SHOWN:])
    if hidden:
        words.append(f"… (+{hidden})")
    return ", ".join(words)


_PARAM_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}


def _ordered_params(params):
    """``params`` items in a fixed order (weight, bias, stats, then by name).

    The order must not depend on the dict's insertion order, which a JSON
    round trip (sorted keys) changes: identical graphs draw identically.
    """
    def key(item):
        local = short_param_name(item[0])
        return (_PARAM_ORDER.get(local, len(_PARAM_ORDER)), item[0])
    return sorted((params or {}).items(), key=key)


def _param_lines(params):
    """Weights as ``weight ⟨64×3×7×7⟩`` lines; names sharing a shape share a line."""
    groups = {}
    for qualified, info in _ordered_params(params):
        shape = format_shape((info or {}).get("shape"))
        groups.setdefault(shape, []).append(short_param_name(qualified))
    lines = []
    for shape, names in groups.items():
        shown = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
        lines.append(f"{shown} ⟨{shape}⟩")
    if len(lines) > _MAX_PARAM_LINES:
        hidden = sum(len(names) for names in list(groups.values())[_MAX_PARAM_LINES - 1:])
        lines = lines[:_MAX_PARAM_LINES - 1] + [f"+{hidden} more weights"]
    return lines


def _attr_text(value):
    """An op attribute value, compact: lists of scalars as ``3,3``."""
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    else:
        text = str(value)
    return _truncate(text, _MAX_ATTR_VALUE_CHARS)


def _detail_lines(data, show, theme):
    """The muted lines under a node's title, already escaped and wrapped."""
    lines = []
    shapes = _outputs_text(data.get("outputs"), show)
    if shapes:
        lines.append(_escape_html(shapes))
    if "module" in show and data.get("module"):
        lines.append(_font(_escape_html(data["module"]), italic=True))
    if "params" in show:
        lines.extend(_escape_html(line) for line in _param_lines(data.get("params")))
    if "attrs" in show and data.get("attrs"):
        attrs = data["attrs"]
        keys = sorted(attrs)
        words = [f"{key}={_attr_text(attrs[key])}" for key in keys[:_MAX_ATTRS_SHOWN]]
        if len(keys) > _MAX_ATTRS_SHOWN:
            words.append(f"+{len(keys) - _MAX_ATTRS_SHOWN}")
        lines.extend(_escape_html(" ".join(words[i:i + 2])) for i in range(0, len(words), 2))
    return [_font(line, size=theme.small_fontsize, color=theme.muted_color) for line in lines]


def _title_text(data, node, hint, show, theme):
    """Escaped bold title of a node, with the elided module's short name."""
    kind = data.get("kind")
    if kind in ("input", "output"):
        text = data.get("name") or data.get("label") or node
    elif kind == "param":
        text = short_param_name(data.get("name") or data.get("label") or node)
    else:
        text = data.get("label") or data.get("op") or node
    title = _font(_escape_html(_truncate(text, _MAX_LABEL_CHARS)), bold=True)
    if hint is not None and "module" not in show:
        module = _truncate(_short_module_name(hint), _MAX_LABEL_CHARS)
        title += "  " + _font(_escape_html(module), color=theme.muted_color)
    return title


def _folded_name(paths):
    """``h.0 … h.11`` for a run of folded module paths (short names)."""
    return f"{_short_module_name(paths[0])} … {_short_module_name(paths[-1])}"


def _module_label(data, show, theme):
    """Label of a collapsed or folded module node: name, type, ×N, op count."""
    path = data.get("module") or ""
    folded = data.get("folded") or []
    if len(folded) > 1:
        name = _folded_name(folded)
    else:
        name = data.get("label") or _short_module_name(path) or data.get("name") or ""
    title = _font(_escape_html(_truncate(name, _MAX_LABEL_CHARS)), bold=True)
    if data.get("module_type"):
        title += " : " + _escape_html(data["module_type"])
    if data.get("repeat"):
        title += "  " + _font(f"×{data['repeat']}", bold=True)
    facts = []
    if data.get("children") is not None:
        children = data["children"]
        facts.append(f"{children} op" + ("" if children == 1 else "s"))
    if data.get("total_params"):
        facts.append(f"{format_count(data['total_params'])} params")
    lines = [title]
    if facts:
        lines.append(_font(_escape_html(" · ".join(facts)),
                           size=theme.small_fontsize, color=theme.muted_color))
    shapes = _outputs_text(data.get("outputs"), show)
    if shapes:
        lines.append(_font(_escape_html(shapes), size=theme.small_fontsize,
                           color=theme.muted_color))
    return _Html("<BR/>".join(lines))


def _tooltip(node, data):
    """Plain-text detail of a node for the SVG tooltip, truncated if huge."""
    lines = [str(node), f"op: {data.get('op')} ({data.get('kind')})"]
    if data.get("name") and data.get("name") != node:
        lines.append(f"name: {data['name']}")
    module = data.get("module") or ""
    mtype = data.get("module_type")
    lines.append(f"module: {module or '(root)'}" + (f" : {mtype}" if mtype else ""))
    for index, info in enumerate(data.get("outputs") or []):
        info = info or {}
        lines.append(f"out[{index}]: {format_shape(info.get('shape'))} "
                     f"{format_dtype(info.get('dtype'))}")
    for qualified, info in _ordered_params(data.get("params")):
        info = info or {}
        lines.append(f"param {qualified}: {format_shape(info.get('shape'))} "
                     f"{format_dtype(info.get('dtype'))}")
    attrs = data.get("attrs") or {}
    for key in sorted(attrs):
        lines.append(f"{key} = {json.dumps(attrs[key], ensure_ascii=False, default=str)}")
    for key in ("children", "repeat", "total_params"):
        if key in data:
            lines.append(f"{key}: {data[key]}")
    if "diff" in data:
        changes = data.get("changes")
        lines.append(f"diff: {data['diff']}" + (
            f" ({json.dumps(changes, ensure_ascii=False, default=str, sort_keys=True)})"
            if changes else ""))
    lines = [_truncate(line, _MAX_TOOLTIP_LINE) for line in lines]
    if len(lines) > _MAX_TOOLTIP_LINES:
        hidden = len(lines) - _MAX_TOOLTIP_LINES + 1
        lines = lines[:_MAX_TOOLTIP_LINES - 1] + [f"… ({hidden} more lines)"]
    return "\n".join(lines)


def _node_look(data, theme):
    """Shape, style, fill and CSS classes of a node, from its kind and diff."""
    kind = data.get("kind")
    category = op_category(data.get("op") or "")
    looks = {
        "input": ("oval", "filled", theme.input_fill, "input"),
        "output": ("oval", "filled", theme.output_fill, "output"),
        "param": ("box", "filled", theme.param_fill, "param"),
        "const": ("box", "filled", theme.const_fill, "const"),
        "module": ("box3d", "filled", theme.module_fill, "module"),
    }
    shape, style, fill, css = looks.get(
        kind, (None, None, theme.fill_for_category(category), f"op {category}"))
    state = data.get("diff")
    if state in _DIFF_STROKES:
        fill = theme.fill_for_diff(state)
        style = (style or "filled,rounded") + _DIFF_STROKES[state]
        css += f" diff-{state}"
    return shape, style, fill, css


def _node_statement(node, data, show, theme, hint, dom_id):
    """One DOT node statement with label, look, tooltip, id and class."""
    kind = data.get("kind")
    if kind == "module":
        label = _module_label(data, show, theme)
    else:
        lines = [_title_text(data, node, hint, show, theme)]
        if kind in ("param", "const"):
            shapes = _outputs_text(data.get("outputs"), show)
            if shapes:
                lines = [lines[0] + " " + _font(_escape_html(f"⟨{shapes}⟩"),
                                                color=theme.muted_color)]
        else:
            lines.extend(_detail_lines(data, show, theme))
        label = _Html("<BR/>".join(lines))
    shape, style, fill, css = _node_look(data, theme)
    small = kind in ("param", "const")
    pairs = [
        ("label", label), ("shape", shape), ("style", style), ("fillcolor", fill),
        ("fontsize", theme.small_fontsize if small else None),
        ("height", 0.2 if small else None),
        ("margin", "0.06,0.02" if small else "0.16,0.1" if kind == "module" else None),
        ("tooltip", _tooltip(node, data)), ("id", dom_id), ("class", css),
    ]
    return f"{_quote(node)}{_attr_list(pairs)};"


def _cluster_look(theme, fill):
    """Attributes every cluster box shares (clusters inherit none from the root)."""
    return [
        ("style", "filled,rounded"), ("fillcolor", fill), ("color", theme.cluster_stroke),
        ("penwidth", theme.cluster_penwidth), ("fontcolor", theme.cluster_text_color),
        ("fontsize", theme.cluster_fontsize), ("labeljust", "l"), ("labelloc", "t"),
        ("margin", 11),
    ]


def _cluster_header(path, cluster, theme, dom_id, folded):
    """The ``graph [...]`` line of one module cluster.

    ``folded`` is the fold record of a run this module heads (see
    :func:`graphir.passes.fold.fold`), or None.
    """
    mtype = cluster["type"]
    name = _short_module_name(path)
    tooltip = f"{path} : {mtype}" if mtype else path
    if folded:
        paths = folded.get("paths") or [path]
        name = _folded_name(paths) if len(paths) > 1 else name
        tooltip += f"\nfolded: {paths[0]} … {paths[-1]} ({folded.get('repeat')} instances)"
    label = _font(_escape_html(name), bold=True)
    if mtype:
        label += " : " + _escape_html(mtype)
    if folded:
        label += "  " + _font(f"×{folded.get('repeat')}", bold=True)
    pairs = [
        ("label", _Html(label)),
        ("tooltip", tooltip),
        ("id", dom_id),
        ("class", f"module depth{cluster['depth']}"
                  + (f" {_class_name(mtype)}" if mtype else "")
                  + (" folded" if folded else "")),
    ]
    look = _cluster_look(theme, theme.cluster_fill(cluster["depth"]))
    return f"graph{_attr_list(pairs + look)};"


def _item_lines(items, clusters, context, indent):
    """DOT lines for nodes and (recursively) clusters, in item order."""
    G, show, theme, hints, dom_ids = context
    pad = "  " * indent
    lines = []
    for kind, key in items:
        if kind == "node":
            lines.append(pad + _node_statement(key, G.nodes[key], show, theme,
                                               hints.get(key), dom_ids[("node", key)]))
            continue
        cluster = clusters[key]
        lines.append(f"{pad}subgraph {_quote('cluster_' + key)} {{")
        folded = (G.graph.get("folded") or {}).get(key)
        lines.append(pad + "  " + _cluster_header(key, cluster, theme,
                                                  dom_ids[("cluster", key)], folded))
        lines.extend(_item_lines(cluster["items"], clusters, context, indent + 1))
        lines.append(pad + "}")
    return lines


def _edge_label(G, src, data, show):
    """Edge label in ``edges`` mode: port and shape from multi-output nodes,
    the shape when nodes do not show shapes; otherwise None."""
    if "edges" not in show:
        return None
    outputs = G.nodes[src].get("outputs") or []
    port = data.get("src_port", 0)
    info = outputs[port] if 0 <= port < len(outputs) else None
    text = _tensor_text(info, show | {"shapes"})
    if len(outputs) > 1:
        return f"#{port} {text}".strip()
    return None if "shapes" in show else text or None


def _edge_lines(G, show):
    """One DOT edge statement per IR edge, in graph edge order."""
    lines = []
    for src, dst, data in G.edges(data=True):
        ends = (G.nodes[src].get("diff"), G.nodes[dst].get("diff"))
        pairs = [("label", _edge_label(G, src, data, show)),
                 ("style", "dashed" if "removed" in ends else None)]
        lines.append(f"  {_quote(src)} -> {_quote(dst)}{_attr_list(pairs)};")
    return lines


def _legend_lines(theme):
    """A cluster explaining the diff fills and strokes, left to right."""
    look = _cluster_look(theme, theme.background)
    lines = [f"  subgraph {_quote('cluster_' + _LEGEND)} {{",
             "    graph" + _attr_list([
                 ("label", _Html(_font("diff", bold=True))), ("tooltip", "diff legend"),
                 ("id", "graphir-legend"), ("class", "legend")] + look) + ";"]
    names = []
    for state, fill in theme.diff_fills:
        name = _quote(f"{_LEGEND}_{state}")
        names.append(name)
        lines.append("    " + name + _attr_list([
            ("label", state), ("fillcolor", fill),
            ("style", "filled,rounded" + _DIFF_STROKES[state]),
            ("fontsize", theme.small_fontsize), ("height", 0.2),
            ("tooltip", f"{state} node"), ("id", f"graphir-legend-{state}"),
            ("class", f"legend diff-{state}")]) + ";")
    lines.append(f"    {{rank=same; {' -> '.join(names)} [style=invis];}}")
    lines.append("  }")
    return lines


def _graph_label(title, notes, theme):
    """The figure's heading: the title in bold, then each note in small italics."""
    lines = []
    if title:
        lines.append(_font(_escape_html(title), bold=True, size=theme.title_fontsize))
    lines += [_font(_escape_html(note), italic=True, size=theme.small_fontsize,
                    color=theme.muted_color) for note in notes]
    return _Html("<BR/>".join(lines)) if lines else None


def _graph_defaults(theme, rankdir, title, notes=()):
    """The graph, node and edge default attribute lines.

    ``newrank`` lets clusters share ranks, ``splines=spline`` keeps edges
    curved (``ortho`` ignores ports and is slow), ``nslimit=2`` bounds the
    network-simplex placement (unbounded it takes ~10 s on 2,500 nodes for
    little gain; small graphs never reach the bound), ``mclimit`` and
    ``searchsize`` bound crossing minimisation, and ``outputorder`` draws
    nodes over edges.
    """
    label = _graph_label(title, notes, theme)
    graph = [
        ("rankdir", rankdir), ("newrank", True), ("compound", True),
        ("splines", "spline"), ("nodesep", 0.25), ("ranksep", 0.3), ("pad", 0.25),
        ("margin", 0), ("remincross", True), ("mclimit", 0.5), ("nslimit", 2),
        ("nslimit1", 4), ("searchsize", 50), ("outputorder", "edgesfirst"),
        ("bgcolor", theme.background), ("fontname", theme.fontname),
        ("fontsize", theme.cluster_fontsize), ("fontcolor", theme.text_color),
        ("label", label), ("labelloc", "t"), ("labeljust", "c"),
        ("tooltip", title or " "),
    ]
    node = [
        ("shape", "box"), ("style", "filled,rounded"), ("fontname", theme.fontname),
        ("fontsize", theme.fontsize), ("fontcolor", theme.text_color),
        ("color", theme.node_stroke), ("penwidth", theme.node_penwidth),
        ("fillcolor", theme.fill_for_category("other")), ("height", 0.3),
        ("width", 0.5), ("margin", "0.1,0.04"),
    ]
    edge = [
        ("color", theme.edge_color), ("penwidth", theme.edge_penwidth),
        ("arrowsize", 0.6), ("fontname", theme.fontname),
        ("fontsize", theme.small_fontsize), ("fontcolor", theme.muted_color),
    ]
    return [f"  graph{_attr_list(graph)};", f"  node{_attr_list(node)};",
            f"  edge{_attr_list(edge)};"]


def to_dot(G, *, theme="default", rankdir="TB", show=None, title=None):
    """Write an IR graph as Graphviz DOT text.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graphir IR (see :mod:`graphir.ir`).
    theme : str or Theme, default "default"
        A name from :data:`graphir.render.themes.THEMES` or a theme.
    rankdir : {"TB", "LR", "BT", "RL"}, default "TB"
        Direction of the data flow.
    show : iterable of str or str, optional
        Among :data:`SHOW_OPTIONS`: ``shapes`` (output shapes), ``params``
        (weight shapes), ``dtypes`` (every dtype, also ``float32``),
        ``attrs`` (op attributes), ``module`` (each op's module path),
        ``edges`` (label edges from multi-output nodes with port and shape,
        and every edge with its shape when ``shapes`` is off). Default
        :data:`DEFAULT_SHOW`.
    title : str, optional
        Graph title; defaults to ``G.graph["name"]``; ``""`` for none.
        Notes in ``G.graph["notes"]`` (what a pass did, e.g. an automatic
        collapse to fit the node budget) are printed under it.

    Returns
    -------
    str
        DOT source, byte-identical for identical input.

    Raises
    ------
    InputError
        On an unknown theme, rankdir or ``show`` entry.
    """
    theme = get_theme(theme)
    show = parse_show(show)
    if rankdir not in RANKDIRS:
        raise InputError(f"unknown rankdir {rankdir!r}",
                         hint=f"choose one of: {', '.join(RANKDIRS)}")
    if title is None:
        title = G.graph.get("name") or ""
    root_items, clusters = _cluster_tree(G)
    hints = {}
    _elide_loose_leaf_clusters(G, root_items, clusters, hints)
    used = set()
    dom_ids = {("node", node): _dom_id("node_", node, used) for node in G.nodes}
    dom_ids.update({("cluster", path): _dom_id("cluster_", path, used) for path in clusters})
    context = (G, show, theme, hints, dom_ids)
    lines = [f"digraph {_quote(G.graph.get('name') or 'graphir')} {{"]
    lines += _graph_defaults(theme, rankdir, title, G.graph.get("notes") or ())
    lines += _item_lines(root_items, clusters, context, 1)
    lines += _edge_lines(G, show)
    if any("diff" in data for _, data in G.nodes(data=True)):
        lines += _legend_lines(theme)
    lines.append("}")
    return "\n".join(lines) + "\n"
