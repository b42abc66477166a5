"""Shared helpers with one home: every layer may import these, and they import only the core.

- :mod:`graphir.util.text` — one-line error text (:func:`brief`), short module names.
- :mod:`graphir.util.optional` — optional dependencies imported lazily, with the
  install hint (:func:`import_torch`, :func:`import_matplotlib`, :func:`import_optional`).
- :mod:`graphir.util.graphs` — fast adjacency reads of an IR graph (the only place
  that touches networkx internals).
- :mod:`graphir.util.hierarchy` — the module hierarchy of an IR graph.
"""
