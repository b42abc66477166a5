"""``FILE.py:CALLABLE`` factories and ``--input-shape`` example inputs.

A factory is a callable in a Python file that returns an ``nn.Module``, or
``(module, example_args)``, or ``(module, example_args, example_kwargs)``, or
``(module, {name: tensor})``. Importing the file runs its code: that is what
the user asked for by naming it.
"""

import importlib.util
import os
import re
import sys

from graphir.util.optional import import_torch
from graphir.errors import InputError, MissingDependencyError
from graphir.loaders.kinds import split_factory_spec

__all__ = ["InputSpec", "parse_input_shape", "make_example_inputs", "load_factory"]

_DTYPE_ALIASES = {
    "float": "float32", "float32": "float32", "fp32": "float32", "f32": "float32",
    "half": "float16", "float16": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16", "double": "float64", "float64": "float64",
    "long": "int64", "int64": "int64", "int": "int32", "int32": "int32",
    "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}


class InputSpec(tuple):
    """``(dtype, shape)`` parsed from one ``--input-shape`` value."""

    __slots__ = ()

    def __new__(cls, dtype, shape):
        return super().__new__(cls, (dtype, tuple(shape)))

    @property
    def dtype(self):
        return self[0]

    @property
    def shape(self):
        return self[1]


def parse_input_shape(text):
    """Parse ``[DTYPE:]D1,D2,...`` (``x`` also separates dims).

    Examples
    --------
    >>> parse_input_shape("int64:1,16")
    ('int64', (1, 16))
    >>> parse_input_shape("1x3x224x224").dtype
    'float32'
    """
    dtype, sep, dims = str(text).strip().rpartition(":")
    dtype = _DTYPE_ALIASES.get(dtype.lower() if sep else "float32")
    if dtype is None:
        raise InputError(f"--input-shape {text!r}: unknown dtype {text.split(':')[0]!r}",
                         hint=f"use one of {', '.join(sorted(set(_DTYPE_ALIASES.values())))}")
    parts = [p for p in re.split(r"[,x×\s]+", dims) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(f"--input-shape {text!r}: dims must be positive integers",
                         hint="write it like 1,3,224,224 or int64:1,16")
    shape = tuple(int(p) for p in parts)
    if any(d == 0 for d in shape):
        raise InputError(f"--input-shape {text!r}: a dim is 0", hint="use dims >= 1")
    return InputSpec(dtype, shape)


def make_example_inputs(specs):
    """Tensors for ``specs``: seeded normal floats; integer inputs are ones.

    Ones are valid token ids, attention-mask values and class indices for any
    model, where random integers could overrun an embedding table.
    """
    torch = import_torch("building example inputs")
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for spec in specs:
        dtype = getattr(torch, spec.dtype)
        if dtype.is_floating_point:
            tensors.append(torch.randn(spec.shape, generator=generator).to(dtype))
        else:
            tensors.append(torch.ones(spec.shape, dtype=dtype))
    return tuple(tensors)


def _import_file(path):
    module_name = "graphir_factory_" + re.sub(r"\W", "_", os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InputError("cannot be imported as a Python file", path=path,
                         hint="pass FILE.py:CALLABLE")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise InputError(f"importing it raised {type(exc).__name__}: {exc}", path=path,
                         hint="fix the file, or rerun with --debug for the traceback") from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return module


def _normalise_factory_result(result, spec):
    torch = import_torch("a FILE.py:CALLABLE model")
    args = kwargs = None
    if isinstance(result, tuple) and result and isinstance(result[0], torch.nn.Module):
        module, rest = result[0], result[1:]
        if len(rest) > 2:
            raise InputError("the factory returned a tuple of more than 3 items", path=spec,
                             hint="return module, (module, args) or (module, args, kwargs)")
        if rest:
            args = rest[0]
            if isinstance(args, dict):
                args, kwargs = (), args
            elif isinstance(args, torch.Tensor):
                args = (args,)
            else:
                args = tuple(args)
        if len(rest) == 2:
            kwargs = dict(rest[1] or {})
    elif isinstance(result, torch.nn.Module):
        module = result
    else:
        raise InputError(f"the factory returned {type(result).__name__}, not an nn.Module",
                         path=spec, hint="return an nn.Module or (module, example_inputs)")
    return module, args, kwargs


def load_factory(spec):
    """Import ``FILE.py``, call ``CALLABLE()`` and return ``(module, args, kwargs)``.

    ``args``/``kwargs`` are None when the factory gave no example inputs.
    """
    parts = split_factory_spec(spec)
    if parts is None:
        raise InputError("is not of the form FILE.py:CALLABLE", path=spec,
                         hint="for example samples/gpt2.py:gpt2_tiny")
    path, name = parts
    if not os.path.isfile(path):
        raise InputError("no such file", path=path, hint="check the path")
    module = _import_file(path)
    factory = getattr(module, name, None)
    if not callable(factory):
        raise InputError(f"has no callable named {name!r}", path=path,
                         hint="name a function or class defined in that file")
    try:
        result = factory()
    except Exception as exc:
        raise InputError(f"calling {name}() raised {type(exc).__name__}: {exc}", path=path,
                         hint="fix the factory, or rerun with --debug") from exc
    return _normalise_factory_result(result, spec)
