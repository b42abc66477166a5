"""What a torch pickle would do when loaded, found without unpickling it.

``torch.save`` writes a zip archive whose ``data.pkl`` is a pickle (older
versions write a bare sequence of pickles), and ``torch.jit.save`` writes a
zip archive of pickles and TorchScript source. Unpickling runs whatever
callables the pickle names, so this module reads the opcodes with
:func:`pickletools.genops` and never calls :mod:`pickle`.

The scan lists every global a pickle references (``GLOBAL``, ``STACK_GLOBAL``,
``INST``), replays the stack and memo on inert stand-ins to see the shape of
the top-level object, and classifies the file:

``state_dict``
    Only tensor-rebuilding functions, storage types, dtypes and plain
    containers, and the top level is a mapping of names to tensors.
``checkpoint``
    The same globals, and the top level is a dict holding such a mapping
    under a key like ``model`` or ``state_dict`` (beside optimizer state,
    an epoch, ...).
``data``
    The same globals, but no state_dict anywhere (a bare tensor, a list).
``code``
    It references anything else (``__main__.Net``, ``torch.nn.modules...``,
    ``posix.system``, ``builtins.eval``), so loading it would run code from
    the file.

A TorchScript archive is checked by :func:`scan_torchscript_archive`: its
pickles may name only what ``torch.jit.load``'s own unpickler resolves, and
its code may not define ``__setstate__``, the one method ``torch.jit.load``
runs while loading.

A ``torch.export.save`` archive (``.pt2``) is checked by
:func:`scan_export_archive`: ``torch.export.load`` unpickles pickled weights,
constants and example inputs with ``weights_only=False`` (after a failed
``weights_only=True`` attempt, for the inputs), ``pickle.loads`` opaque
constants, evaluates symbolic shape expressions with ``sympy.sympify``
(``eval``) and loads AOTInductor shared libraries. So every pickle in it
must pass the state_dict allow-list, every ``expr_str`` must be a plain
arithmetic expression over shape symbols, and no compiled code may be in it.

Examples
--------
>>> import pickle
>>> scan_pickle(pickle.dumps({"fc.weight": None}, protocol=2)).verdict
'data'
>>> scan_pickle(pickle.dumps(print, protocol=4)).unsafe
('builtins.print',)
"""

import dataclasses
import io
import json
import pickletools
import re
import zipfile
from typing import Optional

from graphir.errors import InputError
from graphir.util.text import brief as _brief

__all__ = [
    "STATE_DICT_KEYS",
    "PickleScan",
    "scan_pickle",
    "scan_torch_file",
    "scan_torchscript_archive",
    "scan_export_archive",
    "describe_globals",
]

#: Keys under which training checkpoints keep the model's weights, most likely first.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model_state", "model", "module",
                   "net", "network", "ema", "model_ema", "weights", "params")

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MAX_OPS = 20_000_000
_MAX_DEPTH = 3
_MAX_SOURCE_BYTES = 64 * 2 ** 20

# What torch.load(weights_only=True) may rebuild; mirrors torch's allow-list.
_SAFE_GLOBALS = frozenset({
    "collections.OrderedDict", "collections.Counter", "_codecs.encode",
    "builtins.set", "builtins.frozenset", "builtins.bytearray", "builtins.complex",
    "torch.Size", "torch.Tensor", "torch.device", "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout", "torch.storage.TypedStorage",
    "torch.storage.UntypedStorage", "torch._tensor._rebuild_from_type_v2",
})
_TENSOR_REBUILDERS = frozenset({
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor", "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage", "torch._utils._rebuild_wrapper_subclass",
    "torch._utils._rebuild_device_tensor_from_cpu_tensor",
    "torch._utils._rebuild_device_tensor_from_numpy",
    "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter",
})
_TORCH_TYPE_NAME = re.compile(
    r"(torch|torch\.cuda|torch\.sparse|torch\.cuda\.sparse)\.[A-Z][A-Za-z0-9]*(Storage|Tensor)"
    r"|torch\.(u?int\d+|float\d+(_\w+)?|bfloat16|bool|complex\d+|bits\w+"
    r"|q(u)?int\d+(x\d+)?|per_(tensor|channel)_\w+)")
# What torch.jit.load's C++ unpickler resolves itself; anything else must be a
# TorchScript type (``__torch__.*``) compiled from the archive's code.
_TORCHSCRIPT_GLOBALS = frozenset({
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor", "collections.OrderedDict",
    "builtins.complex", "torch.device", "__main__.TensorID", "__main__.IntList",
    "torch.jit._pickle.build_tensor_from_id", "torch.jit._pickle.restore_type_tag",
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
})
_SETSTATE = re.compile(rb"\bdef\s+__setstate__\b")
_CLASS = re.compile(rb"^class\s+(\w+)", re.MULTILINE)
# Names a torch.export shape expression may use: the sympy functions torch's
# deserializer provides, sympy's own printed forms, and symbols like s0, u3.
_SYMPY_NAMES = frozenset({
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "Max", "Min", "Eq", "Ne", "Lt",
    "Le", "Gt", "Ge", "And", "Or", "Not", "Xor", "True", "False", "floor", "ceiling", "Abs",
    "sqrt", "oo", "zoo", "nan", "Integer", "Rational", "Float", "Piecewise",
})
_SYMBOL_NAME = re.compile(r"[a-z]+\d+")
_EXPR_TOKEN = re.compile(r"\s*(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|([A-Za-z][A-Za-z0-9]*)"
                         r"|\*\*|//|<=|>=|==|!=|[-+*/%(),<>&|~^])")
_NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd")
_EXPORT_METADATA = ("archive_format", "archive_version", "version", "byteorder")
_EXPORT_TEXT_DIRS = ("extra/", "extra_files/", ".data/")
_MAX_JSON_BYTES = 1024 * 2 ** 20


@dataclasses.dataclass(frozen=True)
class PickleScan:
    """The result of scanning a torch file without loading it.

    Attributes
    ----------
    verdict : str
        ``state_dict``, ``checkpoint``, ``data`` or ``code`` (see the module doc).
    format : str
        ``zip`` (``torch.save``), ``legacy`` (pre-1.6 ``torch.save``),
        ``pickle`` (a bare pickle, not written by torch), ``torchscript``
        or ``export``.
    globals : tuple of str
        Every global referenced, as ``module.name``, sorted.
    unsafe : tuple of str
        What makes the file run code when loaded: globals, and for a
        ``.pt2`` archive also shape expressions or compiled files.
    key : tuple of str or None
        Where the state_dict sits: ``()`` for a plain state_dict,
        ``("model",)`` inside a checkpoint, None when there is none.
    top_keys : tuple of str
        The top-level dict's keys (at most 50), for messages.
    top_class : str or None
        The global that builds the top-level object when it is not a
        container (``samples.resnet.ResNet`` for a pickled module).
    setstate : tuple of str
        TorchScript classes defining ``__setstate__`` (archives only).
    """

    verdict: str
    format: str
    globals: tuple = ()
    unsafe: tuple = ()
    key: Optional[tuple] = None
    top_keys: tuple = ()
    top_class: Optional[str] = None
    setstate: tuple = ()

    @property
    def runs_code(self):
        """True when loading the file runs code from it."""
        return self.verdict == "code"


class _Global:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Tensor:
    __slots__ = ()


class _Object:
    __slots__ = ("cls",)

    def __init__(self, cls=None):
        self.cls = cls


_TENSOR = _Tensor()
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _is_safe_torch_global(name):
    return name in _SAFE_GLOBALS or name in _TENSOR_REBUILDERS or bool(
        _TORCH_TYPE_NAME.fullmatch(name))


class _Replay:
    """Replays pickle opcodes on inert stand-ins: containers stay containers,
    tensors become a marker, everything else an opaque object.

    One ``op_<OPCODE>`` method per opcode that is more than a literal push;
    a literal's value is genops' argument.
    """

    def __init__(self):
        self.stack = []
        self.marks = []
        self.memo = {}
        self.globals = []

    def step(self, name, arg):
        handler = getattr(self, f"op_{name}", None)
        if handler is None:
            self.stack.append(b"" if "BYTE" in name else arg)
        else:
            handler(arg)

    def pop_mark(self):
        items = self.stack
        self.stack = self.marks.pop()
        return items

    def add_global(self, module, name):
        if not isinstance(module, str) or not isinstance(name, str):
            full = "<a global computed at load time>"
        else:  # protocol 2 writes Python 2 names, which unpickling maps back
            full = f"{_PY2_MODULES.get(module, module)}.{name}"
        self.globals.append(full)
        return _Global(full)

    def op_PROTO(self, arg):
        pass

    op_FRAME = op_READONLY_BUFFER = op_PROTO

    def op_MARK(self, arg):
        self.marks.append(self.stack)
        self.stack = []

    def op_NONE(self, arg):
        self.stack.append(None)

    def op_NEWTRUE(self, arg):
        self.stack.append(True)

    def op_NEWFALSE(self, arg):
        self.stack.append(False)

    def op_EMPTY_DICT(self, arg):
        self.stack.append({})

    def op_EMPTY_LIST(self, arg):
        self.stack.append([])

    def op_EMPTY_TUPLE(self, arg):
        self.stack.append(())

    def op_EMPTY_SET(self, arg):
        self.stack.append(_Object("builtins.set"))

    def op_DICT(self, arg):
        items = self.pop_mark()
        self.stack.append({})
        _set_items(self.stack[-1], zip(items[0::2], items[1::2]))

    def op_SETITEMS(self, arg):
        items = self.pop_mark()
        _set_items(self.stack[-1], zip(items[0::2], items[1::2]))

    def op_SETITEM(self, arg):
        value, key = self.stack.pop(), self.stack.pop()
        _set_items(self.stack[-1], [(key, value)])

    def op_LIST(self, arg):
        items = self.pop_mark()
        self.stack.append(items)

    def op_TUPLE(self, arg):
        items = self.pop_mark()
        self.stack.append(tuple(items))

    def op_FROZENSET(self, arg):
        self.pop_mark()
        self.stack.append(_Object("builtins.frozenset"))

    def _tuple_of(self, count):
        if len(self.stack) < count:
            raise ValueError(f"a tuple of {count} from a stack of {len(self.stack)}")
        items = tuple(self.stack[len(self.stack) - count:])
        del self.stack[len(self.stack) - count:]
        self.stack.append(items)

    def op_TUPLE1(self, arg):
        self._tuple_of(1)

    def op_TUPLE2(self, arg):
        self._tuple_of(2)

    def op_TUPLE3(self, arg):
        self._tuple_of(3)

    def op_APPEND(self, arg):
        value = self.stack.pop()
        if isinstance(self.stack[-1], list):
            self.stack[-1].append(value)

    def op_APPENDS(self, arg):
        items = self.pop_mark()
        if isinstance(self.stack[-1], list):
            self.stack[-1].extend(items)

    def op_ADDITEMS(self, arg):
        self.pop_mark()
        if not self.stack:
            raise ValueError("ADDITEMS without a set")

    def op_GLOBAL(self, arg):
        module, _, name = str(arg).partition(" ")
        self.stack.append(self.add_global(module, name))

    def op_INST(self, arg):
        module, _, name = str(arg).partition(" ")
        self.pop_mark()
        self.stack.append(_Object(self.add_global(module, name).name))

    def op_STACK_GLOBAL(self, arg):
        name, module = self.stack.pop(), self.stack.pop()
        self.stack.append(self.add_global(module, name))

    def op_EXT1(self, arg):
        self.globals.append(f"<copyreg extension {arg}>")
        self.stack.append(_Object())

    op_EXT2 = op_EXT4 = op_EXT1

    def op_REDUCE(self, arg):
        args, func = self.stack.pop(), self.stack.pop()
        self.stack.append(_reduce(func, args))

    def op_NEWOBJ(self, arg):
        self.stack.pop()
        self.stack.append(_Object(getattr(self.stack.pop(), "name", None)))

    def op_NEWOBJ_EX(self, arg):
        del self.stack[-2:]
        self.stack.append(_Object(getattr(self.stack.pop(), "name", None)))

    def op_OBJ(self, arg):
        items = self.pop_mark()
        self.stack.append(_Object(getattr(items[0], "name", None) if items else None))

    def op_BUILD(self, arg):
        self.stack.pop()
        if not self.stack:
            raise ValueError("BUILD without an object")

    def op_BINPERSID(self, arg):
        self.stack.pop()
        self.stack.append(_Object("persistent"))

    def op_PERSID(self, arg):
        self.stack.append(_Object("persistent"))

    op_NEXT_BUFFER = op_PERSID

    def op_PUT(self, arg):
        self.memo[arg] = self.stack[-1]

    op_BINPUT = op_LONG_BINPUT = op_PUT

    def op_MEMOIZE(self, arg):
        self.memo[len(self.memo)] = self.stack[-1]

    def op_GET(self, arg):
        self.stack.append(self.memo[arg])

    op_BINGET = op_LONG_BINGET = op_GET

    def op_POP(self, arg):
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_POP_MARK(self, arg):
        self.pop_mark()

    def op_DUP(self, arg):
        self.stack.append(self.stack[-1])


def _set_items(target, pairs):
    if isinstance(target, dict):
        for key, value in pairs:
            if _hashable(key):
                target[key] = value


def _reduce(func, args):
    """The stand-in for ``func(*args)``: dicts stay dicts, tensors become the marker."""
    name = func.name if isinstance(func, _Global) else None
    if name in ("collections.OrderedDict", "collections.Counter"):
        pairs = args[0] if isinstance(args, tuple) and args else ()
        return dict(p for p in pairs if isinstance(p, tuple) and len(p) == 2
                    and _hashable(p[0])) if isinstance(pairs, list) else {}
    if name in _TENSOR_REBUILDERS:
        return _TENSOR
    if name == "torch.Size":
        return tuple(args[0]) if args and isinstance(args[0], (list, tuple)) else ()
    return _Object(name)


def _hashable(value):
    return isinstance(value, (str, int, float, bool, bytes, tuple)) or value is None


def _replay(stream, label=None):
    """Replay one pickle from ``stream``; return (top object, globals).

    ``label`` names the pickle in messages (a zip member); None when the
    file itself is the pickle.
    """
    subject = f"{label} is" if label else "is"
    replay = _Replay()
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            count += 1
            if count > _MAX_OPS:
                raise InputError(f"{subject} too large to check ({_MAX_OPS:,} pickle opcodes)",
                                 hint="convert the weights to safetensors")
            if opcode.name == "STOP":
                break
            replay.step(opcode.name, arg)
        else:
            raise ValueError("the pickle ends without STOP")
        top = replay.stack.pop()
    except InputError:
        raise
    except Exception as exc:  # genops and the replay raise many types on bad bytes
        raise InputError(f"{subject} not a valid pickle ({_brief(exc)})",
                         hint="the file may be truncated or corrupt; save it again") from None
    return top, replay.globals


def _with_path(exc, path):
    """The same error, naming ``path`` when it named no file yet."""
    if exc.path is not None:
        return exc
    return type(exc)(exc.message, path=path, hint=exc.hint)


def is_state_dict(value, is_tensor):
    """A non-empty ``{str: tensor}`` dict (``*_extra_state`` entries may be anything)."""
    if not isinstance(value, dict) or not value or not all(isinstance(k, str) for k in value):
        return False
    tensors = [v for k, v in value.items() if not k.endswith("_extra_state")]
    return bool(tensors) and all(is_tensor(v) for v in tensors)


def find_state_dict(value, is_tensor, depth=0):
    """Key path of the first state_dict inside ``value``, known keys first, else None.

    The one search, used on replayed pickles (here) and on what ``torch.load``
    returned (:mod:`graphir.loaders.torch_files`); ``is_tensor`` tells a
    tensor in each.

    Examples
    --------
    >>> find_state_dict({"epoch": 3, "model": {"w": 1.0}}, lambda v: isinstance(v, float))
    ('model',)
    """
    if is_state_dict(value, is_tensor):
        return ()
    if not isinstance(value, dict) or depth >= _MAX_DEPTH:
        return None
    keys = [k for k in STATE_DICT_KEYS if k in value]
    keys += [k for k in value if isinstance(k, str) and k not in keys]
    for key in keys:
        found = find_state_dict(value[key], is_tensor, depth + 1)
        if found is not None:
            return (key,) + found
    return None


def _classify(top, found_globals, fmt):
    """A :class:`PickleScan` from a replayed top-level object and its globals."""
    names = tuple(sorted(set(found_globals)))
    unsafe = tuple(n for n in names if not _is_safe_torch_global(n))
    top_keys = tuple(str(k) for k in top)[:50] if isinstance(top, dict) else ()
    top_class = top.cls if isinstance(top, _Object) else None
    if unsafe:
        return PickleScan("code", fmt, names, unsafe, None, top_keys, top_class)
    key = find_state_dict(top, lambda v: v is _TENSOR)
    if key is None:
        verdict = "data"
    else:
        verdict = "state_dict" if key == () else "checkpoint"
    return PickleScan(verdict, fmt, names, (), key, top_keys, top_class)


def scan_pickle(data, *, label=None):
    """Scan one pickle given as bytes (or a binary stream) without unpickling it.

    Parameters
    ----------
    data : bytes or file-like
        The pickle.
    label : str, optional
        How messages name it (a zip member's name).

    Returns
    -------
    PickleScan
        With ``format="pickle"``.

    Raises
    ------
    InputError
        When the bytes are not a complete pickle.
    """
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    top, found = _replay(stream, label)
    return _classify(top, found, "pickle")


def _scan_legacy(path):
    """The pickles of a pre-1.6 ``torch.save`` file (or a bare pickle)."""
    with open(path, "rb") as handle:
        magic, found = _replay(handle)
        if magic != _TORCH_LEGACY_MAGIC:
            return _classify(magic, found, "pickle")
        top = None
        for index in range(4):  # protocol version, sys info, the object, storage keys
            value, more = _replay(handle)
            found += more
            if index == 2:
                top = value
    return _classify(top, found, "legacy")


def _archive_prefix(infos):
    first = infos[0].filename if infos else ""
    return first.split("/", 1)[0] + "/" if "/" in first else ""


def _scan_zip(path):
    """``data.pkl`` (the object) and every other ``.pkl`` of a ``torch.save`` zip."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        pickles = [i for i in infos if i.filename.endswith(".pkl")]
        main_name = _archive_prefix(infos) + "data.pkl"
        main = next((i for i in pickles if i.filename == main_name), None) or next(
            (i for i in pickles if i.filename.rsplit("/", 1)[-1] == "data.pkl"), None)
        if main is None:
            raise InputError("is a zip archive without data.pkl, so not a torch.save file",
                             path=path, hint="pass a file written by torch.save")
        found, top = [], None
        for info in pickles:
            with archive.open(info) as member:
                value, more = _replay(member, info.filename)
            found += more
            if info is main:
                top = value
    return _classify(top, found, "zip")


def scan_torch_file(path):
    """Scan a ``torch.save`` file (zip or legacy) or a bare pickle, never unpickling it.

    Returns
    -------
    PickleScan

    Raises
    ------
    InputError
        When the file is not a readable pickle or ``torch.save`` archive.
    """
    try:
        if zipfile.is_zipfile(path):
            return _scan_zip(path)
        return _scan_legacy(path)
    except InputError as exc:
        raise _with_path(exc, path) from None
    except Exception as exc:  # zipfile, zlib and the OS raise many types on bad bytes
        raise InputError(f"cannot be read as a torch file ({_brief(exc)})", path=path,
                         hint="the file may be truncated; save it again") from None


def _setstate_classes(source):
    """Names of the classes in TorchScript source that define ``__setstate__``."""
    classes = []
    for match in _SETSTATE.finditer(source):
        owners = _CLASS.findall(source[:match.start()])
        classes.append(owners[-1].decode("ascii", "replace") if owners else "?")
    return classes


def scan_torchscript_archive(path):
    """Check a ``torch.jit.save`` archive before ``torch.jit.load`` touches it.

    ``torch.jit.load`` resolves pickle globals in C++ against a fixed list
    (tensor rebuilding, ``OrderedDict``, ``torch.jit._pickle`` helpers) and
    TorchScript classes compiled from the archive's ``code/``; it never
    imports Python objects. It does run the ``__setstate__`` TorchScript
    methods of the archive's classes while loading, and TorchScript can
    write files (``torch.from_file(..., shared=True)``), so an archive
    defining ``__setstate__`` runs code from the file.

    Returns
    -------
    PickleScan
        ``verdict`` is ``code`` when a pickle names a global outside that
        list (``unsafe``) or a class defines ``__setstate__``
        (``setstate``); otherwise ``data``.

    Raises
    ------
    InputError
        When the archive or one of its pickles cannot be read.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            found, setstate = [], []
            for info in archive.infolist():
                if info.filename.endswith(".pkl"):
                    with archive.open(info) as member:
                        found += _replay(member, info.filename)[1]
                elif "/code/" in "/" + info.filename and info.filename.endswith(".py"):
                    if info.file_size > _MAX_SOURCE_BYTES:
                        raise InputError(f"{info.filename} is too large to check",
                                         hint="the archive may be corrupt; save it again")
                    setstate += _setstate_classes(archive.read(info))
    except InputError as exc:
        raise _with_path(exc, path) from None
    except Exception as exc:  # zipfile, zlib and the OS raise many types on bad bytes
        raise InputError(f"cannot be read as a TorchScript archive ({_brief(exc)})", path=path,
                         hint="the file may be truncated; save it again") from None
    names = tuple(sorted(set(found)))
    unsafe = tuple(n for n in names
                   if n not in _TORCHSCRIPT_GLOBALS and not n.startswith("__torch__.")
                   and not _TORCH_TYPE_NAME.fullmatch(n))
    verdict = "code" if unsafe or setstate else "data"
    return PickleScan(verdict, "torchscript", names, unsafe, setstate=tuple(sorted(set(setstate))))


def describe_globals(names, limit=3):
    """A short list of globals for a message, code-running ones first.

    Examples
    --------
    >>> describe_globals(["torch.nn.modules.conv.Conv2d", "__main__.Net", "posix.system",
    ...                   "torch.nn.modules.linear.Linear"])
    '__main__.Net, posix.system, torch.nn.modules.conv.Conv2d and 1 more'
    """
    ordered = sorted(names, key=lambda n: (n.startswith("torch."), n))
    shown = ", ".join(ordered[:limit])
    more = len(ordered) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _safe_shape_expression(text):
    """True when ``text`` is arithmetic over shape symbols and known sympy names.

    Examples
    --------
    >>> _safe_shape_expression("Max(2, s0) + FloorDiv(s1, 8)")
    True
    >>> _safe_shape_expression("__import__('os').system('x')")
    False
    """
    position = 0
    while position < len(text):
        match = _EXPR_TOKEN.match(text, position)
        if match is None:
            return not text[position:].strip()
        name = match.group(1)
        if name is not None and name not in _SYMPY_NAMES and not _SYMBOL_NAME.fullmatch(name):
            return False
        position = match.end()
    return True


def _json_expressions(data):
    """Every string under an ``expr_str`` key of a JSON document."""
    found, stack = [], [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "expr_str":
                    found.append(item)
                else:
                    stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _raw_payloads(documents):
    """Member names (``data/weights/weight_0``) that hold raw tensor bytes, not pickles."""
    raw = set()
    for name, data in documents.items():
        folder = name.rpartition("/")[0]
        config = data.get("config") if isinstance(data, dict) and folder.startswith("data/") \
            else None
        for entry in (config.values() if isinstance(config, dict) else ()):
            if isinstance(entry, dict) and entry.get("use_pickle") is False:
                raw.add(f"{folder}/{entry.get('path_name')}")
    return raw


def _member_globals(archive, info):
    """Globals of a member that torch.load or pickle.loads would read."""
    with archive.open(info) as member:
        head = member.read(4)
    if head == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(archive.read(info))) as inner:
            found = []
            for pickled in inner.infolist():
                if pickled.filename.endswith(".pkl"):
                    with inner.open(pickled) as member:
                        found += _replay(member, f"{info.filename}:{pickled.filename}")[1]
            return found
    with archive.open(info) as member:
        first, found = _replay(member, info.filename)
        if first == _TORCH_LEGACY_MAGIC:
            for _ in range(4):
                found += _replay(member, info.filename)[1]
    return found


def scan_export_archive(path):
    """Check a ``torch.export.save`` archive before ``torch.export.load`` touches it.

    Returns
    -------
    PickleScan
        ``verdict`` is ``code`` when a pickle in it names a global outside
        the state_dict allow-list, a shape expression is not plain
        arithmetic, or it holds compiled code; ``unsafe`` names the culprits.
        Otherwise ``data``.

    Raises
    ------
    InputError
        When the archive, a JSON document or a pickle in it cannot be read.
    """
    found, unsafe = [], []
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            prefix = _archive_prefix(infos)
            names = {i.filename: i.filename[len(prefix):] if i.filename.startswith(prefix)
                     else i.filename for i in infos}
            documents = {}
            for info in infos:
                if names[info.filename].endswith(".json"):
                    if info.file_size > _MAX_JSON_BYTES:
                        raise InputError(f"{info.filename} is too large to check",
                                         hint="the archive may be corrupt; save it again")
                    documents[names[info.filename]] = json.loads(archive.read(info))
            for document in documents.values():
                unsafe += [f"the shape expression {str(e)[:40]!r}"
                           for e in _json_expressions(document)
                           if not isinstance(e, str) or not _safe_shape_expression(e)]
            raw = _raw_payloads(documents)
            for info in infos:
                name = names[info.filename]
                if name.startswith("data/aotinductor/") or name.endswith(_NATIVE_SUFFIXES):
                    unsafe.append(f"the compiled code {name}")
                elif not (name in documents or name in raw or name in _EXPORT_METADATA
                          or name.startswith(_EXPORT_TEXT_DIRS)):
                    found += _member_globals(archive, info)
    except InputError as exc:
        raise _with_path(exc, path) from None
    except Exception as exc:  # zipfile, zlib, json and the OS raise many types on bad bytes
        raise InputError(f"cannot be read as a torch.export archive ({_brief(exc)})",
                         path=path, hint="the file may be truncated; save it again") from None
    names_found = tuple(sorted(set(found)))
    unsafe += [n for n in names_found if not _is_safe_torch_global(n)
               and not n.startswith("__torch__.torch.classes.")]
    return PickleScan("code" if unsafe else "data", "export", names_found, tuple(unsafe))
