"""Text helpers shared by every layer.

Examples
--------
>>> brief(ValueError("bad shape\\nmore detail"))
'ValueError: bad shape'
>>> short_name("h.0.attn"), short_name("layer1.0"), short_name("")
('attn', 'layer1.0', '')
"""

__all__ = ["BRIEF_LIMIT", "brief", "short_name"]

#: The longest one-line description of an exception, in characters.
BRIEF_LIMIT = 300


def brief(exc: BaseException, limit: int = BRIEF_LIMIT) -> str:
    """``TypeName: first non-blank line of the message``, at most ``limit`` characters.

    The one rule for quoting an exception inside graphir's one-line errors.

    Examples
    --------
    >>> brief(RuntimeError(""))
    'RuntimeError'
    >>> len(brief(KeyError("x" * 1000), limit=40))
    40
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_name(path: str) -> str:
    """Last part of a dotted module path, with its parent when it is an index (``h.0``).

    Examples
    --------
    >>> short_name("encoder.layers.11")
    'layers.11'
    """
    parts = str(path).split(".")
    if len(parts) > 1 and parts[-1].isdigit():
        return ".".join(parts[-2:])
    return parts[-1]
