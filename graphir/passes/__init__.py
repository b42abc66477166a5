"""IR passes: IR -> new IR transforms for big models.

Each pass takes an IR graph and returns a new, valid one (the input is never
changed), is deterministic (same input, same output, same node order) and
runs in time linear in the graph (times the module depth).

- :func:`collapse` — modules at ``--depth N`` become single ``module`` nodes.
- :func:`fold` — runs of identical chained sibling modules drawn once, ×N.
- :func:`infer_blocks` — inferred modules for graphs that record none (old ONNX files).
- :func:`focus` — one module's subtree with boundary inputs and outputs.
- :func:`group_cache_outputs` — a KV cache's per-layer outputs as one output node.
- :func:`fit_budget` — collapse shallower until a ``--max-nodes`` budget fits.
- :func:`view` — cache grouping, focus, depth, fold and budget in that order (what the CLI runs).
- :func:`module_tree`, :func:`list_modules` — the module hierarchy.
- :func:`block_view`, :func:`block_depth` — one block per module at a depth
  giving 5–25 blocks, for ``--style blocks``.

The passes read IR attributes only; they never import torch or onnx.
"""

from graphir.passes.blocks import block_depth, block_view
from graphir.passes.budget import DEFAULT_MAX_NODES, budget_for, fit_budget, view
from graphir.passes.collapse import collapse
from graphir.passes.common import module_depth, structural_signature
from graphir.passes.focus import check_module_path, focus
from graphir.passes.fold import fold
from graphir.passes.infer_blocks import infer_blocks
from graphir.passes.outputs import group_cache_outputs
from graphir.passes.tree import list_modules, module_tree

__all__ = [
    "DEFAULT_MAX_NODES",
    "budget_for",
    "collapse",
    "fold",
    "infer_blocks",
    "focus",
    "fit_budget",
    "group_cache_outputs",
    "view",
    "block_view",
    "block_depth",
    "module_tree",
    "list_modules",
    "module_depth",
    "check_module_path",
    "structural_signature",
]
