"""The one door: what a model input is, checked once, read at most once.

:func:`open_model` tells an input's kind (:func:`graphir.loaders.kinds.detect_kind`),
runs that kind's safety check once, and returns an :class:`Opened` whose
readers load the payload the first time they are called and keep it. The
API asks the :class:`Opened` for what it needs (an ONNX model, the tensors,
the safetensors header, a pickled module, an ``nn.Module`` from a factory)
and never detects, scans or reads the same file again: a checkpoint diff
with ``--model`` scans and ``torch.load``\\ s each file exactly once.

Openers are registered per kind (:func:`register_opener`); a new file kind
adds one function here or in its own module, not a branch in the API.

Examples
--------
>>> opened = open_model("samples/resnet_tiny.onnx")
>>> opened.kind, opened.is_weights
('onnx', False)
>>> opened.payload() is opened.payload()
True
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Optional

from graphir.errors import InputError
from graphir.loaders.kinds import detect_kind

__all__ = ["Opened", "open_model", "register_opener", "OPENERS", "WEIGHT_KINDS"]

#: Kinds that hold weights without an architecture (when not a pickled module).
WEIGHT_KINDS = ("torch_pickle", "safetensors")


@dataclasses.dataclass
class Opened:
    """A model input after detection and its safety check.

    Readers (:meth:`payload`, :meth:`tensors`, :meth:`header`) load on first
    call and cache; nothing is read twice.
    """

    #: the input as the user named it: a path or ``FILE.py:CALLABLE``
    spec: str
    #: one of :data:`graphir.loaders.kinds.KINDS`
    kind: str
    #: the user's opt-in to run code from this input (``--unsafe-load``)
    unsafe_load: bool = False
    #: what the safety check learned (``scan``: a PickleScan for torch.save files)
    facts: Dict[str, Any] = dataclasses.field(default_factory=dict)
    #: kind-specific reader of the main payload, called at most once
    _read: Optional[Callable[["Opened"], Any]] = dataclasses.field(default=None, repr=False)
    #: payloads already read, by name
    _cache: Dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def stem(self) -> str:
        """The default model name: the file's stem, or the factory's callable."""
        if self.kind == "python":
            return self.spec.rsplit(":", 1)[1]
        return os.path.splitext(os.path.basename(self.spec.rstrip("/\\")))[0] or "model"

    @property
    def is_pickled_module(self) -> bool:
        """A ``torch.save(model)`` file: a whole module, which runs code to load."""
        scan = self.facts.get("scan")
        return bool(self.kind == "torch_pickle" and scan is not None and scan.runs_code
                    and scan.top_class is not None)

    @property
    def is_weights(self) -> bool:
        """A state_dict, checkpoint or safetensors file (weights without a graph)."""
        return self.kind in WEIGHT_KINDS and not self.is_pickled_module

    def _cached(self, key: str, read: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    def payload(self) -> Any:
        """The kind's main object: an ``onnx.ModelProto``, an ``ExportedProgram``,
        a ``ScriptModule``, an IR graph, or ``(module, args, kwargs)`` for a factory."""
        if self._read is None:
            raise InputError(f"is a {self.kind} input, which has no single payload",
                             path=self.spec, hint="read its tensors or header instead")
        read = self._read
        return self._cached("payload", lambda: read(self))

    def tensors(self):
        """``(state_dict, info)`` of a weights file (torch.load or safetensors), once."""
        def read():
            if self.kind == "safetensors":
                from graphir.loaders.safetensors_file import load_safetensors

                return load_safetensors(self.spec), {}
            from graphir.loaders.torch_files import load_state_dict_file

            return load_state_dict_file(self.spec, unsafe_load=self.unsafe_load,
                                        scan=self.facts.get("scan"))
        if not self.is_weights and not (self.kind == "torch_pickle" and self.unsafe_load):
            raise InputError(f"is a {self.kind.replace('_', ' ')} file, not a weights file",
                             path=self.spec,
                             hint="pass a state_dict, checkpoint or safetensors file")
        return self._cached("tensors", read)

    def header(self):
        """``{name: (shape, dtype)}`` without reading tensor data (safetensors only)."""
        if self.kind != "safetensors":
            raise InputError("has no tensor header to read", path=self.spec,
                             hint="pass a safetensors file")
        from graphir.loaders.safetensors_file import load_safetensors

        return self._cached("header", lambda: load_safetensors(self.spec, header_only=True))

    def pickled_module(self):
        """The ``nn.Module`` of a ``torch.save(model)`` file (only with the opt-in)."""
        from graphir.loaders.torch_files import load_pickled_module

        return self._cached("module", lambda: load_pickled_module(
            self.spec, unsafe_load=self.unsafe_load, scan=self.facts.get("scan")))


#: kind -> opener(opened) that runs the safety check and sets the reader
OPENERS: Dict[str, Callable[[Opened], None]] = {}


def register_opener(kind: str) -> Callable[[Callable], Callable]:
    """Register the opener of one file kind (a decorator).

    An opener receives the new :class:`Opened`, runs the kind's safety check
    (raising :class:`graphir.errors.UnsafeFileError` or
    :class:`graphir.errors.InputError`), records what it learned in
    ``facts`` and sets ``_read`` to the payload reader.
    """
    def decorate(function):
        OPENERS[kind] = function
        return function
    return decorate


@register_opener("onnx")
def _open_onnx(opened: Opened) -> None:
    from graphir.loaders.onnx_file import load_onnx

    opened._read = lambda o: load_onnx(o.spec)


@register_opener("export")
def _open_export(opened: Opened) -> None:
    from graphir.loaders.torch_files import load_exported_program

    opened._read = lambda o: load_exported_program(o.spec, unsafe_load=o.unsafe_load)


@register_opener("torchscript")
def _open_torchscript(opened: Opened) -> None:
    from graphir.loaders.torch_files import load_torchscript

    opened._read = lambda o: load_torchscript(o.spec, unsafe_load=o.unsafe_load)


@register_opener("torch_pickle")
def _open_torch_pickle(opened: Opened) -> None:
    from graphir.loaders.pickle_scan import scan_torch_file

    opened.facts["scan"] = scan_torch_file(opened.spec)


@register_opener("safetensors")
def _open_safetensors(opened: Opened) -> None:
    pass  # nothing in a safetensors file is code; the header is read on demand


@register_opener("json")
def _open_json(opened: Opened) -> None:
    def read(o: Opened):
        from graphir import ir, serialize

        try:
            with open(o.spec, encoding="utf-8") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            raise InputError("is not UTF-8 text", path=o.spec,
                             hint="pass an IR JSON file") from None
        G = serialize.from_json(text, path=o.spec)
        ir.validate(G, allow_cycles=True)
        return G
    opened._read = read


@register_opener("python")
def _open_python(opened: Opened) -> None:
    from graphir.loaders.factory import load_factory

    opened._read = lambda o: load_factory(o.spec)


def open_model(spec, *, unsafe_load: bool = False) -> Opened:
    """Detect what ``spec`` is and run its safety check, once.

    Parameters
    ----------
    spec : str or os.PathLike
        A model file, a folder a registered kind reads, or ``FILE.py:CALLABLE``.
    unsafe_load : bool
        The user's opt-in to load this input even if that runs code from it.

    Returns
    -------
    Opened

    Raises
    ------
    InputError
        When the input is missing or of no kind graphir reads.
    UnsafeFileError
        When a check finds that reading would run code (raised by the
        reader, so an opened pickled module is refused only if it is read).
    """
    spec = os.fspath(spec)
    kind = detect_kind(spec)
    opened = Opened(spec=spec, kind=kind, unsafe_load=unsafe_load)
    opener = OPENERS.get(kind)
    if opener is None:  # a kind detect_kind knows but nobody registered: a graphir bug
        raise InputError(f"is a {kind} input, which no opener is registered for", path=spec,
                         hint="report this as a graphir bug")
    opener(opened)
    return opened
