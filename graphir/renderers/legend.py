"""The legend: one small HTML-table node that explains what colours mean.

It has up to three sections, each drawn only when colours carry that
meaning in the figure:

* ``ops`` — the op categories present among the drawn op nodes, with their
  fills (categories sharing a fill share a swatch: ``shape · other``);
  ``layers`` in a parameter tree, whose leaves are filled by module type;
* ``diff`` — the diff states present, with their fills and strokes;
* a colour bar — seven cells sampled from the :class:`ColorScale`, labelled
  with its low, middle and high values and the quantity's name, plus a
  ``no value`` swatch when some node has none.

:func:`legend_statement` writes the node; :mod:`graphir.renderers.dot` hangs
it below (TB) or right of (LR) the drawing with invisible edges from the
drawing's sinks. In a top-to-bottom drawing the sections run left to right;
in a left-to-right drawing they are stacked in a narrow column and the
colour bar stands upright, high values on top.

Examples
--------
>>> from graphir.renderers.themes import get_theme
>>> html = legend_label([("ops", [("conv", "#D6E4F5")])], get_theme("default"), "TB")
>>> "conv" in html and 'BGCOLOR="#D6E4F5"' in html
True
"""

from graphir.renderers.colors import format_value
from graphir.renderers.markup import Html, attr_list, escape_html, font, quote

__all__ = ["LEGEND_NODE", "category_entries", "legend_label", "legend_statement"]

#: Node id of the legend in the DOT text.
LEGEND_NODE = "__graphir_legend"

_SWATCH = 'WIDTH="12" HEIGHT="10"'
_BAR_CELL = 'WIDTH="20" HEIGHT="10"'  # one cell of a horizontal colour bar
_DIFF_BORDERS = {"added": ("1", None), "removed": ("1", "dashed"),
                 "changed": ("2", None), "same": ("1", None)}


def category_entries(categories, theme):
    """``[(label, fill)]`` for the op categories drawn, merging equal fills.

    Parameters
    ----------
    categories : iterable of str
        Categories present, in legend order.
    theme : Theme

    Returns
    -------
    list of (str, str)
        Empty when every category drawn has the same fill (nothing to explain).

    Examples
    --------
    >>> from graphir.renderers.themes import get_theme
    >>> category_entries(["conv", "shape", "other"], get_theme("mono"))
    [('conv', '#BDBDBD'), ('shape · other', '#FFFFFF')]
    >>> category_entries(["conv", "other"], get_theme("paper"))
    []
    """
    merged = {}
    for category in categories:
        merged.setdefault(theme.fill_for_category(category), []).append(category)
    if len(merged) < 2:
        return []
    return [(" · ".join(names), fill) for fill, names in merged.items()]


def _swatch(fill, theme, border="1", style=None):
    style_attr = f' STYLE="{style}"' if style else ""
    return (f'<TD BGCOLOR="{fill}" BORDER="{border}" COLOR="{theme.node_stroke}"'
            f'{style_attr} {_SWATCH}></TD>')


def _text_cell(text, theme, *, bold=False, align="LEFT", colspan=1):
    span = f' COLSPAN="{colspan}"' if colspan > 1 else ""
    body = font(escape_html(text), size=theme.small_fontsize, color=theme.text_color, bold=bold)
    return f'<TD ALIGN="{align}" CELLPADDING="1"{span}>{body}</TD>'


def _table(rows, spacing=3):
    body = "".join(f"<TR>{''.join(cells)}</TR>" for cells in rows)
    return (f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="{spacing}" CELLPADDING="0">'
            f"{body}</TABLE>")


def _swatch_section(heading, entries, theme, vertical):
    """Heading plus ``(label, swatch cell)`` pairs, in a row or a column."""
    if vertical:
        rows = [[_text_cell(heading, theme, bold=True, colspan=2)]]
        rows += [[cell, _text_cell(label, theme)] for label, cell in entries]
        return _table(rows)
    cells = [_text_cell(heading, theme, bold=True)]
    for label, cell in entries:
        cells += [cell, _text_cell(label, theme)]
    return _table([cells])


def _bar_section(scale, missing, theme, vertical):
    """The colour bar of ``scale``; a ``no value`` swatch when ``missing``."""
    fills = scale.cells(7)
    low, mid, high = scale.labels()
    size = ' WIDTH="14" HEIGHT="12" FIXEDSIZE="TRUE"' if vertical else f" {_BAR_CELL}"
    cells = [f'<TD BGCOLOR="{fill}"{size}></TD>' for fill in fills]
    heading = [[_text_cell(scale.title(), theme, bold=True)]]
    if vertical:  # a narrow column: the name's "(…)" goes on a line of its own
        heading = [[_text_cell(line, theme, bold=True)]
                   for line in scale.title().replace(" (", "\n(").split("\n")]
    nodata = [_swatch(theme.nodata_fill, theme), _text_cell("no value", theme)]
    if vertical:
        marks = {0: high, 3: mid, 6: low}
        rows = [[cell, _text_cell(marks.get(i, ""), theme)]
                for i, cell in enumerate(reversed(cells))]
        parts = [_table(heading), _table(rows, spacing=0)]
        if missing:
            parts.append(_table([nodata]))
        return _table([[f"<TD ALIGN=\"LEFT\">{part}</TD>"] for part in parts], spacing=0)
    ticks = [_text_cell(low, theme, colspan=2), _text_cell(mid, theme, align="CENTER", colspan=3),
             _text_cell(high, theme, align="RIGHT", colspan=2)]
    bar = _table([cells, ticks], spacing=0)
    row = [f"<TD>{bar}</TD>"] + ([f'<TD VALIGN="TOP">{_table([nodata])}</TD>'] if missing else [])
    return _table([[f'<TD ALIGN="LEFT">{_table(heading)}</TD>'], [f"<TD>{_table([row], 0)}</TD>"]],
                  spacing=0)


def legend_label(sections, theme, rankdir):
    """The legend's HTML label from its sections.

    Parameters
    ----------
    sections : list
        ``("ops", [(label, fill)])`` (``"layers"`` in a parameter tree),
        ``("diff", [state, …])`` and
        ``("scale", (ColorScale, missing))`` items, drawn in that order.
    theme : Theme
    rankdir : str
        ``LR``/``RL`` stack everything in a column.

    Returns
    -------
    Html
    """
    vertical = rankdir in ("LR", "RL")
    parts = []
    for kind, content in sections:
        if kind in ("ops", "layers"):
            entries = [(label, _swatch(fill, theme)) for label, fill in content]
            parts.append(_swatch_section(kind, entries, theme, vertical))
        elif kind == "diff":
            entries = [(state, _swatch(theme.fill_for_diff(state), theme,
                                       *_DIFF_BORDERS[state])) for state in content]
            parts.append(_swatch_section("diff", entries, theme, vertical))
        elif kind == "scale":
            scale, missing = content
            parts.append(_bar_section(scale, missing, theme, vertical))
    rows = [[f"<TD>{part}</TD>"] for part in parts] if vertical \
        else [[f"<TD>{part}</TD>" for part in parts]]
    return Html(_table(rows, spacing=8))


def _tooltip(sections):
    """Plain-text legend for the SVG hover: what each colour means."""
    lines = ["legend"]
    for kind, content in sections:
        if kind in ("ops", "layers"):
            lines.append(f"{kind[:-1]} categories: " + ", ".join(label for label, _ in content))
        elif kind == "diff":
            lines.append("diff states: " + ", ".join(content))
        elif kind == "scale":
            scale, _ = content
            low, high = (format_value(scale.quantity, v) for v in (scale.low, scale.high))
            lines.append(f"{scale.title()}: {low} … {high}")
    return "\n".join(lines)


def legend_statement(sections, theme, rankdir):
    """The DOT statement of the legend node (``id="graphir-legend"``)."""
    pairs = [("label", legend_label(sections, theme, rankdir)), ("shape", "plain"),
             ("style", "solid"), ("tooltip", _tooltip(sections)), ("id", "graphir-legend"),
             ("class", "legend")]
    return f"{quote(LEGEND_NODE)}{attr_list(pairs)};"
