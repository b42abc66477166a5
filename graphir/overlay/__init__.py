"""Attention overlays: what a transformer attends to, per layer and head.

Imports only the core (:mod:`graphir.errors`) and itself; torch, matplotlib
and Pillow are imported lazily, inside the functions that use them.

- :func:`capture_attention` — one forward pass, the attention probabilities
  of every layer as :class:`AttentionCapture` (from ``nn.MultiheadAttention``,
  softmax over [batch, heads, tokens, tokens], or recomputed for
  ``F.scaled_dot_product_attention``), without editing the model.
- :func:`write_attention_report` — per-layer head maps, a layer-evolution
  figure, a statistics figure, ``attention.json`` and ``report.md`` into a
  folder, atomically.
- :func:`run_attention` — both, for a module and its example inputs,
  optionally on an image file (:func:`load_image`); what ``graphir attention``
  calls.

>>> import tempfile
>>> from samples.vit import vit_tiny
>>> from graphir.overlay import run_attention
>>> model, (x,) = vit_tiny()
>>> result = run_attention(model, (x,), None, tempfile.mkdtemp())
>>> result.layers, result.heads
(6, [4, 4, 4, 4, 4, 4])
"""

from graphir.overlay.attention import AttentionCapture, capture_attention, looks_like_attention
from graphir.overlay.image import default_normalization, infer_patch_grid, load_image
from graphir.overlay.report import (REPORT_SCHEMA, AttentionResult, attention_statistics,
                                    head_statistics, write_attention_report)
from graphir.overlay.run import find_image_input, run_attention

__all__ = [
    "AttentionCapture",
    "capture_attention",
    "looks_like_attention",
    "load_image",
    "default_normalization",
    "infer_patch_grid",
    "AttentionResult",
    "REPORT_SCHEMA",
    "head_statistics",
    "attention_statistics",
    "write_attention_report",
    "find_image_input",
    "run_attention",
]
