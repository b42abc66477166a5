"""Block diagrams: an architecture drawn left to right, as papers draw it.

Input: the block IR of :func:`graphir.passes.blocks.block_view` (nodes in
data-flow order, each with a ``block`` dict). One layout
(:func:`block_layout`, our own: a row of blocks on one axis) is drawn two
ways:

* :func:`blocks_to_tikz` — a ``tikzpicture`` typeset by LaTeX (block text
  rotated 90°, shapes as maths), one named style per block category at the
  top of the file, optional PlotNeuralNet-style 3-D boxes whose height and
  thickness follow the tensor's spatial size and channels (log-scaled);
* :func:`blocks_to_dot` — DOT with every position pinned (``layout=nop2``,
  drawn rotated by Graphviz so the text runs upwards) for SVG, PDF and PNG
  through :func:`graphir.renderers.backend.render_bytes`.

Edges between neighbours are straight arrows on the main line; any other
edge (a U-Net's long skip, two embeddings feeding one add) is an arc above
the row, shorter spans lower; a block that adds its input back (a residual
block) gets a small arc over itself ending in ``+``. Folded or repeated
blocks carry ``×N``.
"""

import math

from graphir.errors import InputError
from graphir.renderers.labels import format_shape, op_category
from graphir.renderers.latex import (
    PREAMBLE_CHECKS,
    color_definitions,
    end_lines,
    escape_latex,
    fit_width,
    shape_math,
    wrap_document,
)
from graphir.renderers.markup import Html, attr_list, escape_html, font, quote, truncate
from graphir.renderers.themes import with_font

__all__ = ["block_layout", "blocks_to_tikz", "blocks_to_dot", "BLOCK_FONT_SIZE", "RANKDIRS"]

#: Point size of block text (LaTeX ``\footnotesize`` in a 10 pt paper is 8 pt).
BLOCK_FONT_SIZE = 8.0
_GAP = 9.0          # between blocks on the main line
_PAD = 2.5           # text padding inside a block
_LEVEL = 9.0         # vertical distance between arc levels
_CIRCLE = 12.0       # diameter of op circles
_MAX_TITLE = 28
_CHAR = {"title": 0.56, "role": 0.52, "shape": 0.5}
_CONTAINER_FILL = "module"


def _shape_text(shape):
    """Shape without the batch dim of 1 (papers rarely show it)."""
    if shape and len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def _lines(info):
    """(title, role line, shape) display strings of one block."""
    title = truncate(info.get("title") or "", _MAX_TITLE)
    role = truncate(info.get("role") or "", _MAX_TITLE)
    if info.get("repeat"):
        role = (role + " " if role else "") + f"×{info['repeat']}"
    shape = _shape_text(info.get("shape"))
    return title, role, shape


def _text_length(text, kind, size):
    if kind == "shape":
        if text is None:
            return 0.0
        return (len(format_shape(text)) * 0.5 + 0.28 * max(0, len(text) - 1)) * size
    return len(text) * _CHAR[kind] * size


def _box3d(shape):
    """(thickness, height, depth) of a PlotNeuralNet box for an N×C×H×W tensor, or None."""
    if not shape or len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape):
        return None
    _, channels, height, width = shape
    thickness = 5.0 + 2.6 * math.log2(max(channels, 1))
    tall = 22.0 + 11.0 * math.log2(max(height, 1))
    deep = 0.35 * (22.0 + 11.0 * math.log2(max(width, 1)))
    return thickness, tall, deep


def block_layout(B, *, font_size=BLOCK_FONT_SIZE, boxes3d=False, char_scale=1.0,
                 one_line=False):
    """Positions of blocks, arrows and arcs, in points (y up, main line at y=0).

    Parameters
    ----------
    B : networkx.MultiDiGraph
        A block IR (:func:`graphir.passes.blocks.block_view`).
    font_size : float
        Point size the text is measured at.
    boxes3d : bool
        Blocks with an N×C×H×W output become 3-D boxes (label under them).
    char_scale : float
        Widen the text estimate (1.0 fits LaTeX's Computer Modern/Times;
        Graphviz's sans fonts need about 1.2).
    one_line : bool
        Measure each block's text as one line (title, role and shape side
        by side), as the column (TB) drawing writes it.

    Returns
    -------
    dict
        ``items``: per node ``{id, info, x, w, h, shape3d, text_len}``
        (``x`` the centre); ``arrows``: ``(x0, x1)`` straight arrows on the
        main line; ``arcs``: ``(x0, top0, x1, top1, level)``; ``residuals``:
        ``(x0, x1, top)``; ``top``: the highest y of any block; ``width``,
        ``height``, ``bottom``.

    Raises
    ------
    InputError
        When ``B`` has no ``block`` annotations.
    """
    nodes = list(B.nodes)
    if not nodes or any(B.nodes[n].get("block") is None for n in nodes):
        raise InputError("the graph is not a block view",
                         hint="run graphir.passes.blocks.block_view first (--style blocks)")
    line = font_size * 1.15
    font_size = font_size * char_scale
    items = []
    for node in nodes:
        info = B.nodes[node]["block"]
        title, role, shape = _lines(info)
        lengths = (_text_length(title, "title", font_size),
                   _text_length(role, "role", font_size),
                   _text_length(shape, "shape", font_size))
        count = sum(1 for part in (title, role) if part) + (1 if shape is not None else 0)
        if one_line:
            text_len = sum(lengths) + 0.9 * font_size * (count - 1) + 2 * _PAD
            count = min(count, 1)
        else:
            text_len = max(lengths)
        item = {"id": node, "info": info, "shape3d": None, "text_len": text_len,
                "lines": count}
        if info.get("symbol"):
            item.update(w=_CIRCLE, h=_CIRCLE)
        elif boxes3d and info["kind"] == "block" and _box3d(info.get("shape")):
            thickness, tall, deep = _box3d(info.get("shape"))
            item.update(w=thickness, h=tall, shape3d=deep)
        else:
            item.update(w=count * line + 2 * _PAD, h=text_len + 2 * _PAD)
        items.append(item)
    # uniform height for text blocks, so the row reads as one band
    text_items = [it for it in items if not it["info"].get("symbol") and it["shape3d"] is None]
    band = max([it["h"] for it in text_items] + [40.0])
    for it in text_items:
        it["h"] = band
    x = 0.0
    index = {}
    for k, it in enumerate(items):
        gap = _GAP + (4.0 if it["info"].get("residual") else 0.0)
        if k:
            x += gap
        extra = it["shape3d"] or 0.0
        it["x"] = x + it["w"] / 2
        x += it["w"] + extra
        index[it["id"]] = k
    for it in items:
        it["top"] = it["h"] / 2 + (it["shape3d"] or 0.0) * 0.7
    arrows, skips = [], []
    for u, v in sorted({(u, v) for u, v in B.edges()}, key=lambda e: (index[e[0]], index[e[1]])):
        i, j = index[u], index[v]
        if j == i + 1:
            a, b = items[i], items[j]
            arrows.append((a["x"] + a["w"] / 2 + (a["shape3d"] or 0.0), b["x"] - b["w"] / 2))
        elif j > i:
            skips.append((i, j))
    # levels: shorter spans lower; overlapping spans never share a level
    taken = []
    arcs = []
    ports = {}
    for i, j in sorted(skips, key=lambda s: (s[1] - s[0], s[0])):
        level = 1
        while any(l == level and not (j <= a or i >= b) for a, b, l in taken):
            level += 1
        taken.append((i, j, level))
        ports.setdefault(i, []).append((i, j))
        ports.setdefault(j, []).append((i, j))
    offsets = {}
    for k, edges in ports.items():
        edges = sorted(edges)
        n = len(edges)
        for m, edge in enumerate(edges):
            offsets[(k, edge)] = (m - (n - 1) / 2) * min(6.0, items[k]["w"] / max(n, 1))
    base = max(it["top"] for it in items)
    for i, j, level in sorted(taken):
        a, b = items[i], items[j]
        arcs.append((a["x"] + offsets[(i, (i, j))], a["top"], b["x"] + offsets[(j, (i, j))],
                     b["top"], base + 4.0 + level * _LEVEL))
    residuals = []
    for k, it in enumerate(items):
        if it["info"].get("residual"):
            left = it["x"] - it["w"] / 2 - (_GAP + 4.0) / 2
            right = it["x"] + it["w"] / 2 + (it["shape3d"] or 0.0) + 6.5
            residuals.append((left, right, it["top"] + 5.0))
    top = max([base] + [arc[4] for arc in arcs] + [r[2] for r in residuals])
    bottom = -max(it["h"] / 2 for it in items)
    if boxes3d:
        bottom -= max([it["text_len"] + 6 for it in items if it["shape3d"] is not None] + [0.0])
    return {"items": items, "arrows": arrows, "arcs": arcs, "residuals": residuals,
            "top": top, "bottom": bottom, "width": x, "height": top - bottom}


def _category(info):
    if info["kind"] in ("input", "output"):
        return "io"
    if info.get("symbol"):
        return "op"
    role = info.get("role") or info.get("title") or ""
    if info["kind"] == "block" and (info.get("repeat") or info.get("residual")):
        return "stage"
    category = op_category(role)
    return category if category != "other" else "stage" if info["kind"] == "block" else "other"


_CATEGORIES = ("conv", "linear", "norm", "activation", "pool", "attention", "elementwise",
               "shape", "other", "stage", "io", "op")


def _fills(theme):
    fills = [(c, theme.fill_for_category(c)) for c in _CATEGORIES[:9]]
    fills += [("stage", theme.module_fill), ("io", theme.input_fill), ("op", "#FFFFFF")]
    return fills


def _n(value):
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _tex_lines(info, sep=r"\\"):
    title, role, shape = _lines(info)
    parts = []
    if title:
        parts.append(r"\textbf{" + escape_latex(title) + "}")
    if role:
        parts.append(escape_latex(role))
    if shape is not None:
        parts.append(shape_math(shape))
    return sep.join(parts)


RANKDIRS = ("LR", "TB")


def _check_rankdir(rankdir):
    rankdir = rankdir or "LR"
    if rankdir not in RANKDIRS:
        raise InputError(f"block diagrams are drawn LR or TB, not {rankdir!r}",
                         hint="use --rankdir LR (a row, for a full-width figure) or TB "
                              "(a column, for one column of a two-column paper)")
    return rankdir


def blocks_to_tikz(B, *, theme="default", width=None, standalone=False, boxes3d=False,
                   title=None, font_size=BLOCK_FONT_SIZE, rankdir="LR"):
    """A block diagram as a ``tikzpicture`` (see the module notes).

    Parameters
    ----------
    B : networkx.MultiDiGraph
        A block IR (:func:`graphir.passes.blocks.block_view`).
    theme : str or Theme, default "default"
        Fills of the block styles.
    width : str, optional
        TeX length the picture is scaled down to when wider.
    standalone : bool
        Write a whole document.
    boxes3d : bool
        PlotNeuralNet-style 3-D boxes for blocks with 4-D outputs.
    title : str, optional
        Drawn above the diagram.
    font_size : float
        The size the layout measures text at; the file typesets block text
        in ``\\footnotesize`` (8 pt in a 10 pt paper).
    rankdir : {"LR", "TB"}
        ``LR``: a row with text running upwards in the blocks and skip arcs
        above (full-width figures); ``TB``: the same layout turned into a
        column, text horizontal, arcs on the right (fits one column of a
        two-column paper at full size). 3-D boxes are drawn in LR only.

    Returns
    -------
    str
    """
    theme = with_font(theme)
    rankdir = _check_rankdir(rankdir)
    boxes3d = boxes3d and rankdir == "LR"
    lay = block_layout(B, font_size=font_size, boxes3d=boxes3d, one_line=rankdir == "TB")
    lines = ["% graphir block diagram. Restyle it by editing the colours and styles below.",
             PREAMBLE_CHECKS]
    lines += color_definitions([(f"graphir block {c}", f) for c, f in _fills(theme)])
    lines += color_definitions([("graphir block stroke", theme.node_stroke),
                                ("graphir block text", theme.text_color),
                                ("graphir block edge", theme.edge_color)])
    lines += [
        r"\tikzset{",
        r"  graphir block/.style={draw=graphir block stroke, line width=0.4pt, "
        r"rounded corners=1.5pt, inner sep=0pt, align=center, text=graphir block text, "
        r"font=\footnotesize" + (", rotate=90}," if rankdir == "LR" else "},"),
    ]
    lines += [f"  graphir block {c}/.style={{graphir block, fill=graphir block {c}}},"
              for c in _CATEGORIES if c != "op"]
    lines += [
        r"  graphir block op/.style={draw=graphir block stroke, line width=0.4pt, circle, "
        r"fill=white, inner sep=0pt, font=\footnotesize},",
        r"  graphir block face/.style={draw=graphir block stroke, line width=0.4pt},",
        r"  graphir block label/.style={font=\footnotesize, align=left, rotate=90, "
        r"anchor=east, inner sep=1pt, text=graphir block text},",
        "  graphir block flow/.style={draw=graphir block edge, line width=0.5pt, -stealth},",
        "  graphir block skip/.style={draw=graphir block edge, line width=0.5pt, -stealth, "
        "rounded corners=3pt},",
        "  graphir block residual/.style={draw=graphir block edge, line width=0.5pt, "
        "rounded corners=2pt, -stealth},",
        r"  graphir block badge/.style={font=\footnotesize\bfseries, inner sep=1pt},",
        r"  graphir block title/.style={font=\normalsize\bfseries},",
        "}",
    ]
    body = []
    for left, right, top in lay["residuals"]:
        body.append(f"  \\draw[graphir block residual] ({_n(left)},0) -- ({_n(left)},{_n(top)})"
                    f" -- ({_n(right)},{_n(top)}) -- ({_n(right)},3.5);")
        body.append(f"  \\node[graphir block op, minimum size=7pt, font=\\scriptsize] at "
                    f"({_n(right)},0) {{$+$}};")
    for x0, x1 in lay["arrows"]:
        body.append(f"  \\draw[graphir block flow] ({_n(x0)},0) -- ({_n(x1)},0);")
    for x0, t0, x1, t1, level in lay["arcs"]:
        body.append(f"  \\draw[graphir block skip] ({_n(x0)},{_n(t0)}) -- ({_n(x0)},{_n(level)})"
                    f" -- ({_n(x1)},{_n(level)}) -- ({_n(x1)},{_n(t1)});")
    for it in lay["items"]:
        info = it["info"]
        category = _category(info)
        x = it["x"]
        if info.get("symbol"):
            symbol = {"+": "$+$", "×": r"$\times$", "C": r"\textsf{C}"}.get(info["symbol"], "?")
            body.append(f"  \\node[graphir block op, minimum size={_n(it['w'])}pt] at "
                        f"({_n(x)},0) {{{symbol}}};")
            continue
        if it["shape3d"] is not None:
            w, h, d = it["w"], it["h"], it["shape3d"]
            x0, x1, y0, y1 = x - w / 2, x + w / 2, -h / 2, h / 2
            dx, dy = d, d * 0.7
            fill = f"graphir block {category}"
            body.append(f"  \\filldraw[graphir block face, fill={fill}!70!white] ({_n(x0)},{_n(y1)}) -- "
                        f"({_n(x0 + dx)},{_n(y1 + dy)}) -- ({_n(x1 + dx)},{_n(y1 + dy)}) -- "
                        f"({_n(x1)},{_n(y1)}) -- cycle;")
            body.append(f"  \\filldraw[graphir block face, fill={fill}!85!black] ({_n(x1)},{_n(y0)}) -- "
                        f"({_n(x1 + dx)},{_n(y0 + dy)}) -- ({_n(x1 + dx)},{_n(y1 + dy)}) -- "
                        f"({_n(x1)},{_n(y1)}) -- cycle;")
            body.append(f"  \\filldraw[graphir block face, fill={fill}] ({_n(x0)},{_n(y0)}) "
                        f"rectangle ({_n(x1)},{_n(y1)});")
            body.append(f"  \\node[graphir block label] at ({_n(x + d / 2)},{_n(y0 - 3)}) "
                        f"{{{_tex_lines(info)}}};")
        else:
            sep = r"\\" if rankdir == "LR" else r"\enspace "
            body.append(f"  \\node[graphir block {category}, minimum width={_n(it['h'])}pt, "
                        f"minimum height={_n(it['w'])}pt] at ({_n(x)},0) {{{_tex_lines(info, sep)}}};")
    if title:
        body.append(f"  \\node[graphir block title, anchor=south] at ({_n(lay['width'] / 2)},"
                    f"{_n(lay['top'] + 4)}) {{{escape_latex(title)}}};")
    turn = "" if rankdir == "LR" else ", rotate=-90"
    picture = "\n".join([f"\\begin{{tikzpicture}}[x=1pt, y=1pt{turn}]"] + body
                        + [r"\end{tikzpicture}"])
    text = end_lines(lines) + "\n" + fit_width(picture, width)
    return wrap_document(text) if standalone else text


def _bezier(points):
    """Graphviz spline points (3n+1) for a polyline, one cubic per segment."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        out += [(x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3),
                (x0 + 2 * (x1 - x0) / 3, y0 + 2 * (y1 - y0) / 3), (x1, y1)]
    return out


def _pre(x, y):
    """Our (x, y) before Graphviz's ``rotate=90`` (which turns the drawing left)."""
    return (y, -x)


def _edge_pos(points, arrow=6.0):
    """``pos`` of an edge along ``points`` (our coordinates), arrow at the end."""
    (xa, ya), (xb, yb) = points[-2], points[-1]
    length = math.hypot(xb - xa, yb - ya) or 1.0
    short = (xb - (xb - xa) / length * arrow, yb - (yb - ya) / length * arrow)
    pts = [_pre(*p) for p in points[:-1] + [short]]
    end = _pre(xb, yb)
    return f"e,{_n(end[0])},{_n(end[1])} " + " ".join(f"{_n(x)},{_n(y)}" for x, y in _bezier(pts))


def blocks_to_dot(B, *, theme="default", font=None, font_size=None, title=None, boxes3d=False,
                  rankdir="LR"):
    """The block diagram as DOT with every position fixed, for SVG, PDF and PNG.

    Graphviz draws it with ``layout=nop2`` (our positions and edge paths)
    and ``rotate=90``, so the text runs upwards in the blocks exactly as in
    :func:`blocks_to_tikz`. 3-D boxes are drawn as Graphviz ``box3d``
    nodes sized like the TikZ ones.

    Parameters
    ----------
    B : networkx.MultiDiGraph
        A block IR.
    theme : str or Theme
    font : str, optional
        Font family (default the theme's).
    font_size : float, optional
        Text size in points (default :data:`BLOCK_FONT_SIZE`).
    title : str, optional
        Unused in the drawing (Graphviz cannot place a graph label at a pinned
        layout's side); kept for a uniform signature.
    boxes3d : bool
    rankdir : {"LR", "TB"}
        As :func:`blocks_to_tikz`.

    Returns
    -------
    str
    """
    rankdir = _check_rankdir(rankdir)
    boxes3d = boxes3d and rankdir == "LR"
    size = float(font_size) if font_size is not None else BLOCK_FONT_SIZE
    theme = with_font(theme, font, size)
    sans = not any(word in theme.fontname.lower() for word in ("times", "serif", "roman"))
    lay = block_layout(B, font_size=size, boxes3d=boxes3d, char_scale=1.25 if sans else 1.05,
                       one_line=rankdir == "TB")
    fills = dict(_fills(theme))
    graph = [("layout", "nop2"), ("rotate", 90 if rankdir == "LR" else None),
             ("splines", True), ("pad", 0.1), ("bgcolor", theme.background),
             ("outputorder", "edgesfirst")]
    node = [("shape", "box"), ("style", "filled,rounded"), ("fixedsize", True),
            ("fontname", theme.fontname), ("fontsize", size), ("fontcolor", theme.text_color),
            ("color", theme.node_stroke), ("penwidth", theme.node_penwidth), ("margin", 0)]
    edge = [("color", theme.edge_color), ("penwidth", 0.7), ("arrowsize", 0.5)]
    lines = [f"digraph {quote(B.graph.get('name') or 'blocks')} {{",
             f"  graph{attr_list(graph)};", f"  node{attr_list(node)};",
             f"  edge{attr_list(edge)};"]
    for k, it in enumerate(lay["items"]):
        info = it["info"]
        x, w, h = it["x"], it["w"], it["h"]
        pos = _pre(x + (it["shape3d"] or 0) / 2, 0)
        pairs = [("pos", f"{_n(pos[0])},{_n(pos[1])}!"), ("id", f"block_{k}"),
                 ("tooltip", it["id"])]
        if info.get("symbol"):
            pairs += [("shape", "circle"), ("style", "filled"), ("fillcolor", "#FFFFFF"),
                      ("width", _n(w / 72)), ("height", _n(w / 72)),
                      ("label", info["symbol"])]
        else:
            title_text, role, shape = _lines(info)
            parts = []
            if title_text:
                parts.append(font_tag(title_text, bold=True))
            if role:
                parts.append(escape_html(role))
            if shape is not None:
                parts.append(escape_html(format_shape(shape)))
            fill = fills[_category(info)]
            joint = "<BR/>" if rankdir == "LR" else "  "
            pairs += [("label", Html(joint.join(parts))), ("fillcolor", fill),
                      ("width", _n(h / 72)), ("height", _n((w + (it["shape3d"] or 0)) / 72))]
            if it["shape3d"] is not None:
                pairs += [("shape", "box3d"), ("style", "filled")]
        lines.append(f"  {quote(it['id'])}{attr_list(pairs)};")
    for k, (left, right, top) in enumerate(lay["residuals"]):
        node = f"__residual{k}"
        pos = _pre(right, 0)
        pairs = [("pos", f"{_n(pos[0])},{_n(pos[1])}!"), ("shape", "circle"),
                 ("style", "filled"), ("fillcolor", "#FFFFFF"), ("width", 0.1),
                 ("height", 0.1), ("label", "+"), ("fontsize", size * 0.8)]
        lines.append(f"  {quote(node)}{attr_list(pairs)};")
        src = lay["items"][0]["id"]
        path = _edge_pos([(left, 0), (left, top), (right, top), (right, 3.6)], arrow=4.0)
        lines.append(f"  {quote(src)} -> {quote(node)}{attr_list([('pos', path)])};")
    index = {it["id"]: k for k, it in enumerate(lay["items"])}
    arrow_iter = iter(lay["arrows"])
    for u, v in sorted({(u, v) for u, v in B.edges()}, key=lambda e: (index[e[0]], index[e[1]])):
        i, j = index[u], index[v]
        if j != i + 1:
            continue
        x0, x1 = next(arrow_iter)
        path = _edge_pos([(x0, 0), (x1, 0)])
        lines.append(f"  {quote(u)} -> {quote(v)}{attr_list([('pos', path)])};")
    for k, (x0, t0, x1, t1, level) in enumerate(lay["arcs"]):
        src = min(lay["items"], key=lambda it: abs(it["x"] - x0))["id"]
        dst = min(lay["items"], key=lambda it: abs(it["x"] - x1))["id"]
        path = _edge_pos([(x0, t0), (x0, level), (x1, level), (x1, t1)])
        lines.append(f"  {quote(src)} -> {quote(dst)}{attr_list([('pos', path)])};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def font_tag(text, bold=False):
    """Escaped text in a Graphviz HTML label, bold when asked."""
    return font(escape_html(text), bold=bold)
