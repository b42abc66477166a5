"""Public functions: ``load``, ``convert``, ``view``, ``draw``, ``render``, ``summary``, ``diff``.

The command line calls only these. Each takes the CLI's options as keyword
arguments and raises :class:`graphir.errors.GraphIRError` subclasses on bad
input. Every function that reads a model accepts anything :func:`convert`
takes — a path, ``FILE.py:CALLABLE``, an ``nn.Module`` with example inputs,
an ``ExportedProgram``, an ``onnx.ModelProto`` or an IR graph — so they are
called the way torchinfo's ``summary(model, input_data)`` and torchview's
``draw_graph(model, ...)`` are.

This module only orchestrates: files are opened in :mod:`graphir.loaders.door`
(once each), kinds are dispatched to converters in :mod:`graphir.sources`,
views are computed by :mod:`graphir.passes`, and formats are written by
:mod:`graphir.outputs`.

Examples
--------
>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")
>>> graphir.summary(G)["total_params"]
7410
>>> graphir.render("samples/resnet_tiny.onnx", format="dot", theme="paper")[:7]
b'digraph'
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Union

import networkx as nx

from graphir import ir, serialize
from graphir.errors import InputError
from graphir.graph import Graph, as_graph
from graphir.outputs import FORMATS as _OUTPUT_FORMATS
from graphir.outputs import DrawOptions, check_output_path, format_from_path, write
from graphir.version import __version__
from graphir.sources import MODULE_SOURCES, SOURCES, SourceOptions, capture_module, graph_of


__all__ = ["SOURCES", "MODULE_SOURCES", "render_formats", "SUMMARY_FORMATS", "DIFF_FORMATS",
           "is_page_format", "load", "convert", "view", "draw", "render", "to_dot", "save", "write", "summary",
           "diff", "diff_report", "attention", "load_weights", "format_from_path",
           "DrawOptions", "SourceOptions"]

#: Output formats of ``summary``.
SUMMARY_FORMATS = ("text", "json", "markdown", "csv")
#: Output formats of ``diff``.
DIFF_FORMATS = ("text", "json", "svg", "png", "pdf", "html")

Model = Any  # a path, FILE.py:CALLABLE, nn.Module, ExportedProgram, ModelProto or IR graph
PathLike = Union[str, "os.PathLike[str]"]


def render_formats() -> tuple:
    """Names of the formats :func:`render` and :func:`draw` write (the registered ones)."""
    return tuple(_OUTPUT_FORMATS)


def is_page_format(fmt: str) -> bool:
    """True for formats that take the whole graph and view it themselves (``html``)."""
    return bool(fmt in _OUTPUT_FORMATS and _OUTPUT_FORMATS[fmt].whole_graph)


def _options(source="auto", input_shapes=None, name=None, architecture=None, unsafe_load=False,
             show_saved=False, stats=False, kv_cache=False,
             keep_constants=False, partial=False) -> SourceOptions:
    return SourceOptions(source=source, input_shapes=input_shapes, name=name,
                         architecture=architecture, unsafe_load=unsafe_load,
                         show_saved=show_saved, stats=stats, kv_cache=kv_cache,
                         keep_constants=keep_constants, partial=partial)


def _load_ir(model, options: SourceOptions):
    """The validated IR of a path or ``FILE.py:CALLABLE`` (plain MultiDiGraph)."""
    from graphir.loaders.door import open_model

    return graph_of(open_model(model, unsafe_load=options.unsafe_load), options)


def _to_ir(model: Model, example_inputs=None, example_kwargs=None,
           options: SourceOptions = SourceOptions()):
    """The IR of anything :func:`convert` takes, without re-classing the caller's graph."""
    if isinstance(model, nx.MultiDiGraph):
        ir.validate(model, allow_cycles=True)
        return model
    if isinstance(model, (str, os.PathLike)):
        return _load_ir(os.fspath(model), options)
    type_name = f"{type(model).__module__}.{type(model).__name__}"
    if type_name.startswith("onnx") and type(model).__name__ == "ModelProto":
        from graphir.converters.onnx import from_onnx

        G = from_onnx(model, name=options.name or model.graph.name or "model",
                      keep_constants=options.keep_constants)
    elif type(model).__name__ == "ExportedProgram":
        from graphir.converters.fx import from_exported_program

        G = from_exported_program(model, name=options.name or "model")
    elif hasattr(model, "forward") and hasattr(model, "named_parameters"):
        return capture_module(model, example_inputs, example_kwargs, options)
    else:
        raise InputError(f"cannot convert an object of type {type_name}",
                         hint="pass an nn.Module with example inputs, an ExportedProgram, "
                              "an onnx.ModelProto, an IR graph or a file path")
    ir.validate(G)
    return G


def load(model: PathLike, *, source: str = "auto", input_shapes: Optional[Sequence[str]] = None,
         name: Optional[str] = None, architecture: Optional[str] = None,
         unsafe_load: bool = False, show_saved: bool = False, stats: bool = False,
         kv_cache: bool = False, keep_constants: bool = False, partial: bool = False) -> Graph:
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
    kv_cache : bool
        Run transformers with their KV cache and draw it (as one grouped
        output). Off by default: a model whose ``forward`` takes
        ``use_cache`` runs with ``use_cache=False``, and a note says so.
    keep_constants : bool
        ONNX: draw the ops that compute constants (``ConstantOfShape``,
        ``Shape`` → ``Gather`` → ``Concat`` chains on static shapes, a
        ``Transpose`` of a weight) as ops. Off by default: they are folded
        into their consumers' weights, with a note.
    partial : bool
        When running the model fails, return the graph captured up to the
        failing call, drawn as an ``op="error"`` node with the exception and
        the shapes it received; ``G.graph["partial"]`` says where. Without
        it the error names the module where the forward failed.

    Returns
    -------
    Graph
        A validated IR graph.

    Examples
    --------
    >>> load("samples/resnet_tiny.onnx", name="tiny").graph["name"]
    'tiny'
    """
    options = _options(source, input_shapes, name, architecture, unsafe_load, show_saved, stats,
                       kv_cache, keep_constants, partial)
    return as_graph(_load_ir(os.fspath(model), options))


def convert(model: Model, example_inputs=None, *, example_kwargs: Optional[Dict] = None,
            source: str = "auto", name: Optional[str] = None,
            input_shapes: Optional[Sequence[str]] = None, unsafe_load: bool = False,
            show_saved: bool = False, architecture: Optional[str] = None,
            stats: bool = False, kv_cache: bool = False,
            keep_constants: bool = False, partial: bool = False) -> Graph:
    """Turn a model object (or a path) into the IR.

    Parameters
    ----------
    model : nn.Module, ExportedProgram, onnx.ModelProto, networkx graph or path
        What to convert. A path is handed to :func:`load`; an IR graph is
        validated and returned (as a :class:`Graph`).
    example_inputs : tensor or tuple of tensors, optional
        Positional inputs for capturing an ``nn.Module``.
    example_kwargs : dict, optional
        Keyword inputs for capturing an ``nn.Module``.
    source : str
        For modules: ``auto`` (the eager trace, then torch.export, then
        torch.fx), ``trace``, ``export``, ``fx`` or ``autograd``.
    name, input_shapes, unsafe_load, show_saved, architecture, stats, kv_cache, keep_constants,
    partial
        As for :func:`load`.

    Returns
    -------
    Graph
        A validated IR graph.

    Examples
    --------
    >>> import torch, graphir
    >>> G = graphir.convert(torch.nn.Linear(4, 2), torch.zeros(1, 4))
    >>> [G.nodes[n]["label"] for n in graphir.ir.op_nodes(G)]
    ['linear']
    """
    options = _options(source, input_shapes, name, architecture, unsafe_load, show_saved, stats,
                       kv_cache, keep_constants, partial)
    return as_graph(_to_ir(model, example_inputs, example_kwargs, options))


def view(model: Model, example_inputs=None, *, depth: Optional[int] = None,
         focus: Optional[str] = None, fold: bool = True, max_nodes: Optional[int] = None,
         infer_modules: bool = True, **source_options) -> Graph:
    """The part of a model to draw: focus, fold, collapse to ``depth``, node budget.

    Parameters
    ----------
    model
        Anything :func:`convert` takes (``source_options`` are its keywords);
        an IR graph is not changed.
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
    infer_modules : bool
        A graph without module scopes (an ONNX file from an older converter)
        gets modules inferred from weight names and repeated structure,
        marked ``inferred``, so it folds and collapses like any other.

    Returns
    -------
    Graph
        A new graph; what :func:`draw` takes.
    """
    from graphir.outputs import view_graph

    G = _to_ir(model, example_inputs, source_options.pop("example_kwargs", None),
               _options(**source_options))
    return as_graph(view_graph(G, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes,
                               infer_modules=infer_modules))


def draw(viewed: nx.MultiDiGraph, out: Optional[PathLike] = None, *,
         format: Optional[str] = None, theme: str = "default", rankdir: Optional[str] = None,
         show: Optional[Sequence[str]] = None, title: Optional[str] = None,
         color_by: Optional[str] = None, width: Union[None, str, float] = None,
         timeout: float = 120.0, style: str = "graph", font: Optional[str] = None,
         font_size: Optional[float] = None, standalone: bool = False, boxes3d: bool = False,
         source_info: Optional[str] = None,
         command_line: Optional[str] = None) -> Union[str, bytes]:
    """Draw an already-viewed graph (see :func:`view`) as it is: no folding or collapsing.

    ``format`` is one of :func:`render_formats` (default: ``out``'s
    extension; an unknown extension is refused). Returns the path written,
    or the bytes when ``out`` is None.
    """
    from graphir.outputs import draw as _draw

    if style != "graph":
        raise InputError(f"draw() draws a viewed graph; --style {style} needs the whole model",
                         hint="use graphir.render(model, ..., style=...)")
    options = DrawOptions(theme=theme, rankdir=rankdir, show=show, title=title,
                          color_by=color_by, width=width, timeout=timeout, font=font,
                          font_size=font_size, standalone=standalone,
                          source_info=source_info, command_line=command_line)
    return _draw(viewed, None if out is None else os.fspath(out), format=format,
                 options=options)


def render(model: Model, out: Optional[PathLike] = None, *, example_inputs=None,
           format: Optional[str] = None, theme: str = "default", rankdir: Optional[str] = None,
           show: Optional[Sequence[str]] = None, title: Optional[str] = None,
           color_by: Optional[str] = None, width: Union[None, str, float] = None,
           depth: Optional[int] = None, focus: Optional[str] = None, fold: bool = True,
           max_nodes: Optional[int] = None, infer_modules: bool = True,
           timeout: float = 120.0, style: str = "graph",
           font: Optional[str] = None, font_size: Optional[float] = None,
           standalone: bool = False, boxes3d: bool = False,
           source_info: Optional[str] = None, command_line: Optional[str] = None,
           **source_options) -> Union[str, bytes]:
    """View, then draw: a model to SVG, PNG, PDF, DOT or JSON (any registered format).

    Parameters
    ----------
    model
        Anything :func:`convert` takes; ``example_inputs`` and
        ``source_options`` (``source``, ``input_shapes``, ``example_kwargs``,
        ...) are handed to it.
    out : str or os.PathLike, optional
        Output file, written atomically. When None the bytes are returned.
    format : str, optional
        One of :func:`render_formats`; defaults to the extension of ``out``
        (an unknown extension is refused), else svg.
    theme, rankdir, show, title, color_by, width, timeout
        Drawing options (see :func:`draw`; ``width`` shrinks the drawing to
        ``"3.3in"``, ``"8.5cm"``, ``"240pt"`` to fit a paper column, or for
        ``.tex`` to a TeX length such as ``"\\columnwidth"``).
    style : {"graph", "blocks"}
        ``blocks`` draws one block per module (the depth giving 5-25 blocks
        unless ``depth`` is given), repeats once with ×N, skips as arcs.
    font, font_size
        Font family and op-name size (pt) of SVG/PDF/PNG output.
    standalone : bool
        ``.tex``: a whole compilable document instead of a picture.
    boxes3d : bool
        ``style="blocks"``: PlotNeuralNet-style 3-D boxes sized by the tensor.
    depth, focus, fold, max_nodes
        What to draw (see :func:`view`). JSON output is the viewed IR; the
        ``html`` page starts at this view and can open every box in it.
    source_info, command_line
        Shown on an ``html`` page: the model as the user named it, and the
        command that made the page.

    Returns
    -------
    str or bytes
        The path written, or the rendered bytes when ``out`` is None.
    """
    from graphir.outputs import render_graph

    if source_info is None and isinstance(model, (str, os.PathLike)):
        source_info = os.fspath(model)
    options = DrawOptions(theme=theme, rankdir=rankdir, show=show, title=title,
                          color_by=color_by, width=width, timeout=timeout, style=style,
                          font=font, font_size=font_size, standalone=standalone,
                          boxes3d=boxes3d, source_info=source_info, command_line=command_line)
    fmt = check_output_path(out, format) if out is not None or format else "svg"
    options.checked(fmt)
    G = _to_ir(model, example_inputs, source_options.pop("example_kwargs", None),
               _options(**source_options))
    return render_graph(G, None if out is None else os.fspath(out), format=fmt,
                        options=options, depth=depth, focus=focus, fold=fold,
                        max_nodes=max_nodes, infer_modules=infer_modules)


def to_dot(model: Model, example_inputs=None, *, theme: str = "default",
           rankdir: Optional[str] = None, show: Optional[Sequence[str]] = None,
           title: Optional[str] = None, color_by: Optional[str] = None,
           **source_options) -> str:
    """DOT source of a graph as it is, no view applied (pure; no Graphviz needed).

    ``rankdir`` None lays a parameter tree out left to right and everything
    else top to bottom; ``color_by`` names a number to colour nodes by (a
    ``stats`` key such as ``mean`` or ``zeros``, ``weight_change``,
    ``params``), ``"none"`` for op-category colours; None picks automatically.
    """
    from graphir.renderers.dot import to_dot as _to_dot

    G = _to_ir(model, example_inputs, source_options.pop("example_kwargs", None),
               _options(**source_options))
    return _to_dot(G, theme=theme, rankdir=rankdir, show=show, title=title, color_by=color_by)


def save(model: Model, out: PathLike, example_inputs=None, **source_options) -> str:
    """Write the IR as JSON (the full IR, no view applied); returns the path."""
    G = _to_ir(model, example_inputs, source_options.pop("example_kwargs", None),
               _options(**source_options))
    return write(serialize.to_json(G), out)


def summary(model: Model, example_inputs=None, *, format: Optional[str] = None,
            depth: Optional[int] = None, **source_options) -> Union[dict, str]:
    """The torchinfo-style table of a model.

    Parameters
    ----------
    model
        Anything :func:`convert` takes (an IR graph is only read, never
        changed); ``example_inputs`` and ``source_options`` go to it, so
        ``graphir.summary(model, torch.zeros(1, 3, 224, 224))`` works like
        ``torchinfo.summary(model, input_data=...)``.
    format : str, optional
        None returns the table as a dict; ``text``, ``json``, ``markdown`` or
        ``csv`` return that text.
    depth : int, optional
        Deepest module level listed (1 = the model's direct children).
    """
    from graphir.table import format_summary, summarize

    if format is not None and format not in SUMMARY_FORMATS:
        raise InputError(f"unknown summary format {format!r}",
                         hint=f"use one of {', '.join(SUMMARY_FORMATS)}")
    G = _to_ir(model, example_inputs, source_options.pop("example_kwargs", None),
               _options(**source_options))
    table = summarize(G, depth=depth)
    return table if format is None else format_summary(table, format)


def load_weights(path: PathLike, *, unsafe_load: bool = False) -> dict:
    """Read a state_dict, training checkpoint or safetensors file: ``{name: tensor}``."""
    from graphir.loaders.door import open_model

    return open_model(path, unsafe_load=unsafe_load).tensors()[0]


def diff(old: Model, new: Model, *, source: str = "auto",
         input_shapes: Optional[Sequence[str]] = None, architecture: Optional[str] = None,
         unsafe_load: bool = False, show_saved: bool = False, stats: bool = False,
         kv_cache: bool = False, keep_constants: bool = False, partial: bool = False,
         atol: Optional[float] = None, rtol: Optional[float] = None,
         level: Optional[str] = None, numeric: bool = False) -> Any:
    """Compare two models, or two checkpoints.

    Parameters
    ----------
    old, new : path, ``FILE.py:CALLABLE`` or anything :func:`convert` takes
        When both are weight files (state_dict, checkpoint, safetensors)
        their tensors are compared instead; each file is opened, scanned
        and read once.
    source, input_shapes, architecture, unsafe_load, show_saved, stats, kv_cache,
    keep_constants, partial
        As for :func:`load`, applied to both sides.
    atol, rtol : float, optional
        Tolerances under which two tensors count as equal: for a checkpoint
        diff (default 0, exact), and for ``numeric`` (default 1e-4 and 1e-3).
    level : {"module", "op"}, optional
        Compare by module (the module tree, the shapes and dtypes at each
        module's boundary, the weights by name and shape) or by op. Default:
        ``module`` when the two sides come from different sources (a PyTorch
        module against its ONNX or TorchScript export), else ``op``.
    numeric : bool
        Also run both sides on the same example inputs (ONNX through
        onnxruntime) and report each matched module's largest error.

    Returns
    -------
    graphir.diffing.DiffResult, graphir.diffing.modules.ModuleDiffResult or
    graphir.diffing.CheckpointDiff
        ``.has_differences`` tells whether anything differs. A checkpoint
        diff made with ``architecture`` carries ``.graph``: the architecture's IR.
    """
    from graphir.diffing import as_arrays, diff_graphs, diff_tensors
    from graphir.loaders.door import open_model

    options = _options(source, input_shapes, None, architecture, unsafe_load, show_saved, stats,
                       kv_cache, keep_constants, partial)
    sides = []
    for side in (old, new):
        is_path = isinstance(side, (str, os.PathLike))
        sides.append(open_model(side, unsafe_load=unsafe_load) if is_path else side)
    if all(hasattr(s, "is_weights") and s.is_weights for s in sides):
        old_w, new_w = (s.tensors()[0] for s in sides)
        result = diff_tensors(as_arrays(old_w), as_arrays(new_w), atol=atol or 0.0,
                              rtol=rtol or 0.0)
        result.graph = as_graph(graph_of(sides[1], options)) if architecture else None
        result.new_path = sides[1].spec
        return result
    graphs = [graph_of(s, options) if hasattr(s, "is_weights") else _to_ir(s, options=options)
              for s in sides]
    from graphir.diffing.modules import default_level, diff_across_sources

    natural = default_level(graphs[0], graphs[1])
    level = level or natural
    if level not in ("module", "op"):
        raise InputError(f"unknown --level {level!r}", hint="use module or op")
    if level == "op" and natural == "op" and not numeric:
        result = diff_graphs(graphs[0], graphs[1])
    else:
        runners = _numeric_runners(sides, graphs, options) if numeric else {}
        result = diff_across_sources(graphs[0], graphs[1], level=level,
                                     atol=1e-4 if atol is None else atol,
                                     rtol=1e-3 if rtol is None else rtol, **runners)
    if all(getattr(s, "kind", None) == "hf_folder" for s in sides):
        from graphir.loaders.hf_folder import diff_headers

        result.weights = diff_headers(*(s.payload().header for s in sides))
    return result


def _numeric_runners(sides, graphs, options: SourceOptions) -> Dict[str, Any]:
    """A runner per side and the example inputs both run on (``diff --numeric``)."""
    from graphir.overlay import numeric
    from graphir.sources import example_inputs

    runners, inputs = [], None
    for side, G in zip(sides, graphs):
        kind = getattr(side, "kind", None)
        if kind == "python":
            module, args, kwargs = side.payload()  # the instance the IR was captured from
            if inputs is None:
                args, _ = example_inputs(side.spec, args, kwargs, options.input_shapes)
                inputs = tuple(args) if isinstance(args, (tuple, list)) else (args,)
            runners.append(numeric.module_runner(module))
        elif kind == "onnx":
            runners.append(numeric.onnx_runner(side.payload(), G))
        elif kind == "export":
            runners.append(numeric.exported_runner(side.payload()))
        elif kind == "torchscript":
            runners.append(numeric.torchscript_runner(side.payload()))
        else:
            raise InputError("--numeric runs a FILE.py:CALLABLE, an ONNX, .pt2 or TorchScript "
                             f"file, not {kind or type(side).__name__}",
                             hint="diff two such models, or drop --numeric")
    if inputs is None:
        if not options.input_shapes:
            raise InputError("--numeric needs example inputs",
                             hint="pass --input-shape or diff against a FILE.py:CALLABLE")
        inputs, _ = example_inputs("--input-shape", None, None, options.input_shapes)
    return {"old_runner": runners[0], "new_runner": runners[1], "example_inputs": inputs}


def _diff_picture(result, fmt: str, context: Optional[int], draw_options: dict) -> bytes:
    """Render the union graph (or weight-change graph) of a diff to ``fmt`` bytes."""
    from graphir.diffing import CheckpointDiff, annotate_weight_change
    from graphir.diffing import context as keep_context

    draw_options = dict(draw_options)
    if isinstance(result, CheckpointDiff):
        graph = result.graph
        if graph is None:
            from graphir.converters.state_dict import from_state_dict

            graph = from_state_dict({t.name: (t.new_shape or t.old_shape, None)
                                     for t in result.tensors}, name="weights")
        shown = annotate_weight_change(graph, result)
        # each block keeps its own colour: folding would merge blocks whose
        # weights moved by different amounts into one box
        draw_options["fold"] = False
    else:
        shown = result.union if context is None else keep_context(result.union, context)
    data = render(shown, format=fmt, **draw_options)
    return data if isinstance(data, bytes) else data.encode("utf-8")


def diff_report(result, *, format: str = "text", old_name: str = "old", new_name: str = "new",
                context: Optional[int] = None, plot: Optional[PathLike] = None,
                **draw_options) -> Union[str, bytes]:
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
    **draw_options
        Drawing and view options for pictures, as for :func:`render`.

    Returns
    -------
    str or bytes
    """
    import json

    from graphir.diffing import (CheckpointDiff, checkpoint_to_json_dict, checkpoint_to_text,
                                 plot_weight_change, to_json_dict, to_text)

    if format not in DIFF_FORMATS:
        raise InputError(f"unknown diff format {format!r}",
                         hint=f"use one of {', '.join(DIFF_FORMATS)}")
    is_checkpoint = isinstance(result, CheckpointDiff)
    from graphir.diffing.modules import ModuleDiffResult
    from graphir.diffing.modules import to_json_dict as module_json
    from graphir.diffing.modules import to_text as module_text

    by_module = isinstance(result, ModuleDiffResult)
    if plot:
        if not is_checkpoint:
            raise InputError("--plot draws a checkpoint diff; these inputs are models",
                             hint="pass two weight files, or drop --plot")
        plot_weight_change(result, plot)
    weights = None if is_checkpoint else getattr(result, "weights", None)
    if format == "text":
        text = (checkpoint_to_text(result, old_name, new_name) if is_checkpoint
                else module_text(result, old_name, new_name) if by_module
                else to_text(result, old_name, new_name))
        text = text if text.endswith("\n") else text + "\n"
        if weights is not None:
            from graphir.loaders.hf_folder import headers_diff_text

            text += headers_diff_text(weights).rstrip("\n") + "\n"
        return text
    if format == "json":
        data = (checkpoint_to_json_dict(result) if is_checkpoint
                else module_json(result) if by_module else to_json_dict(result))
        if weights is not None:
            data["weights"] = json.loads(json.dumps(weights))
        return json.dumps(data, sort_keys=True, indent=1) + "\n"
    if format == "html":
        if is_checkpoint:
            raise InputError("html is for model diffs", hint="use --format json or text")
        from graphir import explore

        contexts = (1, 2, 3) if context is None else tuple(sorted({1, 2, 3, int(context)}))
        return explore.diff_page(result, old_name=old_name, new_name=new_name,
                                 command_line=draw_options.get("command_line"),
                                 title=draw_options.get("title"),
                                 theme=draw_options.get("theme", "default"),
                                 show=draw_options.get("show"),
                                 rankdir=draw_options.get("rankdir"),
                                 depth=draw_options.get("depth"),
                                 fold=draw_options.get("fold", True),
                                 max_nodes=draw_options.get("max_nodes"), contexts=contexts,
                                 version=__version__,
                                 timeout=draw_options.get("timeout", 120.0))
    return _diff_picture(result, format, context, draw_options)


def attention(model: Model, out_dir: PathLike, *, example_inputs=None,
              example_kwargs: Optional[Dict] = None,
              input_shapes: Optional[Sequence[str]] = None, image: Optional[PathLike] = None,
              name: Optional[str] = None) -> Any:
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
    from graphir.loaders.door import open_model
    from graphir.overlay import run_attention
    from graphir.sources import example_inputs as _example_inputs

    if isinstance(model, (str, os.PathLike)):
        spec = os.fspath(model)
        if not split_factory_spec(spec):
            raise InputError("attention needs a model it can run", path=spec,
                             hint="pass FILE.py:CALLABLE returning the nn.Module")
        opened = open_model(spec)
        module, args, kwargs = opened.payload()
        args, kwargs = _example_inputs(spec, args, kwargs, input_shapes)
        name = name or opened.stem
    else:
        module = model
        args, kwargs = _example_inputs(type(model).__name__, example_inputs, example_kwargs,
                                       input_shapes)
        if args is not None and not isinstance(args, (tuple, list)):
            args = (args,)
    return run_attention(module, tuple(args or ()), kwargs, out_dir, image_path=image,
                         name=name)
