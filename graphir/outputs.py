"""Output formats of a drawn graph, by registration, and the one drawing entry.

:func:`draw` writes an IR that has **already been viewed** (see
:func:`graphir.passes.view`): it never folds, collapses or focuses again.
Viewing and drawing are two steps, so a caller views once and draws once:
the CLI calls :func:`view_graph` then :func:`draw`; :func:`render_graph`
(what ``graphir.render`` and ``Graph.render`` run) does exactly that.

Each format is an :class:`OutputFormat` in :data:`FORMATS`, registered with
:func:`register_format`; ``format_from_path`` reads the extension and
refuses an unknown one before any work is done.

Examples
--------
>>> import graphir
>>> from graphir.passes import view
>>> G = view(graphir.load("samples/resnet_tiny.onnx"), max_nodes=300)
>>> draw(G, format="dot")[:7]
b'digraph'
>>> format_from_path("fig.SVG"), format_from_path("graph.gv")
('svg', 'dot')
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple, Union

from graphir import serialize
from graphir.errors import InputError

__all__ = ["DrawOptions", "OutputFormat", "FORMATS", "register_format", "format_from_path",
           "check_output_path", "view_graph", "draw", "render_graph", "write"]


class DrawOptions(NamedTuple):
    """How to draw a viewed graph (the CLI's drawing options).

    :meth:`checked` validates every field, so a bad option fails before a
    model is loaded.
    """

    #: ``default``, ``paper``, ``mono``, ``colorblind`` or ``dark``
    theme: str = "default"
    #: ``TB``, ``LR``, ``BT``, ``RL``; None picks (LR for a parameter tree)
    rankdir: Optional[str] = None
    #: items to draw (``shapes``, ``params``, ...), ``+name``/``-name`` edits
    show: Optional[Sequence[str]] = None
    #: figure title; default the model name
    title: Optional[str] = None
    #: colour by a number (a ``stats`` key, ``weight_change``, ``params``) or ``none``
    color_by: Optional[str] = None
    #: shrink to this width (``3.3in``, ``8.5cm``, ``240pt``, or inches)
    width: Union[None, str, float] = None
    #: seconds Graphviz may take
    timeout: float = 120.0
    #: ``graph`` (ops and modules) or ``blocks`` (one block per module, as papers draw)
    style: str = "graph"
    #: font family for SVG/PDF/PNG (``Times``, ``DejaVu Sans``); TikZ uses the paper's
    font: Optional[str] = None
    #: point size of op names (details follow); for TikZ the layout's text size
    font_size: Optional[float] = None
    #: TikZ: a whole compilable document instead of a picture to ``\input``
    standalone: bool = False
    #: blocks: PlotNeuralNet-style 3-D boxes sized by the tensor
    boxes3d: bool = False
    #: pages: the model as the user named it (a path or FILE.py:CALLABLE)
    source_info: Optional[str] = None
    #: pages: the command line that made the output
    command_line: Optional[str] = None

    def checked(self, fmt: Optional[str] = None) -> "DrawOptions":
        """Raise :class:`InputError` now for a bad theme, ``show`` item, style or width.

        For ``fmt="tex"`` the width is a TeX length (``\\columnwidth``, ``8cm``),
        checked when the picture is written; otherwise a length in in/cm/mm/pt.
        """
        from graphir.renderers.backend import parse_length
        from graphir.renderers.dot import parse_show
        from graphir.renderers.themes import get_theme

        get_theme(self.theme)
        parse_show(self.show)
        if self.style not in STYLES:
            raise InputError(f"unknown --style {self.style!r}",
                             hint=f"use one of {', '.join(STYLES)}")
        if self.style == "blocks" and fmt not in (None, "tex", "svg", "png", "pdf", "dot"):
            raise InputError(f"--style blocks cannot write {fmt}",
                             hint="write .tex, .svg, .pdf, .png or .dot")
        if self.width is not None and fmt != "tex":
            parse_length(self.width)
        if self.font_size is not None and not 2 <= float(self.font_size) <= 72:
            raise InputError(f"--font-size {self.font_size} is out of range",
                             hint="pass a size in points between 2 and 72")
        return self


#: Drawing styles: the op/module graph, or a paper's block diagram.
STYLES = ("graph", "blocks")


class OutputFormat(NamedTuple):
    """One output format of :func:`draw`."""

    #: the format's name (``svg``)
    name: str
    #: file extensions that mean it, lower case with the dot
    extensions: Tuple[str, ...]
    #: writer(viewed graph, DrawOptions) -> bytes
    writer: Callable[..., bytes]
    #: one line for ``--help`` and the README
    description: str = ""
    #: True when the writer takes the whole graph and the view options and
    #: computes its views itself (the interactive page opens collapsed boxes)
    whole_graph: bool = False


#: format name -> :class:`OutputFormat`, in registration order
FORMATS: Dict[str, OutputFormat] = {}


def register_format(name: str, extensions: Sequence[str], description: str = "",
                    whole_graph: bool = False) -> Callable[[Callable], Callable]:
    """Register a writer for ``name`` (a decorator). Later registrations replace earlier.

    A writer is ``writer(viewed_graph, options) -> bytes``; with
    ``whole_graph=True`` it is ``writer(graph, options, view) -> bytes``, where
    ``view`` holds the view keywords (``depth``, ``focus``, ``fold``, ``max_nodes``).
    """
    def decorate(writer):
        FORMATS[name] = OutputFormat(name, tuple(extensions), writer, description, whole_graph)
        return writer
    return decorate


def _dot_source(G, options: DrawOptions) -> str:
    from graphir.renderers.dot import to_dot

    return to_dot(G, theme=options.theme, rankdir=options.rankdir, show=options.show,
                  title=options.title, color_by=options.color_by, font=options.font,
                  font_size=options.font_size)


def _graphviz(fmt: str):
    def writer(G, options: DrawOptions) -> bytes:
        from graphir.renderers.backend import render_bytes

        return render_bytes(_dot_source(G, options), fmt, timeout=options.timeout,
                            width=options.width)
    return writer


register_format("svg", (".svg",), "SVG (Graphviz), ids and classes per node")(_graphviz("svg"))
register_format("png", (".png",), "PNG (Graphviz)")(_graphviz("png"))
register_format("pdf", (".pdf",), "PDF (Graphviz), fonts embedded")(_graphviz("pdf"))


@register_format("dot", (".dot", ".gv"), "Graphviz DOT source")
def _write_dot(G, options: DrawOptions) -> bytes:
    return _dot_source(G, options).encode("utf-8")


@register_format("json", (".json",), "the viewed IR as node-link JSON")
def _write_json(G, options: DrawOptions) -> bytes:
    return serialize.to_json(G).encode("utf-8")


@register_format("tex", (".tex",), "a TikZ picture typeset in the paper's fonts "
                 "(--standalone: a whole document)")
def _write_tex(G, options: DrawOptions) -> bytes:
    from graphir.renderers.tikz import to_tikz

    theme = "paper" if options.theme == "default" else options.theme
    return to_tikz(G, theme=theme, rankdir=options.rankdir, show=options.show,
                   title=options.title, color_by=options.color_by, width=options.width,
                   standalone=options.standalone, font_size=options.font_size,
                   timeout=options.timeout).encode("utf-8")


@register_format("html", (".html", ".htm"), "one self-contained interactive page (zoom, "
                 "search, details, open blocks)", whole_graph=True)
def _write_html(G, options: DrawOptions, view: Dict[str, Any]) -> bytes:
    from graphir import explore
    from graphir.version import __version__

    return explore.model_page(G, title=options.title, theme=options.theme,
                              rankdir=options.rankdir, show=options.show,
                              color_by=options.color_by, timeout=options.timeout,
                              source_info=options.source_info,
                              command_line=options.command_line, version=__version__,
                              **view).encode("utf-8")


def format_from_path(path, *, formats: Sequence[str] = (), default: Optional[str] = None) -> str:
    """The output format a file name asks for.

    Parameters
    ----------
    path : str or os.PathLike or None
        The output file. None gives ``default``.
    formats : sequence of str
        The formats allowed here; empty means every registered one.
    default : str, optional
        The format when ``path`` is None.

    Raises
    ------
    InputError
        When the extension is missing or names no allowed format.
    """
    allowed = list(formats) or list(FORMATS)
    if path is None:
        if default is None:
            raise InputError("no output file or format given", hint="pass -o FILE or --format")
        return default
    extension = os.path.splitext(os.fspath(path))[1].lower()
    for name in allowed:
        extensions = FORMATS[name].extensions if name in FORMATS else (f".{name}",)
        if extension in extensions:
            return name
    what = f"has the unknown extension {extension!r}" if extension else "has no extension"
    raise InputError(f"output {what}", path=os.fspath(path),
                     hint=f"name it .{' .'.join(allowed)} (or pass --format)")


def check_output_path(path, fmt: Optional[str], formats: Sequence[str] = ()) -> str:
    """The format to write ``path`` in: ``fmt`` if given (and allowed), else its extension."""
    allowed = list(formats) or list(FORMATS)
    if fmt is not None:
        if fmt not in allowed:
            raise InputError(f"unknown output format {fmt!r}",
                             hint=f"use one of {', '.join(allowed)}")
        return fmt
    return format_from_path(path, formats=allowed)


def write(data: Union[str, bytes], out) -> str:
    """Write bytes or text to ``out`` atomically (no partial file on failure)."""
    from graphir.renderers.backend import write_atomic

    write_atomic(out, data.encode("utf-8") if isinstance(data, str) else data)
    return os.fspath(out)


def draw(G, out=None, *, format: Optional[str] = None,
         options: DrawOptions = DrawOptions()) -> Union[str, bytes]:
    """Draw an already-viewed IR to ``out`` (atomically) or return the bytes.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A viewed IR (:func:`graphir.passes.view`); drawn as it is.
    out : str or os.PathLike, optional
        The file to write. None returns the bytes.
    format : str, optional
        A name in :data:`FORMATS`; default from ``out``'s extension.
    options : DrawOptions
        Theme, direction, items, colours, width, timeout.

    Returns
    -------
    str or bytes
        The path written, or the bytes when ``out`` is None.
    """
    fmt = check_output_path(out, format) if out is not None or format else "svg"
    output = FORMATS[fmt]
    if output.whole_graph:  # a viewed graph is drawn as it is: no view on top
        data = output.writer(G, options.checked(fmt), {"fold": False, "max_nodes": 0})
    else:
        data = output.writer(G, options.checked(fmt))
    if out is None:
        return data
    return write(data, out)


def view_graph(G, *, depth: Optional[int] = None, focus: Optional[str] = None,
               fold: bool = True, max_nodes: Optional[int] = None,
               infer_modules: bool = True) -> Any:
    """The one viewing entry: focus, fold, collapse to ``depth``, node budget.

    ``max_nodes`` None means the default budget (300 visible nodes) when no
    ``depth`` is given, and no budget when one is (an explicit depth is
    drawn as asked); 0 turns the budget off. ``G`` is not changed.
    """
    from graphir.passes import budget_for, view

    for flag, value in (("--depth", depth), ("--max-nodes", max_nodes)):
        if value is not None and value < 0:
            raise InputError(f"{flag} {value} is negative", hint=f"pass {flag} 0 or more")
    return view(G, depth=depth, focus=focus, fold=fold, max_nodes=budget_for(depth, max_nodes),
                infer_modules=infer_modules)


def render_graph(G, out=None, *, format: Optional[str] = None,
                 options: DrawOptions = DrawOptions(), depth: Optional[int] = None,
                 focus: Optional[str] = None, fold: bool = True,
                 max_nodes: Optional[int] = None,
                 infer_modules: bool = True) -> Union[str, bytes]:
    """View ``G`` once (:func:`view_graph`) and draw the result once (:func:`draw`).

    The output format and the drawing options are checked before the view
    is computed, so a bad extension or theme costs nothing.
    """
    fmt = check_output_path(out, format) if out is not None or format else "svg"
    options = options.checked(fmt)
    if options.style == "blocks":
        data = _blocks(G, fmt, options, depth=depth, focus=focus)
        return data if out is None else write(data, out)
    if FORMATS[fmt].whole_graph:
        data = FORMATS[fmt].writer(G, options, {"depth": depth, "focus": focus, "fold": fold,
                                                "max_nodes": max_nodes})
        return data if out is None else write(data, out)
    shown = view_graph(G, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes,
                       infer_modules=infer_modules)
    return draw(shown, out, format=fmt, options=options)


def _blocks(G, fmt: str, options: DrawOptions, *, depth: Optional[int] = None,
            focus: Optional[str] = None) -> bytes:
    """A block diagram of the whole graph (``style="blocks"``) in ``fmt``.

    The block view needs the full IR (it picks the depth giving 5-25 blocks
    itself unless ``depth`` is given), so it is computed here, not by
    :func:`view_graph`.
    """
    from graphir.passes import block_view
    from graphir.passes import focus as focus_graph
    from graphir.renderers.backend import render_bytes
    from graphir.renderers.blocks import blocks_to_dot, blocks_to_tikz

    if focus:
        G = focus_graph(G, focus)
    B = block_view(G, depth=depth)
    rankdir = options.rankdir or "LR"
    if fmt == "tex":
        kwargs = {} if options.font_size is None else {"font_size": float(options.font_size)}
        return blocks_to_tikz(B, theme=options.theme, width=options.width,
                              standalone=options.standalone, boxes3d=options.boxes3d,
                              title=options.title, rankdir=rankdir, **kwargs).encode("utf-8")
    if fmt not in ("svg", "png", "pdf", "dot"):
        raise InputError(f"--style blocks cannot write {fmt}", hint="write .tex, .svg, .pdf, "
                                                                     ".png or .dot")
    source = blocks_to_dot(B, theme=options.theme, font=options.font,
                           font_size=options.font_size, title=options.title,
                           boxes3d=options.boxes3d, rankdir=rankdir)
    if fmt == "dot":
        return source.encode("utf-8")
    return render_bytes(source, fmt, timeout=options.timeout, width=options.width)
