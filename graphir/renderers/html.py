"""One self-contained, interactive HTML page from precomputed IR views.

The page embeds a Graphviz SVG per *view state* (the default view, each
module's inside, a diff's "changes only" view …), the details of every IR
node as JSON, and a small vanilla-JS viewer (``viewer/viewer.js`` and
``viewer/viewer.css``, read with :mod:`importlib.resources`): pan, zoom,
search, a details panel, opening and closing modules, a diff's change list.
Nothing is loaded from the network.

This module reads IR only; which states exist (and their IR graphs) is
decided by :mod:`graphir.explore`, which runs the passes.

Safety
------
* Model strings reach the page only as JSON inside ``<script
  type="application/json">`` with ``<``, ``>`` and ``&`` written as
  ``\\u003c`` … (so ``</script>`` in a name cannot end the element), and the
  viewer inserts them with ``textContent``.
* The first drawing is inline SVG (Graphviz has XML-escaped every label;
  comments are removed). Each other SVG sits in a ``<script
  type="image/svg+xml">`` element, with ``</`` written ``<\\/`` (an SVG never
  contains ``<\\``, so the viewer restores it exactly); the viewer parses it
  with ``DOMParser`` as XML when it is opened.

Examples
--------
>>> json_for_script({"name": "</script><b>"})
'{"name": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
>>> svg_for_script('<svg><g id="a"></g></svg>')
'<svg><g id="a"><\\\\/g><\\\\/svg>'
"""

import html
import json
import re
from dataclasses import dataclass, field
from importlib import resources

from graphir.renderers.backend import render_bytes
from graphir.renderers.dot import drawn_graph, node_dom_ids, to_dot
from graphir.renderers.labels import format_count, format_dtype, format_shape
from graphir.renderers.nodes import ordered_params
from graphir.renderers.themes import get_theme

__all__ = [
    "RenderedState",
    "ViewState",
    "render_state",
    "node_record",
    "json_for_script",
    "svg_for_script",
    "build_page",
]

_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)
_TITLE = re.compile(r"<title>[^<]*</title>\n?")
_EDGE = re.compile(r'<g id="(edge\d+)" class="edge[^"]*">\s*<title>([^<]*)</title>')
_NODE_G = re.compile(r'<g id="(node_[^"]*)" class="node')
_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.S)
_RECORD_KEYS = ("kind", "op", "name", "label", "module", "module_type", "outputs", "params",
                "attrs", "stats", "tensor_names", "children", "repeat", "total_params",
                "folded", "input_shapes", "diff", "changes", "old_id", "weight_change",
                "own_params", "subtree_params", "child_modules", "elided")


@dataclass
class ViewState:
    """One drawing the viewer can show.

    Attributes
    ----------
    graph : networkx.MultiDiGraph
        The IR drawn (already viewed: collapsed, folded …).
    title : str
        Its breadcrumb label.
    parent : int or None
        Index of the state one level up (None for a root).
    path : str or None
        The module path this state looks inside.
    root : str
        Which family of states it belongs to: ``"full"`` or ``"context<N>"``.
    opens : dict
        Module node id (in ``graph``) → index of the state showing its inside.
    aliases : dict
        Module node id → the module path whose drawing ``opens`` shows
        instead (a copy with the same structure).
    """

    graph: object
    title: str
    parent: object = None
    path: object = None
    root: str = "full"
    opens: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)


@dataclass
class RenderedState:
    """A state's SVG (titles and comments removed) and its element maps."""

    svg: str
    dom: dict        # SVG node element id → IR node id (proxies map to their producer)
    edges: dict      # SVG edge element id → [source element id, target element id]
    size: int        # bytes of the SVG as Graphviz wrote it (for budgets)


def render_state(H, *, theme="default", show=None, rankdir=None, color_by=None, title=None,
                 timeout=120):
    """Lay out one IR view with Graphviz and map its SVG elements to IR ids.

    Parameters
    ----------
    H : networkx.MultiDiGraph
    theme, show, rankdir, color_by, title
        As for :func:`graphir.renderers.dot.to_dot`.
    timeout : float
        Seconds before Graphviz is stopped.

    Returns
    -------
    RenderedState
    """
    drawn = drawn_graph(H)
    ids = node_dom_ids(drawn)
    dom = {dom_id: drawn.nodes[node].get("proxy_of") or node for node, dom_id in ids.items()}
    svg = render_bytes(to_dot(H, theme=theme, rankdir=rankdir, show=show, title=title,
                              color_by=color_by), "svg", timeout=timeout).decode("utf-8")
    size = len(svg.encode("utf-8"))
    pairs = {(src, dst) for src, dst in drawn.edges()}
    edges = {}
    for edge_id, title_text in _EDGE.findall(svg):
        ends = _edge_ends(html.unescape(title_text), pairs)
        if ends is not None:
            edges[edge_id] = [ids[ends[0]], ids[ends[1]]]
    present = set(_NODE_G.findall(svg))
    dom = {key: value for key, value in dom.items() if key in present}
    svg = _TITLE.sub("", _COMMENT.sub("", _XML_PROLOG.sub("", svg)))
    return RenderedState(svg=svg, dom=dom, edges=edges, size=size)


def _edge_ends(text, pairs):
    """``(src, dst)`` of an SVG edge title ``src->dst`` (ids may contain ``->``)."""
    start = 0
    while True:
        index = text.find("->", start)
        if index < 0:
            return None
        if (text[:index], text[index + 2:]) in pairs:
            return text[:index], text[index + 2:]
        start = index + 1


def _json_safe(value):
    """``value`` as plain JSON data: tuples → lists, NaN/inf → None, others → str."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return str(value)


def node_record(data):
    """The JSON the viewer's details panel shows for one IR node.

    Parameters
    ----------
    data : dict
        The node's IR attributes.

    Returns
    -------
    dict
        The IR keys the panel knows (see the module notes), each parameter
        with ``count`` added, outputs' shapes also as text.

    Examples
    --------
    >>> rec = node_record({"kind": "op", "op": "linear", "name": "fc", "module": "fc",
    ...     "outputs": [{"shape": [1, 8], "dtype": "float32"}],
    ...     "params": {"fc.weight": {"shape": [8, 4], "dtype": "float32"}}})
    >>> rec["params"]
    [{'name': 'fc.weight', 'shape': '8×4', 'dtype': 'float32', 'count': '32'}]
    >>> rec["outputs"]
    [{'shape': '1×8', 'dtype': 'float32'}]
    """
    record = {}
    for key in _RECORD_KEYS:
        value = data.get(key)
        if value in (None, "", [], {}):
            continue
        if key == "outputs":
            value = [{"shape": format_shape((info or {}).get("shape")),
                      "dtype": format_dtype((info or {}).get("dtype"))} for info in value]
        elif key == "params":
            value = [_param_row(name, info) for name, info in ordered_params(value)]
        elif key == "elided" and isinstance(value, (list, tuple)):
            value = len(value)
        elif key in ("total_params", "own_params", "subtree_params") and \
                isinstance(value, (int, float)):
            value = f"{format_count(value)} ({value:,})"
        record[key] = _json_safe(value)
    return record


def _param_row(name, info):
    info = info or {}
    shape = info.get("shape")
    count = None
    if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
        count = 1
        for d in shape:
            count *= d
    row = {"name": name, "shape": format_shape(shape), "dtype": format_dtype(info.get("dtype")),
           "count": "?" if count is None else f"{count:,}"}
    extra = [f"{key}={info[key]}" for key in ("kind", "trainable", "tied_to") if key in info]
    if extra:
        row["note"] = ", ".join(str(word) for word in extra)
    return row


def json_for_script(value):
    """JSON text safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` …, so no model string can end
    the element or open a comment; ``JSON.parse`` reads them back.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def svg_for_script(svg):
    """SVG text safe inside a ``<script>`` element: ``</`` written ``<\\/``."""
    if "<\\" in svg:
        raise ValueError("SVG text contains '<\\\\', which the page encoding reserves")
    return svg.replace("</", "<\\/")


def _asset(name):
    return resources.files("graphir.renderers").joinpath("viewer", name).read_text("utf-8")


def _diff_fills(theme):
    theme = get_theme(theme)
    try:
        return {state: theme.fill_for_diff(state) for state in ("added", "removed", "changed",
                                                                 "same")}
    except (KeyError, AttributeError):
        return {}


def build_page(*, kind, meta, nodes, order, states, rendered, where=None, diff=None,
               left_out=(), theme="default"):
    """Assemble the page.

    Parameters
    ----------
    kind : {"model", "diff"}
    meta : dict
        ``title``, ``name``, ``source``, ``version``, ``command``, ``notes``
        (list of str), ``about`` (list of ``[label, text]``).
    nodes : dict
        IR node id → :func:`node_record` plus ``in``/``out`` lists of
        ``[node id, text]``.
    order : list
        Node ids in search order.
    states : list of ViewState
    rendered : list of RenderedState
        One per state, same order.
    where : dict, optional
        Node id → ``[state index, shown node id]`` for nodes no state draws
        (inside a box, or a folded copy drawn as its first twin).
    diff : dict, optional
        ``counts``, ``groups`` (``[{"module", "entries": [{"id", "state", "text"}]}]``),
        ``context`` (hops → state index), ``old_name``, ``new_name``.
    left_out : list of dict
        ``{"path", "command"}`` of modules whose inside was not precomputed.
    theme : str

    Returns
    -------
    str
        The HTML page.
    """
    data = {
        "kind": kind, "meta": meta, "nodes": nodes, "order": list(order),
        "states": [{"title": s.title, "parent": s.parent, "path": s.path, "root": s.root,
                    "opens": s.opens, "aliases": s.aliases, "dom": r.dom, "edges": r.edges}
                   for s, r in zip(states, rendered)],
        "where": where or {}, "diff": diff, "leftOut": list(left_out),
        "diffFills": _diff_fills(theme) if kind == "diff" else {},
    }
    title = html.escape(meta.get("title") or "graphir")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_asset('viewer.css')}</style>", "</head>",
        f'<body class="kind-{kind}">',
        # the first drawing is inline (parsed with the page: fastest first paint); the
        # others wait, unparsed, in script elements until the viewer opens them
        _asset("viewer.html").replace('<div id="canvas"></div>',
                                      f'<div id="canvas">{rendered[0].svg.strip()}</div>'),
        f'<script type="application/json" id="graphir-data">{json_for_script(data)}</script>',
    ]
    for index, state in enumerate(rendered[1:], start=1):
        parts.append(f'<script type="image/svg+xml" id="graphir-svg-{index}">'
                     f"{svg_for_script(state.svg)}</script>")
    parts += [f"<script>{_asset('viewer.js')}</script>", "</body>", "</html>", ""]
    return "\n".join(parts)
