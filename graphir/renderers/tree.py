"""Labels and looks of parameter-tree graphs (source ``state_dict``).

A state_dict without an architecture becomes a tree of ``module`` nodes
(see :mod:`graphir.converters.state_dict`): edges go from parent to child and
each node lists the tensors it owns (``params``, some marked
``"kind": "buffer"``, ``"tied_to"`` another name or ``"trainable": False``)
and element counts (``own_params``, ``subtree_params``, ``own_buffers``,
``subtree_buffers``, ``child_modules``).

Each node is drawn as a left-aligned box::

    conv1 : Conv2d
    9.41K params
    weight ⟨64×3×7×7⟩
    running_mean, running_var ⟨64⟩ buffers

The edges already show the hierarchy, so :mod:`graphir.renderers.dot` draws
no module clusters for such a graph, lays it out left to right unless told
otherwise (a 12-layer GPT-2 has ~110 modules and 70 leaves: one column per
level stays readable where one row per level would be metres wide) and uses
tighter node spacing with children kept in their order
(:data:`TREE_GRAPH_ATTRS`).

Examples
--------
>>> data = {"kind": "module", "module": "layer1.0.bn1", "label": "bn1",
...         "module_type": "BatchNorm2d", "own_params": 128, "subtree_params": 128,
...         "child_modules": 0, "params": {
...             "layer1.0.bn1.weight": {"shape": [64], "dtype": "float32"},
...             "layer1.0.bn1.bias": {"shape": [64], "dtype": "float32"},
...             "layer1.0.bn1.running_mean": {"shape": [64], "dtype": "float32",
...                                           "kind": "buffer"}}}
>>> tensor_lines(data["params"], show={"params"})
['weight, bias ⟨64⟩', 'running_mean ⟨64⟩ buffer']
>>> count_text(data)
'128 params'
"""

from graphir.renderers.labels import format_count, format_dtype, format_shape, short_param_name
from graphir.renderers.markup import escape_html, font, join_lines, truncate
from graphir.util.text import short_name

__all__ = [
    "TREE_GRAPH_ATTRS",
    "is_parameter_tree",
    "is_tree_node",
    "tensor_lines",
    "count_text",
    "tree_label",
    "tree_tooltip_lines",
]

#: Graph attributes that replace the op-graph defaults for a parameter tree.
TREE_GRAPH_ATTRS = (("nodesep", 0.08), ("ranksep", 0.45), ("splines", "spline"),
                    ("ordering", "out"))

_MAX_TENSOR_LINES = 6
_MAX_NAME_CHARS = 40
_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}


def is_parameter_tree(G):
    """True for a graph of module nodes from a state_dict (parent → child edges).

    Examples
    --------
    >>> import networkx as nx
    >>> G = nx.MultiDiGraph(source="state_dict")
    >>> G.add_node("module:", kind="module")
    >>> is_parameter_tree(G)
    True
    """
    return G.graph.get("source") == "state_dict" and all(
        kind == "module" for _, kind in G.nodes(data="kind"))


def is_tree_node(data):
    """True for a parameter-tree module node (it carries ``child_modules``)."""
    return data.get("kind") == "module" and "child_modules" in data \
        and "children" not in data


def _tensor_key(item):
    name, info = item
    local = short_param_name(name)
    kind = 1 if (info or {}).get("kind") == "buffer" else 0
    return (kind, _ORDER.get(local, len(_ORDER)), name)


def _tensor_word(name, info, show):
    """``(text after the names, local name)``; tensors with the same text share a line."""
    info = info or {}
    tail = []
    dtype = info.get("dtype")
    if dtype is not None and ("dtypes" in show or dtype != "float32"):
        tail.append(format_dtype(dtype, short=True))
    if info.get("tied_to"):
        return f"= {info['tied_to']} (tied)", short_param_name(name)
    if info.get("kind") == "buffer":
        tail.append("buffer")
    elif info.get("trainable") is False:
        tail.append("frozen")
    shape = info.get("shape")
    shape = "⟨scalar⟩" if shape == [] else f"⟨{format_shape(shape)}⟩"
    return " ".join([shape] + tail), short_param_name(name)


def tensor_lines(params, show):
    """One line per group of tensors with the same shape, dtype and kind.

    Parameters
    ----------
    params : dict
        ``{qualified name: {"shape", "dtype", ["kind"], ["tied_to"], ["trainable"]}}``.
    show : collection of str
        ``dtypes`` prints ``f32`` too (other dtypes are always printed).

    Returns
    -------
    list of str
        Plain text (not escaped): weights first, then buffers; at most
        :data:`_MAX_TENSOR_LINES`, the last saying how many more.
    """
    groups = {}
    for name, info in sorted((params or {}).items(), key=_tensor_key):
        key, local = _tensor_word(name, info, show)
        groups.setdefault(key, []).append(local)
    lines = []
    for tail, names in groups.items():
        shown = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        plural = "s" if tail.endswith("buffer") and len(names) > 1 else ""
        lines.append(f"{shown} {tail}{plural}")
    if len(lines) > _MAX_TENSOR_LINES:
        hidden = sum(len(names) for names in list(groups.values())[_MAX_TENSOR_LINES - 1:])
        lines = lines[:_MAX_TENSOR_LINES - 1] + [f"+{hidden} more tensors"]
    return lines


def count_text(data):
    """``1.2M params`` for the subtree, with children and buffers when useful.

    Examples
    --------
    >>> count_text({"subtree_params": 147968, "subtree_buffers": 516, "child_modules": 2,
    ...             "own_params": 0, "params": {}})
    '148K params · 2 children'
    """
    words = [f"{format_count(data.get('subtree_params') or 0)} params"]
    children = data.get("child_modules") or 0
    if children:
        words.append(f"{children} child" + ("ren" if children != 1 else ""))
    return " · ".join(words)


def tree_label(data, show, theme, extra_lines=()):
    """The HTML label of a parameter-tree node, left-aligned.

    Parameters
    ----------
    data : dict
        The node's attributes.
    show : frozenset of str
        ``params`` lists its own tensors, ``module`` adds the full path.
    theme : Theme
        For the font sizes and the detail colour.
    extra_lines : list of str
        Already escaped and fonted lines appended at the end (statistics).

    Returns
    -------
    Html
    """
    path = data.get("module") or ""
    name = short_name(path) if path else (data.get("label") or data.get("name") or "")
    title = font(escape_html(truncate(name, _MAX_NAME_CHARS)), bold=True)
    if data.get("module_type"):
        title += " : " + escape_html(data["module_type"])
    plain = [count_text(data)]
    if "module" in show and path:
        plain.append(path)
    if "params" in show:
        plain += tensor_lines(data.get("params"), show)
    details = [font(escape_html(line), size=theme.small_fontsize, color=theme.muted_color)
               for line in plain]
    return join_lines(title, details + list(extra_lines), align="LEFT")


def tree_tooltip_lines(data):
    """Counts and every tensor of a tree node, for its tooltip."""
    lines = [f"params: {data.get('own_params', 0)} own, {data.get('subtree_params', 0)} "
             f"with sub-modules",
             f"buffers: {data.get('own_buffers', 0)} own, {data.get('subtree_buffers', 0)} "
             f"with sub-modules",
             f"child modules: {data.get('child_modules', 0)}"]
    for name, info in sorted((data.get("params") or {}).items(), key=_tensor_key):
        info = info or {}
        marks = [info["kind"]] if info.get("kind") else []
        if info.get("tied_to"):
            marks.append(f"tied to {info['tied_to']}")
        if info.get("trainable") is False:
            marks.append("frozen")
        lines.append(f"{name}: {format_shape(info.get('shape'))} "
                     f"{format_dtype(info.get('dtype'))}"
                     + (f" ({', '.join(marks)})" if marks else ""))
    return lines
