"""DOT and Graphviz HTML-label text: quoting, escaping, fonts, attribute lists.

Small pure helpers shared by :mod:`graphir.renderers.dot`,
:mod:`graphir.renderers.legend` and :mod:`graphir.renderers.tree`. Everything
that ends up between ``<`` and ``>`` of an HTML-like label is wrapped in
:class:`Html` so :func:`attr_list` writes it unquoted.

Examples
--------
>>> attr_list([("label", Html(font("a&amp;b", bold=True))), ("shape", "box"),
...            ("tooltip", 'say "hi"'), ("color", None)])
' [label=<<B>a&amp;b</B>>, shape=box, tooltip="say \\\\"hi\\\\""]'
>>> escape_html('<x> & "y"')
'&lt;x&gt; &amp; &quot;y&quot;'
"""

import re

__all__ = [
    "Html",
    "escape_html",
    "quote",
    "dot_value",
    "attr_list",
    "truncate",
    "font",
    "join_lines",
    "SPACER",
]

_BARE_ID = re.compile(r"-?(\.[0-9]+|[0-9]+(\.[0-9]*)?)|[A-Za-z_][A-Za-z0-9_]*")
_DOT_KEYWORDS = frozenset({"node", "edge", "graph", "digraph", "subgraph", "strict"})

#: A 3-point blank line put under a node's title. Without it the descender
#: of a bold title (the ``_`` of ``layer_norm``) is drawn into the first
#: detail line by cairo, whose line spacing Graphviz computes too tight.
SPACER = '<FONT POINT-SIZE="3"> </FONT>'


class Html(str):
    """Text already in Graphviz's HTML-like label syntax (written as ``<…>``)."""


def escape_html(text):
    """Escape text for an HTML-like label; control characters become spaces.

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str
    """
    text = str(text)
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        text = text.replace(raw, entity)
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text)


def quote(text):
    """Write text as a DOT double-quoted string (also a valid escString).

    Examples
    --------
    >>> print(quote('a "b"\\nc'))
    "a \\"b\\"\\nc"
    """
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return '"' + re.sub(r"[\x00-\x1f\x7f]", " ", text) + '"'


def dot_value(value):
    """Write one attribute value: HTML label, bare id or number, or quoted.

    Floats are written with ``%g`` so ``0.25`` stays ``0.25`` and never
    depends on the platform's repr.
    """
    if isinstance(value, Html):
        return f"<{value}>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        value = f"{value:g}"
    text = str(value)
    if _BARE_ID.fullmatch(text) and text.lower() not in _DOT_KEYWORDS:
        return text
    return quote(text)


def attr_list(pairs):
    """Write `` [key=value, …]`` from (key, value) pairs, skipping None values."""
    body = ", ".join(f"{key}={dot_value(value)}" for key, value in pairs if value is not None)
    return f" [{body}]" if body else ""


def truncate(text, limit):
    """``text`` cut to ``limit`` characters, ending in ``…`` when cut.

    >>> truncate("abcdef", 4), truncate("abc", 4)
    ('abc…', 'abc')
    """
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def font(text, *, size=None, color=None, bold=False, italic=False):
    """Wrap already-escaped text in ``<FONT>``/``<B>``/``<I>`` tags.

    Graphviz 2.43 reads ``POINT-SIZE`` as an integer, so sizes are rounded
    down. Empty text gives ``""``: Graphviz refuses an empty ``<FONT>``.

    >>> font("x", size=8.5, color="#555555", bold=True)
    '<FONT POINT-SIZE="8" COLOR="#555555"><B>x</B></FONT>'
    >>> font("", bold=True)
    ''
    """
    if not text:
        return ""
    if bold:
        text = f"<B>{text}</B>"
    if italic:
        text = f"<I>{text}</I>"
    attrs = ""
    if size is not None:
        attrs += f' POINT-SIZE="{int(size)}"'
    if color is not None:
        attrs += f' COLOR="{color}"'
    return f"<FONT{attrs}>{text}</FONT>" if attrs else text


def join_lines(title, details, *, align=None):
    """A label's lines: the title, a :data:`SPACER` when details follow, the details.

    Parameters
    ----------
    title : str
        Escaped, already-fonted title line.
    details : list of str
        Escaped, already-fonted detail lines.
    align : {"LEFT", "RIGHT"}, optional
        Align every line (``<BR ALIGN=…/>`` ends each line) instead of centring.

    Returns
    -------
    Html

    Examples
    --------
    >>> join_lines("<B>a</B>", [])
    '<B>a</B>'
    >>> join_lines("<B>a</B>", ["b"], align="LEFT")
    '<B>a</B><BR ALIGN="LEFT"/><FONT POINT-SIZE="3"> </FONT><BR ALIGN="LEFT"/>b<BR ALIGN="LEFT"/>'
    """
    lines = [title] + ([SPACER] + list(details) if details else [])
    if align is None:
        return Html("<BR/>".join(lines))
    br = f'<BR ALIGN="{align}"/>'
    return Html(br.join(lines) + br)


