"""Open ``.onnx`` files safely: parse errors, external data, content sniffing.

:func:`load_onnx` parses a binary ONNX file without its external data,
checks that every external-data reference stays inside the model's own
folder and names an existing file, and only then reads the external data.
Any problem with the file is an :class:`~graphir.errors.InputError` with one
clear line. :func:`looks_like_onnx` tells whether a file's first bytes look
like a serialized ``ModelProto``, for file-kind detection.

``onnx`` is imported lazily, so importing this module costs nothing.

Examples
--------
>>> model = load_onnx("samples/resnet_tiny.onnx")
>>> looks_like_onnx("samples/resnet_tiny.onnx")
True
"""

import os

from graphir.errors import InputError, MissingDependencyError

__all__ = ["load_onnx", "looks_like_onnx", "external_tensors"]

# ModelProto field number -> protobuf wire type (0 varint, 2 length-delimited).
_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_SNIFF_BYTES = 64
_MAX_IR_VERSION = 100


def _import_onnx(path):
    try:
        import onnx
        import onnx.checker  # noqa: F401  (loads the submodules)
        import onnx.external_data_helper  # noqa: F401
    except ImportError:
        raise MissingDependencyError("reading ONNX files needs the onnx package, "
                                     "which is not installed", path=path,
                                     hint="pip install onnx") from None
    return onnx


def _read_varint(data, pos):
    """Decode one protobuf varint at ``pos``; return ``(value, next_pos)`` or None."""
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def looks_like_onnx(path):
    """Cheap content check: do the file's first bytes look like an ONNX model?

    An ONNX file is a protobuf ``ModelProto``; writers put ``ir_version``
    (field 1, tag byte ``0x08``) first. The check decodes the first two
    fields from the first 64 bytes and accepts only ModelProto field numbers
    with the right wire types, which tells ONNX apart from zip archives
    (PyTorch), pickles, safetensors and JSON. It never raises.

    Parameters
    ----------
    path : str or os.PathLike
        The file to inspect.

    Returns
    -------
    bool

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"\\x08\\x08\\x12\\x07pytorch")
    >>> looks_like_onnx(f.name), os.remove(f.name)
    (True, None)
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except (OSError, ValueError, TypeError):
        return False
    pos = 0
    for index in range(2):
        if pos >= len(head):
            return index > 0
        tag = _read_varint(head, pos)
        if tag is None:
            return False
        key, pos = tag
        field, wire = key >> 3, key & 7
        if _MODEL_FIELDS.get(field) != wire:
            return False
        value = _read_varint(head, pos)
        if value is None:
            return False
        number, pos = value
        if field == 1 and not 1 <= number <= _MAX_IR_VERSION:
            return False
        if wire == 2:
            if number > size - pos:
                return False
            pos += number
    return True


def _parse(onnx, path):
    from google.protobuf.message import DecodeError

    try:
        size = os.path.getsize(path)
        model = onnx.load(path, format="protobuf", load_external_data=False)
    except FileNotFoundError:
        raise InputError("no such file", path=path,
                         hint="check the path") from None
    except IsADirectoryError:
        raise InputError("is a folder, not an ONNX file", path=path,
                         hint="pass the .onnx file inside it") from None
    except PermissionError:
        raise InputError("permission denied", path=path,
                         hint="check the file's permissions") from None
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})", path=path,
                         hint="check the path and the disk") from None
    except DecodeError:
        raise InputError("not a valid ONNX file (the protobuf data is truncated or "
                         "corrupt)", path=path,
                         hint="re-export or re-download the model") from None
    if size == 0:
        raise InputError("the file is empty", path=path,
                         hint="re-export or re-download the model")
    if not model.HasField("graph") or model.ir_version <= 0:
        raise InputError("not an ONNX model (no graph or no ir_version)", path=path,
                         hint="pass a binary .onnx file written by an ONNX exporter")
    return model


def _check_text(path, model):
    """Refuse a model whose text fields are not valid UTF-8 (a corrupt file).

    Protobuf parses such fields without complaint and hands them back as
    ``bytes``, which would break every consumer of names and attributes.
    """
    from google.protobuf.message import Message

    stack = [model]
    while stack:
        message = stack.pop()
        for field, value in message.ListFields():
            if field.type == field.TYPE_MESSAGE:
                if isinstance(value, Message):
                    stack.append(value)
                else:
                    stack.extend(value)
            elif field.type == field.TYPE_STRING:
                items = [value] if isinstance(value, (str, bytes)) else value
                if any(not isinstance(item, str) for item in items):
                    raise InputError(f"not a valid ONNX file (field {field.full_name} "
                                     "holds text that is not UTF-8)", path=path,
                                     hint="the file is corrupt; re-export or "
                                          "re-download the model")


def _graph_tensors(graph):
    """Yield every TensorProto stored in a graph, its nodes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node):
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        for sparse in [attr.sparse_tensor, *attr.sparse_tensors]:
            yield sparse.values
            yield sparse.indices
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for graph in attr.graphs:
            yield from _graph_tensors(graph)


def external_tensors(model):
    """Tensors of ``model`` whose data lives in an external file.

    Covers initializers (also sparse ones and those of subgraphs) and tensor
    attributes (``Constant`` values, in the main graph, its subgraphs and the
    model's local functions).

    Parameters
    ----------
    model : onnx.ModelProto

    Returns
    -------
    list of onnx.TensorProto

    Examples
    --------
    >>> external_tensors(load_onnx("samples/resnet_tiny.onnx"))   # all data inline
    []
    """
    from onnx import TensorProto

    tensors = list(_graph_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_node_tensors(node))
    return [t for t in tensors
            if t.HasField("data_location") and t.data_location == TensorProto.EXTERNAL]


def _external_info(tensor):
    info = {entry.key: entry.value for entry in tensor.external_data}
    try:
        offset = int(info.get("offset") or 0)
        length = None if info.get("length") in (None, "") else int(info["length"])
    except ValueError:
        offset = length = -1
    return info.get("location", ""), offset, length


def _check_external_tensor(path, root, tensor):
    """Refuse an external-data reference that escapes ``root`` or is broken."""
    location, offset, length = _external_info(tensor)
    where = f"external data {location!r} of tensor {tensor.name!r}"
    fix = ("keep the data file in the model's folder and refer to it by a relative "
           "file name (onnx.save_model(..., save_as_external_data=True))")
    if not location or "\0" in location or os.path.isabs(location):
        raise InputError(f"{where} must be a relative path inside the model's folder "
                         f"{root}", path=path, hint=fix)
    target = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, target]) != root:
        raise InputError(f"{where} resolves to {target}, outside the model's folder "
                         f"{root}; refusing to read it", path=path, hint=fix)
    if not os.path.isfile(target):
        problem = "is not a file" if os.path.exists(target) else "is missing"
        raise InputError(f"{where} {problem} (looked for {target})", path=path,
                         hint="copy the data file next to the model")
    if os.path.islink(os.path.join(root, location)):
        raise InputError(f"{where} is a symbolic link; onnx does not read external "
                         "data through links", path=path,
                         hint="replace the link by a copy of the data file")
    size = os.path.getsize(target)
    if offset < 0 or (length is not None and length < 0) \
            or offset + (length or 0) > size:
        raise InputError(f"{where} asks for bytes beyond the end of {target} "
                         f"({size} bytes)", path=path,
                         hint="the data file is truncated or does not belong to this "
                              "model; re-export it")


def load_onnx(path):
    """Load an ONNX model file safely, with its external data.

    The file is parsed without external data first. Every tensor stored in
    an external file (initializers, also in subgraphs, and ``Constant``
    attributes) must name, by a relative path, an existing file inside the
    model's own folder after resolving ``..`` and symbolic links; only then
    is the external data read.

    Parameters
    ----------
    path : str or os.PathLike
        A binary ``.onnx`` file (protobuf ``ModelProto``).

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    InputError
        The file is missing, empty, truncated, corrupt or not ONNX, or an
        external-data reference escapes the folder or is broken.
    MissingDependencyError
        The ``onnx`` package is not installed.

    Examples
    --------
    >>> model = load_onnx("samples/resnet_tiny.onnx")
    >>> model.graph.input[0].name
    'input'
    """
    path = os.fspath(path)
    onnx = _import_onnx(path)
    model = _parse(onnx, path)
    _check_text(path, model)
    external = external_tensors(model)
    if not external:
        return model
    root = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    for tensor in external:
        _check_external_tensor(path, root, tensor)
    try:
        onnx.external_data_helper.load_external_data_for_model(model, root)
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise InputError(f"cannot read external data ({exc})", path=path,
                         hint="check the data files next to the model") from None
    return model
