"""graphir: neural-network models as one graph IR, drawn with Graphviz.

>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> sorted(G.graph)[:3]
['inputs', 'name', 'onnx']
"""

from graphir import ir
from graphir.api import (__version__, attention, convert, diff, diff_report, draw, load, render,
                         save, summary, to_dot, view)
from graphir.errors import GraphIRError
from graphir.graph import Graph
from graphir.ir import SCHEMA_VERSION, validate

__all__ = ["load", "convert", "view", "draw", "render", "to_dot", "save", "summary", "diff",
           "diff_report", "attention", "Graph", "validate", "ir", "GraphIRError",
           "SCHEMA_VERSION", "__version__"]
