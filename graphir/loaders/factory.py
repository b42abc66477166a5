"""``FILE.py:CALLABLE`` / ``MODULE.PATH:CALLABLE`` factories and ``--input-shape`` inputs.

A factory is a callable in a Python file, or in any importable module (an
installed package, or a package under the current directory), that returns
an ``nn.Module``, or ``(module, example_args)``, or ``(module, example_args,
example_kwargs)``, or ``(module, {name: tensor})``. Importing the file or
module runs its code: that is what the user asked for by naming it. How a
spec is told apart from a path is decided in one place,
:func:`graphir.loaders.kinds.split_factory_spec`.
"""

import importlib
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


def _import_module(name, spec):
    """Import a module by dotted name; the current directory is searched last."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.append(cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise InputError(f"is neither a file nor an importable module (no module named "
                             f"{exc.name!r})", path=spec,
                             hint="install the package, run from the folder that holds it, "
                                  "or pass FILE.py:CALLABLE") from None
        raise InputError(f"importing {name} raised ModuleNotFoundError: {exc}", path=spec,
                         hint=f"install {exc.name or 'the missing package'}") from exc
    except Exception as exc:
        raise InputError(f"importing {name} raised {type(exc).__name__}: {exc}", path=spec,
                         hint="fix the module, or rerun with --debug for the traceback"
                         ) from exc
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _resolve(module, dotted):
    """``module.a.b`` for ``dotted="a.b"``, or None."""
    value = module
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def load_factory(spec):
    """Import the file or module of ``spec``, call ``CALLABLE()``, return ``(module, args, kwargs)``.

    ``spec`` is ``FILE.py:CALLABLE`` or ``MODULE.PATH:CALLABLE`` (see
    :func:`graphir.loaders.kinds.split_factory_spec` for how it is told from a
    path). ``args``/``kwargs`` are None when the factory gave no example inputs.

    Examples
    --------
    >>> module, args, kwargs = load_factory("samples.gpt2:gpt2_tiny")  # doctest: +SKIP
    """
    parts = split_factory_spec(spec)
    if parts is None:
        raise InputError("is not of the form FILE.py:CALLABLE or MODULE.PATH:CALLABLE",
                         path=spec, hint="for example samples/gpt2.py:gpt2_tiny or "
                                         "samples.gpt2:gpt2_tiny")
    target, name = parts
    if parts.kind == "file":
        if not os.path.isfile(target):
            raise InputError("no such file", path=target, hint="check the path")
        module = _import_file(target)
        where, what = target, "defined in that file"
    else:
        module = _import_module(target, spec)
        where, what = spec, f"defined in {target}"
    factory = _resolve(module, name)
    if not callable(factory):
        raise InputError(f"has no callable named {name!r}", path=where,
                         hint=f"name a function or class {what}")
    try:
        result = factory()
    except Exception as exc:
        raise InputError(f"calling {name}() raised {type(exc).__name__}: {exc}", path=where,
                         hint="fix the factory, or rerun with --debug") from exc
    return _normalise_factory_result(result, spec)
