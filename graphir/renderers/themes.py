"""Colour and font themes for the DOT renderer.

A :class:`Theme` holds everything visual the renderer does not derive from
the IR: fonts, font sizes, fills by op category (see
:func:`graphir.renderers.labels.op_category`), fills for inputs, outputs,
weights and collapsed modules, cluster fills by nesting depth, edge colour
and the fills that mark a diff. :data:`THEMES` maps the built-in names to
themes and :func:`get_theme` looks one up.

Built-in themes
---------------
``default``
    Calm pastel fills on white, sans-serif.
``paper``
    Serif text, thin black strokes, white and light-grey fills only, so
    figures print well in greyscale.
``mono``
    Greys only (monochrome), sans-serif. Four clearly different grey levels
    instead of one per category: weighted ops (conv, linear, attention),
    norms, activations and pooling, everything else white.
``colorblind``
    Light tints of the Okabe-Ito palette, distinguishable with the common
    colour-vision deficiencies.
``dark``
    Light text on a dark background.

In every theme the four diff fills differ in greyscale lightness, and the
renderer also marks removed nodes dashed and changed nodes bold. Where a
fill leaves too little contrast for the theme's text (WCAG 4.5:1 for text,
3:1 for detail lines), the renderer writes that node in black or white
instead (:func:`graphir.renderers.colors.ink_for`).

Examples
--------
>>> get_theme("paper").fontname
'Times'
>>> get_theme("default").fill_for_category("conv")
'#D6E4F5'
"""

from dataclasses import dataclass
from types import MappingProxyType

from graphir.errors import InputError

__all__ = ["Theme", "THEMES", "get_theme", "with_font"]


@dataclass(frozen=True)
class Theme:
    """Fonts, sizes and colours for one rendering style.

    Colours are Graphviz colour strings (``#RRGGBB``). Pair tuples stand in
    for mappings so a theme stays immutable and hashable.

    Attributes
    ----------
    name : str
        Registry name.
    fontname : str
        Font family for all text.
    fontsize, small_fontsize, cluster_fontsize, title_fontsize : float
        Point sizes of op names, of detail lines (shapes, weights, edge
        labels), of cluster labels and of the graph title.
    background, text_color, muted_color : str
        Page colour, main text colour, colour of detail lines.
    node_stroke : str
        Border colour of every node.
    node_penwidth : float
        Border width of every node.
    category_fills : tuple of (str, str)
        ``(category, fill)`` for every op category.
    input_fill, output_fill, param_fill, const_fill, module_fill : str
        Fills of the other node kinds.
    cluster_fills : tuple of str
        Cluster fills by nesting depth, cycled (depth 0 is outermost).
    cluster_stroke, cluster_text_color : str
        Cluster border and label colours.
    cluster_penwidth : float
        Cluster border width.
    edge_color : str
        Colour of edges and arrowheads.
    edge_penwidth : float
        Width of edges.
    diff_fills : tuple of (str, str)
        ``(state, fill)`` for ``added``, ``removed``, ``changed``, ``same``.
    nodata_fill : str
        Fill of a node without a value when nodes are coloured by a number.
    """

    name: str
    fontname: str
    fontsize: float
    small_fontsize: float
    cluster_fontsize: float
    title_fontsize: float
    background: str
    text_color: str
    muted_color: str
    node_stroke: str
    node_penwidth: float
    category_fills: tuple
    input_fill: str
    output_fill: str
    param_fill: str
    const_fill: str
    module_fill: str
    cluster_fills: tuple
    cluster_stroke: str
    cluster_text_color: str
    cluster_penwidth: float
    edge_color: str
    edge_penwidth: float
    diff_fills: tuple
    nodata_fill: str = "#E6E6E6"

    def fill_for_category(self, category):
        """Fill of an op of ``category``; the ``other`` fill if unknown."""
        fills = dict(self.category_fills)
        return fills.get(category, fills["other"])

    def fill_for_diff(self, state):
        """Fill of a node whose ``diff`` attribute is ``state``."""
        return dict(self.diff_fills)[state]

    def cluster_fill(self, depth):
        """Fill of a cluster nested ``depth`` levels deep (0 = outermost)."""
        return self.cluster_fills[depth % len(self.cluster_fills)]


def _tint(colour, amount):
    """Mix ``#RRGGBB`` with white; ``amount`` 0 keeps it, 1 gives white."""
    channels = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (255 - c) * amount) for c in channels]
    return "#" + "".join(f"{c:02X}" for c in mixed)


# Okabe & Ito (2008), "Color Universal Design".
_OKABE_ITO = {
    "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

_DEFAULT = Theme(
    name="default", fontname="Helvetica", fontsize=10.0, small_fontsize=8.5,
    cluster_fontsize=10.0, title_fontsize=15.0,
    background="#FFFFFF", text_color="#1F2328", muted_color="#57606A",
    node_stroke="#7D8794", node_penwidth=0.8,
    category_fills=(
        ("conv", "#D6E4F5"), ("linear", "#E1DAF2"), ("norm", "#F6E7C8"),
        ("activation", "#F6D9D2"), ("pool", "#D4EDE4"),
        ("elementwise", "#EAEAEA"), ("shape", "#F6F6F1"),
        ("attention", "#F3D7E6"), ("other", "#FFFFFF"),
    ),
    input_fill="#CFE8D3", output_fill="#FAE1C2", param_fill="#F4F4F4",
    const_fill="#F4F4F4", module_fill="#E4EBF5",
    cluster_fills=("#F7F9FC", "#ECF0F6"), cluster_stroke="#B4BFCE",
    cluster_text_color="#3A4556", cluster_penwidth=0.8,
    edge_color="#66707D", edge_penwidth=0.8,
    diff_fills=(("added", "#CDEFC4"), ("removed", "#D98C8C"),
                ("changed", "#F4C56F"), ("same", "#FFFFFF")),
)

_PAPER = Theme(
    name="paper", fontname="Times", fontsize=10.0, small_fontsize=9.0,
    cluster_fontsize=10.0, title_fontsize=14.0,
    background="#FFFFFF", text_color="#000000", muted_color="#333333",
    node_stroke="#000000", node_penwidth=0.5,
    category_fills=tuple((c, "#FFFFFF") for c in (
        "conv", "linear", "norm", "activation", "pool", "elementwise",
        "shape", "attention", "other")),
    input_fill="#EBEBEB", output_fill="#EBEBEB", param_fill="#FFFFFF",
    const_fill="#FFFFFF", module_fill="#F2F2F2",
    cluster_fills=("#FFFFFF", "#F5F5F5"), cluster_stroke="#666666",
    cluster_text_color="#000000", cluster_penwidth=0.5,
    edge_color="#000000", edge_penwidth=0.5,
    diff_fills=(("added", "#E4E4E4"), ("removed", "#A6A6A6"),
                ("changed", "#C6C6C6"), ("same", "#FFFFFF")),
)

_MONO = Theme(
    name="mono", fontname="Helvetica", fontsize=10.0, small_fontsize=8.5,
    cluster_fontsize=10.0, title_fontsize=15.0,
    background="#FFFFFF", text_color="#000000", muted_color="#4D4D4D",
    node_stroke="#595959", node_penwidth=0.8,
    category_fills=(
        ("conv", "#BDBDBD"), ("linear", "#BDBDBD"), ("attention", "#BDBDBD"),
        ("norm", "#D6D6D6"), ("activation", "#E8E8E8"), ("pool", "#E8E8E8"),
        ("elementwise", "#FFFFFF"), ("shape", "#FFFFFF"), ("other", "#FFFFFF"),
    ),
    input_fill="#E6E6E6", output_fill="#D0D0D0", param_fill="#F2F2F2",
    const_fill="#F2F2F2", module_fill="#E0E0E0",
    cluster_fills=("#FFFFFF", "#F7F7F7"), cluster_stroke="#9E9E9E",
    cluster_text_color="#262626", cluster_penwidth=0.8,
    edge_color="#404040", edge_penwidth=0.8,
    diff_fills=(("added", "#E0E0E0"), ("removed", "#8F8F8F"),
                ("changed", "#B8B8B8"), ("same", "#FFFFFF")),
)

_COLORBLIND = Theme(
    name="colorblind", fontname="Helvetica", fontsize=10.0, small_fontsize=8.5,
    cluster_fontsize=10.0, title_fontsize=15.0,
    background="#FFFFFF", text_color="#1A1A1A", muted_color="#4D4D4D",
    node_stroke="#737373", node_penwidth=0.8,
    category_fills=(
        ("conv", _tint(_OKABE_ITO["blue"], 0.6)),
        ("linear", _tint(_OKABE_ITO["reddish_purple"], 0.65)),
        ("norm", _tint(_OKABE_ITO["yellow"], 0.6)),
        ("activation", _tint(_OKABE_ITO["vermillion"], 0.7)),
        ("pool", _tint(_OKABE_ITO["bluish_green"], 0.8)),
        ("elementwise", "#EBEBEB"), ("shape", "#F7F7F7"),
        ("attention", _tint(_OKABE_ITO["orange"], 0.6)),
        ("other", "#FFFFFF"),
    ),
    input_fill=_tint(_OKABE_ITO["bluish_green"], 0.7), output_fill="#DADADA",
    param_fill="#F4F4F4", const_fill="#F4F4F4",
    module_fill=_tint(_OKABE_ITO["sky_blue"], 0.8),
    cluster_fills=("#F8F8F8", "#EEEEEE"), cluster_stroke="#A6A6A6",
    cluster_text_color="#333333", cluster_penwidth=0.8,
    edge_color="#595959", edge_penwidth=0.8,
    diff_fills=(("added", _tint(_OKABE_ITO["bluish_green"], 0.82)),
                ("removed", _tint(_OKABE_ITO["vermillion"], 0.2)),
                ("changed", _tint(_OKABE_ITO["orange"], 0.45)),
                ("same", "#FFFFFF")),
)

_DARK = Theme(
    name="dark", fontname="Helvetica", fontsize=10.0, small_fontsize=8.5,
    cluster_fontsize=10.0, title_fontsize=15.0,
    background="#1E2127", text_color="#E6E8EB", muted_color="#AEB6C1",
    node_stroke="#6C7684", node_penwidth=0.8,
    category_fills=(
        ("conv", "#2C4466"), ("linear", "#3E3866"), ("norm", "#574A2B"),
        ("activation", "#5C3431"), ("pool", "#24524A"),
        ("elementwise", "#3A3F47"), ("shape", "#30343B"),
        ("attention", "#5A2F4C"), ("other", "#2A2E35"),
    ),
    input_fill="#2E5A3A", output_fill="#6A4A22", param_fill="#343942",
    const_fill="#343942", module_fill="#2F3B4F",
    cluster_fills=("#252A31", "#2D333C"), cluster_stroke="#4A5563",
    cluster_text_color="#C9D1DB", cluster_penwidth=0.8,
    edge_color="#9AA4B2", edge_penwidth=0.8,
    diff_fills=(("added", "#3B7D46"), ("removed", "#6E3535"),
                ("changed", "#B08A2E"), ("same", "#2A2E35")),
    nodata_fill="#30343B",
)

#: Built-in themes by name (read-only).
THEMES = MappingProxyType({
    theme.name: theme for theme in (_DEFAULT, _PAPER, _MONO, _COLORBLIND, _DARK)
})


def get_theme(name):
    """Return the built-in theme called ``name``.

    Parameters
    ----------
    name : str or Theme
        A key of :data:`THEMES`; a :class:`Theme` is returned unchanged.

    Returns
    -------
    Theme

    Raises
    ------
    InputError
        When no theme has that name; the message lists the valid names.

    Examples
    --------
    >>> get_theme("dark").background
    '#1E2127'
    """
    if isinstance(name, Theme):
        return name
    try:
        return THEMES[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown theme {name!r}",
                         hint=f"choose one of: {', '.join(THEMES)}") from None


def with_font(theme, font=None, font_size=None):
    """A theme with another font family and/or base font size.

    Parameters
    ----------
    theme : str or Theme
    font : str, optional
        Font family name Graphviz passes to fontconfig/cairo (``"Times"``,
        ``"Helvetica"``, ``"DejaVu Sans"``, ``"Latin Modern Roman"``).
    font_size : float, optional
        Point size of op names; detail lines get 0.9 of it, cluster labels
        the same, the title 1.4 (the paper theme's proportions).

    Returns
    -------
    Theme

    Raises
    ------
    InputError
        On an unknown theme name or a font size outside 4–72 pt.

    Examples
    --------
    >>> t = with_font("paper", font="Helvetica", font_size=8)
    >>> t.fontname, t.fontsize, t.small_fontsize, t.title_fontsize
    ('Helvetica', 8.0, 7.2, 11.2)
    """
    import dataclasses

    theme = get_theme(theme)
    changes = {}
    if font:
        changes["fontname"] = str(font)
    if font_size is not None:
        try:
            size = float(font_size)
        except (TypeError, ValueError):
            size = -1.0
        if not 4 <= size <= 72:
            raise InputError(f"font size {font_size!r} is out of range",
                             hint="give a size in points between 4 and 72, e.g. --font-size 8")
        changes.update(fontsize=size, small_fontsize=round(size * 0.9, 2),
                       cluster_fontsize=size, title_fontsize=round(size * 1.4, 2))
    return dataclasses.replace(theme, **changes) if changes else theme
