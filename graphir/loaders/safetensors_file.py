"""safetensors files: the JSON header read and checked here, tensors by ``safetensors``.

A safetensors file is an 8-byte little-endian header length, a JSON header
(``name -> {"dtype", "shape", "data_offsets"}`` plus an optional
``__metadata__`` of strings) and one flat data buffer. Nothing in it is
code, so no opt-in is ever needed. The header is read and checked without
any dependency (sizes, dtypes, offsets that tile the buffer exactly), which
is all the parameter tree needs; tensors come from
``safetensors.safe_open``, imported only then.
"""

import json
import math
import os
import re
import struct

from graphir.errors import InputError, MissingDependencyError
from graphir.util.optional import import_torch
from graphir.util.text import brief

__all__ = ["MAX_HEADER_BYTES", "read_safetensors_header", "load_safetensors"]

#: The largest header accepted (the safetensors library's own limit).
MAX_HEADER_BYTES = 100 * 2 ** 20

# safetensors dtype -> (IR dtype or None, bits per element)
_DTYPES = {
    "BOOL": ("bool", 8), "U8": ("uint8", 8), "I8": ("int8", 8),
    "F8_E5M2": ("float8_e5m2", 8), "F8_E4M3": ("float8_e4m3fn", 8), "F8_E8M0": (None, 8),
    "I16": ("int16", 16), "U16": ("uint16", 16), "F16": ("float16", 16),
    "BF16": ("bfloat16", 16), "I32": ("int32", 32), "U32": ("uint32", 32),
    "F32": ("float32", 32), "F64": ("float64", 64), "I64": ("int64", 64),
    "U64": ("uint64", 64), "C64": ("complex64", 64), "F4": (None, 4),
    "F6_E2M3": (None, 6), "F6_E3M2": (None, 6),
}
_DIGITS = re.compile(r"(\d+)")


def _natural_key(name):
    """Sort key that puts ``h.2`` before ``h.10``."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def _read_header_bytes(path):
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise InputError("is too short to be a safetensors file", path=path,
                                 hint="the file may be truncated; save it again")
            (length,) = struct.unpack("<Q", head)
            if length > size - 8 or length > MAX_HEADER_BYTES:
                raise InputError(f"declares a safetensors header of {length:,} bytes in a "
                                 f"file of {size:,} bytes", path=path,
                                 hint="the file is truncated or not safetensors; save it again")
            header = handle.read(length)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path=path,
                         hint="check the path and its permissions") from None
    return header, size - 8 - length


def _check_entry(name, entry, path):
    """``(shape, IR dtype, begin, end)`` of one header entry; raise if malformed."""
    if not isinstance(entry, dict):
        raise InputError(f"safetensors header entry {name!r} is not an object", path=path,
                         hint="the file is corrupt; save it again")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    ok = (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
          and isinstance(offsets, list) and len(offsets) == 2
          and all(type(o) is int and o >= 0 for o in offsets) and offsets[0] <= offsets[1]
          and isinstance(dtype, str))
    if not ok:
        raise InputError(f"safetensors header entry {name!r} has a bad dtype, shape or "
                         "data_offsets", path=path, hint="the file is corrupt; save it again")
    ir_dtype, bits = _DTYPES.get(dtype, (None, None))
    begin, end = offsets
    if bits is not None and math.prod(shape) * bits != 8 * (end - begin):
        raise InputError(f"tensor {name!r} needs {math.prod(shape) * bits // 8:,} bytes but "
                         f"its data_offsets span {end - begin:,}", path=path,
                         hint="the file is corrupt; save it again")
    return shape, ir_dtype, begin, end


def read_safetensors_header(path):
    """Read and check the header of a safetensors file, without any dependency.

    Returns
    -------
    entries : dict
        ``name -> (shape, dtype)`` in natural name order (``h.2`` before
        ``h.10``); ``dtype`` is an IR dtype, or None for one the IR lacks.
    metadata : dict
        The header's ``__metadata__`` (str -> str), or ``{}``.

    Raises
    ------
    InputError
        When the header is too large, not JSON, or its entries do not tile
        the data buffer exactly.
    """
    raw, data_size = _read_header_bytes(path)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("has a safetensors header that is not valid JSON", path=path,
                         hint="the file is truncated or corrupt; save it again") from None
    if not isinstance(header, dict):
        raise InputError("has a safetensors header that is not a JSON object", path=path,
                         hint="the file is corrupt; save it again")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InputError("has a safetensors __metadata__ that is not a map of strings",
                         path=path, hint="the file is corrupt; save it again")
    checked = {name: _check_entry(name, entry, path) for name, entry in header.items()}
    position = 0
    for name, (_, _, begin, end) in sorted(checked.items(), key=lambda item: item[1][2:]):
        if begin != position:
            raise InputError(f"tensor {name!r} starts at byte {begin:,} of the data, "
                             f"expected {position:,}", path=path,
                             hint="the file is corrupt; save it again")
        position = end
    if position != data_size:
        raise InputError(f"the tensors cover {position:,} bytes of a {data_size:,}-byte "
                         "data buffer", path=path,
                         hint="the file is truncated or corrupt; save it again")
    entries = {name: (checked[name][0], checked[name][1])
               for name in sorted(checked, key=_natural_key)}
    return entries, metadata


def load_safetensors(path, *, header_only=False):
    """The tensors of a safetensors file, or their shapes and dtypes alone.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    header_only : bool
        Read the header only: no dependency needed, no tensor data read.

    Returns
    -------
    dict
        ``name -> torch.Tensor`` (CPU), or ``name -> (shape, dtype)`` with
        ``header_only``; natural name order either way.

    Raises
    ------
    InputError
        When the file is not a valid safetensors file.
    MissingDependencyError
        When tensors are asked for and ``safetensors`` or torch is missing.
    """
    path = os.fspath(path)
    entries, _ = read_safetensors_header(path)
    if header_only:
        return entries
    import_torch(f"reading the tensors of {path}")
    try:
        from safetensors import safe_open
    except ImportError:
        raise MissingDependencyError("reading safetensors tensors needs the safetensors "
                                     "package", path=path,
                                     hint="pip install safetensors") from None
    try:
        with safe_open(path, framework="pt", device="cpu") as handle:
            return {name: handle.get_tensor(name) for name in entries}
    except Exception as exc:  # safetensors raises its own SafetensorError and others
        raise InputError(f"cannot be read as safetensors ({brief(exc)})", path=path,
                         hint="the file may be corrupt; save it again") from None
