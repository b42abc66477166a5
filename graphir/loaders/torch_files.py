"""Opening torch files safely: ExportedPrograms, TorchScript, state_dicts, pickles.

Every file is checked before torch opens it, and nothing that would run
code from the file is opened without the user's opt-in (``--unsafe-load``,
``unsafe_load=True``); a refused file is never retried in a less safe way.

- ``torch.save`` files are scanned by :mod:`graphir.loaders.pickle_scan`; a
  state_dict or checkpoint is then read with ``torch.load(weights_only=True)``.
  One that references other Python objects (a pickled ``nn.Module``, an
  ``argparse.Namespace`` in a checkpoint) is refused unless opted in, and
  then read with ``weights_only=False``.
- TorchScript archives are opened with ``torch.jit.load``. Its unpickler is
  C++ and resolves only tensors, a few containers and TorchScript classes
  compiled from the archive, never Python globals; but it runs the
  archive's ``__setstate__`` methods while loading, and TorchScript can
  write files. So an archive whose code defines ``__setstate__`` (or whose
  pickles name anything else) needs the opt-in; ordinary traced and
  scripted models open directly. graphir only reads their graphs and never
  runs ``forward``.
- ``torch.export`` archives (``.pt2``) are opened with ``torch.export.load``,
  which unpickles parts of them with ``weights_only=False``, evaluates their
  symbolic shape expressions with ``sympy.sympify`` and loads AOTInductor
  libraries; an archive whose pickles, expressions or files would run code
  needs the opt-in. Ordinary exported programs open directly.
"""

import contextlib
import logging
import math
import os
import warnings

from graphir.errors import InputError, UnsafeFileError
from graphir.util.optional import import_torch
from graphir.loaders.pickle_scan import (
    STATE_DICT_KEYS,
    describe_globals,
    find_state_dict,
    scan_export_archive,
    scan_torch_file,
    scan_torchscript_archive,
)
from graphir.util.text import brief as _brief

__all__ = [
    "UNSAFE_FLAG",
    "load_exported_program",
    "load_torchscript",
    "load_state_dict_file",
    "load_pickled_module",
]

#: The command-line flag that allows loading files that run code.
UNSAFE_FLAG = "--unsafe-load"

_WRAPPER_PREFIXES = (
    ("module.", "removed the 'module.' prefix that DataParallel/DistributedDataParallel adds"),
    ("_orig_mod.", "removed the '_orig_mod.' prefix that torch.compile adds"),
)
_MAX_META_TEXT = 200


@contextlib.contextmanager
def _quiet_torch_export():
    """Hold back torch.export's logged tracebacks; failures are reported as one line."""
    loggers = [logging.getLogger(name) for name in ("torch.export", "torch._export")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def load_exported_program(path, *, unsafe_load=False):
    """Open a ``torch.export.save`` archive (``.pt2``), after checking it.

    ``torch.export.load`` unpickles parts of the archive with
    ``weights_only=False``, evaluates its symbolic shape expressions with
    ``sympy.sympify`` and loads AOTInductor libraries, so the archive is
    checked first (:func:`graphir.loaders.pickle_scan.scan_export_archive`).

    Parameters
    ----------
    path : str or os.PathLike
        The archive.
    unsafe_load : bool
        Open it even when loading would run code from it.

    Returns
    -------
    torch.export.ExportedProgram

    Raises
    ------
    UnsafeFileError
        When loading would run code from the archive and ``unsafe_load`` is False.
    InputError
        When the archive cannot be read.
    """
    path = os.fspath(path)
    scan = scan_export_archive(path)
    if scan.runs_code and not unsafe_load:
        raise UnsafeFileError(f"is a torch.export archive that runs code from the file while "
                              f"loading (it holds {describe_globals(scan.unsafe)})", path=path,
                              hint=f"pass {UNSAFE_FLAG} if you trust it, or export the model "
                                   "again with torch.export.save")
    torch = import_torch(f"reading {path}")
    try:
        with _quiet_torch_export():
            return torch.export.load(path)
    except Exception as exc:  # torch raises many types for a bad archive
        raise InputError(f"cannot be read as a torch.export program ({_brief(exc)})", path=path,
                         hint="save it again with torch.export.save, with this torch version") \
            from exc


def load_torchscript(path, *, unsafe_load=False):
    """Open a ``torch.jit.save`` archive on the CPU, after checking it.

    Parameters
    ----------
    path : str or os.PathLike
        The archive.
    unsafe_load : bool
        Open it even when loading runs code from it (``__setstate__``).

    Returns
    -------
    torch.jit.ScriptModule

    Raises
    ------
    UnsafeFileError
        When loading would run code from the archive and ``unsafe_load`` is False.
    InputError
        When the archive cannot be read.
    """
    path = os.fspath(path)
    scan = scan_torchscript_archive(path)
    if scan.runs_code and not unsafe_load:
        reasons = []
        if scan.setstate:
            reasons.append(f"class {describe_globals(scan.setstate)} defines __setstate__, "
                           "which torch.jit.load runs")
        if scan.unsafe:
            reasons.append(f"it references {describe_globals(scan.unsafe)}")
        raise UnsafeFileError(f"is a TorchScript archive that runs code from the file while "
                              f"loading ({'; '.join(reasons)})", path=path,
                              hint=f"pass {UNSAFE_FLAG} if you trust it, or save a "
                                   "torch.export program instead")
    torch = import_torch(f"reading {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # the TorchScript importer raises RuntimeError and others
        raise InputError(f"cannot be read as a TorchScript archive ({_brief(exc)})", path=path,
                         hint="the file may be corrupt, or saved by a newer torch; save it "
                              "again") from exc


def _refusal(path, scan):
    """The :class:`UnsafeFileError` for a torch pickle that runs code."""
    names = describe_globals(scan.unsafe)
    if any(n.startswith("torch.nn.modules.") for n in scan.unsafe):
        what = "is a pickled nn.Module"
        instead = "save a state_dict or a torch.export program instead"
    else:
        what = "holds pickled Python objects, not only tensors"
        instead = "save only the state_dict (or safetensors) instead"
    return UnsafeFileError(f"{what}; loading it runs code from the file (it references "
                           f"{names})", path=path,
                           hint=f"pass {UNSAFE_FLAG} if you trust it, or {instead}")


def _torch_load(path, weights_only):
    torch = import_torch(f"reading {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch.load raises many types on a bad file
        raise InputError(f"cannot be loaded by torch.load ({_brief(exc)})", path=path,
                         hint="the file may be truncated or corrupt; save it again") from exc


def _checkpoint_metadata(top, key):
    """Plain scalar entries (epoch, step, loss, ...) beside the state_dict."""
    metadata = {}
    for name, value in top.items():
        if not isinstance(name, str) or (key and name == key[0]):
            continue
        if isinstance(value, bool) or isinstance(value, int):
            metadata[name] = value
        elif isinstance(value, float) and math.isfinite(value):
            metadata[name] = value
        elif isinstance(value, str):
            metadata[name] = value[:_MAX_META_TEXT]
    return metadata


def _strip_wrapper_prefixes(state_dict):
    """Remove DataParallel/torch.compile prefixes shared by every key; return notes."""
    notes = []
    changed = True
    while changed and state_dict:
        changed = False
        for prefix, note in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state_dict):
                state_dict = {k[len(prefix):]: v for k, v in state_dict.items()}
                notes.append(note)
                changed = True
    return state_dict, notes


def _unwrap(obj, path, torch):
    """``(state_dict, info)`` from what torch.load returned."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), {"key": None, "metadata": {}, "other_keys": [],
                                  "notes": [f"took the state_dict of the pickled "
                                            f"{type(obj).__name__}"]}
    key = find_state_dict(obj, lambda v: isinstance(v, torch.Tensor))
    if key is None:
        shown = f" with keys {', '.join(map(str, list(obj)[:5]))}" if isinstance(obj, dict) \
            else ""
        raise InputError(f"holds no state_dict (its top level is a {type(obj).__name__}"
                         f"{shown})", path=path,
                         hint="pass a state_dict, a checkpoint dict holding one, or a "
                              "safetensors file")
    found = obj
    for part in key:
        found = found[part]
    state_dict = {k: v for k, v in found.items() if isinstance(v, torch.Tensor)}
    notes = [f"skipped {len(found) - len(state_dict)} non-tensor entries"] \
        if len(state_dict) < len(found) else []
    state_dict, more = _strip_wrapper_prefixes(state_dict)
    other = [str(k) for k in obj if k != key[0]] if key else []
    return state_dict, {"key": ".".join(key) or None,
                        "metadata": _checkpoint_metadata(obj, key) if key else {},
                        "other_keys": other, "notes": notes + more}


def load_state_dict_file(path, *, unsafe_load=False, scan=None):
    """Read the weights of a ``torch.save`` state_dict or training checkpoint.

    The file is scanned first (never unpickled); a state_dict or checkpoint
    is then read with ``torch.load(weights_only=True)``. A checkpoint is
    unwrapped at the first key holding a state_dict (``state_dict``,
    ``model_state_dict``, ``model``, ...), and key prefixes added by
    DataParallel (``module.``) or torch.compile (``_orig_mod.``) are removed.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.pt``/``.pth``/``.bin``/``.ckpt`` file written by ``torch.save``.
    unsafe_load : bool
        Also read files that run code when loaded (a pickled module, a
        checkpoint holding other Python objects), with ``weights_only=False``.
    scan : PickleScan, optional
        The file's scan when the caller already has it (it is not scanned again).

    Returns
    -------
    state_dict : dict
        ``name -> torch.Tensor``, in the file's order.
    info : dict
        ``kind`` (``state_dict``, ``checkpoint`` or ``code``), ``format``
        (``zip``/``legacy``), ``key`` (where the weights were, dotted, or
        None), ``metadata`` (scalar entries such as ``epoch``),
        ``other_keys`` (the checkpoint's other entries, such as
        ``optimizer``) and ``notes`` (what was changed, for messages).

    Raises
    ------
    UnsafeFileError
        When loading runs code from the file and ``unsafe_load`` is False.
    InputError
        When the file is corrupt, not a torch file, or holds no state_dict.
    """
    path = os.fspath(path)
    scan = scan or scan_torch_file(path)
    if scan.runs_code and not unsafe_load:
        raise _refusal(path, scan)
    if scan.format == "pickle" and not scan.runs_code:
        raise InputError("is a plain Python pickle, not a file written by torch.save",
                         path=path, hint="save the weights with torch.save or safetensors")
    torch = import_torch(f"reading {path}")
    obj = _torch_load(path, weights_only=not scan.runs_code)
    state_dict, info = _unwrap(obj, path, torch)
    info.update(kind=scan.verdict, format=scan.format)
    return state_dict, info


def load_pickled_module(path, *, unsafe_load, scan=None):
    """Unpickle a whole ``nn.Module`` saved with ``torch.save(model)``, if allowed.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    unsafe_load : bool
        The user's opt-in to run code from the file. Without it the file is
        refused; it is never loaded "just to see".

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    UnsafeFileError
        When ``unsafe_load`` is False and the file would run code.
    InputError
        When the file holds only weights (read it with
        :func:`load_state_dict_file`), is corrupt, or is no ``nn.Module``.
    """
    path = os.fspath(path)
    scan = scan or scan_torch_file(path)
    if not scan.runs_code:
        raise InputError(f"holds no pickled nn.Module (it is a {scan.verdict.replace('_', ' ')})",
                         path=path, hint="render it as a state_dict (without --unsafe-load)")
    if not unsafe_load:
        raise _refusal(path, scan)
    torch = import_torch(f"reading {path}")
    obj = _torch_load(path, weights_only=False)
    if not isinstance(obj, torch.nn.Module):
        raise InputError(f"holds a pickled {type(obj).__name__}, not an nn.Module", path=path,
                         hint="pass a file written by torch.save(model)")
    return obj
