"""Helpers shared by the PyTorch converters (fx/export, autograd, TorchScript).

Everything here maps a piece of PyTorch metadata onto IR values: dtypes,
shapes (with symbolic dims), weights, op attributes, ``nn_module_stack``
entries and model output structures. torch is imported lazily, inside the
functions that need it, so importing this module never imports torch.
"""

import contextlib
import dataclasses
import enum
import inspect
import math
import re
from collections.abc import Mapping

from graphir import ir
from graphir.util.optional import import_torch  # the one definition, shared by the converters
from graphir.errors import ConversionError, MissingDependencyError

__all__ = [
    "import_torch",
    "dtype_name",
    "tensor_entry",
    "value_entries",
    "weight_info",
    "json_value",
    "class_name",
    "module_path",
    "strip_prefix",
    "module_scope",
    "canonical_names",
    "iter_leaves",
    "leaf_name",
    "named_tensor_outputs",
    "bind_example",
    "kept_state",
    "keyword_form",
    "output_flattener",
]

_INDEX = re.compile(r"""\[\s*['"]?([^\]'"]*?)['"]?\s*\]""")
_ROOT = re.compile(r"^(L\.self|L__self__|self)(\.|$)")
_MAX_LIST = 64
_MAX_DEPTH = 16


def dtype_name(dtype):
    """The IR dtype (one of :data:`graphir.ir.DTYPES`) of a torch dtype, or None."""
    if dtype is None:
        return None
    name = str(dtype).removeprefix("torch.")
    return name if name in ir.DTYPES else None


def _dim(size):
    """An int for a concrete dim, the symbol's text (``"s0"``) for a symbolic one.

    A plain int returns at once: the symbolic-shapes module imports sympy,
    which costs about half a second the first time.
    """
    if type(size) is int:
        return size
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    return int(size) if is_concrete_int(size) else str(size)


def tensor_entry(value):
    """One IR tensor entry for a tensor, FakeTensor or ``TensorMetadata``.

    Anything else (an int, a SymInt, a list) gives an entry with unknown
    shape and dtype.
    """
    torch = import_torch()
    from torch.fx.passes.shape_prop import TensorMetadata

    if isinstance(value, (torch.Tensor, TensorMetadata)):
        return ir.tensor(dtype_name(value.dtype), [_dim(d) for d in value.shape])
    return ir.tensor(None, None)


def value_entries(value):
    """The IR ``outputs`` list of a node whose result is ``value``.

    A tuple, list or dict of results (``split``, ``max_pool2d_with_indices``,
    a module returning a tuple) gives one entry per element; None gives none.
    """
    from torch.fx.passes.shape_prop import TensorMetadata

    if value is None:
        return []
    if isinstance(value, Mapping):
        return [tensor_entry(v) for v in value.values()]
    if isinstance(value, (list, tuple)) and not isinstance(value, TensorMetadata):
        return [tensor_entry(v) for v in value]
    return [tensor_entry(value)]


def weight_info(value, *, kind=None, trainable=True):
    """IR ``params`` entry for a weight: shape, dtype and, when known, its kind.

    Parameters
    ----------
    value : torch.Tensor or FakeTensor
        The weight (or its fake stand-in during export).
    kind : {None, "buffer", "constant"}
        None for an ``nn.Parameter``.
    trainable : bool
        False marks a parameter (``kind`` None) whose ``requires_grad`` is off;
        ignored for buffers and constants.
    """
    info = ir.param_info([_dim(d) for d in value.shape], dtype_name(value.dtype))
    if kind is not None:
        info["kind"] = kind
    elif not trainable:
        info["trainable"] = False
    return info


def json_value(value):
    """A compact, JSON-safe and deterministic form of an op argument.

    Lists longer than 64 items are cut (ending in ``"..."``), non-finite
    floats become strings, dtypes their IR names, slices ``"start:stop:step"``
    and unknown objects their type name (never a ``repr`` with an address).
    """
    torch = import_torch()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        items = [json_value(v) for v in value[:_MAX_LIST]]
        return items + ["..."] if len(value) > _MAX_LIST else items
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, slice):
        parts = [value.start, value.stop] + ([] if value.step is None else [value.step])
        return ":".join("" if p is None else str(json_value(p)) for p in parts)
    if value is Ellipsis:
        return "..."
    if isinstance(value, torch.dtype):
        return dtype_name(value) or str(value)
    if isinstance(value, torch.Tensor):
        return {"tensor": [_dim(d) for d in value.shape], "dtype": dtype_name(value.dtype)}
    if isinstance(value, (torch.device, torch.layout, torch.memory_format, torch.SymInt,
                          torch.SymFloat, torch.SymBool, enum.Enum)):
        return str(value)
    return type(value).__name__


def class_name(module_type):
    """``Conv2d`` from a class or from a string like ``torch.nn.modules.conv.Conv2d``."""
    if module_type is None:
        return None
    if isinstance(module_type, type):
        return module_type.__name__
    return str(module_type).strip("<>'\"").removeprefix("class '").rsplit(".", 1)[-1]


def module_path(raw):
    """Normalise a module path to dotted form: ``L['self'].h[0].attn`` -> ``h.0.attn``."""
    path = _INDEX.sub(r".\1", str(raw))
    return _ROOT.sub("", path).strip(".")


def strip_prefix(path, prefix):
    """Remove a leading dotted ``prefix`` from ``path`` (``module.h.0`` -> ``h.0``)."""
    if not prefix:
        return path
    if path == prefix:
        return ""
    return path[len(prefix) + 1:] if path.startswith(prefix + ".") else path


def module_scope(stack, prefix=""):
    """The owning module of a node from its ``nn_module_stack``.

    Parameters
    ----------
    stack : dict or None
        ``node.meta["nn_module_stack"]``: key -> ``(path, type)``, outermost
        first. Paths may be dotted (``h.0.attn``) or dynamo-style
        (``L['self'].h[0].attn``); types classes or qualified names.
    prefix : str
        A wrapper's child name to remove from every path.

    Returns
    -------
    module : str
        Dotted path of the innermost module, ``""`` for the root.
    module_type : str or None
        Its class name.
    scope : list of [str, str or None]
        ``[path, type]`` from the outermost to the innermost module. The root
        is left out; a dotted prefix that was never called itself (the
        ``ModuleList`` ``h`` of ``h.0``) is filled in with type None, so the
        scope always walks the module tree.
    """
    scope, seen = [], set()
    for raw_path, raw_type in (stack or {}).values():
        path = strip_prefix(module_path(raw_path), prefix)
        if not path or path in seen:
            continue
        parts = path.split(".")
        for i in range(1, len(parts)):
            outer = ".".join(parts[:i])
            if outer not in seen:
                seen.add(outer)
                scope.append([outer, None])
        seen.add(path)
        scope.append([path, class_name(raw_type)])
    if not scope:
        return "", None, []
    return scope[-1][0], scope[-1][1], scope


def _storage_key(value):
    """What two names of one tied weight share: its memory, dtype and layout."""
    try:
        address = value.data_ptr()
    except (AttributeError, RuntimeError):
        return None
    if not address:
        return None
    return address, value.dtype, tuple(value.shape), tuple(value.stride())


def canonical_names(named_tensors):
    """Map every weight name to the first name of the tensor it aliases.

    Tied weights (GPT-2's ``lm_head.weight`` is ``transformer.wte.weight``)
    then show under one name. Aliasing is read from the tensors' memory, so
    it survives ``torch.export.save``/``load``; fake or meta tensors are
    never merged.

    Parameters
    ----------
    named_tensors : iterable of (str, tensor)
        Names in the model's own order (``named_parameters`` order).
    """
    first, canonical = {}, {}
    for name, value in named_tensors:
        key = _storage_key(value)
        canonical[name] = name if key is None else first.setdefault(key, name)
    return canonical


def _children(tree):
    """The (key, value) pairs of an output container, or None for a leaf."""
    if isinstance(tree, Mapping):
        return list(tree.items())
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return list(zip(tree._fields, tree))
    if isinstance(tree, (list, tuple)):
        return list(enumerate(tree))
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return [(f.name, getattr(tree, f.name)) for f in dataclasses.fields(tree)]
    if hasattr(tree, "__dict__") and not isinstance(tree, type):
        return [(k, v) for k, v in vars(tree).items() if not k.startswith("_")]
    return None


def iter_leaves(tree, is_leaf, path=()):
    """Yield ``(path, leaf)`` for every leaf of a model's output structure.

    Walks dicts (and HF ``ModelOutput``), namedtuples, tuples, lists,
    dataclasses and plain objects' public attributes; skips None and any
    value that is neither a leaf nor a container.

    Parameters
    ----------
    tree : object
        The output structure.
    is_leaf : callable
        True for the values to report (tensors, fx nodes, leaf indices).
    path : tuple
        Keys leading to ``tree``.
    """
    if tree is None or len(path) > _MAX_DEPTH:
        return
    if is_leaf(tree):
        yield path, tree
        return
    for key, child in _children(tree) or ():
        yield from iter_leaves(child, is_leaf, path + (key,))


def leaf_name(path):
    """The output name of a leaf path.

    ``()`` -> ``output``, ``(0,)`` -> ``output_0``, ``("logits",)`` ->
    ``logits``, ``("past", 0)`` -> ``past.0``.
    """
    if not path:
        return "output"
    parts = [str(p) for p in path]
    if isinstance(path[0], int):
        parts[0] = f"output_{path[0]}"
    return ".".join(parts)


def named_tensor_outputs(output):
    """Flatten a model's output into ``{name: tensor}`` (names: :func:`leaf_name`)."""
    torch = import_torch()
    leaves = iter_leaves(output, lambda v: isinstance(v, torch.Tensor))
    return {leaf_name(path): value for path, value in leaves}


def bind_example(module, args, kwargs, name):
    """Bind example inputs to ``module.forward``'s signature.

    Parameters
    ----------
    module : torch.nn.Module
    args : tuple, list or tensor
        Positional example inputs (a lone tensor is one input).
    kwargs : dict or None
        Keyword example inputs.
    name : str
        Model name, for the error message.

    Returns
    -------
    inspect.BoundArguments
        Defaults are not applied: only the inputs given are bound.

    Raises
    ------
    ConversionError
        When the inputs do not fit the signature.
    """
    torch = import_torch()
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"expected a torch.nn.Module, got {type(module).__name__}",
                              path=name)
    if not isinstance(args, (tuple, list)):
        args = (args,)
    signature = inspect.signature(module.forward)
    try:
        return signature.bind(*args, **dict(kwargs or {}))
    except TypeError as exc:
        raise ConversionError(
            f"the example inputs do not fit {type(module).__name__}.forward{signature}: {exc}",
            path=name, hint="check the number and order of the example inputs "
                            "(--input-shape)") from None


@contextlib.contextmanager
def kept_state(module):
    """Undo what running ``module`` changes: its buffers (batch-norm statistics
    in train mode) and the CPU random generator (dropout).

    Parameters
    ----------
    module : torch.nn.Module or torch.export.ExportedProgram
        Anything with a ``buffers()`` method.

    Examples
    --------
    >>> import torch
    >>> bn = torch.nn.BatchNorm1d(2).train()
    >>> with kept_state(bn), torch.no_grad():
    ...     _ = bn(torch.randn(4, 2) + 5)
    >>> bn.running_mean.tolist()
    [0.0, 0.0]
    """
    torch = import_torch()
    saved = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        with torch.no_grad():
            for buffer, copy in saved:
                buffer.copy_(copy)


def keyword_form(bound):
    """``(args, kwargs)`` passing every example input by its parameter name.

    Export names user inputs after keyword names, so the wrapper used for
    export (whose ``forward`` takes ``*args, **kwargs``) still yields
    ``input_ids`` rather than ``args_0``. Positional-only and ``*args``
    parameters keep their positions.
    """
    parameters = bound.signature.parameters
    kinds = {parameters[n].kind for n in bound.arguments}
    if kinds & {inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL}:
        return bound.args, bound.kwargs
    named = {}
    for key, value in bound.arguments.items():
        if parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[key] = value
    return (), named


def output_flattener(module, wrapped_name="module"):
    """Wrap ``module`` so its output is a flat ``{name: tensor}`` dict.

    Export only accepts outputs made of pytree-registered types; a
    dataclass output (GPT-2's ``BaseModelOutput``) or a custom class is
    flattened here instead of registering anything globally. The model
    becomes the wrapper's child ``module``; the converter strips that prefix.
    """
    torch = import_torch()

    class _FlatOutputs(torch.nn.Module):
        def __init__(self, wrapped):
            super().__init__()
            setattr(self, wrapped_name, wrapped)

        def forward(self, *args, **kwargs):
            outputs = named_tensor_outputs(getattr(self, wrapped_name)(*args, **kwargs))
            if not outputs:
                raise ConversionError("the model returned no tensors")
            return outputs

    return _FlatOutputs(module)
