"""Static rendering of an IR graph through Graphviz.

* :mod:`graphir.render.dot` — IR → DOT text (pure, no subprocess);
* :mod:`graphir.render.labels` — display text for shapes, dtypes, weights,
  counts and op categories (shared with the summary table and the CLI);
* :mod:`graphir.render.themes` — fonts and colours;
* :mod:`graphir.render.backend` — runs ``dot`` with a timeout, makes SVG and
  PDF output deterministic and writes files atomically.

Reads IR attributes only; imports neither torch nor onnx.
"""

from graphir.render.backend import (
    clean_pdf,
    clean_svg,
    find_dot,
    render_bytes,
    render_file,
    run_dot,
    write_atomic,
)
from graphir.render.dot import DEFAULT_SHOW, SHOW_OPTIONS, parse_show, to_dot
from graphir.render.labels import (
    format_count,
    format_dtype,
    format_shape,
    op_category,
    short_param_name,
)
from graphir.render.themes import THEMES, Theme, get_theme

__all__ = [
    "to_dot",
    "parse_show",
    "SHOW_OPTIONS",
    "DEFAULT_SHOW",
    "Theme",
    "THEMES",
    "get_theme",
    "format_shape",
    "format_dtype",
    "format_count",
    "short_param_name",
    "op_category",
    "find_dot",
    "run_dot",
    "clean_svg",
    "clean_pdf",
    "render_bytes",
    "write_atomic",
    "render_file",
]
