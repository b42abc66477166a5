"""The graph object the public API returns: an IR that draws itself.

:class:`Graph` is a :class:`networkx.MultiDiGraph` (every networkx function
and every graphir function that takes an IR still works) that Jupyter shows
as an SVG (``_repr_svg_``) and that renders with ``.render("fig.svg")``.

It adds methods only, no state. networkx builds copies, subgraphs and
reversed graphs with ``G.__class__()``, so ``G.copy()``, ``G.subgraph(...)``
and ``G.reverse()`` stay :class:`Graph`; ``ir.graphs_equal``,
``serialize.to_json`` and every pass read it like any IR.

:func:`as_graph` makes a plain ``MultiDiGraph`` a :class:`Graph` by setting
its ``__class__`` (legal: same memory layout, no slots added). That costs
about 10 µs on a 20 000-node graph against about 0.3 s for a copy, and keeps
the object's identity, so ``api.load``, ``api.convert`` and ``api.view`` pass
every result through it. A graph of another ``MultiDiGraph`` subclass is
copied instead, so a user's own class is never overwritten.

Its methods call the layers that do the work (:mod:`graphir.outputs`,
:mod:`graphir.passes`, :mod:`graphir.table`, :mod:`graphir.renderers`)
and never :mod:`graphir.api`, which imports this module: no import cycle.

Examples
--------
>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> G
<graphir.Graph 'resnet_tiny' from onnx: 30 ops, 32 nodes>
>>> G._repr_svg_().startswith("<?xml")
True
>>> G.view(depth=1)
<graphir.Graph 'resnet_tiny' from onnx: 7 ops, 2 modules, 11 nodes>
"""

import shutil
import warnings

import networkx as nx

__all__ = ["Graph", "as_graph", "DOT_MISSING"]

#: What a notebook shows in place of the drawing when Graphviz is missing.
DOT_MISSING = (
    "**graphir cannot draw this graph: Graphviz's `dot` program is not on PATH.** "
    "Install Graphviz (`apt-get install -y graphviz`, `brew install graphviz` or "
    "`conda install graphviz`), then display the graph again. Without it "
    "`G.to_json()`, `G.to_dot()` and `G.summary(format=\"text\")` still work.")


class Graph(nx.MultiDiGraph):
    """An IR graph with drawing methods (see the module docstring).

    In Jupyter it is drawn with the default view: repeated blocks folded, at
    most 300 visible nodes (see :func:`graphir.view`). :meth:`render` and
    :meth:`view` take the CLI's options as keyword arguments.
    """

    def __repr__(self):
        kinds = [kind for _, kind in self.nodes(data="kind")]
        modules = kinds.count("module")
        counts = f"{kinds.count('op')} ops" + (f", {modules} modules" if modules else "")
        return (f"<graphir.Graph {self.graph.get('name', '')!r} from "
                f"{self.graph.get('source', '?')}: {counts}, {self.number_of_nodes()} nodes>")

    # ---- Jupyter ---------------------------------------------------------------

    def _repr_svg_(self):
        """SVG for Jupyter with the default view (folding, node budget).

        Never raises: when drawing fails it returns None, so Jupyter falls
        back to another representation (:meth:`_repr_markdown_` says what to
        do when Graphviz is missing; otherwise the text repr), and the reason
        is issued as a :class:`RuntimeWarning`. ``.render()`` raises it.
        """
        from graphir.errors import GraphIRError

        try:
            return self.render(format="svg").decode("utf-8")
        except GraphIRError as error:
            reason = error.one_line()
        except Exception as error:  # noqa: BLE001 - a display hook must not raise
            reason = f"{type(error).__name__}: {error}"
        warnings.warn(f"graphir: cannot draw {self!r}: {reason}", RuntimeWarning, stacklevel=2)
        return None

    def _repr_markdown_(self):
        """A message in place of the drawing when Graphviz is missing, else None.

        Only a PATH lookup, so it is cheap when Jupyter asks for it next to
        the SVG. (JupyterLab prefers Markdown to SVG, so this returns text
        only when there is no SVG to show.)
        """
        if shutil.which("dot") is None:
            return f"{DOT_MISSING}\n\n`{self!r}`"
        return None

    # ---- the public API as methods --------------------------------------------
    # Each method calls the layer that does the work (outputs, passes, table,
    # renderers), never graphir.api, so api -> graph is the only direction.

    def render(self, path=None, **options):
        """View, then draw to ``path`` (format from its extension) or return the bytes.

        Takes :func:`graphir.render`'s keyword arguments (``format``,
        ``theme``, ``rankdir``, ``show``, ``title``, ``color_by``, ``width``,
        ``timeout``, and the view's ``depth``, ``focus``, ``fold``,
        ``max_nodes``). Returns the path written, or the bytes when ``path``
        is None.
        """
        from graphir.outputs import DrawOptions, render_graph

        view = {key: options.pop(key) for key in ("depth", "focus", "fold", "max_nodes")
                if key in options}
        fmt = options.pop("format", None)
        return render_graph(self, path, format=fmt, options=DrawOptions(**options), **view)

    def view(self, **options):
        """The part to draw (``depth``, ``focus``, ``fold``, ``max_nodes``) as a Graph."""
        from graphir.outputs import view_graph

        return as_graph(view_graph(self, **options))

    def summary(self, *, format=None, depth=None):
        """The module table (see :func:`graphir.summary`); ``format="text"`` for the CLI's."""
        from graphir.table import TABLE_FORMATS, format_summary, summarize

        table = summarize(self, depth=depth)
        if format is None:
            return table
        if format not in TABLE_FORMATS:
            from graphir.errors import InputError

            raise InputError(f"unknown summary format {format!r}",
                             hint=f"use one of {', '.join(TABLE_FORMATS)}")
        return format_summary(table, format)

    def to_dot(self, *, theme="default", rankdir=None, show=None, title=None, color_by=None):
        """DOT source of the graph as it is, no view applied (see :func:`graphir.to_dot`)."""
        from graphir.renderers.dot import to_dot

        return to_dot(self, theme=theme, rankdir=rankdir, show=show, title=title,
                      color_by=color_by)

    def to_graphviz(self, **options):
        """A ``graphviz.Source`` of the default view's DOT (displays in Jupyter).

        What torchview's ``draw_graph(...).visual_graph`` and torchviz's
        ``make_dot`` hand back, for users who post-process it. Takes the
        view and drawing keywords of :meth:`render`. Needs the ``graphviz``
        Python package.
        """
        try:
            import graphviz
        except ImportError:
            from graphir.errors import MissingDependencyError

            raise MissingDependencyError("Graph.to_graphviz needs the graphviz Python package",
                                         hint="pip install graphviz (or graphir[bench])") from None
        return graphviz.Source(self._viewed_dot(options))

    def to_pydot(self, **options):
        """A ``pydot.Dot`` of the default view's DOT (same keywords as :meth:`render`).

        Needs the ``pydot`` package.
        """
        try:
            import pydot
        except ImportError:
            from graphir.errors import MissingDependencyError

            raise MissingDependencyError("Graph.to_pydot needs the pydot package",
                                         hint="pip install pydot") from None
        graphs = pydot.graph_from_dot_data(self._viewed_dot(options))
        return graphs[0]

    def _viewed_dot(self, options):
        options = dict(options, format="dot")
        return self.render(None, **options).decode("utf-8")

    def to_json(self):
        """The IR as deterministic node-link JSON text."""
        from graphir import serialize

        return serialize.to_json(self)

    def save(self, path):
        """Write the IR as JSON (what ``graphir convert`` writes); returns the path."""
        from graphir import serialize
        from graphir.outputs import write

        return write(serialize.to_json(self), path)


def as_graph(G: nx.MultiDiGraph) -> "Graph":
    """Make an IR graph a :class:`Graph` in place (no copy) and return it.

    Parameters
    ----------
    G : networkx.MultiDiGraph

    Returns
    -------
    Graph
        ``G`` itself when it is a :class:`Graph` or a plain
        ``networkx.MultiDiGraph`` (re-classed in place); a copy when it is
        another ``MultiDiGraph`` subclass.

    Raises
    ------
    TypeError
        When ``G`` is not a ``networkx.MultiDiGraph``.

    Examples
    --------
    >>> import networkx as nx
    >>> H = nx.MultiDiGraph(name="m")
    >>> as_graph(H) is H, type(H).__name__
    (True, 'Graph')
    """
    if isinstance(G, Graph):
        return G
    if type(G) is nx.MultiDiGraph:
        G.__class__ = Graph
        return G
    if isinstance(G, nx.MultiDiGraph):
        return Graph(G)
    raise TypeError(f"expected a networkx.MultiDiGraph IR graph, got {type(G).__name__}")
