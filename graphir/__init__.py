"""graphir: neural-network models as one graph IR, drawn with Graphviz.

>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")     # doctest: +SKIP
>>> graphir.render(G, "resnet_tiny.svg")             # doctest: +SKIP
"""

from graphir.api import convert, load, render, to_dot
from graphir.errors import GraphIRError
from graphir.ir import SCHEMA_VERSION, validate

__version__ = "0.1.0"

__all__ = ["load", "convert", "render", "to_dot", "validate", "GraphIRError",
           "SCHEMA_VERSION", "__version__"]
