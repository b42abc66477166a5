"""Public functions: ``load``, ``convert``, ``render``, ``to_dot``, ``write``.

The command line calls only these. Each takes the CLI's options as keyword
arguments and raises :class:`graphir.errors.GraphIRError` subclasses on bad
input.

Examples
--------
>>> import graphir
>>> G = graphir.load("samples/resnet_tiny.onnx")            # doctest: +SKIP
>>> graphir.render(G, "resnet_tiny.svg")                    # doctest: +SKIP
"""

import os

import networkx as nx

from graphir import ir, serialize
from graphir.errors import InputError

__all__ = ["SOURCES_FOR_FILES", "FORMATS", "load", "convert", "render", "to_dot",
           "write", "format_from_path", "check_view_options"]

#: ``--source`` values and the file kinds they accept.
SOURCES_FOR_FILES = {
    "onnx": ("onnx",),
    "export": ("export", "python"),
    "fx": ("python",),
}

#: Output formats of ``render``.
FORMATS = ("svg", "png", "pdf", "dot", "json")

_EXTENSIONS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot",
               ".json": "json"}


def format_from_path(path, default="svg"):
    """Output format named by a file extension (``.gv`` is DOT), else ``default``."""
    if path is None:
        return default
    return _EXTENSIONS.get(os.path.splitext(str(path))[1].lower(), default)


def _stem(path):
    return os.path.splitext(os.path.basename(str(path)))[0]


def _check_source(source, kind, spec):
    if source == "auto":
        return
    accepted = SOURCES_FOR_FILES.get(source)
    if accepted is None:
        raise InputError(f"unknown --source {source!r}",
                         hint=f"use auto or one of {', '.join(SOURCES_FOR_FILES)}")
    if kind not in accepted:
        raise InputError(f"is a {kind} input, which --source {source} cannot read", path=spec,
                         hint="use --source auto")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise InputError("is not UTF-8 text", path=path, hint="pass an IR JSON file") from None
    G = serialize.from_json(text, path=path)
    ir.validate(G, allow_cycles=True)
    return G


def _convert_factory(spec, source, input_shapes):
    from graphir.load import load_factory, make_example_inputs, parse_input_shape

    module, args, kwargs = load_factory(spec)
    if input_shapes:
        specs = [s if isinstance(s, tuple) else parse_input_shape(s) for s in input_shapes]
        args, kwargs = make_example_inputs(specs), None
    if args is None and not kwargs:
        raise InputError("the factory returned no example inputs", path=spec,
                         hint="pass --input-shape (for example --input-shape 1,3,224,224)")
    return convert(module, args, example_kwargs=kwargs, source=source,
                   name=type(module).__name__)


def load(model, *, source="auto", input_shapes=None, name=None):
    """Read a model file, a ``FILE.py:CALLABLE`` factory or an IR JSON into the IR.

    Parameters
    ----------
    model : str or os.PathLike
        ``.onnx``, ``.pt2``, IR ``.json`` or ``FILE.py:CALLABLE``; the kind is
        told from the content, not the extension.
    source : str
        ``auto`` or a converter name (``onnx``, ``export``, ``fx``).
    input_shapes : list of str, optional
        ``--input-shape`` values for a factory (``"int64:1,16"``).
    name : str, optional
        Model name; defaults to the file stem or the module's class name.

    Returns
    -------
    networkx.MultiDiGraph
        A validated IR graph.
    """
    from graphir.load import detect_kind

    spec = os.fspath(model)
    kind = detect_kind(spec)
    _check_source(source, kind, spec)
    if kind == "json":
        return _read_json(spec)
    if kind == "onnx":
        from graphir.convert.onnx import from_onnx
        from graphir.load.onnx_file import load_onnx

        G = from_onnx(load_onnx(spec), name=name or _stem(spec))
    elif kind == "export":
        from graphir.convert.fx import from_exported_program
        from graphir.load.torch_files import load_exported_program

        G = from_exported_program(load_exported_program(spec), name=name or _stem(spec))
    elif kind == "python":
        return _convert_factory(spec, source, input_shapes)
    else:
        raise InputError(f"is a {kind} file, which this version of graphir cannot convert yet",
                         path=spec, hint="export the model to ONNX or with torch.export.save")
    ir.validate(G)
    return G


def _convert_module(module, example_inputs, example_kwargs, source, name):
    from graphir.convert.fx import from_module

    if source not in ("auto", "export", "fx"):
        raise InputError(f"--source {source} cannot convert an nn.Module",
                         hint="use auto, export or fx")
    if example_inputs is None and not example_kwargs:
        raise InputError("converting an nn.Module needs example inputs",
                         hint="pass example_inputs (or --input-shape)")
    if example_inputs is not None and not isinstance(example_inputs, (tuple, list)):
        example_inputs = (example_inputs,)
    G, method = from_module(module, tuple(example_inputs or ()), example_kwargs,
                            method=source, name=name or type(module).__name__)
    if source == "auto" and method != "export":
        G.graph.setdefault("warnings", []).append(
            f"torch.export could not capture the model; used {method}")
    return G


def convert(model, example_inputs=None, *, example_kwargs=None, source="auto", name=None,
            input_shapes=None):
    """Turn a model object (or a path) into the IR.

    Parameters
    ----------
    model : nn.Module, torch.export.ExportedProgram, onnx.ModelProto, networkx graph or path
        What to convert. A path is handed to :func:`load`.
    example_inputs : tensor or tuple of tensors, optional
        Positional inputs for capturing an ``nn.Module``.
    example_kwargs : dict, optional
        Keyword inputs for capturing an ``nn.Module``.
    source : str
        ``auto`` (torch.export, then torch.fx), ``export`` or ``fx`` for modules.
    name : str, optional
        Model name for the graph.

    Returns
    -------
    networkx.MultiDiGraph
        A validated IR graph.
    """
    if isinstance(model, nx.MultiDiGraph):
        ir.validate(model, allow_cycles=True)
        return model
    if isinstance(model, (str, os.PathLike)):
        return load(model, source=source, input_shapes=input_shapes, name=name)
    type_name = f"{type(model).__module__}.{type(model).__name__}"
    if type_name.startswith("onnx") and type(model).__name__ == "ModelProto":
        from graphir.convert.onnx import from_onnx

        G = from_onnx(model, name=name or model.graph.name or "model")
    elif type(model).__name__ == "ExportedProgram":
        from graphir.convert.fx import from_exported_program

        G = from_exported_program(model, name=name or "model")
    elif hasattr(model, "forward") and hasattr(model, "named_parameters"):
        G = _convert_module(model, example_inputs, example_kwargs, source, name)
    else:
        raise InputError(f"cannot convert an object of type {type_name}",
                         hint="pass an nn.Module with example inputs, an ExportedProgram, "
                              "an onnx.ModelProto or a file path")
    ir.validate(G)
    return G


def check_view_options(*, theme="default", show=None):
    """Raise :class:`InputError` now for a bad theme or ``show`` list (before slow work)."""
    from graphir.render.dot import parse_show
    from graphir.render.themes import get_theme

    get_theme(theme)
    parse_show(show)


def to_dot(graph, *, theme="default", rankdir="TB", show=None, title=None):
    """DOT source of an IR graph (pure; no Graphviz needed)."""
    from graphir.render.dot import to_dot as _to_dot

    return _to_dot(graph, theme=theme, rankdir=rankdir, show=show, title=title)


def write(data, out):
    """Write bytes or text to ``out`` atomically (no partial file on failure)."""
    from graphir.render.backend import write_atomic

    write_atomic(out, data.encode("utf-8") if isinstance(data, str) else data)


def render(graph, out=None, *, format=None, theme="default", rankdir="TB", show=None,
           title=None, timeout=120.0):
    """Render an IR graph to SVG, PNG, PDF, DOT or JSON.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        An IR graph (see :func:`load`).
    out : str or os.PathLike, optional
        Output file, written atomically. When None the bytes are returned.
    format : str, optional
        One of :data:`FORMATS`; defaults to the extension of ``out``, else svg.
    theme, rankdir, show, title
        Drawing options (see :func:`graphir.render.dot.to_dot`).
    timeout : float
        Seconds Graphviz may take before the render is abandoned.

    Returns
    -------
    str or bytes
        The path written, or the rendered bytes when ``out`` is None.
    """
    from graphir.render.backend import render_bytes

    fmt = format or format_from_path(out)
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    if fmt == "json":
        data = serialize.to_json(graph).encode("utf-8")
    else:
        dot_source = to_dot(graph, theme=theme, rankdir=rankdir, show=show, title=title)
        data = render_bytes(dot_source, fmt, timeout=timeout)
    if out is None:
        return data
    write(data, out)
    return os.fspath(out)
