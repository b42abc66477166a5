"""Graphviz DOT text from an IR graph: pure functions, no subprocess.

:func:`to_dot` is the entry point. Everything it draws comes from IR
attributes (see :mod:`graphir.ir`); it never looks at framework objects.
Node labels, looks and tooltips are written by :mod:`graphir.renderers.nodes`,
the legend by :mod:`graphir.renderers.legend`.

Layout rules
------------
* Modules become nested clusters (``subgraph "cluster_<path>"``), built
  from each node's ``scope``. A leaf module (no sub-module) whose nodes
  share no edge gets no box of its own: a ``Conv2d`` around one ``Conv``,
  or ResNet's ``relu`` called three times. Its nodes join the enclosing
  cluster and name the module after their op (``Conv  conv1``).
* An op node without module (``module == ""``, as the ONNX dynamo exporter
  leaves a ``Split`` between two ops of ``h.0.attn``) whose producers (other
  than weights and constants) and consumers all sit inside one module is
  drawn in the innermost cluster holding all of them — the rule the IR
  passes use to collapse such nodes with that module. A purely visual
  rule: the IR is not changed.
* A ``module`` node (a collapsed module box) stands for the innermost
  entry of its scope, so it is drawn in the cluster of the entry above.
* A parameter tree (source ``state_dict``, all ``module`` nodes) gets no
  clusters — its edges are the hierarchy — and is laid out left to right
  unless ``rankdir`` says otherwise (see :mod:`graphir.renderers.tree`).
* Folding (:func:`graphir.passes.fold.fold`): a cluster that heads a run
  in ``G.graph["folded"]`` is labelled ``h.0 … h.11 : GPT2Block ×12``.
* Every node gets a plain-text ``tooltip`` with all its details, an ``id``
  (``node_<sanitised id>``) and a ``class`` (``op conv``, ``input``,
  ``diff-changed`` …) so the SVG is stable and styleable; clusters get
  ``id="cluster_<sanitised path>"`` and their full path as tooltip.

Colours
-------
Fills encode the op category; in a diff (nodes with ``diff``) the diff
state, with removed nodes dashed and changed nodes bold. ``color_by``
colours nodes by a number instead (:mod:`graphir.renderers.colors`). A small
legend below the drawing (right of it, left to right) explains whatever the
colours mean: the op categories drawn, the diff states, or a colour bar.

Determinism: nodes, clusters and edges are written in the graph's node and
edge order; attribute dicts of the IR are read by key or sorted. The same
graph gives byte-identical text.

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

import re

from graphir.errors import InputError
from graphir.ir import DIFF_STATES, scope_from_path
from graphir.renderers.colors import QUANTITIES, STATS_QUANTITIES, node_value, scale_for
from graphir.renderers.labels import OP_CATEGORIES, op_category
from graphir.renderers.legend import LEGEND_NODE, category_entries, legend_statement
from graphir.renderers.markup import Html, attr_list, escape_html, font, quote
from graphir.renderers.nodes import (
    NodeStyle,
    class_name,
    edge_tensor_text,
    folded_name,
    node_statement,
)
from graphir.renderers.proxies import with_proxies
from graphir.renderers.themes import get_theme, with_font
from graphir.renderers.tree import TREE_GRAPH_ATTRS, is_parameter_tree, is_tree_node
from graphir.util.text import short_name

__all__ = [
    "SHOW_OPTIONS",
    "DEFAULT_SHOW",
    "RANKDIRS",
    "COLOR_BY_OPTIONS",
    "parse_show",
    "resolve_color_by",
    "to_dot",
    "drawn_graph",
    "node_dom_ids",
]

#: What ``show`` may ask for.
SHOW_OPTIONS = ("shapes", "params", "dtypes", "attrs", "module", "edges", "stats", "legend")
#: What is shown when ``show`` is None.
DEFAULT_SHOW = frozenset({"shapes", "params", "legend"})
#: Valid values of ``rankdir`` (None picks one: LR for parameter trees, else TB).
RANKDIRS = ("TB", "LR", "BT", "RL")
#: Valid values of ``color_by`` besides None (automatic).
COLOR_BY_OPTIONS = ("none",) + QUANTITIES

_DOM_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def parse_show(show):
    """Normalise a ``show`` argument to a frozenset of :data:`SHOW_OPTIONS`.

    Parameters
    ----------
    show : iterable of str, str or None
        None gives :data:`DEFAULT_SHOW`; a string is read as a
        comma-separated list (``"shapes,params"``). Plain names replace the
        defaults; names written ``+name`` or ``-name`` add to or remove from
        them (or from the plain names given): ``"+attrs,-legend"``.

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
    >>> sorted(parse_show("+stats,-legend"))
    ['params', 'shapes', 'stats']
    """
    if show is None:
        return DEFAULT_SHOW
    if isinstance(show, str):
        show = [part.strip() for part in show.split(",") if part.strip()]
    show = [str(item).strip() for item in show]
    plain = {item for item in show if item[:1] not in ("+", "-")}
    added = {item[1:] for item in show if item[:1] == "+"}
    removed = {item[1:] for item in show if item[:1] == "-"}
    unknown = sorted((plain | added | removed).difference(SHOW_OPTIONS))
    if unknown:
        raise InputError(f"cannot show {', '.join(map(repr, unknown))}",
                         hint=f"choose from: {', '.join(SHOW_OPTIONS)} "
                              "(+name adds to the defaults, -name removes)")
    base = plain if plain or not (added or removed) else DEFAULT_SHOW
    return frozenset((base | added) - removed)


def _stats_keys(G):
    """Numeric keys found in any node's ``stats`` dict, sorted."""
    keys = set()
    for _, stats in G.nodes(data="stats"):
        if isinstance(stats, dict):
            keys.update(k for k, v in stats.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool))
    return sorted(keys)


def resolve_color_by(G, color_by):
    """The quantity nodes are coloured by, or None for the usual fills.

    Parameters
    ----------
    G : networkx.MultiDiGraph
    color_by : str or None
        None is automatic: ``weight_change`` when the graph carries
        ``weight_change_max`` (a checkpoint diff drawn on the architecture),
        else none. ``"none"`` keeps the op-category (or diff) fills; any
        other value names a quantity (see :data:`COLOR_BY_OPTIONS`; any
        numeric key of the nodes' ``stats`` is accepted too).

    Returns
    -------
    str or None

    Raises
    ------
    InputError
        On an unknown name (the message lists the valid ones), or when no
        drawn node has a value for it.
    """
    if color_by is None:
        return "weight_change" if "weight_change_max" in G.graph else None
    if color_by == "none":
        return None
    extra = [k for k in _stats_keys(G) if k not in STATS_QUANTITIES]
    if color_by not in QUANTITIES and color_by not in extra:
        raise InputError(f"cannot colour nodes by {color_by!r}",
                         hint=f"choose one of: {', '.join(COLOR_BY_OPTIONS + tuple(extra))}")
    if not any(node_value(data, color_by) is not None for _, data in G.nodes(data=True)):
        where = ("activation statistics (`stats` on op nodes, recorded when the model "
                 "is traced with statistics)") if color_by not in ("weight_change", "params") \
            else "a checkpoint diff (`weight_change`)" if color_by == "weight_change" \
            else "weights (`params`)"
        raise InputError(f"no node of the drawn graph has a {color_by!r} value",
                         hint=f"it comes from {where}; draw a graph that has them or "
                              "choose another --color-by")
    return color_by


def _color_scale(G, quantity):
    """The :class:`ColorScale` for ``quantity`` over the graph's values, or None."""
    if quantity is None:
        return None
    values = [v for v in (node_value(d, quantity) for _, d in G.nodes(data=True))
              if v is not None]
    maximum = G.graph.get("weight_change_max") if quantity == "weight_change" else None
    if not values:
        values = [0.0]
    return scale_for(quantity, values,
                     maximum=maximum if isinstance(maximum, (int, float)) else None)


def _node_scope(data):
    """The node's ``[(path, type), …]`` scope, rebuilt from ``module`` if absent.

    A ``module`` node stands for the innermost entry, so that entry is dropped.
    """
    scope = data.get("scope") or scope_from_path(data.get("module") or "",
                                                 data.get("module_type"))
    scope = [(str(path), mtype) for path, mtype in scope]
    if data.get("kind") == "module":
        scope = scope[:-1]
    return scope


def _adopted_scope(G, node):
    """The innermost scope holding every neighbour of an unscoped op, or [].

    Producers that are weights or constants do not count; the op needs at
    least one other producer and one consumer, and none of them may be an
    input, an output or itself unscoped.
    """
    nodes = G.nodes
    producers = [n for n in G.predecessors(node)
                 if nodes[n].get("kind") not in ("param", "const")]
    consumers = list(G.successors(node))
    if not producers or not consumers:
        return []
    common = None
    for other in producers + consumers:
        if nodes[other].get("kind") in ("input", "output"):
            return []
        scope = _node_scope(nodes[other])
        if not scope:
            return []
        if common is None:
            common = scope
            continue
        k = 0
        while k < min(len(common), len(scope)) and common[k][0] == scope[k][0]:
            k += 1
        common = common[:k]
    return common or []


def _draw_scope(G, node, data):
    """The scope a node is drawn in: its own, or an adopted one (see the module doc)."""
    scope = _node_scope(data)
    if not scope and data.get("kind") == "op" and not data.get("module"):
        return _adopted_scope(G, node)
    return scope


def _cluster_tree(G, flat=False):
    """Group nodes into nested clusters, in graph order.

    Parameters
    ----------
    G : networkx.MultiDiGraph
    flat : bool
        Put every node at the top level (no clusters).

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
        for depth, (path, mtype) in enumerate([] if flat else _draw_scope(G, node, data)):
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
    name = short_name(path)
    tooltip = f"{path} : {mtype}" if mtype else path
    if folded:
        paths = folded.get("paths") or [path]
        name = folded_name(paths) if len(paths) > 1 else name
        tooltip += f"\nfolded: {paths[0]} … {paths[-1]} ({folded.get('repeat')} instances)"
    label = font(escape_html(name), bold=True)
    if mtype:
        label += " : " + escape_html(mtype)
    if folded:
        times = f"×{folded.get('repeat')}"
        if (folded.get("period") or 1) > 1:  # one block of a repeated pattern: (a, b) ×3
            letter = folded.get("letter") or chr(ord("a") + int(folded.get("position") or 0))
            times = f"{letter} of {folded.get('pattern')} {times}"
        label += "  " + font(escape_html(times), bold=True)
    pairs = [
        ("label", Html(label)),
        ("tooltip", tooltip),
        ("id", dom_id),
        ("class", f"module depth{cluster['depth']}"
                  + (f" {class_name(mtype)}" if mtype else "")
                  + (" folded" if folded else "")),
    ]
    look = _cluster_look(theme, theme.cluster_fill(cluster["depth"]))
    if mtype == "inferred":  # a module graphir inferred (passes/infer_blocks.py): dashed
        look = [("style", "filled,rounded,dashed") if key == "style" else (key, value)
                for key, value in look]
    return f"graph{attr_list(pairs + look)};"


def _item_lines(items, clusters, context, indent):
    """DOT lines for nodes and (recursively) clusters, in item order."""
    G, style, hints, dom_ids = context
    pad = "  " * indent
    lines = []
    for kind, key in items:
        if kind == "node":
            lines.append(pad + node_statement(key, G.nodes[key], style, hints.get(key),
                                              dom_ids[("node", key)]))
            continue
        cluster = clusters[key]
        lines.append(f"{pad}subgraph {quote('cluster_' + key)} {{")
        folded = (G.graph.get("folded") or {}).get(key)
        lines.append(pad + "  " + _cluster_header(key, cluster, style.theme,
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
    text = edge_tensor_text(info, show | {"shapes"})
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
        lines.append(f"  {quote(src)} -> {quote(dst)}{attr_list(pairs)};")
    return lines


def _legend_sections(G, scale, theme, tree):
    """What the legend explains: a colour bar, the diff states or the op categories."""
    if scale is not None:
        missing = any(node_value(data, scale.quantity) is None for _, data in G.nodes(data=True))
        return [("scale", (scale, missing))]
    states = {state for _, state in G.nodes(data="diff") if state in DIFF_STATES}
    if states:
        return [("diff", [state for state in DIFF_STATES if state in states])]
    present = set()
    for _, data in G.nodes(data=True):
        if data.get("kind") == "op":
            present.add(op_category(data.get("op") or ""))
        elif is_tree_node(data) and data.get("module_type") and not data.get("child_modules"):
            present.add(op_category(data["module_type"]))
    entries = category_entries([c for c in OP_CATEGORIES if c in present], theme)
    return [("layers" if tree else "ops", entries)] if entries else []


def _legend_lines(G, sections, theme, rankdir):
    """The legend node and the invisible edges that hang it after the drawing's sinks."""
    lines = ["  " + legend_statement(sections, theme, rankdir)]
    sinks = [node for node in G.nodes if G.out_degree(node) == 0]
    lines += [f"  {quote(node)} -> {quote(LEGEND_NODE)} [style=invis, weight=0];"
              for node in sinks]
    return lines


def _graph_label(title, notes, theme):
    """The figure's heading: the title in bold, then each note in small italics."""
    lines = []
    if title:
        lines.append(font(escape_html(title), bold=True, size=theme.title_fontsize))
    lines += [font(escape_html(note), italic=True, size=theme.small_fontsize,
                   color=theme.muted_color) for note in notes]
    return Html("<BR/>".join(lines)) if lines else None


def _graph_defaults(theme, rankdir, title, notes=(), tree=False):
    """The graph, node and edge default attribute lines.

    ``newrank`` lets clusters share ranks, ``splines=spline`` keeps edges
    curved (``ortho`` ignores ports and is slow), ``nslimit=2`` bounds the
    network-simplex placement (unbounded it takes ~10 s on 2,500 nodes for
    little gain; small graphs never reach the bound), ``mclimit`` and
    ``searchsize`` bound crossing minimisation, and ``outputorder`` draws
    nodes over edges. A parameter tree (``tree``) packs its nodes tighter.
    """
    label = _graph_label(title, notes, theme)
    spacing = dict(TREE_GRAPH_ATTRS) if tree else {}
    graph = [
        ("rankdir", rankdir), ("newrank", True), ("compound", True),
        ("splines", spacing.get("splines", "spline")),
        ("nodesep", spacing.get("nodesep", 0.25)), ("ranksep", spacing.get("ranksep", 0.3)),
        ("pad", 0.25), ("margin", 0), ("remincross", True), ("mclimit", 0.5), ("nslimit", 2),
        ("nslimit1", 4), ("searchsize", 50), ("outputorder", "edgesfirst"),
        ("ordering", spacing.get("ordering")),
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
    return [f"  graph{attr_list(graph)};", f"  node{attr_list(node)};",
            f"  edge{attr_list(edge)};"]


def drawn_graph(G):
    """The graph :func:`to_dot` actually draws: ``G`` plus proxy copies.

    A parameter tree is drawn as is; any other graph gets the dashed copies
    of widely shared producers (:func:`graphir.renderers.proxies.with_proxies`,
    each with ``proxy_of``). Interactive viewers use it to map SVG elements
    back to IR nodes.
    """
    return G if is_parameter_tree(G) else with_proxies(G)


def node_dom_ids(drawn, used=None):
    """``{node id: SVG element id}`` of every node of a :func:`drawn_graph`.

    The ids are the ``id`` attributes of the node ``<g>`` elements in SVG
    output (``node_<sanitised id>``, ``-2``, ``-3`` … on a clash), assigned
    in node order exactly as :func:`to_dot` does.

    >>> from graphir import ir
    >>> G = ir.new_graph("onnx", "m")
    >>> for name in ("a/b", "a_b"):
    ...     _ = ir.add_node(G, name, kind="op", op="Relu", name=name)
    >>> node_dom_ids(drawn_graph(G))
    {'a/b': 'node_a_b', 'a_b': 'node_a_b-2'}
    """
    used = set() if used is None else used
    return {node: _dom_id("node_", node, used) for node in drawn.nodes}


def to_dot(G, *, theme="default", rankdir=None, show=None, title=None, color_by=None,
           font=None, font_size=None):
    """Write an IR graph as Graphviz DOT text.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graphir IR (see :mod:`graphir.ir`).
    theme : str or Theme, default "default"
        A name from :data:`graphir.renderers.themes.THEMES` or a theme.
    rankdir : {"TB", "LR", "BT", "RL"}, optional
        Direction of the data flow. None: ``LR`` for a parameter tree
        (source ``state_dict``), else ``TB``.
    show : iterable of str or str, optional
        Among :data:`SHOW_OPTIONS`: ``shapes`` (output shapes), ``params``
        (weight shapes), ``dtypes`` (every dtype, also ``float32``),
        ``attrs`` (op attributes), ``module`` (each op's module path),
        ``edges`` (label edges from multi-output nodes with port and shape,
        and every edge with its shape when ``shapes`` is off), ``stats``
        (a ``μ σ zeros`` line from activation statistics, ``Δ`` for a weight
        change), ``legend`` (explain the colours). Default
        :data:`DEFAULT_SHOW`; ``+name``/``-name`` edit it (see :func:`parse_show`).
    title : str, optional
        Graph title; defaults to ``G.graph["name"]``; ``""`` for none.
        Notes in ``G.graph["notes"]`` (what a pass did, e.g. an automatic
        collapse to fit the node budget) are printed under it.
    color_by : str, optional
        Colour nodes by a number instead of their op category: a key of the
        nodes' ``stats`` (``mean``, ``std``, ``min``, ``max``, ``zeros``,
        ``numel``, ``nonfinite``), ``weight_change`` or ``params``; a colour
        bar is added to the legend. None (default) means ``weight_change``
        when the graph carries ``weight_change_max``, else op categories;
        ``"none"`` always means op categories (or diff states).
    font : str, optional
        Font family for all text, overriding the theme's (see
        :func:`graphir.renderers.themes.with_font`).
    font_size : float, optional
        Point size of op names, overriding the theme's; other sizes follow.

    Returns
    -------
    str
        DOT source, byte-identical for identical input.

    Raises
    ------
    InputError
        On an unknown theme, rankdir, ``show`` entry or ``color_by``, or a
        ``color_by`` no node has a value for.
    """
    theme = with_font(theme, font, font_size)
    show = parse_show(show)
    tree = is_parameter_tree(G)
    rankdir = rankdir or ("LR" if tree else "TB")
    if rankdir not in RANKDIRS:
        raise InputError(f"unknown rankdir {rankdir!r}",
                         hint=f"choose one of: {', '.join(RANKDIRS)}")
    scale = _color_scale(G, resolve_color_by(G, color_by))
    if title is None:
        title = G.graph.get("name") or ""
    G = drawn_graph(G)
    root_items, clusters = _cluster_tree(G, flat=tree)
    hints = {}
    _elide_loose_leaf_clusters(G, root_items, clusters, hints)
    used = set()
    dom_ids = {("node", node): dom for node, dom in node_dom_ids(G, used).items()}
    dom_ids.update({("cluster", path): _dom_id("cluster_", path, used) for path in clusters})
    context = (G, NodeStyle(show=show, theme=theme, scale=scale), hints, dom_ids)
    lines = [f"digraph {quote(G.graph.get('name') or 'graphir')} {{"]
    lines += _graph_defaults(theme, rankdir, title, G.graph.get("notes") or (), tree)
    lines += _item_lines(root_items, clusters, context, 1)
    lines += _edge_lines(G, show)
    sections = _legend_sections(G, scale, theme, tree) if "legend" in show else []
    if sections:
        lines += _legend_lines(G, sections, theme, rankdir)
    lines.append("}")
    return "\n".join(lines) + "\n"
