"""LaTeX text for TikZ figures: escaping, shapes and weights as maths, wrappers.

Shared by :mod:`graphir.renderers.tikz` (the full graph) and
:mod:`graphir.renderers.blocks` (block diagrams). Pure string functions.

Everything taken from a model (module names, op names, dims) goes through
:func:`escape_latex`, which makes all of ``\\ { } $ & # % _ ~ ^ < > |``
printable and maps the few non-ASCII characters graphir itself writes
(``×``, ``…``, ``⟨⟩``, Greek letters) to LaTeX; any other non-ASCII
character becomes ``?`` so the file compiles with pdflatex and lualatex and
any font.

Examples
--------
>>> escape_latex("layer_1#a%b&c$d{e}~^\\\\")
'layer\\\\_1\\\\#a\\\\%b\\\\&c\\\\$d\\\\{e\\\\}\\\\~{}\\\\^{}\\\\textbackslash{}'
>>> shape_math([1, 64, 56, 56])
'$1{\\\\times}64{\\\\times}56{\\\\times}56$'
>>> weight_math("conv1.weight", [64, 3, 7, 7])
'$W \\\\in \\\\mathbb{R}^{64\\\\times 3\\\\times 7\\\\times 7}$'
"""

import re

__all__ = [
    "escape_latex",
    "shape_math",
    "shapes_math",
    "weight_math",
    "params_math",
    "color_definitions",
    "end_lines",
    "fit_width",
    "wrap_document",
    "PREAMBLE_CHECKS",
]

_SPECIAL = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
    "#": r"\#", "%": r"\%", "_": r"\_",
    # accents and maths rather than textcomp (TS1) symbols: no bitmap fonts, any engine
    "~": r"\~{}", "^": r"\^{}", "<": r"\ensuremath{<}", ">": r"\ensuremath{>}",
    "|": r"\ensuremath{|}", '"': "''", "\n": " ", "\t": " ",
    "-": "-{}",  # no -- or --- ligatures
}
_UNICODE = {
    "×": r"\ensuremath{\times}", "…": r"\ldots{}", "⟨": r"\ensuremath{\langle}",
    "⟩": r"\ensuremath{\rangle}", "μ": r"\ensuremath{\mu}", "σ": r"\ensuremath{\sigma}",
    "Δ": r"\ensuremath{\Delta}", "≤": r"\ensuremath{\le}", "≥": r"\ensuremath{\ge}",
    "·": r"\ensuremath{\cdot}", "→": r"\ensuremath{\to}", "–": "--", "—": "---",
    "\u00a0": "~",
}
_MATH_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_PARAM_SYMBOLS = {"weight": "W", "bias": "b", "running_mean": r"\mu", "running_var": r"\sigma^2"}

#: Checks put at the top of every TikZ file: a clear error when TikZ is not
#: loaded, and ``\graphirR`` (the reals) that works with or without amssymb.
PREAMBLE_CHECKS = r"""\ifdefined\tikzpicture\else
  \errmessage{graphir figure: load TikZ first, add \string\usepackage{tikz} to the preamble}%
\fi
\providecommand{\graphirR}{\ifdefined\mathbb\mathbb{R}\else\mathbf{R}\fi}%
\ifdefined\graphirbox\else\newsavebox{\graphirbox}\fi"""


def escape_latex(text):
    """Make any text printable by LaTeX in text mode.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
    """
    out = []
    for char in str(text):
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
        elif char in _UNICODE:
            out.append(_UNICODE[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(" ")
        elif ord(char) > 126:
            out.append("?")
        else:
            out.append(char)
    return "".join(out)


def _dim_math(dim):
    """One dim in maths: a number, ``?`` or an upright escaped symbolic name."""
    if dim is None:
        return "?"
    if isinstance(dim, int):
        return str(dim)
    text = str(dim)
    if text.lstrip("-").isdigit():
        return text
    if _MATH_IDENT.fullmatch(text):
        return r"\mathrm{" + text + "}"
    return r"\mbox{" + escape_latex(text) + "}"


def shape_math(shape, *, sep=r"{\times}"):
    """A tensor shape as inline maths, ``$1{\\times}64{\\times}56{\\times}56$``.

    Parameters
    ----------
    shape : list or None
        IR dims (ints, symbolic names, None).
    sep : str
        What joins the dims.

    Returns
    -------
    str
        ``$?$`` for an unknown shape, ``$()$`` for a scalar.
    """
    if shape is None:
        return "$?$"
    if len(shape) == 0:
        return "$()$"
    return "$" + sep.join(_dim_math(dim) for dim in shape) + "$"


def shapes_math(outputs, limit=3):
    """All outputs of a node as maths, comma separated; '' when none has a shape.

    Runs of equal shapes are written once with ``(\\times k)``.
    """
    runs = []
    for info in outputs or []:
        text = shape_math((info or {}).get("shape"))
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    words = [text if count == 1 else f"{text} ($\\times{count}$)" for text, count in runs[:limit]]
    hidden = sum(count for _, count in runs[limit:])
    if hidden:
        words.append(f"\\ldots{{}} (+{hidden})")
    return ", ".join(words)


def _param_symbol(qualified):
    local = str(qualified).rsplit(".", 1)[-1]
    if local in _PARAM_SYMBOLS:
        return _PARAM_SYMBOLS[local]
    return r"\mbox{" + escape_latex(local) + "}"


def weight_math(qualified, shape, symbol=None):
    """One weight as ``$W \\in \\mathbb{R}^{64\\times 3\\times 7\\times 7}$``.

    ``weight`` is written ``W``, ``bias`` ``b``, BatchNorm's running mean and
    variance ``\\mu`` and ``\\sigma^2``, anything else by its local name.
    ``\\mathbb`` is used through ``\\graphirR`` in files (bold R without amssymb);
    this function writes ``\\mathbb{R}`` for the docstring's sake only when
    ``symbol`` is None.
    """
    symbol = symbol or _param_symbol(qualified)
    dims = r"\times ".join(_dim_math(d) for d in (shape or [])) if shape else "1"
    return f"${symbol} \\in \\mathbb{{R}}^{{{dims}}}$"


def params_math(params, limit=3):
    """Weight lines for a node: names sharing a shape share a line.

    Returns
    -------
    list of str
        ``$W \\in \\graphirR^{64\\times 3\\times 7\\times 7}$``, ``$W, b, \\mu,
        \\sigma^2 \\in \\graphirR^{64}$``; at most ``limit`` lines, the last
        saying how many more weights there are.
    """
    order = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}

    def key(item):
        local = str(item[0]).rsplit(".", 1)[-1]
        return (order.get(local, len(order)), item[0])

    groups = {}
    for qualified, info in sorted((params or {}).items(), key=key):
        shape = (info or {}).get("shape")
        groups.setdefault(tuple(shape) if shape is not None else None, []).append(qualified)
    lines = []
    for shape, names in groups.items():
        symbols = ", ".join(_param_symbol(n) for n in names[:4])
        more = f" (+{len(names) - 4})" if len(names) > 4 else ""
        if shape is None:
            space = r"\graphirR^{?}"
        elif not shape:  # a scalar
            space = r"\graphirR"
        else:
            space = r"\graphirR^{" + r"\times ".join(_dim_math(d) for d in shape) + "}"
        lines.append(f"${symbols} \\in {space}${more}")
    if len(lines) > limit:
        hidden = sum(len(names) for names in list(groups.values())[limit - 1:])
        lines = lines[:limit - 1] + [f"+{hidden} more weights"]
    return lines


def end_lines(lines):
    """Join lines, each ending in ``%`` so no stray space enters the paragraph."""
    split = "\n".join(lines).split("\n")
    return "\n".join(line if line.rstrip().endswith("%") else line + "%" for line in split)


def color_definitions(colors):
    """``\\definecolor`` lines for ``(name, '#RRGGBB')`` pairs, in the given order."""
    lines = []
    for name, value in colors:
        value = str(value).lstrip("#").upper()
        if not re.fullmatch(r"[0-9A-F]{6}", value):
            value = "FFFFFF"
        lines.append(f"\\definecolor{{{name}}}{{HTML}}{{{value}}}")
    return lines


def fit_width(picture, width):
    """Wrap a ``tikzpicture`` so it is at most ``width`` wide.

    The picture is typeset into ``\\graphirbox``; when it is wider than
    ``width`` (any TeX length: ``\\columnwidth``, ``8cm``, ``0.9\\linewidth``)
    it is scaled down as a whole with ``\\resizebox`` (so text shrinks with
    it), otherwise drawn at its natural size; a picture still taller than
    0.6 ``\\textheight`` (a long graph in a narrow column) is scaled down
    to that height, so it stays on one page with room for a caption.
    ``\\typeout`` reports any scaling in the log (``graphir: figure scaled
    to …``).

    Parameters
    ----------
    picture : str
    width : str or None
        None returns the picture unchanged.
    """
    if width is None:
        return picture
    width = str(width).strip()
    if not re.fullmatch(r"[0-9.]*\s*(\\[A-Za-z]+|[0-9.]+\s*(pt|bp|cm|mm|in|em|ex|pc))", width):
        from graphir.errors import InputError

        raise InputError(f"width {width!r} is not a TeX length",
                         hint=r"write e.g. \columnwidth, 0.9\linewidth, 8cm or 240pt")
    return "\n".join([
        r"\sbox{\graphirbox}{%",
        picture.rstrip("\n") + "%",
        "}%",
        f"\\ifdim\\wd\\graphirbox>{width}\\relax",
        f"  \\typeout{{graphir: figure scaled to {width}, natural width \\the\\wd\\graphirbox}}%",
        f"  \\sbox{{\\graphirbox}}{{\\resizebox{{{width}}}{{!}}{{\\usebox{{\\graphirbox}}}}}}%",
        # \resizebox's arithmetic can leave a few hundredths of a pt over the width
        f"  \\wd\\graphirbox={width}\\relax",
        r"\fi",
        r"\ifdim\ht\graphirbox>0.6\textheight",
        r"  \typeout{graphir: figure scaled to 0.6\string\textheight}%",
        r"  \sbox{\graphirbox}{\resizebox{!}{0.6\textheight}{\usebox{\graphirbox}}}%",
        r"\fi",
        r"\usebox{\graphirbox}%",
    ]) + "\n"


def wrap_document(body):
    """A compilable one-page document around a figure, page cropped to it.

    Uses only ``article``, ``amssymb`` and ``tikz`` (Debian's
    texlive-latex-base/-recommended/-pictures; the ``standalone`` class is in
    texlive-latex-extra and often missing): the figure is measured in a box
    the page set to its size plus 2pt borders, and the box shipped out as the
    only page. Compiles with pdflatex
    and lualatex.
    """
    return "\n".join([
        r"\documentclass{article}",
        r"\usepackage{amssymb}",
        r"\usepackage{tikz}",
        r"\pagestyle{empty}",
        r"\begin{document}",
        r"\newsavebox{\graphirpage}%",
        r"\sbox{\graphirpage}{%",
        body.rstrip("\n") + "%",
        r"}%",
        r"\setlength{\paperwidth}{\dimexpr\wd\graphirpage+4pt\relax}%",
        r"\setlength{\paperheight}{\dimexpr\ht\graphirpage+\dp\graphirpage+4pt\relax}%",
        r"\ifdefined\pdfpagewidth\pdfpagewidth=\paperwidth\pdfpageheight=\paperheight\fi",
        r"\ifdefined\pagewidth\pagewidth=\paperwidth\pageheight=\paperheight\fi",
        r"\hoffset=-1in\voffset=-1in",
        r"\shipout\vbox{\kern2pt\hbox{\kern2pt\usebox{\graphirpage}\kern2pt}\kern2pt}%",
        r"\end{document}",
    ]) + "\n"
