"""The ``graphir`` command line: argument parsing, messages and exit codes.

Exit codes: 0 success (for ``diff``: no difference), 1 ``diff`` found
differences, 2 bad input or failure (one line on stderr naming the file and
what to do; the traceback only with ``--debug``). The CLI calls the public
API in :mod:`graphir.api` only.
"""

import argparse
import os
import sys
import time

from graphir import api, ir
from graphir.errors import GraphIRError, InputError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


def _add_source_options(parser):
    group = parser.add_argument_group("source options")
    group.add_argument("--source", default="auto", choices=api.SOURCES,
                       help="converter (default auto: by file kind; for a module, one "
                            "recorded eager forward (trace), then torch.export, then torch.fx)")
    group.add_argument("--input-shape", action="append", default=[], metavar="SPEC",
                       help="example input, [DTYPE:]D1,D2,... (repeat per input), "
                            "e.g. 1,3,224,224 or int64:1,16")
    group.add_argument("--model", dest="architecture", metavar="FILE.py:CALLABLE",
                       help="architecture for a state_dict/checkpoint/safetensors file")
    group.add_argument("--unsafe-load", action="store_true",
                       help="allow loading files that run code when unpickled "
                            "(a pickled nn.Module); only for files you trust")
    group.add_argument("--show-saved", action="store_true",
                       help="with --source autograd: show the tensors saved for backward")
    group.add_argument("--keep-constants", action="store_true",
                       help="ONNX: draw ops that compute constants (ConstantOfShape, shape "
                            "chains) as ops instead of as the weights they produce")
    group.add_argument("--partial", action="store_true",
                       help="when running the model fails, still write the graph up to the "
                            "failing call (drawn as a red error node); exit code stays 2")
    group.add_argument("--kv-cache", action="store_true",
                       help="run transformers with their KV cache and draw it as one grouped "
                            "output (default: use_cache=False where the model takes it)")
    group.add_argument("--stats", action="store_true",
                       help="run the model once and record per-op output statistics "
                            "(mean, std, min, max, zeros) on the graph")


def _add_view_options(parser):
    group = parser.add_argument_group("view options")
    group.add_argument("--depth", type=int, default=None, metavar="N",
                       help="draw modules at depth N as single boxes (1 = top-level "
                            "modules); default: full detail within the node budget")
    group.add_argument("--focus", default=None, metavar="MODULE_PATH",
                       help="draw only this module's subtree (e.g. h.3.attn)")
    group.add_argument("--fold", action=argparse.BooleanOptionalAction, default=None,
                       help="draw runs of identical blocks once with ×N (default: on, "
                            "except when colouring by a number, which differs per block)")
    group.add_argument("--max-nodes", type=int, default=None, metavar="N",
                       help="collapse depth until at most N nodes are visible "
                            "(default 300 unless --depth is given; 0 = no limit)")
    group.add_argument("--infer-modules", action=argparse.BooleanOptionalAction, default=True,
                       help="give a graph without module names (older ONNX converters) "
                            "modules inferred from weight names and repeated structure "
                            "(default: on; marked inferred)")
    group.add_argument("--rankdir", default=None, choices=["TB", "LR", "BT", "RL"],
                       help="layout direction (default: TB, LR for a parameter tree)")
    group.add_argument("--theme", default="default",
                       help="default, paper, mono, colorblind or dark (default: default)")
    group.add_argument("--show", default=None, metavar="LIST",
                       help="what to draw, comma-separated from shapes,params,dtypes,attrs,"
                            "module,edges,stats,legend (default shapes,params,legend); "
                            "+NAME/-NAME edit the defaults, e.g. +stats,-legend")
    group.add_argument("--color-by", default=None, metavar="NAME",
                       help="colour nodes by a number: mean, std, min, max, zeros (with "
                            "--stats), weight_change, params; none for op categories")
    group.add_argument("--width", default=None, metavar="LENGTH",
                       help="shrink the figure to this width, e.g. 3.3in, 8.5cm, 240pt; "
                            "for .tex a TeX length such as '\\columnwidth'")
    group.add_argument("--title", default=None, help="figure title (default: model name)")
    group.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                       help="give up on Graphviz layout after this long (default 120)")


def _add_common(parser):
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress messages")


def _render_parser(commands):
    render = commands.add_parser("render", help="draw a model as SVG, PNG, PDF, DOT or JSON")
    render.add_argument("model", metavar="MODEL",
                        help="a model file (.onnx .pt2 .pt .pth .safetensors), a Hugging Face "
                             "model folder, an IR .json, FILE.py:CALLABLE or "
                             "MODULE.PATH:CALLABLE")
    render.add_argument("-o", "--output", metavar="OUT",
                        help="output file (default: MODEL's stem + .svg in this folder)")
    render.add_argument("--format", choices=api.render_formats(),
                        help="output format (default: from -o's extension, else svg)")
    _add_source_options(render)
    _add_view_options(render)
    paper = render.add_argument_group("paper figures")
    paper.add_argument("--style", default="graph", choices=("graph", "blocks"),
                       help="graph: ops and modules (default); blocks: one block per module "
                            "as papers draw them (5-25 blocks unless --depth N)")
    paper.add_argument("--standalone", action="store_true",
                       help="with -o fig.tex: a whole compilable document, not a picture")
    paper.add_argument("--font", default=None, metavar="FAMILY",
                       help="font family for SVG/PDF/PNG, e.g. Times or 'DejaVu Sans'")
    paper.add_argument("--font-size", type=float, default=None, metavar="PT",
                       help="point size of op names (details follow)")
    paper.add_argument("--boxes3d", action="store_true",
                       help="with --style blocks: 3-D boxes sized by the tensor")
    _add_common(render)


def _convert_parser(commands):
    convert = commands.add_parser("convert", help="write the IR of a model as JSON")
    convert.add_argument("model", metavar="MODEL")
    convert.add_argument("-o", "--output", metavar="OUT", required=True,
                         help="output IR JSON file")
    _add_source_options(convert)
    _add_common(convert)


def _summary_parser(commands):
    summary = commands.add_parser("summary", help="a table of modules, shapes and parameters")
    summary.add_argument("model", metavar="MODEL")
    summary.add_argument("--format", default="text", choices=api.SUMMARY_FORMATS)
    summary.add_argument("--depth", type=int, default=None, metavar="N",
                         help="list modules down to depth N (1 = top-level modules)")
    summary.add_argument("-o", "--output", metavar="OUT", help="write to a file, not stdout")
    _add_source_options(summary)
    _add_common(summary)


def _diff_parser(commands):
    diff = commands.add_parser(
        "diff", help="what changed between two models or two checkpoints (exit 1 if any)")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout text)")
    diff.add_argument("--format", choices=api.DIFF_FORMATS,
                      help="output format (default: from -o's extension, else text)")
    diff.add_argument("--context", type=int, default=None, metavar="N",
                      help="draw only changed nodes and N hops around them")
    diff.add_argument("--level", choices=("module", "op"), default=None,
                      help="compare by module (module tree, boundary shapes, weights) or by "
                           "op; default: module when the two come from different sources "
                           "(a model against its ONNX/TorchScript export), else op")
    diff.add_argument("--numeric", action="store_true",
                      help="also run both on the same example inputs (ONNX via onnxruntime) "
                           "and report each module's largest error")
    diff.add_argument("--atol", type=float, default=None,
                      help="absolute tolerance (checkpoint diff: default 0; --numeric: 1e-4)")
    diff.add_argument("--rtol", type=float, default=None,
                      help="relative tolerance (checkpoint diff: default 0; --numeric: 1e-3)")
    diff.add_argument("--plot", metavar="FILE",
                      help="checkpoint diff: bar chart of relative change per module "
                           "(.png, .svg or .pdf)")
    _add_source_options(diff)
    _add_view_options(diff)
    _add_common(diff)


def _attention_parser(commands):
    attention = commands.add_parser(
        "attention", help="attention maps per layer and head of a transformer, with statistics")
    attention.add_argument("model", metavar="MODEL", help="FILE.py:CALLABLE")
    attention.add_argument("-o", "--output", metavar="DIR", required=True,
                           help="folder for the figures, report.md and attention.json")
    attention.add_argument("--image", metavar="FILE",
                           help="image to run the model on (resized and normalised)")
    attention.add_argument("--input-shape", action="append", default=[], metavar="SPEC",
                           help="random example input, [DTYPE:]D1,D2,... (repeat per input)")
    _add_common(attention)


def build_parser():
    """The argument parser of the ``graphir`` command."""
    parser = argparse.ArgumentParser(
        prog="graphir", description="Turn neural-network models into one graph IR and draw it.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    parser.add_argument("--version", action="version", version=f"graphir {api.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_render_parser, _convert_parser, _summary_parser, _diff_parser,
                _attention_parser):
        add(commands)
    return parser


class _Messages:
    """What the CLI tells the user on stderr.

    Live progress (``step``) is shown only on a terminal. Notes and warnings
    are held back and printed when the command succeeds, so a failing command
    prints exactly one line: the error.
    """

    def __init__(self, quiet):
        self.quiet = quiet
        self.live = sys.stderr.isatty() and not quiet
        self.start = time.perf_counter()
        self.pending = []

    def step(self, text):
        if self.live:
            print(f"graphir: {text} ({time.perf_counter() - self.start:.1f}s)", file=sys.stderr)

    def note(self, text):
        if not self.quiet:
            self.pending.append(f"graphir: {text}")

    def warn(self, text):
        self.pending.append(f"graphir: warning: {text}")

    def flush(self):
        for line in self.pending:
            print(line, file=sys.stderr)
        self.pending = []


def _source_kwargs(args):
    return {"source": args.source, "input_shapes": args.input_shape,
            "architecture": args.architecture, "unsafe_load": args.unsafe_load,
            "show_saved": args.show_saved, "stats": args.stats, "kv_cache": args.kv_cache,
            "keep_constants": args.keep_constants, "partial": args.partial}


def _check_partial(G, spec, out):
    """After writing ``out`` from a partial graph, say so as the one error line."""
    partial = G.graph.get("partial")
    if partial:
        where = f" in {partial['module']}" if partial.get("module") else ""
        raise InputError(f"running the model on the example inputs failed{where} "
                         f"({partial['error']}); the graph up to that call was written to "
                         f"{out}", path=spec,
                         hint="fix the model or the example inputs (--input-shape)")


def _load(args, messages, spec=None):
    spec = args.model if spec is None else spec
    messages.step(f"reading {spec}")
    G = api.load(spec, **_source_kwargs(args))
    for warning in G.graph.get("warnings", []):
        messages.warn(warning)
    messages.note(f"read {spec} via {G.graph['source']}: {len(ir.op_nodes(G))} ops, "
                  f"{G.number_of_nodes()} nodes")
    return G


def _fold(args):
    """``--fold`` as given; by default on, unless nodes are coloured by a number
    (statistics differ from block to block, so folded blocks would hide them)."""
    if args.fold is not None:
        return args.fold
    coloured = args.color_by not in (None, "none") or getattr(args, "stats", False)
    return not coloured


def _command_line():
    """The command as the user typed it, for the pages graphir writes."""
    import shlex

    return "graphir " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def _draw_options(args, source_info=None):
    """The drawing options, checked now (before any model is loaded)."""
    show = None if args.show is None else [s.strip() for s in args.show.split(",") if s.strip()]
    paper = {key: getattr(args, key) for key in ("style", "font", "font_size", "standalone",
                                                  "boxes3d") if hasattr(args, key)}
    return api.DrawOptions(theme=args.theme, rankdir=args.rankdir, show=show, title=args.title,
                           color_by=args.color_by, width=args.width, timeout=args.timeout,
                           source_info=source_info, command_line=_command_line(), **paper)


def _view_kwargs(args):
    return {"depth": args.depth, "focus": args.focus, "fold": _fold(args),
            "max_nodes": args.max_nodes, "infer_modules": args.infer_modules}


def _default_output(model, fmt):
    """``resnet.onnx`` -> ``resnet.<fmt>``; ``samples/gpt2.py:gpt2_tiny`` -> ``gpt2_tiny.<fmt>``."""
    spec = str(model)
    if ".py:" in spec:
        return f"{spec.rsplit(':', 1)[1]}.{fmt}"
    return f"{os.path.splitext(os.path.basename(spec))[0] or 'model'}.{fmt}"


def cmd_render(args, messages):
    if args.output:
        fmt = api.format_from_path(args.output) if args.format is None else args.format
        out = args.output
    else:
        fmt = args.format or "svg"
        out = _default_output(args.model, fmt)
    options = _draw_options(args, source_info=args.model).checked(fmt)
    for flag, value in (("--depth", args.depth), ("--max-nodes", args.max_nodes)):
        if value is not None and value < 0:
            raise InputError(f"{flag} {value} is negative", hint=f"pass {flag} 0 or more")
    G = _load(args, messages)
    messages.step(f"laying out {G.number_of_nodes()} nodes with Graphviz")
    if api.is_page_format(fmt) or options.style != "graph":
        # the page and the block diagram view the whole model themselves
        api.render(G, out, format=fmt, **options._asdict(), **_view_kwargs(args))
        messages.note(f"wrote {out}")
        _check_partial(G, args.model, out)
        return EXIT_OK
    shown = api.view(G, **_view_kwargs(args))
    for note in shown.graph.get("notes", []):
        messages.warn(note)
    api.draw(shown, out, format=fmt, **options._asdict())
    messages.note(f"wrote {out} ({shown.number_of_nodes()} nodes drawn)")
    _check_partial(G, args.model, out)
    return EXIT_OK


def cmd_convert(args, messages):
    api.format_from_path(args.output, formats=("json",))
    G = _load(args, messages)
    api.save(G, args.output)
    messages.note(f"wrote {args.output}")
    _check_partial(G, args.model, args.output)
    return EXIT_OK


def _emit(text_or_bytes, out):
    """Write to ``out`` atomically, or to stdout when ``out`` is None."""
    if out is None:
        data = text_or_bytes if isinstance(text_or_bytes, str) else text_or_bytes.decode()
        sys.stdout.write(data)
        sys.stdout.flush()
    else:
        api.write(text_or_bytes, out)


def cmd_summary(args, messages):
    G = _load(args, messages)
    _emit(api.summary(G, format=args.format, depth=args.depth), args.output)
    return EXIT_OK


_DIFF_EXTENSIONS = {".txt": "text", ".json": "json", ".svg": "svg", ".png": "png",
                    ".pdf": "pdf", ".html": "html", ".htm": "html"}


def _diff_format(args):
    """The diff report's format: --format, else -o's extension (refused if unknown), else text."""
    if args.format:
        return args.format
    if not args.output:
        return "text"
    extension = os.path.splitext(args.output)[1].lower()
    if extension not in _DIFF_EXTENSIONS:
        what = f"has the unknown extension {extension!r}" if extension else "has no extension"
        raise InputError(f"output {what}", path=args.output,
                         hint=f"name it {' '.join(sorted(set(_DIFF_EXTENSIONS)))} "
                              "(or pass --format)")
    return _DIFF_EXTENSIONS[extension]


def cmd_diff(args, messages):
    fmt = _diff_format(args)
    pictures = fmt in ("svg", "png", "pdf", "html")
    options = _draw_options(args).checked(fmt)._asdict() if pictures else {}
    messages.step(f"comparing {args.old} and {args.new}")
    result = api.diff(args.old, args.new, atol=args.atol, rtol=args.rtol, level=args.level,
                      numeric=args.numeric, **_source_kwargs(args))
    report = api.diff_report(result, format=fmt, old_name=args.old, new_name=args.new,
                             context=args.context, plot=args.plot,
                             **(dict(options, **_view_kwargs(args)) if pictures else {}))
    _emit(report, args.output)
    if args.output:
        messages.note(f"wrote {args.output}")
    return EXIT_DIFFERENT if result.has_differences else EXIT_OK


def cmd_attention(args, messages):
    messages.step(f"running {args.model} once and capturing attention")
    result = api.attention(args.model, args.output, input_shapes=args.input_shape,
                           image=args.image)
    heads = sorted(set(result.heads)) if isinstance(result.heads, list) else [result.heads]
    heads_text = str(heads[0]) if len(heads) == 1 else f"{heads[0]}-{heads[-1]}"
    messages.note(f"wrote {len(result.files)} files to {args.output} "
                  f"({result.layers} layers × {heads_text} heads)")
    return EXIT_OK


_COMMANDS = {"render": cmd_render, "convert": cmd_convert, "summary": cmd_summary,
             "diff": cmd_diff, "attention": cmd_attention}


def main(argv=None):
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    messages = _Messages(args.quiet)
    try:
        code = _COMMANDS[args.command](args, messages)
        messages.flush()
        return code
    except GraphIRError as exc:
        if args.debug:
            raise
        print(f"graphir: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("graphir: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug in graphir, said as one line unless --debug
        if args.debug:
            raise
        print(f"graphir: internal error: {type(exc).__name__}: {exc}; rerun with --debug "
              "and report it", file=sys.stderr)
        return EXIT_ERROR
