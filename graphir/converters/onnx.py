"""ONNX ``ModelProto`` -> graphir IR.

:func:`from_onnx` turns one ONNX model into the IR: graph inputs and outputs
become ``input:<name>`` / ``output:<name>`` nodes, every ONNX node an ``op``
node whose id is ``<module path>/<op_type>#<k>``; every edge carries the
producer's output index (``src_port``) and the consumer's input index
(``dst_port``).

What becomes what
-----------------
Shapes and dtypes
    ONNX shape inference runs first (``strict_mode=False, data_prop=True``)
    on a copy of the model without its large tensor data, so it is cheap
    and works past the 2 GB protobuf limit. Symbolic dims keep their names
    (``"batch"``); unknown dims are ``None``. When inference fails the
    shapes the file records are used and ``G.graph["warnings"]`` says so.
Weights (``params``)
    An initializer (or a folded constant) read by an op is listed in that
    op's ``params`` as ``{tensor name: {"shape", "dtype"}}`` -- a Conv shows
    W and B, a BatchNormalization its four tensors. Tensor data is never
    copied.
Small constant inputs (``attrs["const_inputs"]``)
    A constant input with at most 16 elements that is a scalar, has an
    integer, bool or string dtype, or feeds an input the op schema marks
    non-differentiable (Reshape's ``shape``, Resize's ``scales``) is not a
    weight: its value goes to ``attrs["const_inputs"][<schema input name>]``
    (``"input<k>"`` when the schema is unknown or the input is variadic; the
    tensor name for values a subgraph reads from outside).
Constants
    With ``fold_constants=True`` a ``Constant`` node, and an ``Identity``
    whose input is an initializer or a folded constant (the alias the
    PyTorch exporter writes for deduplicated weights), are folded into their
    consumers by the two rules above. With ``fold_constants=False`` they
    stay in the graph (``Constant`` as ``kind="const"``). A constant that is
    a graph output always stays.
Ops that compute constants
    Unless ``keep_constants=True``, an op whose inputs are all constants,
    recursively (``ConstantOfShape`` of a stored shape, as in the caffe2-era
    model-zoo files; ``Reshape``/``Transpose``/``Cast``/``Unsqueeze`` of a
    weight), or ``Shape``/``Size`` of a tensor with a static shape (so
    ``Shape``->``Gather``->``Unsqueeze``->``Concat`` chains fold), is folded
    by the same two rules, with its shape from shape inference (only ops
    whose output shape is fully known fold). Small results (at most 1,024
    elements, every input known) are evaluated with ONNX's reference
    evaluator so ``const_inputs`` shows values; large ones never are. A
    weight read through view-like ops keeps the weight's name. A note in
    ``G.graph["notes"]`` counts what was folded.
Module paths
    From the ``pkg.torch.onnx.name_scopes`` / ``pkg.torch.onnx.class_hierarchy``
    node metadata of ``torch.onnx.export(dynamo=True)`` (which also gives
    ``module_type`` and the class of every scope level), else from
    TorchScript-exporter node names (``/layer1/layer1.0/conv1/Conv`` ->
    ``layer1.0.conv1``), else ``""``.
Subgraphs
    ``If``/``Loop``/``Scan`` (any op with graph attributes) stay one node
    with ``attrs["subgraphs"]`` (a summary per attribute) and
    ``subgraph_ir`` (each subgraph converted to a node-link dict). Values a
    subgraph reads from the enclosing scope become extra inputs of that
    node (ports after its own inputs, listed in ``attrs["implicit_inputs"]``)
    and ``input`` nodes with ``attrs["outer_scope"] = True`` inside it.

Extra node key ``tensor_names`` lists the ONNX tensors a node produces.
Extra graph keys: ``warnings`` (list of str) and ``onnx`` (ir_version,
opsets, producer).

``onnx`` is imported lazily; this module never imports torch.

Examples
--------
>>> from graphir.loaders.onnx_file import load_onnx
>>> G = from_onnx(load_onnx("samples/resnet_tiny.onnx"), name="resnet_tiny")
>>> G.nodes["layer1.0.conv1/Conv#0"]["params"]
{'layer1.0.conv1.weight': {'shape': [8, 8, 3, 3], 'dtype': 'float32'}}
"""

import ast
import math
import re
from collections import ChainMap
from typing import NamedTuple

import networkx as nx

from graphir.errors import ConversionError, MissingDependencyError
from graphir.ir import IdAllocator, add_edge, add_node, new_graph, param_info, \
    scope_from_path, tensor
from graphir.serialize import to_dict

__all__ = ["from_onnx"]

# Constant tensors with at most this many elements may be folded into attrs.
_TINY_NUMEL = 16
# Shape inference keeps the data of tensors up to this size (data propagation).
_INFERENCE_KEEP_NUMEL = 1024

_ONNX_DTYPES = {
    "FLOAT": "float32", "DOUBLE": "float64", "FLOAT16": "float16", "BFLOAT16": "bfloat16",
    "FLOAT8E4M3FN": "float8_e4m3fn", "FLOAT8E4M3FNUZ": "float8_e4m3fnuz",
    "FLOAT8E5M2": "float8_e5m2", "FLOAT8E5M2FNUZ": "float8_e5m2fnuz",
    "INT64": "int64", "INT32": "int32", "INT16": "int16", "INT8": "int8",
    "UINT64": "uint64", "UINT32": "uint32", "UINT16": "uint16", "UINT8": "uint8",
    "INT4": "int4", "UINT4": "uint4", "BOOL": "bool",
    "COMPLEX64": "complex64", "COMPLEX128": "complex128", "STRING": "string",
}
_NON_FLOAT = {"int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8",
              "int4", "uint4", "bool", "string"}
_TORCH_SCOPES = "pkg.torch.onnx.name_scopes"
_TORCH_CLASSES = "pkg.torch.onnx.class_hierarchy"
_DEFAULT_DOMAINS = ("", "ai.onnx")
_PLAIN_STR_LIST = re.compile(r"\[(?:'[^'\\]*'(?:, '[^'\\]*')*)?\]\Z")
_NO_VALUE = object()


class _Const(NamedTuple):
    """A constant tensor: an initializer or a folded Constant/Identity."""

    shape: list
    dtype: object
    value: object  # JSON-safe value, or _NO_VALUE when not decoded


class _Context:
    """Per-conversion settings and caches shared by all (sub)graphs."""

    def __init__(self, onnx, model, fold_constants, keep_constants=False):
        import numpy

        self.onnx = onnx
        self.np = numpy
        self.fold = fold_constants
        self.keep = keep_constants
        self.folded_ops = {}  # op_type -> how many computed constants were folded
        self.opsets = {(imp.domain or "ai.onnx"): imp.version for imp in model.opset_import}
        self.dtypes = {getattr(onnx.TensorProto, key): value
                       for key, value in _ONNX_DTYPES.items()
                       if hasattr(onnx.TensorProto, key)}
        self.schemas = {}


def _import_onnx():
    try:
        import onnx
        import onnx.defs  # noqa: F401  (loads the submodules)
        import onnx.helper  # noqa: F401
        import onnx.numpy_helper  # noqa: F401
        import onnx.shape_inference  # noqa: F401
    except ImportError:
        raise MissingDependencyError("converting ONNX models needs the onnx package, "
                                     "which is not installed",
                                     hint="pip install onnx") from None
    return onnx


# --------------------------------------------------------------------------- values

def _json_float(scalar):
    """Shortest JSON-safe float of a numpy float scalar; ``inf``/``nan`` as strings.

    Examples
    --------
    >>> import numpy as np
    >>> _json_float(np.float32(1e-5)), _json_float(np.float32("-inf"))
    (1e-05, '-inf')
    """
    number = float(scalar)
    if not math.isfinite(number):
        return str(number)
    try:
        return float(str(scalar))
    except ValueError:
        return number


def _array_value(array):
    """Nested JSON-safe lists (a scalar for rank 0) from a small numpy array."""
    flat = []
    for plain, scalar in zip(array.reshape(-1).tolist(), array.reshape(-1)):
        if isinstance(plain, float):
            plain = _json_float(scalar)
        elif isinstance(plain, complex):
            plain = [_json_float(scalar.real), _json_float(scalar.imag)]
        elif isinstance(plain, bytes):
            plain = plain.decode("utf-8", "replace")
        flat.append(plain)
    return _nest(flat, list(array.shape))


def _nest(flat, dims):
    if not dims:
        return flat[0] if flat else None
    if len(dims) == 1:
        return flat
    step = len(flat) // dims[0] if dims[0] else 0
    return [_nest(flat[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0])]


def _numel(dims):
    return math.prod(dims) if all(d >= 0 for d in dims) else -1


def _tensor_value(ctx, proto):
    """Decoded value of a small TensorProto, or ``_NO_VALUE``."""
    if proto.data_location == ctx.onnx.TensorProto.EXTERNAL:
        return _NO_VALUE
    try:
        return _array_value(ctx.onnx.numpy_helper.to_array(proto))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return _NO_VALUE


def _const_from_tensor(ctx, proto):
    dims = [int(d) for d in proto.dims]
    value = _NO_VALUE
    if 0 <= _numel(dims) <= _TINY_NUMEL:
        value = _tensor_value(ctx, proto)
    return _Const(dims, ctx.dtypes.get(proto.data_type), value)


def _const_from_sparse(ctx, sparse):
    return _Const([int(d) for d in sparse.dims], ctx.dtypes.get(sparse.values.data_type),
                  _NO_VALUE)


def _const_from_node(ctx, node):
    """The tensor a ``Constant`` node produces (its one value attribute)."""
    for attr in node.attribute:
        kind = attr.name
        if kind == "value":
            return _const_from_tensor(ctx, attr.t)
        if kind == "sparse_value":
            return _const_from_sparse(ctx, attr.sparse_tensor)
        if kind in ("value_float", "value_int", "value_string"):
            dtype = {"value_float": "float32", "value_int": "int64"}.get(kind, "string")
            return _Const([], dtype, _attr_value(ctx, attr))
        if kind in ("value_floats", "value_ints", "value_strings"):
            dtype = {"value_floats": "float32", "value_ints": "int64"}.get(kind, "string")
            values = _attr_value(ctx, attr)
            small = len(values) <= _TINY_NUMEL
            return _Const([len(values)], dtype, values if small else _NO_VALUE)
    return _Const([], None, _NO_VALUE)


def _const_summary(const):
    """JSON form of a constant: its value when known, else shape and dtype."""
    if const.value is not _NO_VALUE:
        return const.value
    return {"shape": const.shape, "dtype": const.dtype}


def _tensor_summary(ctx, proto):
    const = _const_from_tensor(ctx, proto)
    summary = {"shape": const.shape, "dtype": const.dtype}
    if const.value is not _NO_VALUE:
        summary["value"] = const.value
    return summary


def _attr_value(ctx, attr):
    """JSON-safe value of a non-graph node attribute."""
    A = ctx.onnx.AttributeProto
    kind = attr.type
    if attr.ref_attr_name:
        return {"ref_attr": attr.ref_attr_name}
    if kind == A.FLOAT:
        return _json_float(ctx.np.float32(attr.f))
    if kind == A.INT:
        return int(attr.i)
    if kind == A.STRING:
        return attr.s.decode("utf-8", "replace")
    if kind == A.FLOATS:
        return [_json_float(f) for f in ctx.np.asarray(attr.floats, dtype="float32")]
    if kind == A.INTS:
        return [int(i) for i in attr.ints]
    if kind == A.STRINGS:
        return [s.decode("utf-8", "replace") for s in attr.strings]
    if kind == A.TENSOR:
        return _tensor_summary(ctx, attr.t)
    if kind == A.TENSORS:
        return [_tensor_summary(ctx, t) for t in attr.tensors]
    if kind in (A.SPARSE_TENSOR, A.SPARSE_TENSORS):
        sparse = [attr.sparse_tensor] if kind == A.SPARSE_TENSOR else attr.sparse_tensors
        found = [_const_from_sparse(ctx, s) for s in sparse]
        summaries = [{"shape": c.shape, "dtype": c.dtype, "sparse": True} for c in found]
        return summaries[0] if kind == A.SPARSE_TENSOR else summaries
    if kind == A.TYPE_PROTO:
        return ctx.onnx.helper.printable_type(attr.tp)
    if kind == A.TYPE_PROTOS:
        return [ctx.onnx.helper.printable_type(tp) for tp in attr.type_protos]
    return None


# --------------------------------------------------------------------------- types

def _dim(dim):
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return int(dim.dim_value) if dim.dim_value >= 0 else None
    if which == "dim_param":
        return dim.dim_param or None
    return None


def _type_tensor(ctx, type_proto):
    """``tensor(dtype, shape)`` from a TypeProto; non-tensor types are unknown."""
    which = type_proto.WhichOneof("value")
    if which not in ("tensor_type", "sparse_tensor_type"):
        return tensor(None, None)
    ttype = getattr(type_proto, which)
    shape = None
    if ttype.HasField("shape"):
        shape = [_dim(d) for d in ttype.shape.dim]
    return tensor(ctx.dtypes.get(ttype.elem_type), shape)


def _value_types(ctx, graph):
    """Map tensor name -> ``tensor(...)`` for everything the graph types."""
    types = {}
    for init in graph.initializer:
        dims = [int(d) for d in init.dims]
        types[init.name] = tensor(ctx.dtypes.get(init.data_type),
                                  dims if all(d >= 0 for d in dims) else None)
    for info in [*graph.value_info, *graph.input, *graph.output]:
        if info.HasField("type"):
            types[info.name] = _type_tensor(ctx, info.type)
    return types


# ---------------------------------------------------------------- shape inference

def _strip_data(proto):
    """Drop a TensorProto's payload in place; keep name, dims and dtype."""
    for field in ("raw_data", "float_data", "int32_data", "string_data", "int64_data",
                  "double_data", "uint64_data", "external_data", "data_location"):
        proto.ClearField(field)


def _is_large(ctx, proto):
    return (proto.data_location == ctx.onnx.TensorProto.EXTERNAL
            or not 0 <= _numel(list(proto.dims)) <= _INFERENCE_KEEP_NUMEL)


def _strip_nodes(ctx, nodes):
    """Strip large tensor attributes of (copied) nodes in place, subgraphs included."""
    for node in nodes:
        for attr in node.attribute:
            if attr.HasField("t") and _is_large(ctx, attr.t):
                _strip_data(attr.t)
            for sub in [attr.g] if attr.HasField("g") else attr.graphs:
                for init in sub.initializer:
                    if _is_large(ctx, init):
                        _strip_data(init)
                _strip_nodes(ctx, sub.node)


def _skeleton(ctx, model):
    """A copy of ``model`` without large tensor data, for shape inference.

    Large initializers are copied as name, dims and dtype only, so the copy
    is small whatever the model's size (and far below protobuf's 2 GB limit);
    small ones keep their values for data propagation (Reshape shapes).
    """
    source = model.graph
    skeleton = ctx.onnx.ModelProto(ir_version=model.ir_version)
    skeleton.opset_import.extend(model.opset_import)
    skeleton.functions.extend(model.functions)
    graph = skeleton.graph
    graph.name = source.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(graph, field).extend(getattr(source, field))
    for init in source.initializer:
        if _is_large(ctx, init):
            graph.initializer.add(name=init.name, data_type=init.data_type,
                                  dims=init.dims)
        else:
            graph.initializer.add().CopyFrom(init)
    _strip_nodes(ctx, graph.node)
    return skeleton


def _infer_shapes(ctx, model):
    """Shape-inferred skeleton of ``model`` and a list of warnings."""
    skeleton = _skeleton(ctx, model)
    try:
        inferred = ctx.onnx.shape_inference.infer_shapes(skeleton, strict_mode=False,
                                                         data_prop=True)
    except Exception as exc:  # inference is an enrichment: any failure falls back
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return skeleton, [f"ONNX shape inference failed ({reason}); "
                          "only the shapes recorded in the file are shown"]
    return inferred, []


# ------------------------------------------------------------------ module paths

def _str_list(text):
    """Parse the ``repr`` of a list of str (fast path for plain names)."""
    if _PLAIN_STR_LIST.match(text):
        return [] if text == "[]" else text[2:-2].split("', '")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _metadata_scope(node):
    """``(module, module_type, {path: type})`` from torch dynamo metadata, or None."""
    props = {p.key: p.value for p in node.metadata_props
             if p.key in (_TORCH_SCOPES, _TORCH_CLASSES)}
    scopes = _str_list(props.get(_TORCH_SCOPES, ""))
    if scopes is None:
        return None
    classes = _str_list(props.get(_TORCH_CLASSES, "[]"))
    if classes is None or len(classes) != len(scopes):
        classes = [None] * len(scopes)
    # Entries: the root "" first, one dotted path per module level, then the
    # fx node name last; class_hierarchy runs in parallel (op target last).
    levels = [(path, cls) for path, cls in zip(scopes[1:-1], classes[1:-1]) if path]
    if not levels:
        return "", None, {}
    types = {path: cls.rsplit(".", 1)[-1] if cls else None for path, cls in levels}
    module = levels[-1][0]
    return module, types[module], types


def _name_scope(name):
    """Module path from a TorchScript-exporter node name, e.g. ``/h.0/attn/MatMul_1``.

    Each component is a module's name from its last non-numeric atom
    (``layer1.0`` under ``layer1``, ``downsample.0`` under ``downsample``),
    so a component that starts with the previous one continues it.

    Examples
    --------
    >>> _name_scope("/layer1/layer1.0/conv1/Conv"), _name_scope("/h.0/attn/MatMul_1")
    ('layer1.0.conv1', 'h.0.attn')
    """
    if not name.startswith("/"):
        return ""
    parts = name[1:].split("/")[:-1]
    path, previous = "", ""
    for part in parts:
        if not part:
            continue
        if previous and part.startswith(previous + "."):
            path += part[len(previous):]
        else:
            path = f"{path}.{part}" if path else part
        previous = part
    return path


def _module_of(node):
    """``module``, ``module_type`` and ``scope`` for an ONNX node."""
    found = _metadata_scope(node)
    if found is not None:
        module, module_type, types = found
        return module, module_type, scope_from_path(module, module_type, types)
    module = _name_scope(node.name)
    return module, None, scope_from_path(module)


# ------------------------------------------------------------------ conversion

class _Scope:
    """Name resolution and bookkeeping for one (sub)graph.

    A tensor name resolves, in this order, to the node output that produces
    it (``sources``), a folded constant (``folded``: a Constant node, or the
    name an Identity aliases), an initializer (``inits``), or -- in a
    subgraph -- a value captured from the enclosing scope.
    """

    def __init__(self, ctx, graph, outer_types):
        self.graph = graph
        local = _value_types(ctx, graph)
        self.types = outer_types.new_child(local) if outer_types is not None \
            else ChainMap(local)
        self.is_subgraph = outer_types is not None
        self.inits = {t.name: t for t in graph.initializer}
        self.inits.update((s.values.name, s) for s in graph.sparse_initializer)
        self.folded = {}
        self.sources = {}
        self.consts = {}
        self.arrays = {}  # computed constant name -> small numpy value (or None)
        self.captured = {}  # outer name -> input node id, in first-use order
        self.used_ids = set()
        self.warnings = []

    def type_of(self, name):
        found = self.types.get(name) if name else None
        if found is None:
            return tensor(None, None)
        return tensor(found["dtype"], found["shape"])

    def is_constant(self, name):
        return name not in self.sources and (name in self.folded or name in self.inits)

    def const(self, ctx, name):
        """The :class:`_Const` a constant name stands for (memoised)."""
        if name not in self.consts:
            target = name
            while isinstance(self.folded.get(target), str):  # Identity aliases
                target = self.folded[target]
            entry = self.folded.get(target)
            if isinstance(entry, _Computed):
                self.consts[name] = _const_computed(ctx, self, target)
            elif entry is not None:
                self.consts[name] = _const_from_node(ctx, entry)
            elif isinstance(self.inits[target], ctx.onnx.TensorProto):
                self.consts[name] = _const_from_tensor(ctx, self.inits[target])
            else:
                self.consts[name] = _const_from_sparse(ctx, self.inits[target])
        return self.consts[name]

    def claim(self, node_id):
        """Reserve a node id, suffixing ``~k`` in the unlikely case of a clash."""
        unique, k = node_id, 1
        while unique in self.used_ids:
            unique, k = f"{node_id}~{k}", k + 1
        self.used_ids.add(unique)
        return unique


def _op_name(node):
    if node.domain in _DEFAULT_DOMAINS:
        return node.op_type
    return f"{node.domain}::{node.op_type}"


def _schema_inputs(ctx, node):
    """``[(name, variadic, non_differentiable), ...]`` of the op's schema, or None."""
    domain = "" if node.domain in _DEFAULT_DOMAINS else node.domain
    key = (domain, node.op_type)
    if key not in ctx.schemas:
        defs = ctx.onnx.defs
        version = ctx.opsets.get(domain or "ai.onnx")
        try:
            schema = defs.get_schema(node.op_type, version, domain) if version \
                else defs.get_schema(node.op_type, domain)
        except defs.SchemaError:
            schema = None
        variadic = defs.OpSchema.FormalParameterOption.Variadic
        non_diff = defs.OpSchema.DifferentiationCategory.NonDifferentiable
        ctx.schemas[key] = None if schema is None else [
            (p.name, p.option == variadic, p.differentiation_category == non_diff)
            for p in schema.inputs]
    return ctx.schemas[key]


def _formal_input(ctx, node, port):
    """``(key, non_differentiable)`` describing input ``port`` of ``node``."""
    formal = _schema_inputs(ctx, node) or []
    if port < len(formal) and not formal[port][1]:
        return formal[port][0], formal[port][2]
    if formal and formal[-1][1] and port >= len(formal) - 1:
        return f"input{port}", formal[-1][2]
    return f"input{port}", False


def _is_tiny(const, non_differentiable):
    numel = _numel(const.shape)
    return 0 <= numel <= _TINY_NUMEL and (
        not const.shape or const.dtype in _NON_FLOAT or non_differentiable)


def _fold_node(ctx, scope, node, graph_outputs):
    """Record ``node`` as a folded constant when it is one; return whether it was."""
    if not ctx.fold or node.domain not in _DEFAULT_DOMAINS or len(node.output) != 1:
        return False
    out = node.output[0]
    if not out or out in graph_outputs or out in scope.sources or out in scope.folded:
        return False
    if node.op_type == "Constant":
        scope.folded[out] = node
    elif node.op_type == "Identity" and len(node.input) == 1 \
            and scope.is_constant(node.input[0]):
        scope.folded[out] = node.input[0]
    elif not ctx.keep and _computes_constant(scope, node):
        scope.folded[out] = _Computed(node)
        ctx.folded_ops[node.op_type] = ctx.folded_ops.get(node.op_type, 0) + 1
    else:
        return False
    return True


# ------------------------------------------------------- constant subgraphs

class _Computed(NamedTuple):
    """A tensor an op computes from constants only (folded for display)."""

    node: object  # onnx.NodeProto


# Ops whose output is not a function of their inputs, or that have side effects.
_NOT_PURE = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
    "Multinomial", "Bernoulli", "Dropout", "If", "Loop", "Scan", "SequenceConstruct",
    "SequenceEmpty", "Optional",
})


def _static_shape(shape):
    return shape is not None and all(isinstance(d, int) for d in shape)


def _computes_constant(scope, node):
    """True when ``node`` computes a constant of statically known shape.

    Its non-empty inputs are all constants (initializers, folded Constants,
    or outputs of ops folded before it), or it is ``Shape``/``Size`` of a
    tensor whose shape is static. The output shape must be known (from
    shape inference), so the folded weight always shows its shape.
    """
    if node.op_type in _NOT_PURE or any(a.HasField("g") or a.graphs for a in node.attribute):
        return False
    if not _static_shape(scope.type_of(node.output[0])["shape"]):
        return False
    inputs = [name for name in node.input if name]
    if not inputs:
        return False
    if node.op_type in ("Shape", "Size") and len(inputs) == 1:
        return scope.is_constant(inputs[0]) or _static_shape(scope.type_of(inputs[0])["shape"])
    return all(scope.is_constant(name) for name in inputs)


# Ops that only re-lay-out or re-type their first input: a weight read
# through them keeps the weight's own name.
_VIEW_OPS = frozenset({"Unsqueeze", "Squeeze", "Reshape", "Transpose", "Cast", "Flatten",
                       "Identity", "Expand", "CastLike"})


def _weight_name(scope, name):
    """Name to show for a constant: through view-like ops, the weight they read.

    Examples: ``Unsqueeze(conv1/bn_w_0)`` is shown as ``conv1/bn_w_0`` (with
    the unsqueezed shape), not as the anonymous tensor it produces.
    """
    seen = set()
    while name not in seen:
        seen.add(name)
        entry = scope.folded.get(name)
        if isinstance(entry, _Computed) and entry.node.op_type in _VIEW_OPS \
                and entry.node.input and entry.node.input[0]:
            name = entry.node.input[0]
        else:
            break
    return name


def _small_array(ctx, scope, name):
    """Numpy value of a small constant (at most 1024 elements), or None."""
    target = name
    while isinstance(scope.folded.get(target), str):
        target = scope.folded[target]
    entry = scope.folded.get(target)
    if isinstance(entry, _Computed):
        scope.const(ctx, target)  # computes and caches scope.arrays[target]
        return scope.arrays.get(target)
    proto = None
    if entry is not None:
        proto = next((a.t for a in entry.attribute if a.name == "value"), None)
    elif isinstance(scope.inits.get(target), ctx.onnx.TensorProto):
        proto = scope.inits[target]
    if proto is None or _is_large(ctx, proto):
        return None
    try:
        return ctx.onnx.numpy_helper.to_array(proto)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return None


def _evaluate(ctx, scope, node, numel):
    """Value of a small computed constant (reference evaluator), or None.

    Only evaluated when the output has at most 1024 elements and every input
    is small and known, so large tensors are never materialised.
    """
    if numel > _INFERENCE_KEEP_NUMEL:
        return None
    if node.op_type == "Shape" and not scope.is_constant(node.input[0]):
        dims = scope.type_of(node.input[0])["shape"]
        attrs = {a.name: a.i for a in node.attribute}
        return ctx.np.asarray(dims[attrs.get("start", 0):attrs.get("end", len(dims))],
                              dtype="int64")
    if node.op_type == "Size" and not scope.is_constant(node.input[0]):
        return ctx.np.asarray(math.prod(scope.type_of(node.input[0])["shape"]), dtype="int64")
    feeds = {}
    for name in node.input:
        if name:
            value = _small_array(ctx, scope, name)
            if value is None:
                return None
            feeds[name] = value
    try:
        from onnx.reference import ReferenceEvaluator

        helper = ctx.onnx.helper
        graph = helper.make_graph(
            [node], "fold",
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for n, v in feeds.items()],
            [helper.make_tensor_value_info(node.output[0], 0, None)])
        model = helper.make_model(graph, opset_imports=[
            helper.make_opsetid("", ctx.opsets.get("ai.onnx", 13))])
        value = ReferenceEvaluator(model).run(None, feeds)[0]
    except Exception:  # a display nicety: any failure leaves the value unknown
        return None
    return ctx.np.asarray(value)


def _const_computed(ctx, scope, name):
    """The :class:`_Const` for a computed constant: inferred shape, small value."""
    node = scope.folded[name].node
    found = scope.type_of(name)
    shape = list(found["shape"])
    array = _evaluate(ctx, scope, node, math.prod(shape))
    if array is not None and list(array.shape) != shape:
        array = None
    scope.arrays[name] = array
    value = _NO_VALUE
    if array is not None and math.prod(shape) <= _TINY_NUMEL:
        value = _array_value(array)
    return _Const(shape, found["dtype"], value)


def _subgraph_summary(graph):
    ops = {}
    for node in graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    return {"nodes": len(graph.node), "ops": ops,
            "inputs": [v.name for v in graph.input],
            "outputs": [v.name for v in graph.output]}


def _node_attrs(ctx, scope, node, node_id):
    """Decoded attributes, converted subgraphs and the names they capture."""
    attrs, summaries, irs, implicit = {}, {}, {}, {}
    for attr in node.attribute:
        graphs = [(attr.name, attr.g)] if attr.HasField("g") else \
            [(f"{attr.name}[{i}]", g) for i, g in enumerate(attr.graphs)]
        if not graphs:
            attrs[attr.name] = _attr_value(ctx, attr)
            continue
        for key, graph in graphs:
            sub, captured = _convert_graph(ctx, graph, f"{node_id}/{key}", scope.types)
            summaries[key] = _subgraph_summary(graph)
            irs[key] = to_dict(sub)
            implicit.update(dict.fromkeys(captured))
    if summaries:
        attrs["subgraphs"] = summaries
    if implicit:
        attrs["implicit_inputs"] = list(implicit)
    return attrs, irs, list(implicit)


def _build_nodes(ctx, scope, ids):
    """Pass 1: one record per ONNX node that is not folded, in file order.

    Returns ``[(node_id, data, node_proto, input_names)]`` where
    ``input_names`` are the node's inputs followed by the names its
    subgraphs read from this scope.
    """
    records = []
    graph_outputs = {v.name for v in scope.graph.output}
    for node in scope.graph.node:
        if _fold_node(ctx, scope, node, graph_outputs):
            continue
        module, module_type, scope_list = _module_of(node)
        is_const = node.op_type == "Constant" and node.domain in _DEFAULT_DOMAINS
        node_id = scope.claim(ids.allocate(module, node.op_type))
        attrs, irs, implicit = _node_attrs(ctx, scope, node, node_id)
        data = dict(kind="const" if is_const else "op", op=_op_name(node),
                    name=node.name, label=node.op_type, module=module,
                    module_type=module_type, scope=scope_list,
                    outputs=[scope.type_of(n) for n in node.output],
                    params={}, attrs=attrs, tensor_names=list(node.output))
        if irs:
            data["subgraph_ir"] = irs
        for port, out in enumerate(node.output):
            if out and out not in scope.sources:
                scope.sources[out] = (node_id, port)
        records.append((node_id, data, node, list(node.input) + implicit))
    return records


def _is_running_stat(node, formal_name):
    """BatchNormalization's mean/var inputs are buffers (running statistics),
    not trained parameters, as in torch; summaries count them apart."""
    return node.op_type == "BatchNormalization" and formal_name in ("input_mean", "input_var",
                                                                    "mean", "var")


def _read_const(ctx, node, port, name, const, data, computed=False):
    """Record constant input ``name`` of a node as a weight or a small value.

    A small value computed from other constants (``Sqrt`` of a head size) is
    never a weight of the model, so it is a value even when it is a float
    the op differentiates through.
    """
    implicit = port >= len(node.input)
    key, non_diff = (name, False) if implicit else _formal_input(ctx, node, port)
    small = computed and 0 <= _numel(const.shape) <= _TINY_NUMEL
    if not (small or _is_tiny(const, non_diff)):
        if any(d < 0 for d in const.shape):
            raise ConversionError(f"tensor {name!r} has a negative dimension "
                                  f"{const.shape}", hint="the model file is corrupt; "
                                  "re-export it")
        extra = {"kind": "buffer"} if _is_running_stat(node, key) else {}
        data["params"][name] = param_info(const.shape, const.dtype, **extra)
        return
    inputs = data["attrs"].setdefault("const_inputs", {})
    if key in inputs:
        key = f"input{port}"
    inputs[key] = _const_summary(const)


def _capture(scope, name, consumer):
    """A name this scope does not define: an outer value, or a dangling read."""
    if scope.is_subgraph:
        if name not in scope.captured:
            scope.captured[name] = scope.claim(f"input:{name}")
        return (scope.captured[name], 0)
    scope.warnings.append(f"{consumer} reads tensor {name!r}, which nothing in the "
                          "graph produces; the edge is missing")
    return None


def _wire_nodes(ctx, scope, records):
    """Pass 2: edges, params and constant values for every recorded node."""
    edges = []
    for node_id, data, node, names in records:
        for port, name in enumerate(names):
            if not name:
                continue
            if name in scope.sources:
                edges.append((*scope.sources[name], node_id, port))
            elif name in scope.folded or name in scope.inits:
                weight = _weight_name(scope, name)
                computed = isinstance(scope.folded.get(name), _Computed) and weight == name
                _read_const(ctx, node, port, weight, scope.const(ctx, name), data,
                            computed=computed)
            else:
                source = _capture(scope, name, f"node {node_id!r}")
                if source is not None:
                    edges.append((*source, node_id, port))
    return edges


def _register_inputs(scope):
    """Claim the formal graph inputs (initializers are weights); return their names."""
    names = []
    for info in scope.graph.input:
        if info.name in scope.inits:
            continue
        if f"input:{info.name}" in scope.used_ids:
            scope.warnings.append(f"graph input {info.name!r} is listed twice")
            continue
        names.append(info.name)
        scope.claim(f"input:{info.name}")
        scope.sources.setdefault(info.name, (f"input:{info.name}", 0))
    return names


def _input_records(scope, names):
    """Input nodes: the formal inputs, then the values captured from outside."""
    records = [(f"input:{name}", name, {}) for name in names]
    records += [(node_id, name, {"outer_scope": True})
                for name, node_id in scope.captured.items()]
    return [(node_id, dict(kind="input", op="input", name=name, label=name,
                           outputs=[scope.type_of(name)], attrs=attrs))
            for node_id, name, attrs in records]


def _output_records(ctx, scope, ids, edges):
    """Output nodes, plus a const node for an output that is an initializer."""
    records = []
    for info in scope.graph.output:
        node_id = f"output:{info.name}"
        if node_id in scope.used_ids:
            scope.warnings.append(f"graph output {info.name!r} is listed twice")
            continue
        scope.claim(node_id)
        source = scope.sources.get(info.name)
        if source is None and scope.is_constant(info.name):
            const_id = scope.claim(ids.allocate("", "initializer"))
            const = scope.const(ctx, info.name)
            records.append((const_id, dict(
                kind="const", op="initializer", name=info.name, label=info.name,
                outputs=[tensor(const.dtype, const.shape)],
                attrs={"value": _const_summary(const)}, tensor_names=[info.name])))
            source = (const_id, 0)
        elif source is None:
            source = _capture(scope, info.name, f"graph output {info.name!r}")
        if source is not None:
            edges.append((*source, node_id, 0))
        records.append((node_id, dict(kind="output", op="output", name=info.name,
                                      label=info.name, outputs=[scope.type_of(info.name)])))
    return records


def _convert_graph(ctx, graph, name, outer_types):
    """Convert one GraphProto; return the IR and the outer names it reads.

    Parameters
    ----------
    ctx : _Context
    graph : onnx.GraphProto
    name : str
        Graph name (the model name, or ``<node id>/<attribute>`` for a subgraph).
    outer_types : collections.ChainMap or None
        Tensor types of the enclosing scopes; None for the main graph.
    """
    scope = _Scope(ctx, graph, outer_types)
    ids = IdAllocator()
    input_names = _register_inputs(scope)
    records = _build_nodes(ctx, scope, ids)
    edges = _wire_nodes(ctx, scope, records)
    outputs = _output_records(ctx, scope, ids, edges)
    inputs = _input_records(scope, input_names)
    G = new_graph("onnx", name)
    for node_id, data in inputs:
        add_node(G, node_id, **data)
        G.graph["inputs"].append(node_id)
    for node_id, data, *_ in records:
        add_node(G, node_id, **data)
    for node_id, data in outputs:
        add_node(G, node_id, **data)
        if data["kind"] == "output":
            G.graph["outputs"].append(node_id)
    for src, src_port, dst, dst_port in edges:
        add_edge(G, src, dst, src_port, dst_port)
    G.graph["warnings"] = scope.warnings
    if not nx.is_directed_acyclic_graph(G):
        raise ConversionError(f"the ONNX graph {name!r} has a cycle (a node reads a "
                              "tensor produced after it)",
                              hint="the model file is corrupt; re-export it")
    return G, list(scope.captured)


def from_onnx(model, *, name, fold_constants=True, keep_constants=False):
    """Convert an ONNX model to the graphir IR.

    Parameters
    ----------
    model : onnx.ModelProto
        A loaded model (see :func:`graphir.loaders.onnx_file.load_onnx`); its
        external data need not be loaded.
    name : str
        Model name for ``G.graph["name"]`` (usually the file stem).
    fold_constants : bool, default True
        Fold ``Constant`` nodes (and Identity aliases of constants) into
        their consumers; when False they stay as nodes.
    keep_constants : bool, default False
        Draw the ops that compute constants (``ConstantOfShape`` of a stored
        shape, ``Shape``->``Gather``->``Concat`` chains on static shapes,
        ``Reshape``/``Transpose``/``Cast``/``Unsqueeze`` of a weight...) as
        ops. By default an op whose inputs are all constants, recursively,
        and whose output shape is known is folded like an initializer into
        its consumers' ``params`` (or ``attrs["const_inputs"]`` when small;
        small values are evaluated, large tensors never are) and
        ``G.graph["notes"]`` says how many were folded. Ignored when
        ``fold_constants`` is False.

    Returns
    -------
    networkx.MultiDiGraph
        The IR, ``G.graph["source"] == "onnx"``; passes
        :func:`graphir.ir.validate`.

    Raises
    ------
    ConversionError
        The graph is not a valid dataflow graph (a cycle, negative dims).
    MissingDependencyError
        The ``onnx`` package is not installed.

    Examples
    --------
    >>> import onnx
    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")],
    ...                           "g", [x], [y])
    >>> G = from_onnx(helper.make_model(graph), name="tiny")
    >>> list(G.nodes), G.nodes["Relu#0"]["outputs"]
    (['input:x', 'Relu#0', 'output:y'], [{'shape': ['batch', 4], 'dtype': 'float32'}])
    """
    onnx = _import_onnx()
    if not isinstance(model, onnx.ModelProto):
        raise TypeError(f"from_onnx expects an onnx.ModelProto, got {type(model).__name__}")
    ctx = _Context(onnx, model, fold_constants, keep_constants)
    inferred, warnings = _infer_shapes(ctx, model)
    G, _ = _convert_graph(ctx, inferred.graph, str(name), None)
    G.graph["warnings"] = warnings + G.graph["warnings"]
    if ctx.folded_ops:
        total = sum(ctx.folded_ops.values())
        kinds = ", ".join(f"{op} \u00d7{n}" for op, n in sorted(ctx.folded_ops.items()))
        G.graph["notes"] = [f"{total} ops computing constants ({kinds}) are shown as the "
                            "weights they produce; --keep-constants draws them"]
    G.graph["onnx"] = {
        "ir_version": int(model.ir_version),
        "opsets": dict(sorted(ctx.opsets.items())),
        "producer": " ".join(p for p in (model.producer_name, model.producer_version) if p),
    }
    return G
