"""Graph and checkpoint diff.

Imports only the core (:mod:`graphir.ir`, :mod:`graphir.errors`); numpy
and matplotlib are imported lazily, inside the functions that use them.

- :func:`diff_graphs` — match two IR graphs (:func:`match_graphs`), classify
  every node, build the union IR the renderer draws (``diff`` on every node,
  ``changes`` on changed ones); :func:`context` cuts it down to the changes.
- :func:`to_text`, :func:`to_json_dict`, :func:`to_html` — reports.
- :func:`diff_tensors` — two checkpoints tensor by tensor;
  :func:`checkpoint_to_text`, :func:`checkpoint_to_json_dict`,
  :func:`annotate_weight_change`, :func:`plot_weight_change`.
"""

from graphir.diffing.checkpoint import (CheckpointDiff, TensorDiff, annotate_weight_change, as_arrays,
                                     checkpoint_to_json_dict, checkpoint_to_text,
                                     diff_tensors, module_weight_change, plot_weight_change)
from graphir.diffing.graph import DiffResult, context, diff_graphs, node_changes, union_graph
from graphir.diffing.match import Matching, match_graphs, match_nodes
from graphir.diffing.report import to_html, to_json_dict, to_text

__all__ = [
    "DiffResult",
    "diff_graphs",
    "node_changes",
    "union_graph",
    "context",
    "Matching",
    "match_graphs",
    "match_nodes",
    "to_text",
    "to_json_dict",
    "to_html",
    "CheckpointDiff",
    "TensorDiff",
    "diff_tensors",
    "as_arrays",
    "checkpoint_to_json_dict",
    "checkpoint_to_text",
    "annotate_weight_change",
    "module_weight_change",
    "plot_weight_change",
]
