"""One DOT node statement per IR node: label, look, tooltip, id and class.

:func:`node_statement` is what :mod:`graphir.renderers.dot` calls for every
node; everything here reads IR attributes only.

Labels
------
* Op nodes show their ``label`` in bold, a 3-point spacer, then muted detail
  lines: output shapes, weights as ``weight ⟨64×3×7×7⟩`` (weights of one
  shape share a line), attributes, and with ``stats`` in ``show`` a line
  ``μ 0.12  σ 0.9 · 12% zeros`` (and ``Δ 0.031`` for a weight change).
* dtypes: a non-``float32`` dtype follows its shape whenever shapes are
  shown (``1×128 i64``); ``dtypes`` in ``show`` prints every dtype.
* ``module`` nodes (a collapsed or folded module) show name, type, ``×N``,
  op count and weight count; parameter-tree nodes use
  :func:`graphir.renderers.tree.tree_label`.

Looks
-----
Fills come from the node's kind and op category
(:func:`graphir.renderers.labels.op_category`), or from its diff state, or —
when a colour scale is given — from its value on that scale (nodes without
a value take the theme's ``nodata_fill``). Diff states keep their strokes under a
scale (removed: dashed, changed: bold). Any fill on which the theme's text
would fall below 4.5:1 contrast (3:1 for detail lines) gets black or white
text instead. Every node gets a plain-text
``tooltip`` with all its details, an ``id`` and CSS ``class`` words (``op
conv``, ``input``, ``module tree``, ``diff-changed`` …).

Examples
--------
>>> from graphir.renderers.themes import get_theme
>>> look = NodeStyle(show=frozenset({"shapes"}), theme=get_theme("default"))
>>> data = {"kind": "op", "op": "Relu", "label": "Relu", "module": "",
...         "outputs": [{"shape": [1, 3], "dtype": "float32"}], "params": {}, "attrs": {}}
>>> node_statement("Relu#0", data, look, None, "node_Relu_0")[:62]
'"Relu#0" [label=<<B>Relu</B><BR/><FONT POINT-SIZE="3"> </FONT>'
"""

import dataclasses
import json
import re
import textwrap
from dataclasses import dataclass

from graphir.renderers.colors import contrast, format_value, ink_for, node_value
from graphir.renderers.labels import (
    format_count,
    format_dtype,
    format_shape,
    op_category,
    short_param_name,
)
from graphir.renderers.markup import (
    attr_list,
    escape_html,
    font,
    join_lines,
    quote,
    truncate,
)
from graphir.renderers.tree import is_tree_node, tree_label, tree_tooltip_lines
from graphir.util.text import short_name

__all__ = [
    "NodeStyle",
    "DIFF_STROKES",
    "node_fill",
    "node_statement",
    "tooltip",
    "stats_text",
    "outputs_text",
    "edge_tensor_text",
    "ordered_params",
    "folded_name",
    "class_name",
]

#: Extra Graphviz styles that mark diff states on top of their fill.
DIFF_STROKES = {"added": "", "removed": ",dashed", "changed": ",bold", "same": ""}

_MAX_LABEL_CHARS = 40
_MAX_OUTPUTS_SHOWN = 4
_MAX_PARAM_LINES = 4
_MAX_ATTRS_SHOWN = 4
_MAX_ATTR_VALUE_CHARS = 24
_MAX_TOOLTIP_LINE = 200
_MAX_TOOLTIP_LINES = 40
_CSS_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_PARAM_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}
_STATS_ORDER = ("mean", "std", "min", "max", "zeros", "numel", "nonfinite")
_MIN_TEXT_CONTRAST = 4.5  # WCAG AA for text
_MIN_DETAIL_CONTRAST = 3.0  # detail lines: 3:1 at least


@dataclass(frozen=True)
class NodeStyle:
    """What every node statement needs besides the node itself.

    Attributes
    ----------
    show : frozenset of str
        The parsed ``show`` option.
    theme : Theme
    scale : ColorScale, optional
        When set, fills come from each node's value on it.
    """

    show: frozenset
    theme: object
    scale: object = None


def class_name(text):
    """A CSS-safe class word.

    >>> class_name("GPT2Block"), class_name("a b/c")
    ('gpt2block', 'a_b_c')
    """
    return _CSS_UNSAFE.sub("_", str(text)).strip("_").lower() or "none"


def folded_name(paths):
    """``h.0 … h.11`` for a run of folded module paths (short names)."""
    return f"{short_name(paths[0])} … {short_name(paths[-1])}"


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


def outputs_text(outputs, show):
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


def edge_tensor_text(info, show):
    """The text an edge label gives its tensor (shape, and dtype by the rule)."""
    return _tensor_text(info, show)


def ordered_params(params):
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
    for qualified, info in ordered_params(params):
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
    return truncate(text, _MAX_ATTR_VALUE_CHARS)


def stats_text(data):
    """``μ 0.12  σ 0.9 · 12% zeros`` (and ``· 3 NaN/inf``, ``Δ 0.031``), or ''.

    Examples
    --------
    >>> stats_text({"stats": {"mean": 0.1234, "std": 0.9, "zeros": 0.5, "nonfinite": 2}})
    'μ 0.123  σ 0.9 · 50% zeros · 2 NaN/inf'
    >>> stats_text({"weight_change": 0.0312}), stats_text({})
    ('Δ 0.0312', '')
    """
    words = []
    stats = data.get("stats")
    if isinstance(stats, dict):
        words.append(f"μ {format_value('mean', stats.get('mean'))}  "
                      f"σ {format_value('std', stats.get('std'))}")
        if stats.get("zeros") is not None:
            words.append(f"{format_value('zeros', stats['zeros'])} zeros")
        if stats.get("nonfinite"):
            words.append(f"{format_count(stats['nonfinite'])} NaN/inf")
    if isinstance(data.get("weight_change"), (int, float)):
        words.append(f"Δ {format_value('weight_change', data['weight_change'])}")
    return " · ".join(words)


def _detail_lines(data, show, theme):
    """The muted lines under a node's title, already escaped and wrapped."""
    lines = []
    shapes = outputs_text(data.get("outputs"), show)
    if shapes:
        lines.append(escape_html(shapes))
    if "module" in show and data.get("module"):
        lines.append(font(escape_html(data["module"]), italic=True))
    if "params" in show:
        lines.extend(escape_html(line) for line in _param_lines(data.get("params")))
    if "attrs" in show and data.get("attrs"):
        attrs = data["attrs"]
        keys = sorted(attrs)
        words = [f"{key}={_attr_text(attrs[key])}" for key in keys[:_MAX_ATTRS_SHOWN]]
        if len(keys) > _MAX_ATTRS_SHOWN:
            words.append(f"+{len(keys) - _MAX_ATTRS_SHOWN}")
        lines.extend(escape_html(" ".join(words[i:i + 2])) for i in range(0, len(words), 2))
    return [font(line, size=theme.small_fontsize, color=theme.muted_color) for line in lines]


def _stats_lines(data, show, theme):
    """The ``stats`` detail line, when asked for and the node has any."""
    text = stats_text(data) if "stats" in show else ""
    return [font(escape_html(text), size=theme.small_fontsize, color=theme.muted_color)] \
        if text else []


def _title_text(data, node, hint, show, theme):
    """Escaped bold title of a node, with the elided module's short name."""
    kind = data.get("kind")
    if kind in ("input", "output"):
        text = data.get("name") or data.get("label") or node
        count = (data.get("attrs") or {}).get("count") if kind == "output" else None
        if count:  # a grouped output (KV cache) stands for `count` tensors
            text = f"{text} ×{count}"
    elif kind == "param":
        text = short_param_name(data.get("name") or data.get("label") or node)
    else:
        text = data.get("label") or data.get("op") or node
    title = font(escape_html(truncate(text, _MAX_LABEL_CHARS)), bold=True)
    if hint is not None and "module" not in show:
        module = truncate(short_name(hint), _MAX_LABEL_CHARS)
        title += "  " + font(escape_html(module), color=theme.muted_color)
    return title


def _module_label(data, show, theme):
    """Label of a collapsed or folded module node: name, type, ×N, op count."""
    path = data.get("module") or ""
    folded = data.get("folded") or []
    if len(folded) > 1:
        name = folded_name(folded)
    else:
        name = data.get("label") or short_name(path) or data.get("name") or ""
    title = font(escape_html(truncate(name, _MAX_LABEL_CHARS)), bold=True)
    if data.get("module_type"):
        title += " : " + escape_html(data["module_type"])
    if data.get("repeat"):
        pattern = f"{data['fold_pattern']} " if data.get("fold_pattern") else ""
        title += "  " + font(escape_html(f"{pattern}×{data['repeat']}"), bold=True)
    facts = []
    if data.get("children"):
        children = data["children"]
        facts.append(f"{children} op" + ("" if children == 1 else "s"))
    if data.get("total_params"):
        facts.append(f"{format_count(data['total_params'])} params")
    lines = []
    if facts:
        lines.append(font(escape_html(" · ".join(facts)),
                          size=theme.small_fontsize, color=theme.muted_color))
    shapes = outputs_text(data.get("outputs"), show)
    if shapes:
        lines.append(font(escape_html(shapes), size=theme.small_fontsize,
                          color=theme.muted_color))
    return join_lines(title, lines + _stats_lines(data, show, theme))


def _error_lines(data, theme):
    """The exception and the input shapes of an ``op="error"`` node, wrapped."""
    attrs = data.get("attrs") or {}
    text = str(attrs.get("exception") or "")
    lines = textwrap.wrap(text, 48, max_lines=4, placeholder=" …")
    shapes = [outputs_text([{"shape": s, "dtype": None}], {"shapes"})
              for s in attrs.get("input_shapes") or []]
    if shapes:
        lines.append("inputs: " + ", ".join(shapes[:4]) + (" …" if len(shapes) > 4 else ""))
    return [font(escape_html(line), size=theme.small_fontsize) for line in lines]


def _label(node, data, show, theme, hint):
    """The HTML label of any node."""
    kind = data.get("kind")
    if is_tree_node(data):
        return tree_label(data, show, theme, _stats_lines(data, show, theme))
    if kind == "module":
        return _module_label(data, show, theme)
    title = _title_text(data, node, hint, show, theme)
    if data.get("op") == "error":  # where a forward pass failed (--partial)
        return join_lines(title, _error_lines(data, theme))
    if kind in ("param", "const"):
        shapes = outputs_text(data.get("outputs"), show)
        if shapes:
            title += " " + font(escape_html(f"⟨{shapes}⟩"), color=theme.muted_color)
        return join_lines(title, _stats_lines(data, show, theme))
    return join_lines(title, _detail_lines(data, show, theme) + _stats_lines(data, show, theme))


def _stats_tooltip_lines(data):
    lines = []
    stats = data.get("stats")
    if isinstance(stats, dict):
        keys = [k for k in _STATS_ORDER if k in stats] + sorted(set(stats) - set(_STATS_ORDER))
        lines.append("stats: " + ", ".join(
            f"{key}={json.dumps(stats[key], default=str)}" for key in keys))
    if "weight_change" in data:
        lines.append(f"weight_change: {json.dumps(data['weight_change'], default=str)}")
    return lines


def tooltip(node, data):
    """Plain-text detail of a node for the SVG tooltip, truncated if huge."""
    lines = [str(node), f"op: {data.get('op')} ({data.get('kind')})"]
    if data.get("proxy_of"):
        lines.insert(1, f"copy of {data['proxy_of']}, drawn here to keep the layout compact")
    if data.get("name") and data.get("name") != node:
        lines.append(f"name: {data['name']}")
    module = data.get("module") or ""
    mtype = data.get("module_type")
    lines.append(f"module: {module or '(root)'}" + (f" : {mtype}" if mtype else ""))
    for index, info in enumerate(data.get("outputs") or []):
        info = info or {}
        lines.append(f"out[{index}]: {format_shape(info.get('shape'))} "
                     f"{format_dtype(info.get('dtype'))}")
    if is_tree_node(data):
        lines += tree_tooltip_lines(data)
    else:
        for qualified, info in ordered_params(data.get("params")):
            info = info or {}
            lines.append(f"param {qualified}: {format_shape(info.get('shape'))} "
                         f"{format_dtype(info.get('dtype'))}")
    attrs = data.get("attrs") or {}
    for key in sorted(attrs):
        lines.append(f"{key} = {json.dumps(attrs[key], ensure_ascii=False, default=str)}")
    for key in ("children", "repeat", "total_params"):
        if key in data:
            lines.append(f"{key}: {data[key]}")
    lines += _stats_tooltip_lines(data)
    if "diff" in data:
        changes = data.get("changes")
        lines.append(f"diff: {data['diff']}" + (
            f" ({json.dumps(changes, ensure_ascii=False, default=str, sort_keys=True)})"
            if changes else ""))
    lines = [truncate(line, _MAX_TOOLTIP_LINE) for line in lines]
    if len(lines) > _MAX_TOOLTIP_LINES:
        hidden = len(lines) - _MAX_TOOLTIP_LINES + 1
        lines = lines[:_MAX_TOOLTIP_LINES - 1] + [f"… ({hidden} more lines)"]
    return "\n".join(lines)


def node_fill(data, theme):
    """``(shape, style, fill, css classes)`` of a node from its kind, category, diff."""
    kind = data.get("kind")
    category = op_category(data.get("op") or "")
    if is_tree_node(data):
        mtype = data.get("module_type")
        leaf = not data.get("child_modules")
        fill = theme.fill_for_category(op_category(mtype)) if leaf and mtype \
            else theme.param_fill if leaf else theme.module_fill
        css = "module tree" + (f" {class_name(mtype)}" if mtype else "")
        return "box", None, fill, css
    looks = {
        "input": ("oval", "filled", theme.input_fill, "input"),
        "output": ("oval", "filled", theme.output_fill, "output"),
        "param": ("box", "filled", theme.param_fill, "param"),
        "const": ("box", "filled", theme.const_fill, "const"),
        "module": ("box3d", "filled", theme.module_fill, "module"),
    }
    if data.get("op") == "error":
        return None, "filled", theme.fill_for_diff("removed"), "op error"
    return looks.get(kind, (None, None, theme.fill_for_category(category), f"op {category}"))


def _node_look(data, style):
    """Shape, style, fill, CSS classes and ink of a node.

    The ink (text and detail colours) is None when the theme's colours read
    well on the fill, else black or white (:func:`ink_for`).
    """
    theme = style.theme
    shape, stroke, fill, css = node_fill(data, theme)
    state = data.get("diff")
    if state in DIFF_STROKES:
        if style.scale is None:
            fill = theme.fill_for_diff(state)
        stroke = (stroke or "filled,rounded") + DIFF_STROKES[state]
        css += f" diff-{state}"
    if data.get("proxy_of"):
        stroke = (stroke or "filled,rounded") + ",dashed"
        css += " proxy"
    if data.get("kind") == "module" and data.get("module_type") == "inferred":
        stroke = (stroke or "filled") + ",dashed"  # inferred by passes/infer_blocks.py
        css += " inferred"
    if style.scale is not None:
        value = node_value(data, style.scale.quantity)
        fill = theme.nodata_fill if value is None else style.scale.color(value)
        css += " no-value" if value is None else ""
    readable = contrast(theme.text_color, fill) >= _MIN_TEXT_CONTRAST and \
        contrast(theme.muted_color, fill) >= _MIN_DETAIL_CONTRAST
    return shape, stroke, fill, css, None if readable else ink_for(fill)


def node_statement(node, data, style, hint, dom_id):
    """One DOT node statement with label, look, tooltip, id and class.

    Parameters
    ----------
    node : str
        IR node id.
    data : dict
        Its attributes.
    style : NodeStyle
    hint : str or None
        Module path of an elided leaf box, named after the op.
    dom_id : str
        The element id in SVG output.
    """
    shape, stroke, fill, css, ink = _node_look(data, style)
    theme = style.theme
    if ink is not None:
        theme = dataclasses.replace(theme, text_color=ink[0], muted_color=ink[1])
    kind = data.get("kind")
    small = kind in ("param", "const")
    pairs = [
        ("label", _label(node, data, style.show, theme, hint)), ("shape", shape),
        ("style", stroke), ("fillcolor", fill),
        ("fontcolor", ink[0] if ink else None),
        ("fontsize", theme.small_fontsize if small else None),
        ("height", 0.2 if small else None),
        ("margin", "0.06,0.02" if small else "0.16,0.1"
         if kind == "module" and not is_tree_node(data) else None),
        ("tooltip", tooltip(node, data)), ("id", dom_id), ("class", css),
    ]
    return f"{quote(node)}{attr_list(pairs)};"

