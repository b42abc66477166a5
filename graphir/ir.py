"""The IR schema ("graphir/1"): attribute names, constructors and ``validate``.

The IR is a :class:`networkx.MultiDiGraph`. Everything the converters know
about a model is written as plain, JSON-safe attributes on it; everything the
passes, the renderer and the differ need is read back from those attributes.
This module is the contract between them and imports nothing else from
graphir except the error classes.

Graph attributes: ``schema``, ``source``, ``name``, ``inputs``, ``outputs``.
Node attributes: ``kind``, ``op``, ``name``, ``label``, ``module``,
``module_type``, ``scope``, ``outputs``, ``params``, ``attrs`` (plus
``children``/``repeat`` on module nodes and ``diff``/``changes`` after a
diff). Edge attributes: ``src_port``, ``dst_port``.

Examples
--------
>>> G = new_graph("onnx", "tiny")
>>> ids = IdAllocator()
>>> x = add_node(G, "input:x", kind="input", op="input", name="x",
...              outputs=[tensor("float32", [1, 3])])
>>> n = add_node(G, ids.allocate("", "Relu"), kind="op", op="Relu", name="r",
...              outputs=[tensor("float32", [1, 3])])
>>> add_edge(G, x, n)
>>> G.graph["inputs"].append(x)
>>> validate(G)
>>> n
'Relu#0'
"""

import math
import re
from typing import Any, Dict, List, Optional, TypedDict, Union

import networkx as nx

from graphir.errors import IRValidationError

__all__ = [
    "TensorInfo",
    "ParamInfo",
    "NodeAttrs",
    "EdgeAttrs",
    "GraphAttrs",
    "SCHEMA_VERSION",
    "SCHEMA_MAJOR",
    "GRAPH_SOURCES",
    "NODE_KINDS",
    "DTYPES",
    "DIFF_STATES",
    "new_graph",
    "add_node",
    "add_edge",
    "tensor",
    "param_info",
    "IdAllocator",
    "scope_from_path",
    "numel",
    "node_param_count",
    "graph_param_count",
    "op_nodes",
    "validate",
    "graphs_equal",
]

SCHEMA_VERSION = "graphir/1"
SCHEMA_MAJOR = 1

#: The converters a graph can come from (``G.graph["source"]``); not the CLI's --source values.
GRAPH_SOURCES = ("onnx", "fx", "export", "trace", "autograd", "torchscript", "state_dict")
NODE_KINDS = ("input", "output", "op", "param", "const", "module")
DIFF_STATES = ("added", "removed", "changed", "same")

#: The dtype vocabulary every converter maps its source's types onto.
DTYPES = (
    "float64", "float32", "float16", "bfloat16",
    "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz",
    "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
    "int4", "uint4", "bool", "complex64", "complex128", "string",
)

Dim = Union[int, str, None]  # a static size, a symbolic name ("batch", "s0"), or unknown


class TensorInfo(TypedDict):
    """One tensor a node produces (``outputs[k]``) or an edge carries."""

    #: dims (int, symbolic name or None), or None when the rank is unknown
    shape: Optional[List[Dim]]
    #: one of :data:`DTYPES`, or None when unknown
    dtype: Optional[str]


class ParamInfo(TypedDict, total=False):
    """One weight an op reads, under its qualified name in ``params``."""

    #: the weight's dims
    shape: Optional[List[Dim]]
    #: one of :data:`DTYPES`
    dtype: Optional[str]
    #: ``"buffer"`` for running statistics, masks and other non-parameters
    kind: str
    #: False for a frozen parameter (``requires_grad=False``)
    trainable: bool
    #: the other name of a weight stored under two names (tied embeddings)
    tied_to: str


class NodeAttrs(TypedDict, total=False):
    """The attributes of an IR node; :func:`add_node` fills every required key."""

    #: one of :data:`NODE_KINDS`
    kind: str
    #: the operator as the source names it (``Conv``, ``linear``, ``aten.add.Tensor``)
    op: str
    #: the source's own name for the node
    name: str
    #: what to draw (defaults to ``op``)
    label: str
    #: dotted path of the innermost module (``layer1.0.conv1``), ``""`` at the root
    module: str
    #: class name of that module (``Conv2d``), or None
    module_type: Optional[str]
    #: ``[[path, type], …]`` from the outermost module to the innermost
    scope: List[List[Any]]
    #: the tensors the node produces, by output port
    outputs: List[TensorInfo]
    #: qualified weight name -> its shape and dtype
    params: Dict[str, ParamInfo]
    #: JSON-safe operator attributes (kernel size, axis, …)
    attrs: Dict[str, Any]
    #: optional: activation statistics of output 0 (``--stats``)
    stats: Dict[str, float]
    #: optional (ONNX): the value names of inputs and outputs
    tensor_names: Dict[str, List[str]]
    #: optional (diffs): ``added``, ``removed``, ``changed`` or ``same``
    diff: str


class EdgeAttrs(TypedDict):
    """The attributes of an IR edge."""

    #: the producer's output index the edge carries
    src_port: int
    #: the consumer's input index it feeds
    dst_port: int


class GraphAttrs(TypedDict, total=False):
    """The graph attributes (``G.graph``) of an IR."""

    #: ``graphir/1``
    schema: str
    #: one of :data:`GRAPH_SOURCES`
    source: str
    #: the model's name
    name: str
    #: graph input node ids, in order
    inputs: List[str]
    #: graph output node ids, in order
    outputs: List[str]
    #: what the user should know about the conversion (the CLI prints them)
    warnings: List[str]
    #: what a pass did (drawn under the title)
    notes: List[str]
    #: fold records: first path -> ``{"repeat", "paths", "label", ...}``
    folded: Dict[str, Dict[str, Any]]


_NODE_DEFAULTS = {
    "label": None,
    "module": "",
    "module_type": None,
    "scope": None,
    "outputs": None,
    "params": None,
    "attrs": None,
}

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-/#]")


def new_graph(source: str, name: str) -> nx.MultiDiGraph:
    """Return an empty IR graph with its graph attributes set.

    Parameters
    ----------
    source : str
        One of :data:`GRAPH_SOURCES`.
    name : str
        Model name (file stem or class name).
    """
    G = nx.MultiDiGraph()
    G.graph.update(schema=SCHEMA_VERSION, source=source, name=str(name),
                   inputs=[], outputs=[])
    return G


def add_node(G: nx.MultiDiGraph, node_id: str, *, kind: str, op: str, name: str,
             **attrs: Any) -> str:
    """Add a node with every schema key present and return its id.

    Keys not given take their defaults (``module=""``, ``scope=[]``,
    ``outputs=[]``, ``params={}``, ``attrs={}``, ``label=op``). Extra keyword
    arguments are stored as extra attributes.
    """
    if node_id in G:
        raise ValueError(f"duplicate node id {node_id!r}")
    data: Dict[str, Any] = dict(_NODE_DEFAULTS)
    data.update(attrs)
    data.update(kind=kind, op=op, name=str(name))
    if data["label"] is None:
        data["label"] = op
    for key, empty in (("scope", list), ("outputs", list), ("params", dict), ("attrs", dict)):
        if data[key] is None:
            data[key] = empty()
    if not data["scope"] and data["module"]:
        data["scope"] = scope_from_path(data["module"], data["module_type"])
    G.add_node(node_id, **data)
    return node_id


def add_edge(G: nx.MultiDiGraph, src: str, dst: str, src_port: int = 0,
             dst_port: int = 0) -> None:
    """Add an edge carrying the producer's ``outputs[src_port]``."""
    G.add_edge(src, dst, src_port=int(src_port), dst_port=int(dst_port))


def tensor(dtype: Optional[str] = None, shape: Optional[List[Any]] = None) -> TensorInfo:
    """Describe one output tensor: ``{"shape": [...] or None, "dtype": ...}``.

    Dims may be ints, symbolic names (str) or None (unknown).
    """
    if shape is not None:
        shape = [d if d is None or isinstance(d, str) else int(d) for d in shape]
    return {"shape": shape, "dtype": dtype}


def param_info(shape: List[Any], dtype: Optional[str], **extra: Any) -> ParamInfo:
    """Describe one weight an op reads: ``{"shape": [...], "dtype": ...}``."""
    info: Dict[str, Any] = {"shape": [int(d) if not isinstance(d, str) else d for d in shape],
                            "dtype": dtype}
    info.update(extra)
    return info  # type: ignore[return-value]  # extra keys are ParamInfo's optional ones


class IdAllocator:
    """Deterministic node ids of the form ``<module path>/<op>#<k>``.

    ``k`` counts that op inside that module in the order ``allocate`` is
    called (converters call it in topological order). Root-level ops get
    ``<op>#<k>``. Ids survive edits elsewhere in the model, unlike a source's
    global counters.

    Examples
    --------
    >>> ids = IdAllocator()
    >>> ids.allocate("layer1.0.conv1", "Conv"), ids.allocate("layer1.0.conv1", "Conv")
    ('layer1.0.conv1/Conv#0', 'layer1.0.conv1/Conv#1')
    >>> ids.allocate("", "add")
    'add#0'
    """

    def __init__(self):
        self._counts = {}

    def allocate(self, module, op):
        op = _ID_UNSAFE.sub("_", str(op)) or "op"
        key = (module, op)
        k = self._counts.get(key, 0)
        self._counts[key] = k + 1
        return f"{module}/{op}#{k}" if module else f"{op}#{k}"


def scope_from_path(path: str, innermost_type: Optional[str] = None,
                    types: Optional[Dict[str, Optional[str]]] = None) -> List[List[Any]]:
    """Build the ``scope`` list ``[[path, type], ...]`` from a dotted path.

    Parameters
    ----------
    path : str
        Dotted module path, ``""`` for the root.
    innermost_type : str, optional
        Class name of the innermost module.
    types : dict, optional
        Map from path prefix to class name, for the outer modules.

    Examples
    --------
    >>> scope_from_path("h.0.attn", "Attention")
    [['h', None], ['h.0', None], ['h.0.attn', 'Attention']]
    """
    if not path:
        return []
    parts = path.split(".")
    types = types or {}
    scope = []
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        scope.append([prefix, types.get(prefix)])
    if innermost_type is not None:
        scope[-1][1] = innermost_type
    return scope


def numel(shape: Optional[List[Any]]) -> Optional[int]:
    """Number of elements of a shape with only int dims, else None."""
    if shape is None or any(not isinstance(d, int) for d in shape):
        return None
    return math.prod(shape)


def node_param_count(data: Dict[str, Any]) -> int:
    """Total elements of the weights a node reads (unknown dims count 0)."""
    total = 0
    for info in (data.get("params") or {}).values():
        total += numel(info.get("shape")) or 0
    return total


def graph_param_count(G: nx.MultiDiGraph) -> int:
    """Total elements of distinct weights in the graph, each counted once."""
    seen = {}
    for _, data in G.nodes(data=True):
        if data.get("kind") == "module" and "total_params" in data:
            seen[("module", data.get("module"))] = data["total_params"]
            continue
        for pname, info in (data.get("params") or {}).items():
            seen[pname] = numel(info.get("shape")) or 0
    return sum(seen.values())


def op_nodes(G: nx.MultiDiGraph) -> List[str]:
    """Ids of the nodes of kind ``op``, in graph order."""
    return [n for n, k in G.nodes(data="kind") if k == "op"]


def _check_tensor(node, where, info, problems):
    if not isinstance(info, dict) or "shape" not in info or "dtype" not in info:
        problems.append(f"node {node!r}: {where} must be a dict with shape and dtype")
        return
    shape = info["shape"]
    if shape is not None:
        if not isinstance(shape, list):
            problems.append(f"node {node!r}: {where} shape must be a list or null")
        else:
            for dim in shape:
                ok = dim is None or isinstance(dim, str) or (
                    isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0)
                if not ok:
                    problems.append(f"node {node!r}: {where} has bad dim {dim!r}")
                    break
    dtype = info["dtype"]
    if dtype is not None and dtype not in DTYPES:
        problems.append(f"node {node!r}: {where} has unknown dtype {dtype!r}")


def _check_node(node, data, problems):
    if not isinstance(node, str) or not node:
        problems.append(f"node id {node!r} is not a non-empty string")
    for key in ("kind", "op", "name", "label", "module", "module_type",
                "scope", "outputs", "params", "attrs"):
        if key not in data:
            problems.append(f"node {node!r}: missing key {key!r}")
    if problems:
        return
    if data["kind"] not in NODE_KINDS:
        problems.append(f"node {node!r}: unknown kind {data['kind']!r}")
    if not isinstance(data["module"], str):
        problems.append(f"node {node!r}: module must be a string")
    if not isinstance(data["scope"], list) or any(
            not (isinstance(s, list) and len(s) == 2) for s in data["scope"]):
        problems.append(f"node {node!r}: scope must be a list of [path, type] pairs")
    elif data["scope"] and data["scope"][-1][0] != data["module"]:
        problems.append(f"node {node!r}: scope does not end at module {data['module']!r}")
    for i, out in enumerate(data["outputs"] if isinstance(data["outputs"], list) else []):
        _check_tensor(node, f"outputs[{i}]", out, problems)
    if not isinstance(data["outputs"], list):
        problems.append(f"node {node!r}: outputs must be a list")
    if not isinstance(data["params"], dict):
        problems.append(f"node {node!r}: params must be a dict")
    else:
        for pname, info in data["params"].items():
            _check_tensor(node, f"params[{pname!r}]", info, problems)
    if not isinstance(data["attrs"], dict):
        problems.append(f"node {node!r}: attrs must be a dict")
    if "diff" in data and data["diff"] not in DIFF_STATES:
        problems.append(f"node {node!r}: unknown diff state {data['diff']!r}")


def validate(G: nx.MultiDiGraph, *, allow_cycles: bool = False) -> None:
    """Check that ``G`` follows the graphir/1 schema; raise if it does not.

    Checks the graph attributes, every node's required keys and their types,
    shapes (lists of non-negative ints, names or None) and dtypes (from
    :data:`DTYPES`), edge ports (ints, ``src_port`` within the producer's
    outputs when it lists any), that inputs/outputs name existing nodes, and
    that the graph is acyclic unless ``allow_cycles``.

    Raises
    ------
    IRValidationError
        Listing every problem found.
    """
    problems = []
    if not isinstance(G, nx.MultiDiGraph):
        raise IRValidationError([f"expected a networkx.MultiDiGraph, got {type(G).__name__}"])
    if G.graph.get("schema") != SCHEMA_VERSION:
        problems.append(f"graph schema is {G.graph.get('schema')!r}, expected {SCHEMA_VERSION!r}")
    if G.graph.get("source") not in GRAPH_SOURCES:
        problems.append(f"graph source {G.graph.get('source')!r} is not one of {GRAPH_SOURCES}")
    if not isinstance(G.graph.get("name"), str):
        problems.append("graph name must be a string")
    for key in ("inputs", "outputs"):
        ids = G.graph.get(key)
        if not isinstance(ids, list):
            problems.append(f"graph {key} must be a list of node ids")
            continue
        problems += [f"graph {key} names missing node {n!r}" for n in ids if n not in G]
    for node, data in G.nodes(data=True):
        _check_node(node, data, problems)
    for src, dst, data in G.edges(data=True):
        for port in ("src_port", "dst_port"):
            value = data.get(port)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                problems.append(f"edge {src!r}->{dst!r}: {port} must be an int >= 0")
        outs = G.nodes[src].get("outputs")
        if isinstance(outs, list) and outs and isinstance(data.get("src_port"), int) \
                and data["src_port"] >= len(outs):
            problems.append(f"edge {src!r}->{dst!r}: src_port {data['src_port']} "
                            f"beyond the {len(outs)} outputs of its producer")
    if not allow_cycles and not nx.is_directed_acyclic_graph(G):
        problems.append("graph has a cycle")
    if problems:
        raise IRValidationError(problems)


def graphs_equal(G1: nx.MultiDiGraph, G2: nx.MultiDiGraph) -> bool:
    """True when two IR graphs have the same attributes, nodes and edges.

    Node order and edge order count (they are part of the deterministic
    output); edge keys do not.
    """
    if G1.graph != G2.graph:
        return False
    if list(G1.nodes(data=True)) != list(G2.nodes(data=True)):
        return False
    edges1 = [(u, v, d) for u, v, d in G1.edges(data=True)]
    edges2 = [(u, v, d) for u, v, d in G2.edges(data=True)]
    return edges1 == edges2
