"""Public functions: ``load``, ``convert``, ``render``, ``summary``, ``diff`` and friends.

The command line calls only these. Each takes the CLI's options as keyword
arguments and raises :class:`graphir.errors.GraphIRError` subclasses on bad
input.

Examples
--------
>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> graphir.summary(G)["total_params"]
7410
"""

import functools
import os

import networkx as nx

from graphir import ir, serialize
from graphir.errors import InputError
from graphir.graph import as_graph

__version__ = "0.1.0"

__all__ = ["SOURCES", "FORMATS", "SUMMARY_FORMATS", "DIFF_FORMATS", "load", "convert",
           "view", "render", "to_dot", "save", "write", "summary", "diff", "diff_report",
           "attention", "load_weights", "format_from_path", "check_view_options"]

#: ``--source`` values. ``auto`` picks by file kind (for modules: trace, export, fx).
SOURCES = ("auto", "onnx", "export", "fx", "trace", "autograd", "torchscript", "state_dict")

#: Sources that capture a running ``nn.Module``.
MODULE_SOURCES = ("auto", "export", "fx", "trace", "autograd")

#: Output formats of ``render``.
FORMATS = ("svg", "png", "pdf", "dot", "json")
#: Output formats of ``summary``.
SUMMARY_FORMATS = ("text", "json", "markdown", "csv")
#: Output formats of ``diff``.
DIFF_FORMATS = ("text", "json", "svg", "png", "pdf", "html")

_EXTENSIONS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot",
               ".json": "json", ".html": "html", ".htm": "html", ".txt": "text",
               ".md": "markdown", ".csv": "csv"}

#: File kind -> the sources that can read it (besides ``auto``).
_KIND_SOURCES = {
    "onnx": ("onnx",),
    "export": ("export",),
    "torchscript": ("torchscript",),
    "json": (),
    "python": MODULE_SOURCES,
    "torch_pickle": ("state_dict",) + MODULE_SOURCES,
    "safetensors": ("state_dict",) + MODULE_SOURCES,
}


def _returns_graph(function):
    """Return IR graphs as :class:`graphir.graph.Graph` (draws itself in Jupyter)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return as_graph(function(*args, **kwargs))
    return wrapper


def format_from_path(path, default="svg"):
    """Output format named by a file extension (``.gv`` is DOT), else ``default``."""
    if path is None:
        return default
    return _EXTENSIONS.get(os.path.splitext(str(path))[1].lower(), default)


def _stem(path):
    return os.path.splitext(os.path.basename(str(path)))[0]


def _check_source(source, kind, spec):
    if source not in SOURCES:
        raise InputError(f"unknown --source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
    if source != "auto" and source not in _KIND_SOURCES[kind]:
        raise InputError(f"is a {kind.replace('_', ' ')} input, which --source {source} "
                         "cannot read", path=spec, hint="use --source auto")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise InputError("is not UTF-8 text", path=path, hint="pass an IR JSON file") from None
    G = serialize.from_json(text, path=path)
    ir.validate(G, allow_cycles=True)
    return G


def _example_inputs(spec, args, kwargs, input_shapes):
    from graphir.loaders import make_example_inputs, parse_input_shape

    if input_shapes:
        specs = [s if isinstance(s, tuple) else parse_input_shape(s) for s in input_shapes]
        return make_example_inputs(specs), None
    if args is None and not kwargs:
        raise InputError("has no example inputs to run the model with", path=spec,
                         hint="pass --input-shape (for example --input-shape 1,3,224,224)")
    return args, kwargs


def _module_from_factory(spec, input_shapes):
    from graphir.loaders import load_factory

    module, args, kwargs = load_factory(spec)
    args, kwargs = _example_inputs(spec, args, kwargs, input_shapes)
    return module, args, kwargs


def _load_weight_file(spec, kind, unsafe_load):
    """``(tensors, info)`` of a state_dict, checkpoint or safetensors file."""
    if kind == "safetensors":
        from graphir.loaders.safetensors_file import load_safetensors

        return load_safetensors(spec), {}
    from graphir.loaders.torch_files import load_state_dict_file

    return load_state_dict_file(spec, unsafe_load=unsafe_load)


def _weights_graph(spec, kind, options):
    """A weights file: into ``--model``'s architecture, else the parameter tree."""
    from graphir.converters.state_dict import from_state_dict, load_weights_into

    architecture = options.get("architecture")
    if kind == "safetensors" and not architecture:
        from graphir.loaders.safetensors_file import load_safetensors

        return from_state_dict(load_safetensors(spec, header_only=True), name=_stem(spec))
    tensors, info = _load_weight_file(spec, kind, options.get("unsafe_load", False))
    if not architecture:
        return from_state_dict(tensors, name=_stem(spec), metadata=info.get("metadata"))
    module, args, kwargs = _module_from_factory(architecture, options.get("input_shapes"))
    load_weights_into(module, tensors, path=spec)
    return _convert_module(module, args, kwargs, options, name=_stem(spec))


def _pickled_module_graph(spec, options):
    """A whole pickled ``nn.Module``: only with ``unsafe_load``."""
    from graphir.converters.state_dict import from_module_weights
    from graphir.loaders.torch_files import load_pickled_module

    module = load_pickled_module(spec, unsafe_load=options.get("unsafe_load", False))
    if not options.get("input_shapes"):
        return from_module_weights(module, name=_stem(spec))
    args, kwargs = _example_inputs(spec, None, None, options.get("input_shapes"))
    return _convert_module(module, args, kwargs, options, name=_stem(spec))


def _torch_file_graph(spec, kind, options):
    """A ``torch.save`` file: a pickled module (opt-in only) or weights."""
    if kind == "safetensors":
        return _weights_graph(spec, kind, options)
    from graphir.loaders.pickle_scan import scan_torch_file

    scan = scan_torch_file(spec)
    if scan.runs_code and scan.top_class is not None and not options.get("architecture"):
        return _pickled_module_graph(spec, options)
    return _weights_graph(spec, kind, options)


def _file_graph(spec, kind, options):
    name = options.get("name") or _stem(spec)
    if kind == "onnx":
        from graphir.converters.onnx import from_onnx
        from graphir.loaders.onnx_file import load_onnx

        return from_onnx(load_onnx(spec), name=name)
    if kind == "export":
        from graphir.converters.fx import from_exported_program
        from graphir.loaders.torch_files import load_exported_program

        program = load_exported_program(spec, unsafe_load=options.get("unsafe_load", False))
        return from_exported_program(program, name=name)
    if kind == "torchscript":
        from graphir.converters.torchscript import from_torchscript
        from graphir.loaders.torch_files import load_torchscript

        scripted = load_torchscript(spec, unsafe_load=options.get("unsafe_load", False))
        return from_torchscript(scripted, name=name)
    return _torch_file_graph(spec, kind, options)


@_returns_graph
def load(model, *, source="auto", input_shapes=None, name=None, architecture=None,
         unsafe_load=False, show_saved=False, stats=False):
    """Read a model file, a ``FILE.py:CALLABLE`` factory or an IR JSON into the IR.

    Parameters
    ----------
    model : str or os.PathLike
        ``.onnx``, ``.pt2``, TorchScript, state_dict/checkpoint (``.pt``,
        ``.pth``, ``.bin``, ``.ckpt``), ``.safetensors``, IR ``.json`` or
        ``FILE.py:CALLABLE``; the kind is told from the content.
    source : str
        ``auto`` or one of :data:`SOURCES`.
    input_shapes : list of str, optional
        ``--input-shape`` values (``"int64:1,16"``) to run a module with.
    name : str, optional
        Model name; defaults to the file stem or the module's class name.
    architecture : str, optional
        ``FILE.py:CALLABLE`` building the model a weights file belongs to (the
        CLI's ``--model``); its weights are loaded into it, then it is
        converted with ``source`` and ``input_shapes``.
    unsafe_load : bool
        Allow a pickled ``nn.Module`` (runs code from the file). Off by default.
    show_saved : bool
        With ``source="autograd"``: add the tensors saved for backward.
    stats : bool
        Run the model once more and record per-op output statistics (mean,
        std, min, max, fraction of zeros) as ``stats`` on each node; needs a
        model graphir can run (a factory, or weights with ``architecture``).

    Returns
    -------
    networkx.MultiDiGraph
        A validated IR graph.
    """
    from graphir.loaders import detect_kind

    spec = os.fspath(model)
    kind = detect_kind(spec)
    _check_source(source, kind, spec)
    options = {"source": source, "input_shapes": input_shapes, "name": name,
               "architecture": architecture, "unsafe_load": unsafe_load, "show_saved": show_saved,
               "stats": stats}
    if kind == "json":
        return _read_json(spec)
    if kind == "python":
        module, args, kwargs = _module_from_factory(spec, input_shapes)
        return _convert_module(module, args, kwargs, options, name=name)
    G = _file_graph(spec, kind, options)
    if stats and not any("stats" in data for _, data in G.nodes(data=True)):
        raise InputError("is a file graphir cannot run, so it has no activation statistics",
                         path=spec, hint="pass FILE.py:CALLABLE (or --model with weights) "
                                         "to use --stats")
    ir.validate(G)
    return G


def _capture_once(module, args, kwargs, source, name, options):
    """One capture with one named source; returns the IR."""
    stats = options.get("stats", False)
    if source == "trace":
        from graphir.converters.trace import from_trace

        return from_trace(module, args, kwargs, name=name, stats=stats)
    if source == "autograd":
        if stats:
            raise InputError("--stats is not available with --source autograd",
                             hint="use --source trace or export")
        from graphir.converters.autograd import from_autograd

        return from_autograd(module, args, kwargs, name=name,
                             show_saved=options.get("show_saved", False))
    from graphir.converters.fx import from_module

    G, _ = from_module(module, args, kwargs, method=source, name=name)
    if stats:
        if source != "export":
            raise InputError("--stats is not available with --source fx",
                             hint="use --source trace or export")
        from graphir.converters.stats import stats_for_exported

        stats_for_exported(module, G, args, kwargs)
    return G


def _capture(module, args, kwargs, source, name, options):
    """Capture with ``source``; ``auto`` tries trace, then torch.export, then torch.fx.

    Returns the IR and the source that worked. ``auto`` starts with the eager
    trace (one recorded forward: ~0.1 s on a 48-layer GPT-2 where torch.export
    takes ~5 s) and falls back when the model cannot be traced.
    """
    from graphir.errors import ConversionError

    if source != "auto":
        return _capture_once(module, args, kwargs, source, name, options), source
    failures = []
    for candidate in ("trace", "export", "fx"):
        try:
            return _capture_once(module, args, kwargs, candidate, name, options), candidate
        except ConversionError as exc:
            failures.append(f"{candidate}: {exc.message}")
    raise ConversionError("no capture method worked (" + "; ".join(failures) + ")", path=name,
                          hint="check the example inputs (--input-shape), or pick "
                               "--source trace|export|fx and rerun with --debug")


def _convert_module(module, example_args, example_kwargs, options, name=None):
    source = options.get("source", "auto")
    if source not in MODULE_SOURCES:
        raise InputError(f"--source {source} cannot convert an nn.Module",
                         hint=f"use one of {', '.join(MODULE_SOURCES)}")
    if example_args is None and not example_kwargs:
        raise InputError("converting an nn.Module needs example inputs",
                         hint="pass example_inputs (or --input-shape)")
    if example_args is not None and not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    name = name or options.get("name") or type(module).__name__
    G, method = _capture(module, tuple(example_args or ()), example_kwargs, source, name,
                         options)
    if source == "auto" and method != "trace":
        G.graph.setdefault("warnings", []).append(
            f"the eager trace could not capture the model; used {method}")
    ir.validate(G)
    return G


@_returns_graph
def convert(model, example_inputs=None, *, example_kwargs=None, source="auto", name=None,
            input_shapes=None, unsafe_load=False, show_saved=False, architecture=None,
            stats=False):
    """Turn a model object (or a path) into the IR.

    Parameters
    ----------
    model : nn.Module, ExportedProgram, onnx.ModelProto, networkx graph or path
        What to convert. A path is handed to :func:`load`.
    example_inputs : tensor or tuple of tensors, optional
        Positional inputs for capturing an ``nn.Module``.
    example_kwargs : dict, optional
        Keyword inputs for capturing an ``nn.Module``.
    source : str
        For modules: ``auto`` (the eager trace, then torch.export, then
        torch.fx), ``trace``, ``export``, ``fx`` or ``autograd``.
    stats : bool
        Also record per-op activation statistics (see :func:`load`).
    name : str, optional
        Model name for the graph.

    Returns
    -------
    networkx.MultiDiGraph
        A validated IR graph.

    Examples
    --------
    >>> import torch, graphir
    >>> G = graphir.convert(torch.nn.Linear(4, 2), torch.zeros(1, 4))
    >>> [G.nodes[n]["label"] for n in graphir.ir.op_nodes(G)]
    ['linear']
    """
    if isinstance(model, nx.MultiDiGraph):
        ir.validate(model, allow_cycles=True)
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model, source=source, input_shapes=input_shapes, name=name,
                    unsafe_load=unsafe_load, show_saved=show_saved, architecture=architecture,
                    stats=stats)
    type_name = f"{type(model).__module__}.{type(model).__name__}"
    if type_name.startswith("onnx") and type(model).__name__ == "ModelProto":
        from graphir.converters.onnx import from_onnx

        G = from_onnx(model, name=name or model.graph.name or "model")
    elif type(model).__name__ == "ExportedProgram":
        from graphir.converters.fx import from_exported_program

        G = from_exported_program(model, name=name or "model")
    elif hasattr(model, "forward") and hasattr(model, "named_parameters"):
        options = {"source": source, "name": name, "show_saved": show_saved, "stats": stats}
        return _convert_module(model, example_inputs, example_kwargs, options)
    else:
        raise InputError(f"cannot convert an object of type {type_name}",
                         hint="pass an nn.Module with example inputs, an ExportedProgram, "
                              "an onnx.ModelProto or a file path")
    ir.validate(G)
    return G


def check_view_options(*, theme="default", show=None, depth=None, max_nodes=None, width=None):
    """Raise :class:`InputError` now for bad drawing options (before slow work)."""
    from graphir.renderers.backend import parse_length
    from graphir.renderers.dot import parse_show
    from graphir.renderers.themes import get_theme

    get_theme(theme)
    parse_show(show)
    if width is not None:
        parse_length(width)
    for flag, value in (("--depth", depth), ("--max-nodes", max_nodes)):
        if value is not None and value < 0:
            raise InputError(f"{flag} {value} is negative", hint=f"pass {flag} 0 or more")


@_returns_graph
def view(graph, *, depth=None, focus=None, fold=True, max_nodes=None):
    """The part of an IR to draw: focus, collapse to ``depth``, fold, node budget.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        An IR graph; not changed.
    depth : int, optional
        Modules at this depth become single boxes (1 = top-level modules).
    focus : str, optional
        Module path to show alone, its inputs and outputs as the boundary.
    fold : bool
        Draw runs of identical sibling blocks once with ×N.
    max_nodes : int, optional
        Visible-node budget; past it depth is collapsed until it fits (with a
        note on the figure). Default: 300 when ``depth`` is not given, else no
        budget (an explicit depth is drawn as asked). 0 turns it off.

    Returns
    -------
    networkx.MultiDiGraph
    """
    from graphir.passes import DEFAULT_MAX_NODES
    from graphir.passes import view as _view

    if max_nodes is None:
        max_nodes = DEFAULT_MAX_NODES if depth is None else 0
    return _view(graph, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes)


def to_dot(graph, *, theme="default", rankdir=None, show=None, title=None, color_by=None):
    """DOT source of an IR graph (pure; no Graphviz needed).

    ``rankdir`` None lays a parameter tree out left to right and everything
    else top to bottom; ``color_by`` names a number to colour nodes by (a
    ``stats`` key such as ``mean`` or ``zeros``, ``weight_change``,
    ``params``), ``"none"`` for op-category colours; None picks automatically.
    """
    from graphir.renderers.dot import to_dot as _to_dot

    return _to_dot(graph, theme=theme, rankdir=rankdir, show=show, title=title,
                   color_by=color_by)


def write(data, out):
    """Write bytes or text to ``out`` atomically (no partial file on failure)."""
    from graphir.renderers.backend import write_atomic

    write_atomic(out, data.encode("utf-8") if isinstance(data, str) else data)


def save(graph, out):
    """Write an IR graph as JSON (the full IR, no view applied)."""
    write(serialize.to_json(graph), out)
    return os.fspath(out)


def render(graph, out=None, *, format=None, theme="default", rankdir=None, show=None,
           title=None, color_by=None, width=None, depth=None, focus=None, fold=True,
           max_nodes=None, timeout=120.0):
    """Render an IR graph to SVG, PNG, PDF, DOT or JSON.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        An IR graph (see :func:`load`).
    out : str or os.PathLike, optional
        Output file, written atomically. When None the bytes are returned.
    format : str, optional
        One of :data:`FORMATS`; defaults to the extension of ``out``, else svg.
    theme, rankdir, show, title, color_by
        Drawing options (see :func:`to_dot`).
    width : float or str, optional
        Shrink the drawing to this width (inches, or ``"3.3in"``, ``"8.5cm"``,
        ``"240pt"``) to fit a paper column.
    depth, focus, fold, max_nodes
        What to draw (see :func:`view`). JSON output is the viewed IR.
    timeout : float
        Seconds Graphviz may take before the render is abandoned.

    Returns
    -------
    str or bytes
        The path written, or the rendered bytes when ``out`` is None.
    """
    from graphir.renderers.backend import render_bytes

    fmt = format or format_from_path(out)
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    shown = view(graph, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes)
    if fmt == "json":
        data = serialize.to_json(shown).encode("utf-8")
    else:
        dot_source = to_dot(shown, theme=theme, rankdir=rankdir, show=show, title=title,
                            color_by=color_by)
        data = render_bytes(dot_source, fmt, timeout=timeout, width=width)
    if out is None:
        return data
    write(data, out)
    return os.fspath(out)


def summary(graph, *, format=None, depth=None):
    """The torchinfo-style table of an IR graph (or anything :func:`convert` takes).

    Parameters
    ----------
    graph : networkx.MultiDiGraph or path
        An IR graph, or a model :func:`convert` reads.
    format : str, optional
        None returns the table as a dict; ``text``, ``json``, ``markdown`` or
        ``csv`` return that text.
    depth : int, optional
        Deepest module level listed (1 = the model's direct children).
    """
    from graphir.table import format_summary, summarize

    table = summarize(convert(graph), depth=depth)
    if format is None:
        return table
    if format not in SUMMARY_FORMATS:
        raise InputError(f"unknown summary format {format!r}",
                         hint=f"use one of {', '.join(SUMMARY_FORMATS)}")
    return format_summary(table, format)


_WEIGHT_KINDS = ("torch_pickle", "safetensors")


def load_weights(path, *, unsafe_load=False):
    """Read a state_dict, training checkpoint or safetensors file: ``{name: tensor}``."""
    from graphir.loaders import detect_kind

    kind = detect_kind(path)
    if kind not in _WEIGHT_KINDS:
        raise InputError(f"is a {kind} file, not a weights file", path=path,
                         hint="pass a state_dict, checkpoint or safetensors file")
    return _load_weight_file(os.fspath(path), kind, unsafe_load)[0]


def _is_weights_file(spec):
    from graphir.loaders import detect_kind, split_factory_spec

    if split_factory_spec(spec) or detect_kind(spec) not in _WEIGHT_KINDS:
        return False
    if detect_kind(spec) == "safetensors":
        return True
    from graphir.loaders.pickle_scan import scan_torch_file

    return not scan_torch_file(spec).runs_code


def _as_arrays(tensors):
    """``{name: torch.Tensor}`` -> ``{name: numpy array}`` (bfloat16 via float32)."""
    arrays = {}
    for name, value in tensors.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu()
            if str(value.dtype) in ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2"):
                value = value.float()
            value = value.numpy()
        arrays[name] = value
    return arrays


def diff(old, new, *, source="auto", input_shapes=None, architecture=None, unsafe_load=False,
         show_saved=False, stats=False, atol=0.0, rtol=0.0):
    """Compare two models, or two checkpoints.

    Parameters
    ----------
    old, new : path, ``FILE.py:CALLABLE`` or IR graph
        Two inputs :func:`load` reads. When both are weight files (state_dict,
        checkpoint, safetensors) their tensors are compared instead.
    source, input_shapes, architecture, unsafe_load, show_saved, stats
        As for :func:`load`, applied to both sides.
    atol, rtol : float
        Tolerances under which two tensors count as equal (checkpoint diff).

    Returns
    -------
    graphir.diffing.DiffResult or graphir.diffing.CheckpointDiff
        ``.has_differences`` tells whether anything differs. A checkpoint
        diff made with ``architecture`` carries ``.graph``: the architecture's IR.
    """
    from graphir.diffing import diff_graphs, diff_tensors

    sides = [old, new]
    if all(isinstance(s, (str, os.PathLike)) and _is_weights_file(os.fspath(s)) for s in sides):
        old_w, new_w = (load_weights(os.fspath(s), unsafe_load=unsafe_load) for s in sides)
        result = diff_tensors(_as_arrays(old_w), _as_arrays(new_w), atol=atol, rtol=rtol)
        result.graph = (load(new, source=source, input_shapes=input_shapes,
                             architecture=architecture, unsafe_load=unsafe_load,
                             show_saved=show_saved, stats=stats) if architecture else None)
        result.new_path = os.fspath(new)
        return result
    graphs = [convert(s, source=source, input_shapes=input_shapes, architecture=architecture,
                      unsafe_load=unsafe_load, show_saved=show_saved, stats=stats)
              for s in sides]
    return diff_graphs(graphs[0], graphs[1])


def _diff_picture(result, fmt, context, draw):
    """Render the union graph (or weight-change graph) of a diff to ``fmt`` bytes."""
    from graphir.diffing import CheckpointDiff, annotate_weight_change
    from graphir.diffing import context as keep_context

    if isinstance(result, CheckpointDiff):
        graph = result.graph
        if graph is None:
            from graphir.converters.state_dict import from_state_dict

            graph = from_state_dict({t.name: (t.new_shape or t.old_shape, None)
                                     for t in result.tensors}, name="weights")
        shown = annotate_weight_change(graph, result)
        # each block keeps its own colour: folding would merge blocks whose
        # weights moved by different amounts into one box
        draw = dict(draw, fold=False)
    else:
        shown = result.union if context is None else keep_context(result.union, context)
    return render(shown, format=fmt, **draw)


def diff_report(result, *, format="text", old_name="old", new_name="new", context=None,
                plot=None, **draw):
    """A diff as ``text``, ``json``, ``html`` or a picture (``svg``/``png``/``pdf``).

    Parameters
    ----------
    result : DiffResult or CheckpointDiff
        From :func:`diff`.
    format : str
        One of :data:`DIFF_FORMATS`.
    old_name, new_name : str
        How the report names the two sides.
    context : int, optional
        Pictures: keep only changed nodes and this many hops around them.
    plot : str, optional
        Checkpoint diffs: also write a bar chart of relative change per module.
    **draw
        Drawing options for pictures, as for :func:`render`.

    Returns
    -------
    str or bytes
    """
    import json

    from graphir.diffing import (CheckpointDiff, checkpoint_to_json_dict, checkpoint_to_text,
                              plot_weight_change, to_html, to_json_dict, to_text)

    is_checkpoint = isinstance(result, CheckpointDiff)
    if plot:
        if not is_checkpoint:
            raise InputError("--plot draws a checkpoint diff; these inputs are models",
                             hint="pass two weight files, or drop --plot")
        plot_weight_change(result, plot)
    if format == "text":
        text = (checkpoint_to_text(result, old_name, new_name) if is_checkpoint
                else to_text(result, old_name, new_name))
        return text if text.endswith("\n") else text + "\n"
    if format == "json":
        data = checkpoint_to_json_dict(result) if is_checkpoint else to_json_dict(result)
        return json.dumps(data, sort_keys=True, indent=1) + "\n"
    if format == "html":
        if is_checkpoint:
            raise InputError("html is for model diffs", hint="use --format json or text")
        svg = _diff_picture(result, "svg", context, draw).decode("utf-8")
        return to_html(result, svg, title=f"graphir diff: {old_name} → {new_name}",
                       old_name=old_name, new_name=new_name)
    if format in ("svg", "png", "pdf"):
        return _diff_picture(result, format, context, draw)
    raise InputError(f"unknown diff format {format!r}",
                     hint=f"use one of {', '.join(DIFF_FORMATS)}")


def attention(model, out_dir, *, example_inputs=None, example_kwargs=None, input_shapes=None,
              image=None, name=None):
    """Capture a transformer's attention on one input; write maps, plots and a report.

    Parameters
    ----------
    model : str or nn.Module
        ``FILE.py:CALLABLE`` (the factory may return example inputs), or a module.
    out_dir : str or os.PathLike
        Folder for ``layer_<k>_heads.png``, ``layers_evolution.png``,
        ``stats.png``, ``report.md`` and ``attention.json``.
    example_inputs, example_kwargs
        Inputs for a module passed directly.
    input_shapes : list of str, optional
        ``--input-shape`` values: a seeded random input instead of the factory's.
    image : str, optional
        An image file fed as the model's image input (resized, normalised).

    Returns
    -------
    graphir.overlay.AttentionResult

    Raises
    ------
    InputError
        When the model has no attention, or the image cannot be used.
    """
    from graphir.loaders import split_factory_spec
    from graphir.overlay import run_attention

    if isinstance(model, (str, os.PathLike)):
        spec = os.fspath(model)
        if not split_factory_spec(spec):
            raise InputError("attention needs a model it can run", path=spec,
                             hint="pass FILE.py:CALLABLE returning the nn.Module")
        module, args, kwargs = _module_from_factory(spec, input_shapes)
        name = name or spec.rsplit(":", 1)[1]
    else:
        module = model
        args, kwargs = _example_inputs(type(model).__name__, example_inputs, example_kwargs,
                                       input_shapes)
        if args is not None and not isinstance(args, (tuple, list)):
            args = (args,)
    return run_attention(module, tuple(args or ()), kwargs, out_dir, image_path=image,
                         name=name)
