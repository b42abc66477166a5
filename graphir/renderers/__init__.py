"""Static rendering of an IR graph through Graphviz.

* :mod:`graphir.renderers.dot` — IR → DOT text (pure, no subprocess): clusters,
  edges, the legend's placement;
* :mod:`graphir.renderers.nodes` — each node's label, look, tooltip, id, class;
* :mod:`graphir.renderers.tree` — parameter-tree (state_dict) node labels;
* :mod:`graphir.renderers.colors` — colouring nodes by a number (palettes,
  colour scales, readable text on a fill);
* :mod:`graphir.renderers.legend` — the legend node (op categories, diff
  states, colour bar);
* :mod:`graphir.renderers.labels` — display text for shapes, dtypes, weights,
  counts and op categories (shared with the summary table and the CLI);
* :mod:`graphir.renderers.markup` — DOT quoting and HTML-label helpers;
* :mod:`graphir.renderers.themes` — fonts and colours;
* :mod:`graphir.renderers.backend` — runs ``dot`` with a timeout, makes SVG and
  PDF output deterministic and paper-ready, scales to a width, and writes
  files atomically.

Reads IR attributes only; imports neither torch nor onnx.
"""

from graphir.renderers.backend import (
    clean_pdf,
    clean_svg,
    find_dot,
    render_bytes,
    run_dot,
    write_atomic,
)
from graphir.renderers.colors import QUANTITIES
from graphir.renderers.dot import (
    COLOR_BY_OPTIONS,
    DEFAULT_SHOW,
    SHOW_OPTIONS,
    parse_show,
    resolve_color_by,
    to_dot,
)
from graphir.renderers.labels import (
    format_count,
    format_dtype,
    format_shape,
    op_category,
    short_param_name,
)
from graphir.renderers.themes import THEMES, Theme, get_theme

__all__ = [
    "to_dot",
    "parse_show",
    "resolve_color_by",
    "SHOW_OPTIONS",
    "DEFAULT_SHOW",
    "COLOR_BY_OPTIONS",
    "QUANTITIES",
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
]
