"""TikZ output: the Graphviz layout of an IR, every label typeset by LaTeX.

:func:`to_tikz` writes the same DOT as :func:`graphir.renderers.dot.to_dot`,
runs Graphviz once for its layout (``dot -Tjson``, see
:func:`graphir.renderers.backend.layout_json`) and draws that layout as a
``tikzpicture``: nodes at Graphviz's positions with Graphviz's sizes, edges
as Graphviz's Bézier curves and arrow heads, clusters as rounded boxes with
their module names, ``×N`` badges on folded runs. The text is the paper's:
op names in the document's text font, shapes as maths
(``$1{\\times}64{\\times}56{\\times}56$``), weights as
``$W \\in \\mathbb{R}^{64\\times 3\\times 7\\times 7}$``.

The layout is computed with Helvetica metrics (wider than Computer Modern,
Latin Modern or Times at the same size), so LaTeX's text fits the boxes
Graphviz made.

Restyling
---------
The file starts with one ``\\definecolor`` per fill and one TikZ style per
node category (``graphir conv``, ``graphir linear``, … ``graphir input``,
``graphir module``, ``graphir cluster0``, ``graphir edge``, the diff states
``graphir added``/``removed``/``changed``); editing those lines restyles the
whole figure. ``\\graphirdetail`` sets the font of the detail lines.

Using it in a paper
-------------------
The preamble needs ``\\usepackage{tikz}`` (and ``amssymb`` for
``\\mathbb{R}``; without it weights use a bold R). Then
``\\input{fig.tex}``. ``width`` (``\\columnwidth``, ``8cm``) scales a wider
picture down to that width; ``standalone=True`` writes a whole document.
"""

import re

from graphir.ir import DIFF_STATES
from graphir.renderers.backend import layout_json
from graphir.renderers.dot import (
    _cluster_tree,
    _color_scale,
    _elide_loose_leaf_clusters,
    parse_show,
    resolve_color_by,
    to_dot,
)
from graphir.renderers.labels import OP_CATEGORIES, format_count, op_category, short_param_name
from graphir.renderers.latex import (
    PREAMBLE_CHECKS,
    color_definitions,
    end_lines,
    escape_latex,
    fit_width,
    params_math,
    shape_math,
    shapes_math,
    wrap_document,
)
from graphir.renderers.markup import quote, truncate
from graphir.util.text import short_name
from graphir.renderers.nodes import NodeStyle, _node_look
from graphir.renderers.proxies import with_proxies
from graphir.renderers.themes import with_font
from graphir.renderers.tree import count_text, is_tree_node

__all__ = ["to_tikz", "LAYOUT_FONT"]

#: Font whose metrics Graphviz sizes the boxes with: wider than the TeX
#: text fonts at the same size, so typeset labels fit.
LAYOUT_FONT = "Helvetica"

_KINDS = ("input", "output", "param", "const", "module")
_MAX_LABEL = 40
_NOTES_LABEL = re.compile(r", label=<.*>(?=, labelloc=)")


def _num(value):
    """A coordinate with at most two decimals, no trailing zeros."""
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _point(pair):
    return f"({_num(pair[0])},{_num(pair[1])})"


def _style_block(theme, categories):
    """Colour definitions and one named style per node category."""
    colors = [(f"graphir {c}", theme.fill_for_category(c)) for c in categories]
    colors += [("graphir input", theme.input_fill), ("graphir output", theme.output_fill),
               ("graphir param", theme.param_fill), ("graphir const", theme.const_fill),
               ("graphir module", theme.module_fill),
               ("graphir cluster0", theme.cluster_fill(0)),
               ("graphir cluster1", theme.cluster_fill(1)),
               ("graphir stroke", theme.node_stroke), ("graphir text", theme.text_color),
               ("graphir muted", theme.muted_color),
               ("graphir cluster stroke", theme.cluster_stroke),
               ("graphir edge", theme.edge_color)]
    colors += [(f"graphir {state}", theme.fill_for_diff(state)) for state in DIFF_STATES]
    node_pen = _num(theme.node_penwidth * 0.8)
    lines = ["% graphir TikZ figure. Restyle it by editing the colours and styles below.",
             PREAMBLE_CHECKS]
    lines += color_definitions(colors)
    lines += [
        r"\def\graphirdetail{\footnotesize\color{graphir muted}}% detail lines (shapes, weights)",
        r"\tikzset{",
        f"  graphir node/.style={{draw=graphir stroke, line width={node_pen}pt, "
        r"rounded corners=2pt, align=center, inner sep=1pt, text=graphir text, font=\small},",
    ]
    lines += [f"  graphir {c}/.style={{graphir node, fill=graphir {c}}}," for c in categories]
    lines += [
        "  graphir input/.style={graphir node, fill=graphir input, rounded corners=6pt},",
        "  graphir output/.style={graphir node, fill=graphir output, rounded corners=6pt},",
        r"  graphir param/.style={graphir node, fill=graphir param, font=\footnotesize},",
        r"  graphir const/.style={graphir node, fill=graphir const, font=\footnotesize},",
        "  graphir module/.style={graphir node, fill=graphir module, double, "
        "double distance=0.6pt},",
        "  graphir proxy/.style={dashed},",
        "  graphir added/.style={fill=graphir added},",
        "  graphir removed/.style={fill=graphir removed, dashed},",
        "  graphir changed/.style={fill=graphir changed, line width=1.2pt},",
        "  graphir same/.style={},",
        f"  graphir cluster/.style={{draw=graphir cluster stroke, "
        f"line width={_num(theme.cluster_penwidth * 0.8)}pt, rounded corners=3pt}},",
        "  graphir cluster0/.style={graphir cluster, fill=graphir cluster0},",
        "  graphir cluster1/.style={graphir cluster, fill=graphir cluster1},",
        r"  graphir cluster label/.style={font=\footnotesize, inner sep=1.5pt, text=graphir text},",
        r"  graphir badge/.style={font=\footnotesize\bfseries, inner sep=1.5pt, text=graphir text},",
        f"  graphir edge/.style={{draw=graphir edge, line width={_num(theme.edge_penwidth * 0.8)}pt}},",
        "  graphir arrow/.style={fill=graphir edge},",
        r"  graphir edge label/.style={font=\scriptsize, inner sep=0.5pt, text=graphir muted},",
        r"  graphir title/.style={align=center, font=\normalsize, text=graphir text},",
        "}",
    ]
    return lines


def _title_text(node, data, hint, show):
    kind = data.get("kind")
    if kind in ("input", "output"):
        text = data.get("name") or data.get("label") or node
    elif kind == "param":
        text = short_param_name(data.get("name") or data.get("label") or node)
    else:
        text = data.get("label") or data.get("op") or node
    title = r"\textbf{" + escape_latex(truncate(text, _MAX_LABEL)) + "}"
    if hint is not None and "module" not in show:
        title += r"\ {\color{graphir muted}" + escape_latex(
            truncate(short_name(hint), _MAX_LABEL)) + "}"
    return title


def _module_lines(data, show):
    path = data.get("module") or ""
    folded = data.get("folded") or []
    if len(folded) > 1:
        name = f"{short_name(folded[0])} … {short_name(folded[-1])}"
    else:
        name = data.get("label") or short_name(path) or data.get("name") or ""
    title = r"\textbf{" + escape_latex(truncate(name, _MAX_LABEL)) + "}"
    if data.get("module_type"):
        title += ": " + escape_latex(data["module_type"])
    if data.get("repeat"):
        title += rf" \textbf{{$\times{int(data['repeat'])}$}}"
    facts = []
    if data.get("children"):
        facts.append(f"{data['children']} op" + ("" if data["children"] == 1 else "s"))
    if data.get("total_params"):
        facts.append(f"{format_count(data['total_params'])} params")
    details = [escape_latex(" · ".join(facts))] if facts else []
    if "shapes" in show and data.get("outputs"):
        details.append(shapes_math(data["outputs"]))
    return title, details


def _tree_lines(data, show):
    """Title and details of a parameter-tree (state_dict) node, as the SVG's."""
    path = data.get("module") or ""
    name = short_name(path) if path else (data.get("label") or data.get("name") or "")
    title = r"\textbf{" + escape_latex(truncate(name, _MAX_LABEL)) + "}"
    if data.get("module_type"):
        title += ": " + escape_latex(data["module_type"])
    details = [escape_latex(count_text(data))]
    if "module" in show and path:
        details.append(r"\textit{" + escape_latex(truncate(path, 60)) + "}")
    if "params" in show and data.get("params"):
        details.extend(params_math(data["params"], limit=4))
    return title, details


def _node_text(node, data, hint, show):
    """The LaTeX text of a node: title line, then detail lines."""
    kind = data.get("kind")
    if is_tree_node(data):
        title, details = _tree_lines(data, show)
    elif kind == "module":
        title, details = _module_lines(data, show)
    elif kind in ("param", "const"):
        title = _title_text(node, data, hint, show)
        outputs = data.get("outputs") or []
        if "shapes" in show and outputs:
            title += " " + shape_math((outputs[0] or {}).get("shape"))
        details = []
    else:
        title = _title_text(node, data, hint, show)
        details = []
        if "shapes" in show and data.get("outputs"):
            details.append(shapes_math(data["outputs"]))
        if "module" in show and data.get("module"):
            details.append(r"\textit{" + escape_latex(truncate(data["module"], 60)) + "}")
        if "params" in show and data.get("params"):
            details.extend(params_math(data["params"]))
    if not details:
        return title
    return title + r"\\[-1pt]" + r"\\[-1pt]".join("{\\graphirdetail " + d + "}" for d in details)


def _node_style(data, look_fill, theme, extra_colors):
    """TikZ style list of one node and any inline fill colour it needs."""
    kind = data.get("kind")
    if kind in _KINDS:
        base, default_fill = f"graphir {kind}", getattr(theme, f"{kind}_fill")
    else:
        category = op_category(data.get("op") or "")
        base, default_fill = f"graphir {category}", theme.fill_for_category(category)
    styles = [base]
    state = data.get("diff")
    if state in DIFF_STATES:
        styles.append(f"graphir {state}")
        default_fill = theme.fill_for_diff(state)
    if data.get("proxy_of"):
        styles.append("graphir proxy")
    if look_fill and look_fill.upper() != default_fill.upper():
        name = "graphir fill " + look_fill.lstrip("#").upper()
        extra_colors[name] = look_fill
        styles.append(f"fill={name}")
    return ", ".join(styles)


def _graphviz_name(name):
    """The name Graphviz's JSON gives a DOT id: ``quote`` escapes kept except ``\\"``."""
    quoted = quote(name)
    if quoted.startswith('"') and quoted.endswith('"'):
        return quoted[1:-1].replace('\\"', '"')
    return quoted


def _bb(text):
    x0, y0, x1, y1 = (float(v) for v in str(text).split(","))
    return x0, y0, x1, y1


def _edge_path(ops):
    """TikZ path of Graphviz's Bézier ``b`` operation(s)."""
    parts = []
    for op in ops or []:
        if op.get("op") not in ("b", "B"):
            continue
        points = op["points"]
        path = _point(points[0])
        for k in range(1, len(points) - 2, 3):
            path += (f" .. controls {_point(points[k])} and {_point(points[k + 1])} .. "
                     f"{_point(points[k + 2])}")
        parts.append(path)
    return parts


def _arrow_heads(ops):
    heads = []
    for op in ops or []:
        if op.get("op") in ("P", "p"):
            heads.append(" -- ".join(_point(p) for p in op["points"]) + " -- cycle")
    return heads


def to_tikz(G, *, theme="paper", rankdir=None, show=None, title=None, color_by=None,
            width=None, standalone=False, font_size=None, timeout=120):
    """Draw an IR as a TikZ picture with Graphviz's layout and LaTeX's text.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR, already viewed (collapse/fold/focus are the caller's job).
    theme : str or Theme, default "paper"
        Colours of the styles at the top of the file.
    rankdir, show, color_by
        As :func:`graphir.renderers.dot.to_dot`. The legend is not drawn
        (a paper explains colours in its caption); ``legend`` in ``show``
        is ignored.
    title : str, optional
        Drawn above the picture; default none (papers use captions). Notes
        from passes (``G.graph["notes"]``) are never drawn here.
    width : str, optional
        A TeX length (``\\columnwidth``, ``0.9\\linewidth``, ``8cm``): a
        wider picture is scaled down to it (text scales with it).
    standalone : bool, default False
        Write a whole ``standalone`` document (compiles on its own with
        pdflatex or lualatex) instead of a picture to ``\\input``.
    font_size : float, optional
        Graphviz layout font size in points (default the theme's); larger
        values leave more room around the LaTeX text.
    timeout : float, default 120
        Seconds before Graphviz is stopped.

    Returns
    -------
    str
        LaTeX text, identical for identical input.

    Raises
    ------
    InputError
        On bad options or a ``width`` that is not a TeX length.
    RenderError
        When Graphviz fails or times out.
    """
    show = parse_show(show) - {"legend"}
    layout_theme = with_font(theme, LAYOUT_FONT, font_size)
    style_theme = with_font(theme)
    scale = _color_scale(G, resolve_color_by(G, color_by))
    dot = to_dot(G, theme=layout_theme, rankdir=rankdir, show=show, title="",
                 color_by=color_by)
    if G.graph.get("notes"):
        # the notes would make Graphviz reserve room for a heading we do not draw
        dot = _NOTES_LABEL.sub("", dot, count=1)
    layout = layout_json(dot, timeout=timeout)
    P = with_proxies(G)
    root_items, clusters = _cluster_tree(P)
    hints = {}
    _elide_loose_leaf_clusters(P, root_items, clusters, hints)
    node_style = NodeStyle(show=show, theme=style_theme, scale=scale)
    folded = G.graph.get("folded") or {}

    ids = {_graphviz_name(node): node for node in P.nodes}
    ids.update({_graphviz_name("cluster_" + path): "cluster_" + path for path in clusters})
    objects = layout.get("objects") or []
    for obj in objects:
        obj["name"] = ids.get(obj.get("name"), obj.get("name"))
    names = {obj.get("_gvid"): obj.get("name") for obj in objects}
    extra_colors = {}
    body = []
    # clusters, outermost first (Graphviz lists them in nesting pre-order)
    for obj in objects:
        name = str(obj.get("name") or "")
        if not name.startswith("cluster_") or "bb" not in obj:
            continue
        path = name[len("cluster_"):]
        cluster = clusters.get(path)
        if cluster is None:
            continue
        x0, y0, x1, y1 = _bb(obj["bb"])
        body.append(f"  \\draw[graphir cluster{cluster['depth'] % 2}] "
                    f"({_num(x0)},{_num(y0)}) rectangle ({_num(x1)},{_num(y1)});")
        record = folded.get(path)
        label = short_name(path)
        if record and len(record.get("paths") or []) > 1:
            label = f"{short_name(record['paths'][0])} … " \
                    f"{short_name(record['paths'][-1])}"
        text = r"\textbf{" + escape_latex(truncate(label, _MAX_LABEL)) + "}"
        if cluster.get("type"):
            text += ": " + escape_latex(truncate(cluster["type"], _MAX_LABEL))
        body.append(f"  \\node[graphir cluster label, anchor=north west] at "
                    f"({_num(x0 + 1)},{_num(y1 - 1)}) {{{text}}};")
        if record and record.get("repeat"):
            body.append(f"  \\node[graphir badge, anchor=north east] at "
                        f"({_num(x1 - 1)},{_num(y1 - 1)}) "
                        f"{{$\\times{int(record['repeat'])}$}};")
    # edges under nodes
    for edge in layout.get("edges") or []:
        if "invis" in str(edge.get("style", "")):
            continue
        tail, head = names.get(edge.get("tail")), names.get(edge.get("head"))
        if tail not in P or head not in P:
            continue
        dashed = ", dashed" if "dashed" in str(edge.get("style", "")) else ""
        for path in _edge_path(edge.get("_draw_")):
            body.append(f"  \\draw[graphir edge{dashed}] {path};")
        for head_path in _arrow_heads(edge.get("_hdraw_")):
            body.append(f"  \\fill[graphir arrow] {head_path};")
        if edge.get("lp") and edge.get("label"):
            x, y = (float(v) for v in edge["lp"].split(","))
            body.append(f"  \\node[graphir edge label] at ({_num(x)},{_num(y)}) "
                        f"{{{escape_latex(edge['label'])}}};")
    # nodes
    for obj in objects:
        name = obj.get("name")
        if name not in P or "pos" not in obj:
            continue
        data = P.nodes[name]
        x, y = (float(v) for v in obj["pos"].split(","))
        w, h = float(obj["width"]) * 72, float(obj["height"]) * 72
        _, _, look_fill, _, ink = _node_look(data, node_style)
        styles = _node_style(data, look_fill, style_theme, extra_colors)
        text = _node_text(name, data, hints.get(name), show)
        if ink is not None:
            # the fill is too dark (or light) for the theme's text: black or white ink,
            # detail lines in the same ink
            ink_name = "graphir ink " + ink[0].lstrip("#").upper()
            extra_colors[ink_name] = ink[0]
            styles += f", text={ink_name}"
            text = text.replace("\\graphirdetail ", f"\\graphirdetail\\color{{{ink_name}}} ")
            text = text.replace("\\color{graphir muted}", f"\\color{{{ink_name}}}")
        body.append(f"  \\node[{styles}, minimum width={_num(w)}bp, minimum height={_num(h)}bp]"
                    f" at ({_num(x)},{_num(y)}) {{{text}}};")
    if title is None:
        title = ""
    if title:
        x0, y0, x1, y1 = _bb(layout.get("bb", "0,0,0,0"))
        body.append(f"  \\node[graphir title, anchor=south] at ({_num((x0 + x1) / 2)},"
                    f"{_num(y1)}) {{\\textbf{{{escape_latex(title)}}}}};")

    categories = list(OP_CATEGORIES)
    lines = _style_block(style_theme, categories)
    lines += color_definitions(sorted(extra_colors.items()))
    picture = "\n".join([r"\begin{tikzpicture}[x=1bp, y=1bp]"] + body + [r"\end{tikzpicture}"])
    text = end_lines(lines) + "\n" + fit_width(picture, width)
    if not text.endswith("\n"):
        text += "\n"
    return wrap_document(text) if standalone else text

