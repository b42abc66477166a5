"""The graph object the public API returns: an IR that draws itself.

:class:`Graph` is a :class:`networkx.MultiDiGraph` (every networkx function
and every graphir function that takes an IR still works) that Jupyter shows
as an SVG (``_repr_svg_``) and that renders with ``.render("fig.svg")``.

Examples
--------
>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> G
<graphir.Graph 'resnet_tiny' from onnx: 30 ops, 32 nodes>
>>> G._repr_svg_().startswith("<?xml")
True
"""

import networkx as nx

__all__ = ["Graph", "as_graph"]


class Graph(nx.MultiDiGraph):
    """An IR graph with drawing methods (see the module docstring)."""

    def __repr__(self):
        ops = sum(1 for _, kind in self.nodes(data="kind") if kind == "op")
        return (f"<graphir.Graph {self.graph.get('name', '')!r} from "
                f"{self.graph.get('source', '?')}: {ops} ops, {self.number_of_nodes()} nodes>")

    def _repr_svg_(self):
        """SVG for Jupyter with the default view (folding, node budget).

        Returns None when drawing fails (Graphviz missing, say), so Jupyter
        falls back to the text repr; ``.render()`` raises the reason.
        """
        from graphir import api
        from graphir.errors import GraphIRError

        try:
            return api.render(self, format="svg").decode("utf-8")
        except GraphIRError:
            return None

    def render(self, path=None, **options):
        """Draw to ``path`` (format from its extension) or return the bytes.

        Takes :func:`graphir.render`'s keyword arguments (``depth``, ``fold``,
        ``theme``, ``rankdir``, ``width``, ...).
        """
        from graphir import api

        return api.render(self, path, **options)

    def view(self, **options):
        """The part to draw (``depth``, ``focus``, ``fold``, ``max_nodes``) as a Graph."""
        from graphir import api

        return api.view(self, **options)

    def summary(self, **options):
        """The module table (see :func:`graphir.summary`)."""
        from graphir import api

        return api.summary(self, **options)

    def to_json(self):
        """The IR as deterministic node-link JSON text."""
        from graphir import serialize

        return serialize.to_json(self)


def as_graph(G):
    """Make an IR graph a :class:`Graph` in place (no copy) and return it.

    The subclass adds methods only, no state, so changing the instance's
    class is safe and costs nothing even on a 50k-node graph.
    """
    if not isinstance(G, Graph):
        if type(G) is not nx.MultiDiGraph:
            G = Graph(G)
        else:
            G.__class__ = Graph
    return G
