"""IR <-> JSON (node-link form) and GraphML export.

The JSON form is deterministic: keys sorted, nodes and edges in graph order,
no floats formatted by locale, a trailing newline. Writing a graph, reading
it back and writing again gives identical bytes.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("onnx", "m")
>>> _ = ir.add_node(G, "input:x", kind="input", op="input", name="x")
>>> G.graph["inputs"].append("input:x")
>>> ir.graphs_equal(from_json(to_json(G)), G)
True
"""

import json

import networkx as nx

from graphir import ir
from graphir.errors import SchemaError

__all__ = ["to_json", "from_json", "to_dict", "from_dict"]


def to_dict(G):
    """The graph as a JSON-safe node-link dict."""
    nodes = [dict(data, id=node) for node, data in G.nodes(data=True)]
    edges = [dict(data, source=u, target=v) for u, v, data in G.edges(data=True)]
    return {
        "schema": G.graph.get("schema", ir.SCHEMA_VERSION),
        "directed": True,
        "multigraph": True,
        "graph": dict(G.graph),
        "nodes": nodes,
        "edges": edges,
    }


def to_json(G):
    """Serialize ``G`` to node-link JSON text (deterministic)."""
    return json.dumps(to_dict(G), sort_keys=True, indent=1, ensure_ascii=False,
                      allow_nan=False) + "\n"


def _check_schema(data, path):
    if not isinstance(data, dict) or "nodes" not in data or "edges" not in data:
        raise SchemaError("not a graphir IR JSON file (no nodes/edges)", path=path,
                          hint="pass a file written by `graphir convert`")
    schema = data.get("schema") or (data.get("graph") or {}).get("schema")
    if not isinstance(schema, str) or not schema.startswith("graphir/"):
        raise SchemaError(f"not a graphir IR file (schema {schema!r})", path=path,
                          hint="pass a file written by `graphir convert`")
    major = schema.split("/", 1)[1].split(".", 1)[0]
    if major != str(ir.SCHEMA_MAJOR):
        raise SchemaError(f"IR schema {schema!r} is not supported by this graphir "
                          f"(reads {ir.SCHEMA_VERSION!r})", path=path,
                          hint="convert the model again with this version of graphir")


def from_dict(data, *, path=None):
    """Rebuild an IR graph from :func:`to_dict` output; check the schema."""
    _check_schema(data, path)
    G = nx.MultiDiGraph()
    G.graph.update(data.get("graph") or {})
    G.graph["schema"] = ir.SCHEMA_VERSION
    try:
        for node in data["nodes"]:
            attrs = dict(node)
            G.add_node(attrs.pop("id"), **attrs)
        for edge in data["edges"]:
            attrs = dict(edge)
            G.add_edge(attrs.pop("source"), attrs.pop("target"), **attrs)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SchemaError(f"malformed IR JSON ({type(exc).__name__}: {exc})", path=path,
                          hint="regenerate it with `graphir convert`") from None
    return G


def from_json(text, *, path=None):
    """Parse node-link JSON text into an IR graph.

    Raises
    ------
    SchemaError
        When the text is not JSON, not an IR, or of another schema major version.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SchemaError(f"not valid JSON ({exc})", path=path,
                          hint="pass an IR file written by `graphir convert`") from None
    return from_dict(data, path=path)
