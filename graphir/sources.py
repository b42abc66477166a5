"""From an opened input to the IR: which converter reads which kind.

:func:`graph_of` takes an :class:`graphir.loaders.door.Opened` and the
source options and returns the IR, dispatching on the input's kind through
:data:`BUILDERS` (one registered function per kind, like the openers in
:mod:`graphir.loaders.door`). :func:`capture_module` runs a live
``nn.Module`` through the chosen source (``auto``: the eager trace, then
torch.export, then torch.fx).

This module sits between :mod:`graphir.api` (which it never imports) and
the loaders and converters. It validates nothing it did not build.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

from graphir import ir
from graphir.errors import ConversionError, InputError
from graphir.loaders.door import Opened

__all__ = ["SOURCES", "MODULE_SOURCES", "KIND_SOURCES", "SourceOptions", "BUILDERS",
           "register_builder", "graph_of", "capture_module", "check_source",
           "example_inputs"]

#: ``--source`` values: ``auto`` picks by the input's kind (for a module: trace,
#: then export, then fx).
SOURCES = ("auto", "onnx", "export", "fx", "trace", "autograd", "torchscript", "state_dict")

#: Sources that capture a running ``nn.Module``.
MODULE_SOURCES = ("auto", "export", "fx", "trace", "autograd")

#: Input kind -> the sources that can read it (besides ``auto``).
KIND_SOURCES: Dict[str, Tuple[str, ...]] = {
    "onnx": ("onnx",),
    "export": ("export",),
    "torchscript": ("torchscript",),
    "json": (),
    "python": MODULE_SOURCES,
    "torch_pickle": ("state_dict",) + MODULE_SOURCES,
    "safetensors": ("state_dict",) + MODULE_SOURCES,
    "hf_folder": MODULE_SOURCES,
}


class SourceOptions(NamedTuple):
    """How to turn an input into the IR (the CLI's source options)."""

    #: ``auto`` or one of :data:`SOURCES`
    source: str = "auto"
    #: ``--input-shape`` values, e.g. ``["int64:1,16"]``
    input_shapes: Optional[Sequence[str]] = None
    #: model name; default: the file stem or the module's class name
    name: Optional[str] = None
    #: ``FILE.py:CALLABLE`` building the architecture of a weights file (``--model``)
    architecture: Optional[str] = None
    #: allow inputs that run code when read (``--unsafe-load``)
    unsafe_load: bool = False
    #: autograd source: add the tensors saved for backward
    show_saved: bool = False
    #: record per-op activation statistics (runs the model)
    stats: bool = False
    #: ONNX: draw ops that compute constants (``ConstantOfShape``, shape chains) as ops
    #: instead of folding them into their consumers' weights
    keep_constants: bool = False
    #: when running the model fails, return the graph up to the failing call (an
    #: ``op="error"`` node); ``G.graph["partial"]`` says where it stopped
    partial: bool = False
    #: run transformers with their KV cache (drawn as one grouped output); default
    #: off: models that accept ``use_cache`` run with ``use_cache=False``
    kv_cache: bool = False


def check_source(source: str, kind: str, spec: str) -> None:
    """Raise :class:`InputError` when ``source`` cannot read an input of ``kind``."""
    if source not in SOURCES:
        raise InputError(f"unknown --source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
    allowed = KIND_SOURCES.get(kind)
    if source != "auto" and allowed is not None and source not in allowed:
        raise InputError(f"is a {kind.replace('_', ' ')} input, which --source {source} "
                         "cannot read", path=spec, hint="use --source auto")


def check_stats(options: SourceOptions) -> None:
    """``--stats`` needs a source that runs the model op by op: refuse others now."""
    if options.stats and options.source in ("fx", "autograd"):
        raise InputError(f"--stats is not available with --source {options.source}",
                         hint="use --source trace or export (or auto)")


def example_inputs(spec: str, args, kwargs, input_shapes) -> Tuple[Any, Any]:
    """``(args, kwargs)`` to run a module with: ``--input-shape`` wins over the factory's."""
    from graphir.loaders import make_example_inputs, parse_input_shape

    if input_shapes:
        specs = [s if isinstance(s, tuple) else parse_input_shape(s) for s in input_shapes]
        return make_example_inputs(specs), None
    if args is None and not kwargs:
        raise InputError("has no example inputs to run the model with", path=spec,
                         hint="pass --input-shape (for example --input-shape 1,3,224,224)")
    return args, kwargs


# ---- capturing a live module ------------------------------------------------------

def _capture_once(module, args, kwargs, source: str, name: str, options: SourceOptions):
    """One capture with one named source; returns the IR."""
    if source == "trace":
        from graphir.converters.trace import from_trace

        return from_trace(module, args, kwargs, name=name, stats=options.stats,
                          partial=options.partial)
    if source == "autograd":
        from graphir.converters.autograd import from_autograd

        return from_autograd(module, args, kwargs, name=name, show_saved=options.show_saved)
    from graphir.converters.fx import from_module

    G, _ = from_module(module, args, kwargs, method=source, name=name)
    if options.stats:
        from graphir.converters.stats import stats_for_exported

        stats_for_exported(module, G, args, kwargs)
    return G


def capture_module(module, args, kwargs, options: SourceOptions,
                   name: Optional[str] = None) -> Any:
    """The IR of a live ``nn.Module`` run on ``args``/``kwargs`` with ``options.source``.

    ``auto`` records one eager forward (the trace: ~0.1 s on a 48-layer GPT-2
    where torch.export takes ~5 s), then tries torch.export, then torch.fx
    (not with ``stats``, which fx cannot record), and leaves a warning on
    the graph saying why it fell back.
    """
    source = options.source
    if source not in MODULE_SOURCES:
        raise InputError(f"--source {source} cannot convert an nn.Module",
                         hint=f"use one of {', '.join(MODULE_SOURCES)}")
    check_stats(options)
    if args is None and not kwargs:
        raise InputError("converting an nn.Module needs example inputs",
                         hint="pass example_inputs (or --input-shape)")
    if args is not None and not isinstance(args, (tuple, list)):
        args = (args,)
    args = tuple(args or ())
    name = name or options.name or type(module).__name__
    from graphir.converters._cache import without_cache

    kwargs, cache_note = without_cache(module, kwargs, kv_cache=options.kv_cache)
    if source != "auto":
        G = _capture_once(module, args, kwargs, source, name, options)
    else:
        failures, partial_graph = [], None
        candidates = ("trace", "export") if options.stats else ("trace", "export", "fx")
        for candidate in candidates:
            try:
                G = _capture_once(module, args, kwargs, candidate, name, options)
            except ConversionError as exc:
                failures.append(f"{candidate}: {exc.message}")
                continue
            if G.graph.get("partial"):  # the forward failed: keep it, try the others
                partial_graph = G
                failures.append(f"{candidate}: {G.graph['partial']['error']}")
                continue
            break
        else:
            if partial_graph is not None:
                return partial_graph
            raise ConversionError("no capture method worked (" + "; ".join(failures) + ")",
                                  path=name,
                                  hint="check the example inputs (--input-shape), or pick "
                                       "--source trace|export|fx and rerun with --debug")
        if failures:
            G.graph.setdefault("warnings", []).append(
                f"the eager trace could not capture the model ({failures[0]}); "
                f"used {G.graph.get('source')}")
    if cache_note:
        notes = G.graph.setdefault("notes", [])
        if cache_note not in notes:
            notes.append(cache_note)
    ir.validate(G)
    return G


# ---- one builder per input kind --------------------------------------------------------

#: input kind -> builder(opened, options) returning the IR
BUILDERS: Dict[str, Callable[[Opened, SourceOptions], Any]] = {}


def register_builder(kind: str) -> Callable[[Callable], Callable]:
    """Register the function that turns an opened input of ``kind`` into the IR."""
    def decorate(function):
        BUILDERS[kind] = function
        return function
    return decorate


def _name(opened: Opened, options: SourceOptions) -> str:
    return options.name or opened.stem


@register_builder("onnx")
def _onnx_graph(opened: Opened, options: SourceOptions):
    from graphir.converters.onnx import from_onnx

    return from_onnx(opened.payload(), name=_name(opened, options),
                     keep_constants=options.keep_constants)


@register_builder("export")
def _export_graph(opened: Opened, options: SourceOptions):
    """A ``.pt2``: its serialised program read directly (no torch, no unpickling, no
    sympy), so archives ``torch.export.load`` cannot rebuild still draw."""
    from graphir.converters.pt2_archive import from_pt2_archive

    return from_pt2_archive(opened.spec, name=_name(opened, options))


@register_builder("torchscript")
def _torchscript_graph(opened: Opened, options: SourceOptions):
    from graphir.converters.torchscript import from_torchscript

    return from_torchscript(opened.payload(), name=_name(opened, options))


@register_builder("json")
def _json_graph(opened: Opened, options: SourceOptions):
    G = opened.payload()
    if options.name:
        G = G.copy()
        G.graph["name"] = options.name
    return G


@register_builder("python")
def _factory_graph(opened: Opened, options: SourceOptions):
    module, args, kwargs = opened.payload()
    args, kwargs = example_inputs(opened.spec, args, kwargs, options.input_shapes)
    return capture_module(module, args, kwargs, options, name=options.name)  # class name


def _architecture_graph(opened: Opened, tensors, options: SourceOptions):
    """Weights loaded into ``--model``'s architecture, then captured."""
    from graphir.converters.state_dict import load_weights_into
    from graphir.loaders import load_factory

    spec = str(options.architecture)
    module, args, kwargs = load_factory(spec)
    args, kwargs = example_inputs(spec, args, kwargs, options.input_shapes)
    load_weights_into(module, tensors, path=opened.spec)
    return capture_module(module, args, kwargs, options, name=_name(opened, options))


def _weights_graph(opened: Opened, options: SourceOptions):
    """A weights file: into ``--model``'s architecture, else the parameter tree."""
    from graphir.converters.state_dict import from_module_weights, from_state_dict

    if opened.is_pickled_module and not options.architecture:
        module = opened.pickled_module()
        if not options.input_shapes:
            return from_module_weights(module, name=_name(opened, options))
        args, kwargs = example_inputs(opened.spec, None, None, options.input_shapes)
        return capture_module(module, args, kwargs, options, name=_name(opened, options))
    if opened.kind == "safetensors" and not options.architecture:
        return from_state_dict(opened.header(), name=_name(opened, options))
    tensors, info = opened.tensors()
    if options.architecture:
        return _architecture_graph(opened, tensors, options)
    return from_state_dict(tensors, name=_name(opened, options), metadata=info.get("metadata"))


register_builder("torch_pickle")(_weights_graph)
register_builder("safetensors")(_weights_graph)


@register_builder("hf_folder")
def _hf_folder_graph(opened: Opened, options: SourceOptions):
    """A ``save_pretrained`` folder: its architecture built on ``meta`` from config.json,
    the weights checked against it by their headers (none is read)."""
    from graphir.loaders.hf_folder import to_module_device

    if options.stats:
        raise InputError("is a model folder drawn without reading its weights, so it has no "
                         "activation statistics", path=opened.spec,
                         hint="pass FILE.py:CALLABLE that loads the weights to use --stats")
    opened.facts["kv_cache"] = options.kv_cache
    hf = opened.payload()
    args, kwargs = hf.args, hf.kwargs
    if options.input_shapes:
        args, _ = example_inputs(opened.spec, None, None, options.input_shapes)
        kwargs = {k: v for k, v in hf.kwargs.items() if k == "use_cache"}
        args, kwargs = to_module_device(hf.module, args, kwargs)
    G = capture_module(hf.module, args, kwargs, options, name=options.name or hf.name)
    notes = G.graph.setdefault("notes", [])
    notes.extend(n for n in hf.notes if n not in notes)
    G.graph["model_facts"] = hf.facts
    return G


def graph_of(opened: Opened, options: SourceOptions = SourceOptions()) -> Any:
    """The validated IR of an opened input.

    Raises
    ------
    InputError
        When ``options.source`` cannot read this kind, or the input is bad.
    """
    check_source(options.source, opened.kind, opened.spec)
    check_stats(options)
    builder = BUILDERS.get(opened.kind)
    if builder is None:
        raise InputError(f"is a {opened.kind} input, which graphir cannot convert yet",
                         path=opened.spec, hint="report this as a graphir bug")
    G = builder(opened, options)
    if options.stats and not any("stats" in data for _, data in G.nodes(data=True)):
        raise InputError("is a file graphir cannot run, so it has no activation statistics",
                         path=opened.spec, hint="pass FILE.py:CALLABLE (or --model with "
                                                "weights) to use --stats")
    ir.validate(G, allow_cycles=opened.kind == "json")
    return G


def stem(spec) -> str:
    """``samples/resnet_tiny.onnx`` -> ``resnet_tiny``."""
    return os.path.splitext(os.path.basename(os.fspath(spec)))[0]
