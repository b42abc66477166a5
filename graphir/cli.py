"""The ``graphir`` command line: argument parsing, messages and exit codes.

Exit codes: 0 success, 1 a diff found differences, 2 bad input or failure
(one line on stderr naming the file and what to do; the traceback only with
``--debug``). The CLI calls the public API in :mod:`graphir.api` only.
"""

import argparse
import os
import sys
import time

from graphir import api, ir
from graphir.errors import GraphIRError

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


def _add_source_options(parser):
    group = parser.add_argument_group("source options")
    group.add_argument("--source", default="auto", choices=["auto", "onnx", "export", "fx"],
                       help="converter to use (default: by file kind; for a module, "
                            "torch.export then torch.fx)")
    group.add_argument("--input-shape", action="append", default=[], metavar="SPEC",
                       help="example input for FILE.py:CALLABLE, [DTYPE:]D1,D2,... "
                            "(repeat per input), e.g. 1,3,224,224 or int64:1,16")


def _add_view_options(parser):
    group = parser.add_argument_group("view options")
    group.add_argument("--rankdir", default="TB", choices=["TB", "LR", "BT", "RL"],
                       help="layout direction (default TB: top to bottom)")
    group.add_argument("--theme", default="default", help="drawing theme (default: default)")
    group.add_argument("--show", default=None, metavar="LIST",
                       help="what nodes show, comma-separated from shapes,params,dtypes,"
                            "attrs,module")
    group.add_argument("--title", default=None, help="figure title (default: model name)")
    group.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                       help="give up on Graphviz layout after this long (default 120)")


def build_parser():
    """The argument parser of the ``graphir`` command."""
    parser = argparse.ArgumentParser(
        prog="graphir", description="Turn neural-network models into one graph IR and draw it.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = commands.add_parser("render", help="draw a model as SVG, PNG, PDF, DOT or JSON")
    render.add_argument("model", metavar="MODEL",
                        help=".onnx, .pt2, IR .json or FILE.py:CALLABLE")
    render.add_argument("-o", "--output", metavar="OUT",
                        help="output file (default: MODEL's stem + .svg in this folder)")
    render.add_argument("--format", choices=api.FORMATS,
                        help="output format (default: from -o's extension, else svg)")
    _add_source_options(render)
    _add_view_options(render)

    convert = commands.add_parser("convert", help="write the IR of a model as JSON")
    convert.add_argument("model", metavar="MODEL")
    convert.add_argument("-o", "--output", metavar="OUT", required=True,
                         help="output IR JSON file")
    _add_source_options(convert)
    for sub in (render, convert):
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks on errors")
        sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                         help="no progress messages")
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


def _load(args, messages):
    messages.step(f"reading {args.model}")
    G = api.load(args.model, source=args.source, input_shapes=args.input_shape)
    for warning in G.graph.get("warnings", []):
        messages.warn(warning)
    messages.note(f"read {args.model} via {G.graph['source']}: {len(ir.op_nodes(G))} ops, "
                  f"{G.number_of_nodes()} nodes")
    return G


def _default_output(model, fmt):
    """``resnet.onnx`` -> ``resnet.<fmt>``; ``samples/gpt2.py:gpt2_tiny`` -> ``gpt2_tiny.<fmt>``."""
    spec = str(model)
    if ".py:" in spec:
        return f"{spec.rsplit(':', 1)[1]}.{fmt}"
    return f"{os.path.splitext(os.path.basename(spec))[0] or 'model'}.{fmt}"


def cmd_render(args, messages):
    fmt = args.format or api.format_from_path(args.output)
    out = args.output or _default_output(args.model, fmt)
    show = None if args.show is None else [s.strip() for s in args.show.split(",") if s.strip()]
    api.check_view_options(theme=args.theme, show=show)
    G = _load(args, messages)
    messages.step(f"laying out {G.number_of_nodes()} nodes with Graphviz")
    api.render(G, out, format=fmt, theme=args.theme, rankdir=args.rankdir, show=show,
               title=args.title, timeout=args.timeout)
    messages.note(f"wrote {out}")
    return EXIT_OK


def cmd_convert(args, messages):
    G = _load(args, messages)
    api.render(G, args.output, format="json")
    messages.note(f"wrote {args.output}")
    return EXIT_OK


_COMMANDS = {"render": cmd_render, "convert": cmd_convert}


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
