"""Short display text for shapes, dtypes, weight names, counts and op kinds.

Pure functions shared by the DOT renderer, the summary table and the
command line. They take plain IR values (lists, strings, ints) and never
raise on odd input: whatever a converter wrote, they return something
readable.

Examples
--------
>>> format_shape(["batch", 3, 224, 224])
'batch×3×224×224'
>>> format_count(25_557_032)
'25.6M'
>>> op_category("aten.convolution.default")
'conv'
"""

import functools
import re

__all__ = [
    "OP_CATEGORIES",
    "format_shape",
    "format_dtype",
    "short_param_name",
    "format_count",
    "normalize_op",
    "op_category",
]

#: Every value :func:`op_category` returns, in legend order.
OP_CATEGORIES = (
    "conv", "linear", "norm", "activation", "pool",
    "elementwise", "shape", "attention", "other",
)

_DTYPE_SHORT = {
    "float64": "f64", "float32": "f32", "float16": "f16", "bfloat16": "bf16",
    "int64": "i64", "int32": "i32", "int16": "i16", "int8": "i8", "int4": "i4",
    "uint64": "u64", "uint32": "u32", "uint16": "u16", "uint8": "u8",
    "uint4": "u4", "complex64": "c64", "complex128": "c128",
}

_COUNT_UNITS = ((1, ""), (10**3, "K"), (10**6, "M"), (10**9, "B"), (10**12, "T"))

# Checked in this order on the normalised op name (lower case, no "_");
# the first pattern that matches names the category.
_CATEGORY_PATTERNS = (
    ("attention", re.compile(r"attention|attn|softmax|sdpa")),
    ("conv", re.compile(r"conv(?!ert)|deconv|correlation")),
    ("norm", re.compile(r"norm|^lrn$|^l2normalize")),
    ("linear", re.compile(
        r"matmul|(?<!quantize)linear|gemm|einsum|embedding|dense|^(add|b|baddb|addb)?mm$"
        r"|^(add)?mv$|^dot$|tensordot|^addmmactivation$|^bilinear$")),
    ("activation", re.compile(
        r"relu|gelu|silu|swish|sigmoid|tanh|^c?elu$|^selu$|mish|softplus"
        r"|softsign|threshold|^glu$|activation|logsigmoid|^erf$")),
    ("pool", re.compile(
        r"pool|^reduce|^(mean|sum|amax|amin|argmax|argmin|var|std|prod"
        r"|logsumexp|cumsum|varmean|stdmean|nansum|nanmean)$")),
    ("elementwise", re.compile(
        r"^(i|r)?(add|sub|subtract|rsub|mul|multiply|div|divide|truediv"
        r"|floordiv|mod|fmod|remainder|pow|sqrt|rsqrt|exp|exp2|expm1|log"
        r"|log2|log10|log1p|neg|negative|abs|where|clamp|clampmin|clampmax"
        r"|clip|max|min|maximum|minimum|reciprocal|floor|ceil|round|trunc"
        r"|sign|sin|cos|tan|square|eq|ne|lt|gt|le|ge|equal|less|greater"
        r"|lessorequal|greaterorequal|and|or|not|xor|maskedfill|dropout"
        r"|featuredropout|addcmul|addcdiv|lerp|fill|scale|bias|isnan|isinf"
        r"|nantonum|sum|tril|triu)$|^logical|^bitwise")),
    ("shape", re.compile(
        r"reshape|view|flatten|squeeze|transpose|permute|^t$|^numpyt$"
        r"|^(cat|concat|concatenate|stack|hstack|vstack)$|split|chunk|unbind"
        r"|slice|narrow|select|gather|scatter|index|expand|repeat|tile|^pad$"
        r"|constantpad|reflectionpad|replicationpad|resize|upsample"
        r"|interpolate|^shape$|^size$|^numel$|^cast|^to$|tocopy|contiguous"
        r"|clone|copy|getitem|getattr|identity|detach|alias|constantofshape"
        r"|^range$|^arange$|^zeros|^ones|^full|^empty|newzeros|newones"
        r"|newfull|newempty|convertelementtype|typeas|^(float|half|long|int"
        r"|bool|double|bfloat16)$|movedim|roll|flip|depthtospace"
        r"|spacetodepth|pixel(un)?shuffle|construct|unpack|tuple|list"
        r"|^masked(select|scatter)$|nonzero|^unfold$|^fold$|^as(strided)?$"
        r"|^lift|^broadcast|quantize|^sym(size|numel|stride)"))
)

_BUILTIN = re.compile(r"<(?:built-in )?(?:function|method) ([\w.]+)")
_OVERLOAD_NAMESPACES = ("aten", "prims", "quantized", "quantized_decomposed")


def format_shape(shape):
    """Write a tensor shape compactly, dims joined by ``×``.

    Parameters
    ----------
    shape : list or tuple or None
        Dims from the IR: ints, symbolic names (str) or None (unknown).

    Returns
    -------
    str
        ``?`` for an unknown shape, ``()`` for a scalar, otherwise the dims
        joined by ``×`` with unknown dims as ``?``.

    Examples
    --------
    >>> format_shape([1, 3, 224, 224])
    '1×3×224×224'
    >>> format_shape(["batch", 3, None])
    'batch×3×?'
    >>> format_shape(None), format_shape([])
    ('?', '()')
    """
    if shape is None:
        return "?"
    if len(shape) == 0:
        return "()"
    return "×".join("?" if dim is None else str(dim) for dim in shape)


def format_dtype(dtype, *, short=False):
    """Name a dtype from :data:`graphir.ir.DTYPES` for display.

    Parameters
    ----------
    dtype : str or None
        The IR dtype name, or None when unknown.
    short : bool, default False
        Use the compact spelling (``f32``, ``i64``, ``bf16``) for node labels.

    Returns
    -------
    str
        ``?`` when unknown; names outside the table are returned unchanged.

    Examples
    --------
    >>> format_dtype("int64"), format_dtype("int64", short=True)
    ('int64', 'i64')
    >>> format_dtype("float8_e4m3fn", short=True), format_dtype(None)
    ('f8e4m3fn', '?')
    """
    if dtype is None:
        return "?"
    dtype = str(dtype)
    if not short:
        return dtype
    if dtype.startswith("float8_"):
        return "f8" + dtype[len("float8_"):]
    return _DTYPE_SHORT.get(dtype, dtype)


def short_param_name(qualified_name):
    """Shorten a weight's qualified name to the part that names its role.

    Takes the last component after splitting on ``::``, ``/`` and ``.``;
    a purely numeric last component (a list index) keeps its parent, so
    names stay distinguishable.

    Parameters
    ----------
    qualified_name : str
        ``layer1.0.conv1.weight``, ``onnx::Conv_123``, ``/encoder/w`` …

    Returns
    -------
    str

    Examples
    --------
    >>> short_param_name("layer1.0.conv1.weight")
    'weight'
    >>> short_param_name("onnx::Conv_123")
    'Conv_123'
    >>> short_param_name("blocks.3")
    'blocks.3'
    >>> short_param_name("bias")
    'bias'
    """
    parts = [p for p in re.split(r"::|/|\.", str(qualified_name)) if p]
    if not parts:
        return str(qualified_name)
    if parts[-1].isdigit() and len(parts) > 1:
        return f"{parts[-2]}.{parts[-1]}"
    return parts[-1]


def format_count(n):
    """Write a count with three significant digits and a K/M/B/T suffix.

    Parameters
    ----------
    n : int or None

    Returns
    -------
    str
        ``?`` for None; counts below 1000 unchanged.

    Examples
    --------
    >>> format_count(1234567), format_count(999), format_count(1000)
    ('1.23M', '999', '1K')
    >>> format_count(25_557_032), format_count(999_999), format_count(None)
    ('25.6M', '1M', '?')
    """
    if n is None:
        return "?"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1000:
        return f"{sign}{n:g}"
    index = max(i for i, (unit, _) in enumerate(_COUNT_UNITS) if n >= unit)
    value = float(f"{n / _COUNT_UNITS[index][0]:.3g}")
    if value >= 1000 and index + 1 < len(_COUNT_UNITS):
        index += 1
        value = float(f"{n / _COUNT_UNITS[index][0]:.3g}")
    text = f"{value:g}" if value < 1000 else str(round(value))
    return f"{sign}{text}{_COUNT_UNITS[index][1]}"


def normalize_op(op):
    """Reduce an op name from any source to a lower-case core word.

    Drops namespaces (``aten::``, ``aten.``), Python's ``<built-in function
    …>`` wrapper, overload suffixes
    (``.default``), autograd's ``Backward<N>`` suffix, ONNX's ``QLinear``
    prefix, in-place ``_`` suffixes and every underscore.

    Parameters
    ----------
    op : str

    Returns
    -------
    str

    Examples
    --------
    >>> normalize_op("aten.convolution.default")
    'convolution'
    >>> normalize_op("aten::_convolution"), normalize_op("ConvolutionBackward0")
    ('convolution', 'convolution')
    >>> normalize_op("torch.nn.modules.conv.Conv2d"), normalize_op("relu_")
    ('conv2d', 'relu')
    """
    builtin = _BUILTIN.match(str(op))
    name = builtin.group(1) if builtin else str(op)
    name = name.rsplit("::", 1)[-1]
    parts = [p for p in name.split(".") if p]
    if not parts:
        return ""
    if parts[0] in _OVERLOAD_NAMESPACES and len(parts) > 1:
        name = parts[1]
    else:
        name = parts[-1]
    name = re.sub(r"Backward\d*$", "", name)
    name = name.replace("_", "").lower()
    if name.startswith("qlinear") and len(name) > len("qlinear"):
        name = name[len("qlinear"):]
    return name


def op_category(op):
    """Sort an op from any source into one of :data:`OP_CATEGORIES`.

    Works on ONNX op types (``Conv``), aten overloads
    (``aten.convolution.default``), fx module types (``Conv2d``), autograd
    nodes (``ConvolutionBackward0``) and TorchScript kinds
    (``aten::_convolution``). Themes colour nodes by this category. Results
    are cached (a graph repeats a few op names many times).

    Parameters
    ----------
    op : str

    Returns
    -------
    str
        ``conv``, ``linear`` (matmul, Gemm, Linear, embedding), ``norm``,
        ``activation``, ``pool`` (pooling and reductions), ``elementwise``,
        ``shape`` (reshape, concat, slicing, casts), ``attention``
        (attention and softmax) or ``other``.

    Examples
    --------
    >>> [op_category(o) for o in ("Conv", "Conv2d", "aten::_convolution")]
    ['conv', 'conv', 'conv']
    >>> [op_category(o) for o in ("Gemm", "AddmmBackward0", "aten.mm.default")]
    ['linear', 'linear', 'linear']
    >>> op_category("LayerNorm"), op_category("aten.gelu.default")
    ('norm', 'activation')
    >>> op_category("Softmax"), op_category("Reshape"), op_category("TopK")
    ('attention', 'shape', 'other')
    """
    return _category_of(str(op))


@functools.lru_cache(maxsize=4096)
def _category_of(op):
    name = normalize_op(op)
    for category, pattern in _CATEGORY_PATTERNS:
        if pattern.search(name):
            return category
    return "other"
