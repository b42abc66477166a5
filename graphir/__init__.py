"""graphir: neural-network models as one graph IR, drawn with Graphviz.

>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")     # doctest: +SKIP
>>> graphir.render(G, "resnet_tiny.svg")             # doctest: +SKIP
"""

# The functions load/render share their names with the subpackages that
# implement them. Importing a submodule binds the package onto its parent the
# first time only, so import the (light, torch-free) subpackages first and bind
# the public functions after: `graphir.render` stays the function for good.
import graphir.load  # noqa: F401  (see above)
import graphir.render  # noqa: F401  (see above)
from graphir.api import convert, load, render, to_dot
from graphir.errors import GraphIRError
from graphir.ir import SCHEMA_VERSION, validate

__version__ = "0.1.0"

__all__ = ["load", "convert", "render", "to_dot", "validate", "GraphIRError",
           "SCHEMA_VERSION", "__version__"]
