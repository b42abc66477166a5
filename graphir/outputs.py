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

    def checked(self) -> "DrawOptions":
        """Raise :class:`InputError` now for a bad theme, ``show`` item or width."""
        from graphir.renderers.backend import parse_length
        from graphir.renderers.dot import parse_show
        from graphir.renderers.themes import get_theme

        get_theme(self.theme)
        parse_show(self.show)
        if self.width is not None:
            parse_length(self.width)
        return self


class OutputFormat(NamedTuple):
    """One output format of :func:`draw`."""

    #: the format's name (``svg``)
    name: str
    #: file extensions that mean it, lower case with the dot
    extensions: Tuple[str, ...]
    #: writer(viewed graph, DrawOptions) -> bytes
    writer: Callable[[Any, DrawOptions], bytes]
    #: one line for ``--help`` and the README
    description: str = ""


#: format name -> :class:`OutputFormat`, in registration order
FORMATS: Dict[str, OutputFormat] = {}


def register_format(name: str, extensions: Sequence[str],
                    description: str = "") -> Callable[[Callable], Callable]:
    """Register a writer for ``name`` (a decorator). Later registrations replace earlier."""
    def decorate(writer):
        FORMATS[name] = OutputFormat(name, tuple(extensions), writer, description)
        return writer
    return decorate


def _dot_source(G, options: DrawOptions) -> str:
    from graphir.renderers.dot import to_dot

    return to_dot(G, theme=options.theme, rankdir=options.rankdir, show=options.show,
                  title=options.title, color_by=options.color_by)


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
    data = FORMATS[fmt].writer(G, options.checked())
    if out is None:
        return data
    return write(data, out)


def view_graph(G, *, depth: Optional[int] = None, focus: Optional[str] = None,
               fold: bool = True, max_nodes: Optional[int] = None) -> Any:
    """The one viewing entry: focus, fold, collapse to ``depth``, node budget.

    ``max_nodes`` None means the default budget (300 visible nodes) when no
    ``depth`` is given, and no budget when one is (an explicit depth is
    drawn as asked); 0 turns the budget off. ``G`` is not changed.
    """
    from graphir.passes import DEFAULT_MAX_NODES, view

    for flag, value in (("--depth", depth), ("--max-nodes", max_nodes)):
        if value is not None and value < 0:
            raise InputError(f"{flag} {value} is negative", hint=f"pass {flag} 0 or more")
    if max_nodes is None:
        max_nodes = DEFAULT_MAX_NODES if depth is None else 0
    return view(G, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes)


def render_graph(G, out=None, *, format: Optional[str] = None,
                 options: DrawOptions = DrawOptions(), depth: Optional[int] = None,
                 focus: Optional[str] = None, fold: bool = True,
                 max_nodes: Optional[int] = None) -> Union[str, bytes]:
    """View ``G`` once (:func:`view_graph`) and draw the result once (:func:`draw`).

    The output format and the drawing options are checked before the view
    is computed, so a bad extension or theme costs nothing.
    """
    fmt = check_output_path(out, format) if out is not None or format else "svg"
    options = options.checked()
    shown = view_graph(G, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes)
    return draw(shown, out, format=fmt, options=options)
