"""graphir: neural-network models as one graph IR, drawn with Graphviz.

>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> sorted(G.graph)[:3]
['inputs', 'name', 'onnx']
"""

# load/render/diff/summary share their names with the modules that implement
# them. Importing a submodule binds it onto its parent the first time only, so
# import those (light, torch-free) modules first and bind the public functions
# after: `graphir.render` then stays the function for good.
import graphir.convert  # noqa: F401  (see above)
import graphir.diff  # noqa: F401
import graphir.load  # noqa: F401
import graphir.render  # noqa: F401
import graphir.summary  # noqa: F401
from graphir import ir
from graphir.api import (__version__, attention, convert, diff, diff_report, load, render, save,
                         summary, to_dot, view)
from graphir.errors import GraphIRError
from graphir.notebook import Graph
from graphir.ir import SCHEMA_VERSION, validate

__all__ = ["load", "convert", "view", "render", "to_dot", "save", "summary", "diff",
           "diff_report", "attention", "Graph", "validate", "ir", "GraphIRError",
           "SCHEMA_VERSION", "__version__"]
