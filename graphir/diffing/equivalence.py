"""Which torch ops an ONNX (or TorchScript, ATen) op sequence stands for.

The torch-side converters write ops in torch's vocabulary
(``torch.nn.functional.conv2d`` from the trace, ``aten.conv2d.default``
from torch.export, ``aten::_convolution`` from TorchScript); the ONNX
converter writes ONNX op types (``Conv``). :func:`canonical_op` maps every
spelling onto one short name (``conv2d``), and :data:`EQUIVALENCES` says
which ONNX op sequences one torch op may become:

=====================  ===============================================  ==============
torch (canonical)      ONNX                                             kind
=====================  ===============================================  ==============
``conv2d``             ``Conv``                                         one-to-one
``linear``             ``Gemm`` | ``MatMul`` + ``Add`` | ``MatMul``     one-to-many
``layer_norm``         ``LayerNormalization`` | ``ReduceMean``, ``Sub``,
                       ``Pow``, ``ReduceMean``, ``Add``, ``Sqrt``,
                       ``Div``, ``Mul``, ``Add``                        decomposition
``batch_norm``         ``BatchNormalization`` | folded into a Conv      foldable
``dropout``            nothing (eval)                                   elidable
=====================  ===============================================  ==============

(The full table is :data:`EQUIVALENCES`; :func:`table_markdown` prints it.)

:func:`align_ops` aligns the ops of one module on both sides by dynamic
programming: a torch op consumes one of its ONNX patterns (cost 0), a
composite op (``multi_head_attention_forward``, :data:`COMPOSITE`) any run
of ops (a small cost per op, so known patterns win), *glue*
ops that exporters add or drop freely (reshapes, casts, shape arithmetic,
see :data:`GLUE`) are skipped at a small cost and reported as glue, a
foldable or elidable op may vanish, and anything else is compared by
position: an op on one side facing a different op on the other at the same
place is ``changed``, one with no counterpart is ``added``/``removed``.
Unknown ops are never matched silently: they match only an op with the same
canonical name.

Examples
--------
>>> canonical_op("torch.nn.functional.conv2d"), canonical_op("aten::_convolution")
('conv2d', 'conv2d')
>>> canonical_op("aten.relu_.default"), canonical_op("Relu")
('relu', 'relu')
>>> steps = align_ops(["conv2d", "batch_norm", "relu"], ["Conv", "Relu"])
>>> [(s.state, s.old, s.new) for s in steps]
[('same', ('conv2d',), ('Conv',)), ('folded', ('batch_norm',), ()), ('same', ('relu',), ('Relu',))]
>>> [(s.state, s.old, s.new) for s in align_ops(["relu"], ["Sigmoid"])]
[('changed', ('relu',), ('Sigmoid',))]

Unknown ops meet by position, never by name likeness:

>>> [(s.state, s.old, s.new) for s in align_ops(["my_op", "relu"], ["MyOp", "Relu"])]
[('changed', ('my_op',), ('MyOp',)), ('same', ('relu',), ('Relu',))]
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EQUIVALENCES",
    "GLUE",
    "FOLDABLE",
    "ELIDABLE",
    "COMPOSITE",
    "Step",
    "canonical_op",
    "patterns_for",
    "align_ops",
    "table_markdown",
]

# ------------------------------------------------------------------ vocabulary

#: Torch spellings (after prefixes and overloads are stripped) → canonical name.
_TORCH_ALIASES = {
    "_convolution": "conv2d", "convolution": "conv2d", "conv1d": "conv1d", "conv3d": "conv3d",
    "addmm": "linear", "mm": "matmul", "bmm": "matmul",
    "_native_batch_norm_legit_no_training": "batch_norm", "native_batch_norm": "batch_norm",
    "native_layer_norm": "layer_norm",
    "_softmax": "softmax", "scaled_dot_product_attention": "scaled_dot_product_attention",
    "iadd": "add", "__add__": "add", "__radd__": "add", "sub": "sub", "rsub": "sub",
    "__sub__": "sub", "__rsub__": "sub", "__mul__": "mul", "__rmul__": "mul",
    "__truediv__": "div", "true_divide": "div", "__matmul__": "matmul",
    "view": "reshape", "_unsafe_view": "reshape", "flatten": "flatten",
    "permute": "transpose", "t": "transpose", "__getitem__": "getitem", "slice": "getitem",
    "select": "getitem", "index": "getitem", "expand": "expand", "expand_as": "expand",
    "adaptive_avg_pool2d": "adaptive_avg_pool2d", "mean": "mean",
    "feature_dropout": "dropout", "dropout_": "dropout", "alpha_dropout": "dropout",
    "hardtanh": "hardtanh", "relu6": "relu6", "clone": "identity", "contiguous": "identity",
    "detach": "identity", "alias": "identity", "lift_fresh_copy": "identity",
    "type_as": "cast", "to": "cast", "_to_copy": "cast", "float": "cast", "long": "cast",
    "size": "shape", "sym_size": "shape", "dim": "shape", "numel": "shape",
    "unsqueeze": "unsqueeze", "squeeze": "squeeze", "split": "split",
    "split_with_sizes": "split", "chunk": "split", "cat": "concat", "stack": "concat",
    "where": "where", "masked_fill": "where", "tanh": "tanh", "pow": "pow",
}

#: ONNX op type → canonical torch name, where the mapping is one-to-one.
_ONNX_ONE_TO_ONE = {
    "Conv": "conv2d", "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Gelu": "gelu", "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "MaxPool": "max_pool2d", "AveragePool": "avg_pool2d",
    "GlobalAveragePool": "adaptive_avg_pool2d", "Add": "add", "Sub": "sub", "Mul": "mul",
    "Div": "div", "MatMul": "matmul", "Pow": "pow", "Sqrt": "sqrt", "Erf": "erf",
    "Exp": "exp", "Neg": "neg", "Concat": "concat", "Split": "split", "Where": "where",
    "Reshape": "reshape", "Flatten": "flatten", "Transpose": "transpose", "Gather": "getitem",
    "Slice": "getitem", "Expand": "expand", "Unsqueeze": "unsqueeze", "Squeeze": "squeeze",
    "Cast": "cast", "Shape": "shape", "Identity": "identity", "Dropout": "dropout",
    "LayerNormalization": "layer_norm", "BatchNormalization": "batch_norm",
    "HardSigmoid": "hardsigmoid", "LeakyRelu": "leaky_relu", "Elu": "elu",
    "ReduceMean": "mean", "ReduceSum": "sum", "Clip": "hardtanh", "Range": "arange",
    "Equal": "eq", "Not": "logical_not", "ConstantOfShape": "full", "Constant": "constant",
}

#: ONNX op types renamed on their own: a torch op that became a different
#: single ONNX op (``embedding`` is a ``Gather`` on the weight).
_ONE_TO_ONE_EXTRA = {
    "embedding": (("Gather",),),
    "adaptive_avg_pool2d": (("GlobalAveragePool",), ("ReduceMean",), ("AveragePool",)),
    "mean": (("ReduceMean",),),
    "hardtanh": (("Clip",),), "relu6": (("Clip",),),
    "getitem": (("Gather",), ("Slice",), ("Split",)),
    "arange": (("Range",),),
    "full": (("ConstantOfShape",), ("Expand",)),
}

#: canonical torch op → ONNX sequences it may become (beyond its one-to-one
#: ONNX name). Sequences are compared as multisets of consecutive ops.
_MANY = {
    "linear": (("Gemm",), ("MatMul", "Add"), ("MatMul",)),
    "matmul": (("MatMul",), ("Gemm",)),
    "layer_norm": (("LayerNormalization",),
                   ("ReduceMean", "Sub", "Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul",
                    "Add"),
                   ("ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Reciprocal",
                    "Mul", "Mul", "Add")),
    "gelu": (("Gelu",), ("Div", "Erf", "Add", "Mul", "Mul"),
             ("Mul", "Erf", "Add", "Mul", "Mul"),
             ("Mul", "Pow", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"),
             ("Pow", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul")),
    "softmax": (("Softmax",), ("Exp", "ReduceSum", "Div")),
    "flatten": (("Flatten",), ("Reshape",)),
    "scaled_dot_product_attention": (
        ("Attention",),
        ("MatMul", "Mul", "Add", "Softmax", "MatMul"),
        ("Transpose", "MatMul", "Mul", "Add", "Softmax", "MatMul"),
        ("Mul", "Transpose", "Mul", "MatMul", "Add", "Softmax", "MatMul"),
        ("Mul", "Transpose", "Mul", "MatMul", "Softmax", "MatMul"),
        ("MatMul", "Div", "Add", "Softmax", "MatMul"),
        ("MatMul", "Div", "Softmax", "MatMul")),
    "baddbmm": (("MatMul", "Add"), ("MatMul", "Mul", "Add")),
    "addmm": (("Gemm",), ("MatMul", "Add")),
    "conv_transpose2d": (("ConvTranspose",),),
    "batch_norm": (("BatchNormalization",),),
    "silu": (("Sigmoid", "Mul"),),
    "sub": (("Sub",), ("Neg", "Add")),
}

#: Ops that exporters add or drop without changing what a model computes:
#: shape arithmetic, reshapes, casts. Unmatched, they are reported as glue,
#: never as differences.
GLUE = frozenset({
    "reshape", "flatten", "transpose", "cast", "shape", "identity", "unsqueeze", "squeeze",
    "expand", "constant", "getitem", "full", "arange", "concat", "split", "contiguous",
    "Reshape", "Flatten", "Transpose", "Cast", "CastLike", "Shape", "Identity", "Unsqueeze",
    "Squeeze", "Expand", "Constant", "ConstantOfShape", "Gather", "Slice", "Concat", "Range",
    "Split", "Size", "Equal", "Not",
    # TorchScript list/number plumbing, torch.export's symbolic sizes and asserts
    "NumToTensor", "ScalarImplicit", "ListUnpack", "ListConstruct", "TupleConstruct",
    "TupleUnpack", "Int", "Float", "ImplicitTensorToNum", "sym_size", "sym_constrain_range",
    "_assert_scalar", "_assert_tensor_metadata", "sym_constrain_range_for_size",
})

#: Torch ops an exporter may fold into the op before them (BatchNorm after a
#: Conv in eval mode).
FOLDABLE = frozenset({"batch_norm"})

#: Torch ops that exporters always decompose into a sequence of any length
#: (``nn.MultiheadAttention``'s functional form): aligned with the run of
#: ops between their neighbours on the other side.
COMPOSITE = frozenset({"multi_head_attention_forward", "_native_multi_head_attention"})

#: Torch ops that vanish from an eval-mode export.
ELIDABLE = frozenset({"dropout", "identity", "contiguous", "detach", "cast", "shape"})

_PREFIXES = ("torch.nn.functional.", "torch.Tensor.", "torch._C._nn.", "torch._C.",
             "torch.ops.aten.", "torch.", "aten::", "aten.", "prim::", "_operator.",
             "operator.")
_OVERLOAD = re.compile(r"\.(default|Tensor|Scalar|int|using_ints|self|dim|input|"
                       r"Tensor_mode|Scalar_Tensor|out|vec|str|memory_format|dtype|"
                       r"dtype_layout|other|Tensor_Scalar|t|correction|names)$")


def canonical_op(op: str) -> str:
    """The canonical torch name of an op written in any vocabulary graphir uses.

    Torch prefixes (``torch.nn.functional.``, ``aten.``, ``aten::``) and
    ATen overloads (``.default``) are removed, an in-place trailing ``_``
    is dropped, ATen internals map to their functional names
    (``_convolution`` → ``conv2d``); ONNX op types with a one-to-one torch
    counterpart map to it (``Gemm`` stays ``Gemm``: it has several
    meanings). Anything unknown is returned as written.

    >>> canonical_op("torch.Tensor.add"), canonical_op("aten.add.Tensor"), canonical_op("Add")
    ('add', 'add', 'add')
    >>> canonical_op("MyCustomOp")
    'MyCustomOp'
    """
    if not op:
        return op
    if op in _ONNX_ONE_TO_ONE:
        return _ONNX_ONE_TO_ONE[op]
    name = op
    if name.startswith(("aten.", "torch.ops.aten.")):      # aten.<op>.<overload>
        name = name[len("torch.ops."):] if name.startswith("torch.ops.") else name
        name = name.split(".")[1] if name.count(".") >= 1 else name
        return _TORCH_ALIASES.get(name.rstrip("_") if not name.endswith("__") else name,
                                  name.rstrip("_") if not name.endswith("__") else name)
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    name = _OVERLOAD.sub("", name)
    if name.endswith("_") and not name.endswith("__") and len(name) > 1:
        name = name[:-1]
    return _TORCH_ALIASES.get(name, name)


def _build_table():
    table = {}
    for onnx_op, torch_op in _ONNX_ONE_TO_ONE.items():
        table.setdefault(torch_op, []).append((onnx_op,))
    for torch_op, patterns in list(_ONE_TO_ONE_EXTRA.items()) + list(_MANY.items()):
        entries = table.setdefault(torch_op, [])
        entries += [p for p in patterns if p not in entries]
    return {op: tuple(patterns) for op, patterns in sorted(table.items())}


#: canonical torch op → tuple of ONNX op sequences it may be exported as.
EQUIVALENCES = _build_table()


def patterns_for(op: str) -> tuple:
    """The ONNX op sequences a torch op (any spelling) may become.

    >>> patterns_for("torch.nn.functional.linear")
    (('Gemm',), ('MatMul', 'Add'), ('MatMul',))
    >>> patterns_for("no_such_op")
    ()
    """
    return EQUIVALENCES.get(canonical_op(op), ())


def table_markdown() -> str:
    """:data:`EQUIVALENCES` as a Markdown table (for the docs)."""
    lines = ["| torch | ONNX | kind |", "| --- | --- | --- |"]
    for op, patterns in EQUIVALENCES.items():
        kind = ("decomposition" if any(len(p) > 2 for p in patterns) else
                "one-to-many" if len(patterns) > 1 else "one-to-one")
        if op in FOLDABLE:
            kind += ", foldable"
        shown = " \\| ".join(" + ".join(p) for p in patterns)
        lines.append(f"| `{op}` | {shown} | {kind} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ alignment

@dataclass(frozen=True)
class Step:
    """One step of an op alignment.

    Attributes
    ----------
    state : str
        ``same`` (the ops are equivalent), ``changed`` (different ops at the
        same position), ``added``/``removed`` (an op on one side only),
        ``glue`` (a reshape/cast an exporter added or dropped), ``folded``
        (a BatchNorm absorbed by the op before it), ``elided`` (a no-op in
        eval mode, like dropout).
    old, new : tuple
        The ops, as written in each graph.
    old_index, new_index : tuple
        Their positions in the sequences given to :func:`align_ops`.
    """

    state: str
    old: tuple
    new: tuple
    old_index: tuple = ()
    new_index: tuple = ()


_GLUE_COST = 0.25
_MISS_COST = 1.0
_SUB_COST = 1.5
_MAX_PATTERN = max(len(p) for patterns in EQUIVALENCES.values() for p in patterns)
_MAX_COMPOSITE = 64
_COMPOSITE_COST = 0.01


def _is_onnx(op):
    return bool(op) and op[0].isupper() and "." not in op and "::" not in op


def _equivalent(a_ops, b_ops):
    """Whether ``a_ops`` (one op) stands for ``b_ops`` (one or more ops)."""
    if len(a_ops) != 1:
        return False
    a = a_ops[0]
    ca = canonical_op(a)
    if len(b_ops) == 1:
        cb = canonical_op(b_ops[0])
        if cb == ca or (a,) in EQUIVALENCES.get(cb, ()):
            return True
    key = sorted(b_ops)
    return any(sorted(p) == key for p in EQUIVALENCES.get(ca, ()))


def _glue(op):
    return op in GLUE or canonical_op(op) in GLUE


def align_ops(old_ops: Sequence[str], new_ops: Sequence[str]) -> list:
    """Align two op sequences of one module across vocabularies.

    Either side may be torch ops (any spelling) or ONNX op types; one op may
    stand for a consecutive run of up to ``len(longest pattern)`` ops on the
    other side (:data:`EQUIVALENCES`, compared as multisets).

    Parameters
    ----------
    old_ops, new_ops : sequence of str
        The ops of one module, in execution order.

    Returns
    -------
    list of Step
        In order. Swapping the two sides swaps ``added``/``removed`` and
        ``old``/``new`` of every step.
    """
    old_ops, new_ops = list(old_ops), list(new_ops)
    n, m = len(old_ops), len(new_ops)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[Any]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[n][m] = 0.0
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            best, how = inf, None

            def consider(c, step, di, dj):
                nonlocal best, how
                total = c + cost[i + di][j + dj]
                if total < best:
                    best, how = total, (step, di, dj)

            if i < n:
                op = old_ops[i]
                c = canonical_op(op)
                state = ("folded" if c in FOLDABLE else "elided" if c in ELIDABLE else
                         "glue" if _glue(op) else "removed")
                consider(_GLUE_COST if state != "removed" else _MISS_COST, state, 1, 0)
                for k in range(1, min(_MAX_PATTERN, m - j) + 1):
                    if _equivalent((op,), tuple(new_ops[j:j + k])):
                        consider(0.0, "same", 1, k)
                if c in COMPOSITE:
                    for k in range(1, min(_MAX_COMPOSITE, m - j) + 1):
                        consider(_COMPOSITE_COST * k, "same", 1, k)
                if j < m:
                    consider(_SUB_COST, "changed", 1, 1)
            if j < m:
                op = new_ops[j]
                c = canonical_op(op)
                state = ("folded" if c in FOLDABLE else "elided" if c in ELIDABLE else
                         "glue" if _glue(op) else "added")
                consider(_GLUE_COST if state != "added" else _MISS_COST, state, 0, 1)
                if i < n:
                    for k in range(2, min(_MAX_PATTERN, n - i) + 1):
                        if _equivalent((op,), tuple(old_ops[i:i + k])):
                            consider(0.0, "same", k, 1)
                if c in COMPOSITE:
                    for k in range(1, min(_MAX_COMPOSITE, n - i) + 1):
                        consider(_COMPOSITE_COST * k, "same", k, 1)
            cost[i][j], back[i][j] = best, how
    steps: list[Step] = []
    i = j = 0
    while (i, j) != (n, m):
        state, di, dj = back[i][j]
        steps.append(Step(state, tuple(old_ops[i:i + di]), tuple(new_ops[j:j + dj]),
                          tuple(range(i, i + di)), tuple(range(j, j + dj))))
        i, j = i + di, j + dj
    return steps
