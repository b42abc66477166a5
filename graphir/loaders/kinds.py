"""What a model file is, told by its content rather than its extension.

Nothing here imports torch or onnx, and nothing unpickles: the checks read a
file's first bytes and, for zip archives, the list of member names.

Kinds
-----
``onnx``         ONNX protobuf (``ModelProto``)
``export``       ``torch.export.save`` archive (``.pt2``)
``torchscript``  ``torch.jit.save`` archive
``torch_pickle`` ``torch.save`` archive or legacy pickle (a state_dict, a
                 checkpoint dict, or a whole pickled module)
``safetensors``  safetensors file
``json``         graphir IR JSON
``python``       ``FILE.py:CALLABLE`` or ``MODULE.PATH:CALLABLE`` factory spec
``hf_folder``    Hugging Face model folder (``config.json`` + weights, as
                 written by ``save_pretrained``)
"""

import os
import struct
import zipfile

from graphir.errors import InputError

__all__ = ["KINDS", "FactorySpec", "detect_kind", "split_factory_spec", "folder_without_config"]

CONFIG_FILE = "config.json"

KINDS = ("onnx", "export", "torchscript", "torch_pickle", "safetensors", "json", "python",
         "hf_folder")

_PICKLE_PROTOCOL_BYTE = 0x80


class FactorySpec(tuple):
    """``(target, callable)`` of a factory spec; ``kind`` is ``file`` or ``module``.

    ``target`` is a path for ``FILE.py:CALLABLE`` and a dotted module name for
    ``MODULE.PATH:CALLABLE``; ``callable`` may be dotted (``Class.build``).
    """

    __slots__ = ()

    def __new__(cls, target, name):
        return super().__new__(cls, (target, name))

    @property
    def target(self):
        return self[0]

    @property
    def name(self):
        return self[1]

    @property
    def kind(self):
        return "file" if self[0].endswith(".py") else "module"


def _is_dotted_name(text):
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def split_factory_spec(spec):
    """Split a factory spec into ``(target, callable)``, else None.

    This is the one place that parses factory specs. The rules, in order:

    1. a path that exists (file or folder) is a path, never a factory;
    2. ``FILE.py:CALLABLE`` (the part before the last ``:`` ends in ``.py``)
       is a Python file, imported from its path;
    3. ``MODULE.PATH:CALLABLE`` (dotted identifiers before the last ``:``)
       is a module imported by name (``samples.gpt2:gpt2_tiny``, or any
       installed package).

    ``CALLABLE`` is an identifier, or a dotted attribute path
    (``Class.build``). The result's ``.kind`` is ``file`` or ``module``.

    Examples
    --------
    >>> split_factory_spec("samples/gpt2.py:gpt2_tiny")
    ('samples/gpt2.py', 'gpt2_tiny')
    >>> split_factory_spec("samples.gpt2:gpt2_tiny").kind
    'module'
    >>> split_factory_spec("model.onnx") is None
    True
    """
    text = str(os.fspath(spec)) if isinstance(spec, (str, os.PathLike)) else str(spec)
    path, sep, name = text.rpartition(":")
    if not sep or not _is_dotted_name(name) or os.path.exists(text):
        return None
    if path.endswith(".py"):
        return FactorySpec(path, name)
    if _is_dotted_name(path):
        return FactorySpec(path, name)
    return None


_MODEL_EXTENSIONS = (".onnx", ".pt2", ".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".json")


def folder_without_config(path):
    """The :class:`InputError` for a folder that is not a Hugging Face model folder.

    The hint names what the folder looks like: a PEFT adapter, a diffusers
    pipeline, or the model files inside it.
    """
    try:
        names = sorted(os.listdir(path))
    except OSError:
        names = []
    if "adapter_config.json" in names:
        hint = "it holds a PEFT adapter (adapter_config.json); pass the base model's folder"
    elif "model_index.json" in names:
        parts = [n for n in names if os.path.isfile(os.path.join(path, n, CONFIG_FILE))]
        hint = ("it is a diffusers pipeline (model_index.json); pass one of its component "
                "folders" + (f", such as {os.path.join(path, parts[0])}" if parts else ""))
    else:
        files = [n for n in names if n.lower().endswith(_MODEL_EXTENSIONS)
                 and os.path.isfile(os.path.join(path, n))]
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        hint = (f"pass the model file inside it ({shown})" if files else
                "pass a model file, or a folder written by save_pretrained")
    return InputError(f"is a folder without {CONFIG_FILE}, so not a Hugging Face model folder",
                      path=path, hint=hint)


def _zip_kind(path):
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(f"looks like a zip archive but cannot be read ({exc})", path=path,
                         hint="the file may be truncated; save it again") from None
    tails = {name.split("/", 1)[1] if "/" in name else name for name in names}
    if any(t.startswith("models/") and t.endswith(".json") for t in tails) \
            or "archive_format" in tails:
        return "export"
    if any(t.startswith("code/") for t in tails) or "constants.pkl" in tails:
        return "torchscript"
    if "data.pkl" in tails:
        return "torch_pickle"
    raise InputError("is a zip archive of no kind graphir knows (not torch.save, "
                     "torch.jit.save or torch.export.save)", path=path,
                     hint="pass an ONNX, .pt2, TorchScript, state_dict, safetensors or IR JSON file")


def _looks_like_safetensors(head, size):
    if len(head) < 10:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 2 <= header_len <= size - 8 and head[8:9] == b"{"


def _looks_like_onnx(head):
    # A ModelProto starts with field 1 (ir_version, varint: tag 0x08) in every
    # exporter we know; some writers lead with field 2..8 strings (tags 0x12..0x42).
    return len(head) >= 2 and head[0] in (0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)


def _head_kind(head, size, path):
    if head[:4] == b"PK\x03\x04":
        return _zip_kind(path)
    if _looks_like_safetensors(head, size):
        return "safetensors"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    if head[0] == _PICKLE_PROTOCOL_BYTE:
        return "torch_pickle"
    if _looks_like_onnx(head):
        return "onnx"
    return None


def detect_kind(spec):
    """Return the kind of model ``spec`` names (one of :data:`KINDS`).

    Raises
    ------
    InputError
        When the file is missing, empty, unreadable or of no known kind.
    """
    if split_factory_spec(spec):
        return "python"
    path = os.fspath(spec)
    if not os.path.exists(path):
        raise InputError("no such file", path=path, hint="check the path")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, CONFIG_FILE)):
            return "hf_folder"
        raise folder_without_config(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path=path,
                         hint="check its permissions") from None
    if size == 0:
        raise InputError("is empty", path=path, hint="pass a saved model file")
    kind = _head_kind(head, size, path)
    if kind is None:
        raise InputError("is not a model file graphir can read (not ONNX, torch, "
                         "safetensors or IR JSON)", path=path,
                         hint="check that the file is complete and of a supported kind")
    return kind
