#!/usr/bin/env python
"""graphir benchmark (issue 5): one command, one table.

Run from the repository root::

    .venv/bin/python benchmarks/run.py            # full run (~15-25 min on 2 cores)
    .venv/bin/python benchmarks/run.py --quick    # one repeat, smaller set (< 2 min)
    .venv/bin/python benchmarks/run.py --only gpt2-48,onnx10k --json out.json

Sections (names for ``--only``; see benchmarks/README.md for what each
number means):

- ``resnet18`` ``resnet50`` ``gpt2-12`` ``gpt2-48`` ``vit-s`` -- peer
  comparison: graphir, torchview and torchviz on the same model in one
  process, after the costs they share (Python, ``import torch`` and the
  three tools, building the model, one warm-up forward pass);
- ``startup`` -- each tool once in a fresh subprocess, to show the start-up
  cost the in-process numbers leave out;
- ``onnx10k`` -- default render of a synthetic 10,000-node ONNX graph
  against ``dot`` on the same graph drawn flat;
- ``diff10k`` -- ``graphir.diff`` of two 10,000-node graphs against the time
  to load them;
- ``memory`` -- peak RSS of ``graphir.load`` on a ~500 MB ONNX file against
  ``onnx.load``'s own;
- ``cli`` -- ``python cli.py render`` of the 48-layer GPT-2 as a subprocess
  (default and ``--no-fold --depth 99``; ``--source trace`` and ``export``).

No timing is asserted; targets are printed next to the measured ratios.
``--smoke`` runs every section at toy sizes (the test suite uses it).
"""

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PEER_MODELS = ("resnet18", "resnet50", "gpt2-12", "gpt2-48", "vit-s")
SECTIONS = PEER_MODELS + ("startup", "onnx10k", "diff10k", "memory", "cli")
#: Models of --smoke (toy sizes; same code paths).
SMOKE_MODELS = ("resnet-tiny", "gpt2-2", "vit-tiny")

#: Sizes per mode. ``models``: peer-comparison models; ``repeat``: timed
#: repeats (median); ``export_repeat``: repeats of the torch.export reference.
MODES = {
    "full": dict(models=PEER_MODELS, repeat=3, export_repeat=1, startup_model="gpt2-48",
                 startup_tools=("graphir-full", "graphir-default", "torchview", "torchviz"),
                 onnx_blocks=200, flat_timeout=900.0, memory_mb=500, cli_layers=48,
                 cli_runs=(("trace", False), ("trace", True), ("export", False),
                           ("export", True)), cli_png=True, startup_baselines=3),
    "quick": dict(models=("resnet18", "gpt2-12", "vit-s"), repeat=1, export_repeat=1,
                  startup_model="gpt2-12", startup_tools=("graphir-full", "torchview"),
                  onnx_blocks=200, flat_timeout=20.0, memory_mb=100, cli_layers=48,
                  cli_runs=(("trace", False),), cli_png=False, startup_baselines=2),
    # Toy sizes; the start-up baselines and the CLI's torch runs are left out
    # (each costs a torch import); the CLI section renders a small ONNX instead.
    "smoke": dict(models=SMOKE_MODELS, repeat=1, export_repeat=1, startup_model="gpt2-2",
                  startup_tools=("graphir-full",), startup_baselines=1, onnx_blocks=4,
                  flat_timeout=20.0, memory_mb=2, cli_layers=None,
                  cli_runs=(("auto", False), ("auto", True)), cli_png=False),
}

#: Targets of issue 5, printed next to the measured ratios.
TARGETS = {
    "peer": "graphir full (trace) total <= torchview total (aim: half) on gpt2-48",
    "onnx10k": "graphir default render < 10% of flat dot",
    "diff10k": "diff <= 2x the time to load both graphs",
    "memory": "graphir.load peak RSS <= 1.2x onnx.load peak RSS",
}

PY = sys.executable

#: torch intra-op threads in every process the benchmark starts (``--threads``).
THREADS = {"n": 1}


def child_env():
    """Environment for subprocesses: the same torch thread count as this process."""
    env = dict(os.environ)
    if THREADS["n"]:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(THREADS["n"])
    return env


def set_torch_threads():
    import torch

    if THREADS["n"]:
        torch.set_num_threads(THREADS["n"])
    return torch.get_num_threads()


# ------------------------------------------------------------------ helpers

def now():
    return time.perf_counter()


def short_error(exc, limit=70):
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def count_svg(path):
    """``(nodes, clusters)`` drawn in an SVG written by Graphviz."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, None
    nodes = len(re.findall(r'<g id="[^"]*" class="node[" ]', text))
    clusters = len(re.findall(r'<g id="[^"]*" class="cluster[" ]', text))
    return nodes, clusters


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_s(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}×"


def table(rows, headers, aligns=None):
    """Plain-text table; ``aligns`` is a string of ``l``/``r`` per column."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    aligns = aligns or "l" * len(headers)
    out = []
    for k, row in enumerate(cells):
        parts = [(c.ljust(w) if a == "l" else c.rjust(w))
                 for c, w, a in zip(row, widths, aligns)]
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def read_status_kb(field):
    """A ``/proc/self/status`` field in kB (VmHWM, VmRSS), else None."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mb():
    kb = read_status_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def _installed(dist):
    from importlib import metadata

    try:
        metadata.version(dist)
    except metadata.PackageNotFoundError:
        return False
    return True


def machine_info():
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python": platform.python_version(), "platform": platform.platform(),
            "nproc": os.cpu_count()}
    with contextlib.suppress(OSError):
        info["nproc"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 1024 ** 2, 1)
    with contextlib.suppress(OSError):
        info["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    from importlib import metadata

    for dist in ("torch", "onnx", "networkx", "graphviz", "torchview", "torchviz", "numpy"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "missing"
    try:
        out = subprocess.run(["dot", "-V"], capture_output=True, text=True, timeout=10)
        info["dot"] = (out.stderr or out.stdout).strip()
    except (OSError, subprocess.SubprocessError) as exc:
        info["dot"] = f"missing ({exc})"
    info["graphir"] = metadata.version("graphir") if _installed("graphir") else "source"
    with contextlib.suppress(Exception):
        info["graphir_git"] = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, timeout=10).stdout.strip()
    return info


# ------------------------------------------------------------------ models

def build_model(name):
    """``(module, args, kwargs)`` for a benchmark model name."""
    import torch

    def image(size=224):
        return (torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)),)

    if name in ("resnet18", "resnet50"):
        from samples import resnet

        return getattr(resnet, name)(), image(), None
    if name == "resnet-tiny":
        from samples.resnet import resnet_tiny

        model, args = resnet_tiny()
        return model, args, None
    if name.startswith("gpt2-"):
        from benchmarks.models import gpt2_inputs
        from samples.gpt2 import gpt2_model

        return gpt2_model(n_layer=int(name.split("-")[1])), gpt2_inputs(), None
    if name == "vit-s":
        from benchmarks.models import vit_small

        model, args = vit_small()
        return model, args, None
    if name == "vit-tiny":
        from samples.vit import vit_tiny

        model, args = vit_tiny()
        return model, args, None
    raise SystemExit(f"unknown model {name!r}")


def main_output(out):
    """The tensor torchviz draws from: the model's main output."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return main_output(out[0])
    if isinstance(out, dict):
        return main_output(next(iter(out.values())))
    if hasattr(out, "__dataclass_fields__"):
        return main_output(getattr(out, next(iter(out.__dataclass_fields__))))
    raise TypeError(f"no tensor in model output of type {type(out).__name__}")


# ------------------------------------------------------------------ one tool run

class _DotTimer:
    """Times graphir's Graphviz subprocess inside ``graphir.render`` (wraps render_bytes)."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def active(self):
        from graphir.renderers import backend

        original = backend.render_bytes
        timer = self

        def timed(*args, **kwargs):
            start = now()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds += now() - start

        backend.render_bytes = timed
        try:
            yield self
        finally:
            backend.render_bytes = original


def run_tool(tool, model, args, kwargs, out_dir, tag):
    """Run one tool once; return a dict of timings (s), drawn node counts and errors.

    Tools: ``graphir-full`` / ``graphir-full-export`` (every op, shapes,
    module clusters: ``depth=None, fold=False, max_nodes=0``),
    ``graphir-default`` (trace capture + the default view),
    ``torchview`` (``draw_graph(expand_nested=True, depth=inf,
    hide_module_functions=False)`` + SVG), ``torchviz`` (forward with
    autograd + ``make_dot(out, params)`` + SVG).
    """
    import torch

    out = os.path.join(out_dir, f"{tag}-{tool}.svg")
    result = {"tool": tool}
    gc.collect()
    try:
        if tool.startswith("graphir"):
            import graphir

            source = "export" if tool.endswith("export") else "trace"
            start = now()
            G = graphir.convert(model, args, example_kwargs=kwargs, source=source)
            result["capture"] = now() - start
            result["ir_nodes"] = G.number_of_nodes()
            timer = _DotTimer()
            start = now()
            with timer.active():
                if tool == "graphir-default":
                    graphir.render(G, out, timeout=3600)
                else:
                    graphir.render(G, out, depth=None, fold=False, max_nodes=0, timeout=3600)
            result["layout"] = now() - start
            result["dot"] = timer.seconds
        elif tool == "torchview":
            import torchview

            start = now()
            graph = torchview.draw_graph(model, input_data=list(args), expand_nested=True,
                                         depth=float("inf"), hide_module_functions=False,
                                         graph_name=tag, **(kwargs or {}))
            result["capture"] = now() - start
            start = now()
            graph.visual_graph.render(outfile=out, format="svg", cleanup=True)
            result["layout"] = result["dot"] = now() - start
        elif tool == "torchviz":
            import torchviz

            start = now()
            with torch.enable_grad():
                output = main_output(model(*args, **(kwargs or {})))
                dot = torchviz.make_dot(output, params=dict(model.named_parameters()))
            result["capture"] = now() - start
            start = now()
            dot.render(outfile=out, format="svg", cleanup=True)
            result["layout"] = result["dot"] = now() - start
        else:
            raise ValueError(f"unknown tool {tool}")
    except Exception as exc:  # a peer failing on a model is a result, not a crash
        result["error"] = short_error(exc)
        return result
    result["total"] = result["capture"] + result["layout"]
    result["drawn_nodes"], result["drawn_clusters"] = count_svg(out)
    return result


# ------------------------------------------------------------------ section 1: peers

PEER_TOOLS = ("graphir-full", "graphir-default", "torchview", "torchviz")
TOOL_LABELS = {
    "graphir-full": "graphir full (trace)",
    "graphir-full-export": "graphir full (export) [ref]",
    "graphir-default": "graphir default (trace)",
    "torchview": "torchview expanded",
    "torchviz": "torchviz make_dot",
}


def peers_available():
    missing = []
    for mod in ("torchview", "torchviz"):
        try:
            __import__(mod)
        except Exception:
            missing.append(mod)
    return missing


def bench_peers(models, cfg, work, log):
    """In-process comparison; returns ``{model: {tool: summary}}``."""
    t0 = now()
    import torch
    import graphir
    import graphir.converters.trace  # noqa: F401  (the converters' own imports are shared too)
    import graphir.converters.fx  # noqa: F401
    for mod in ("torchview", "torchviz", "graphviz"):
        with contextlib.suppress(Exception):
            __import__(mod)
    shared = {"imports": now() - t0, "torch_threads": set_torch_threads()}
    # The first torch.export call in a process imports and sets up dynamo
    # (seconds, once); do it here so it is not charged to the first model.
    start = now()
    with contextlib.suppress(Exception):
        graphir.convert(torch.nn.Linear(2, 2), torch.zeros(1, 2), source="export")
    shared["first_export"] = now() - start
    results = {}
    for name in models:
        log(f"[peers] {name}: building model")
        start = now()
        model, args, kwargs = build_model(name)
        build = now() - start
        start = now()
        with torch.no_grad():
            model(*args, **(kwargs or {}))
        warm = now() - start
        runs = {t: [] for t in PEER_TOOLS + ("graphir-full-export",)}
        tools = list(PEER_TOOLS)
        for r in range(cfg["repeat"]):
            order = tools[r % len(tools):] + tools[:r % len(tools)]
            if r < cfg["export_repeat"]:
                order.append("graphir-full-export")
            for tool in order:
                res = run_tool(tool, model, args, kwargs, work, name)
                runs[tool].append(res)
                log(f"[peers] {name} run {r + 1}/{cfg['repeat']} {tool}: "
                    + (res.get("error") or f"{res['total']:.2f} s "
                       f"(capture {res['capture']:.2f}, layout {res['layout']:.2f})"))
        summary = {}
        for tool, rs in runs.items():
            if not rs:
                continue
            ok = [x for x in rs if "error" not in x]
            if not ok:
                summary[tool] = {"error": rs[0]["error"], "runs": len(rs)}
                continue
            summary[tool] = {key: median([x.get(key) for x in ok])
                             for key in ("capture", "layout", "dot", "total")}
            summary[tool].update(runs=len(ok), drawn_nodes=ok[-1].get("drawn_nodes"),
                                 drawn_clusters=ok[-1].get("drawn_clusters"),
                                 ir_nodes=ok[-1].get("ir_nodes"),
                                 all_totals=[x["total"] for x in ok])
        results[name] = {"build": build, "warmup": warm, "tools": summary}
        del model, args, kwargs
        gc.collect()
    return {"shared": shared, "models": results}


def verdict(ok):
    return "MET" if ok else "MISSED"


def peers_verdict(data):
    """The issue's peer target, on gpt2-48 (else the largest GPT-2 measured)."""
    names = [n for n in ("gpt2-48", "gpt2-12", "gpt2-2") if n in data["models"]]
    if not names:
        return ""
    tools = data["models"][names[0]]["tools"]
    g, tv = tools.get("graphir-full", {}), tools.get("torchview", {})
    if "total" not in g or "total" not in tv:
        return f"{names[0]}: cannot compare (a run failed)"
    ratio = g["total"] / tv["total"]
    text = (f"{names[0]}: graphir full (trace) {g['total']:.2f} s = {ratio:.2f}× torchview's "
            f"{tv['total']:.2f} s (draw_graph + SVG) -> {verdict(ratio <= 1)}"
            f"{' (aim half: ' + verdict(ratio <= 0.5) + ')' if ratio <= 1 else ''}; "
            f"{g['total'] / tv['capture']:.2f}× torchview's draw_graph alone "
            f"({tv['capture']:.2f} s, no layout)")
    if g.get("dot") is not None and g["total"]:
        text += f"; Graphviz is {100 * g['dot'] / g['total']:.0f}% of graphir's time"
    return text


def peers_table(data):
    rows = []
    for name, res in data["models"].items():
        tools = res["tools"]
        tv = tools.get("torchview", {})
        tz = tools.get("torchviz", {})
        first = True
        for tool in ("graphir-full", "graphir-full-export", "graphir-default", "torchview",
                     "torchviz"):
            s = tools.get(tool)
            if s is None:
                continue
            label = TOOL_LABELS[tool]
            model_cell = name if first else ""
            first = False
            if "error" in s:
                rows.append([model_cell, label, "FAILED: " + s["error"], "", "", "", "", "",
                             "", ""])
                continue
            is_graphir = tool.startswith("graphir")
            drawn = s.get("drawn_nodes")
            clusters = s.get("drawn_clusters")
            rows.append([
                model_cell, label, fmt_s(s["capture"]), fmt_s(s["layout"]), fmt_s(s["dot"]),
                fmt_s(s["total"]),
                "-" if drawn is None else f"{drawn}/{clusters}",
                fmt_ratio(s["total"], tv.get("total")) if is_graphir else "",
                fmt_ratio(s["total"], tv.get("capture")) if is_graphir else "",
                fmt_ratio(s["total"], tz.get("total")) if is_graphir else "",
            ])
    headers = ["model", "tool", "capture s", "layout s", "of which dot s", "total s",
               "nodes/clusters", "÷torchview", "÷tv draw_graph", "÷torchviz"]
    return table(rows, headers, "llrrrrrrrr")


# ------------------------------------------------------------------ startup (subprocess)

def worker_peer(tool, model_name, out_dir):
    """Body of ``--worker peer``: one tool in a fresh process; prints JSON timings."""
    marks = {}
    start = now()
    import torch  # noqa: F401

    marks["import_torch"] = now() - start
    marks["torch_threads"] = set_torch_threads()
    start = now()
    if tool.startswith("graphir"):
        import graphir  # noqa: F401
    else:
        __import__(tool)
    marks["import_tool"] = now() - start
    start = now()
    model, args, kwargs = build_model(model_name)
    marks["build"] = now() - start
    start = now()
    with torch.no_grad():
        model(*args, **(kwargs or {}))
    marks["warmup"] = now() - start
    res = run_tool(tool, model, args, kwargs, out_dir, f"startup-{model_name}")
    marks.update({k: res.get(k) for k in ("capture", "layout", "total", "error")})
    print("BENCH-JSON " + json.dumps(marks))


def run_subprocess(cmd, timeout, cwd=ROOT, env=None):
    """``(wall seconds, returncode, stdout, stderr)``; rc None on timeout."""
    env = env or child_env()
    start = now()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env=env)
    except subprocess.TimeoutExpired:
        return now() - start, None, "", "timeout"
    return now() - start, proc.returncode, proc.stdout, proc.stderr


def parse_worker(stdout):
    for line in stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON "):])
    return None


def bench_startup(cfg, work, log):
    model = cfg["startup_model"]
    res = {"model": model, "rows": []}
    missing = peers_available()
    peers = [p for p in ("torchview", "torchviz") if p not in missing]
    baselines = [("python -c pass", "pass"),
                 ("python -c 'import torch'", "import torch"),
                 (f"python -c 'import {', '.join(['torch', 'graphir'] + peers)}'",
                  f"import {', '.join(['torch', 'graphir', 'graphir.converters.trace'] + peers)}")]
    for label, code in baselines[:cfg["startup_baselines"]]:
        wall, rc, _, err = run_subprocess([PY, "-c", code], 300)
        res["rows"].append({"what": label, "wall": wall if rc == 0 else None,
                            "error": None if rc == 0 else err.strip()[-200:]})
        log(f"[startup] {label}: {wall:.2f} s")
    for tool in cfg["startup_tools"]:
        if tool in missing:
            res["rows"].append({"what": tool, "wall": None, "error": "not installed"})
            continue
        wall, rc, out, err = run_subprocess(
            [PY, str(Path(__file__).resolve()), "--worker", "peer", "--tool", tool,
             "--model", model, "--workdir", work, "--threads", str(THREADS["n"])], 3600)
        marks = parse_worker(out) or {}
        if rc != 0 and not marks.get("error"):
            marks["error"] = (err.strip().splitlines() or ["failed"])[-1][-200:]
        marks["wall"] = wall
        marks["what"] = tool
        if marks.get("total") is not None:
            inner = sum(marks.get(k) or 0 for k in ("import_torch", "import_tool", "build",
                                                     "warmup", "total"))
            marks["python_start"] = wall - inner
        res["rows"].append(marks)
        log(f"[startup] {tool} on {model}: wall {wall:.2f} s")
    return res


def startup_table(data):
    rows = []
    for r in data["rows"]:
        if "import_torch" not in r:
            rows.append([r["what"], "", "", "", "", "", fmt_s(r.get("wall")),
                         r.get("error") or ""])
            continue
        rows.append([TOOL_LABELS.get(r["what"], r["what"]),
                     fmt_s(r.get("python_start")), fmt_s(r.get("import_torch")),
                     fmt_s(r.get("import_tool")),
                     fmt_s((r.get("build") or 0) + (r.get("warmup") or 0)),
                     fmt_s(r.get("total")), fmt_s(r.get("wall")), r.get("error") or ""])
    headers = ["fresh process", "python start/exit", "import torch", "import tool",
               "model+warm-up", "tool work", "wall", "note"]
    return (f"model: {data['model']}; python start/exit = wall minus the parts timed inside "
            "(interpreter, harness import, exit)\n" + table(rows, headers, "lrrrrrrl"))


# ------------------------------------------------------------------ section 2: 10k ONNX

def flat_dot_source(G):
    """A minimal DOT of the IR's nodes and edges: op labels, no clusters, dot defaults."""
    index = {n: i for i, n in enumerate(G.nodes)}
    lines = ["digraph flat {", "  node [shape=box];"]
    for n, d in G.nodes(data=True):
        label = str(d.get("label") or d.get("op") or n).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'  n{index[n]} [label="{label}"];')
    lines += [f"  n{index[u]} -> n{index[v]};" for u, v in G.edges()]
    lines.append("}")
    return "\n".join(lines) + "\n"


def bench_onnx10k(cfg, work, log):
    import graphir
    from benchmarks.models import make_transformer_onnx

    res = {}
    path = os.path.join(work, "synthetic10k.onnx")
    start = now()
    make_transformer_onnx(path, n_blocks=cfg["onnx_blocks"])
    res["generate"] = now() - start
    res["file_mb"] = os.path.getsize(path) / 2 ** 20
    log(f"[onnx10k] generated {path} in {res['generate']:.1f} s")

    # (b) graphir default render, CLI subprocess (all costs included)
    out = os.path.join(work, "synthetic10k.svg")
    wall, rc, _, err = run_subprocess([PY, "cli.py", "render", path, "-o", out, "-q"], 3600)
    res["cli_wall"] = wall if rc == 0 else None
    res["cli_error"] = None if rc == 0 else err.strip()[-300:]
    wall, rc, _, _ = run_subprocess([PY, "-c", "import graphir, onnx"], 300)
    res["cli_startup"] = wall if rc == 0 else None
    log(f"[onnx10k] cli render: {res['cli_wall']} s")

    # (b') in process, split
    splits = []
    for _ in range(cfg["repeat"]):
        gc.collect()
        start = now()
        G = graphir.load(path)
        t_load = now() - start
        timer = _DotTimer()
        start = now()
        with timer.active():
            graphir.render(G, out, timeout=3600)
        t_render = now() - start
        splits.append((t_load, t_render, timer.seconds))
    res["ir_nodes"] = G.number_of_nodes()
    res["ir_edges"] = G.number_of_edges()
    res["load"] = median([s[0] for s in splits])
    res["render"] = median([s[1] for s in splits])
    res["render_dot"] = median([s[2] for s in splits])
    res["drawn_nodes"], res["drawn_clusters"] = count_svg(out)
    shown = graphir.view(G)
    res["view_notes"] = shown.graph.get("notes") or []
    log(f"[onnx10k] in-process load {res['load']:.2f} s, render {res['render']:.2f} s")

    # (a) dot on the same graph, flat
    flat = os.path.join(work, "synthetic10k-flat.dot")
    Path(flat).write_text(flat_dot_source(G))
    log(f"[onnx10k] dot -Tsvg on the flat graph (timeout {cfg['flat_timeout']:.0f} s) ...")
    wall, rc, _, err = run_subprocess(["dot", "-Tsvg", flat, "-o", flat + ".svg"],
                                      cfg["flat_timeout"])
    res["flat_timeout"] = cfg["flat_timeout"]
    res["flat_dot"] = wall if rc == 0 else None
    res["flat_timed_out"] = rc is None
    res["flat_error"] = None if rc in (0, None) else err.strip()[-300:]
    log(f"[onnx10k] flat dot: {'timeout' if rc is None else f'{wall:.1f} s'}")
    return res


def onnx10k_text(r):
    flat = (f"> {r['flat_timeout']:.0f} s (timed out)" if r["flat_timed_out"]
            else fmt_s(r["flat_dot"], 1) + " s")
    bound = r["flat_timeout"] if r["flat_timed_out"] else r["flat_dot"]
    prefix = "< " if r["flat_timed_out"] else ""

    def pct(x):
        if x is None or not bound:
            return "-"
        return f"{prefix}{100 * x / bound:.1f}%"

    in_proc = r["load"] + r["render"]
    rows = [
        ["graph", f"{r['ir_nodes']} nodes, {r['ir_edges']} edges, {r['file_mb']:.1f} MB ONNX",
         ""],
        ["(a) dot -Tsvg, same graph flat (minimal DOT, no clusters)", flat, "100%"],
        ["(b) python cli.py render big.onnx -o big.svg (wall, incl. start-up)",
         fmt_s(r["cli_wall"]) + " s", pct(r["cli_wall"])],
        ["    of which python start + import graphir, onnx", fmt_s(r["cli_startup"]) + " s",
         ""],
        ["(b') in process: graphir.load (ONNX -> IR)", fmt_s(r["load"]) + " s", ""],
        ["(b') in process: graphir.render default (view + DOT + dot)",
         f"{fmt_s(r['render'])} s (dot {fmt_s(r['render_dot'])} s)", ""],
        ["(b') in process: load + render", fmt_s(in_proc) + " s", pct(in_proc)],
        ["drawn (default view)", f"{r['drawn_nodes']} nodes, {r['drawn_clusters']} clusters",
         ""],
    ]
    text = table(rows, ["10k-node ONNX", "time", "of (a)"], "lrr")
    if r.get("cli_error"):
        text += f"\nCLI failed: {r['cli_error']}"
    text += f"\ntarget: {TARGETS['onnx10k']}"
    if bound and r["cli_wall"] is not None:
        text += (f"\nresult: CLI (incl. start-up) {verdict(r['cli_wall'] < 0.1 * bound)}, "
                 f"in process {verdict(in_proc < 0.1 * bound)}"
                 + (" (flat dot timed out: the percentages are upper bounds)"
                    if r["flat_timed_out"] else ""))
    return text


# ------------------------------------------------------------------ section 3: diff

def bench_diff10k(cfg, work, log):
    import graphir
    from benchmarks.models import make_transformer_onnx, ten_k_variant

    res = {}
    old = os.path.join(work, "diff-old.onnx")
    new = os.path.join(work, "diff-new.onnx")
    make_transformer_onnx(old, n_blocks=cfg["onnx_blocks"])
    ten_k_variant(new, n_blocks=cfg["onnx_blocks"])
    loads = {"onnx_old": [], "onnx_new": [], "json_old": [], "json_new": []}
    diffs = []
    for _ in range(cfg["repeat"]):
        graphs = {}
        for side, path in (("old", old), ("new", new)):
            gc.collect()
            start = now()
            graphs[side] = graphir.load(path)
            loads[f"onnx_{side}"].append(now() - start)
            jpath = path[:-5] + ".json"
            graphir.save(graphs[side], jpath)
            gc.collect()
            start = now()
            graphir.load(jpath)
            loads[f"json_{side}"].append(now() - start)
        gc.collect()
        start = now()
        result = graphir.diff(graphs["old"], graphs["new"])
        diffs.append(now() - start)
    res.update({k: median(v) for k, v in loads.items()})
    res["diff"] = median(diffs)
    res["nodes"] = (graphs["old"].number_of_nodes(), graphs["new"].number_of_nodes())
    res["summary"] = graphir.diff_report(result).splitlines()[0]
    log(f"[diff10k] diff {res['diff']:.2f} s; {res['summary']}")
    return res


def diff10k_text(r):
    onnx_load = r["onnx_old"] + r["onnx_new"]
    json_load = r["json_old"] + r["json_new"]
    rows = [
        ["graphs", f"{r['nodes'][0]} and {r['nodes'][1]} nodes", ""],
        ["graphir.load both .onnx (ONNX -> IR)",
         f"{fmt_s(onnx_load)} s ({fmt_s(r['onnx_old'])} + {fmt_s(r['onnx_new'])})", "1.00×"],
        ["graphir.load both IR .json",
         f"{fmt_s(json_load)} s ({fmt_s(r['json_old'])} + {fmt_s(r['json_new'])})",
         fmt_ratio(json_load, onnx_load)],
        ["graphir.diff(old, new) on the loaded graphs", fmt_s(r["diff"]) + " s",
         fmt_ratio(r["diff"], onnx_load)],
        ["diff ÷ JSON load time", "", fmt_ratio(r["diff"], json_load)],
    ]
    return (table(rows, ["diff of two 10k-node graphs", "time", "÷ ONNX load"], "lrr")
            + f"\ndiff found: {r['summary']}\ntarget: {TARGETS['diff10k']}"
            + f"\nresult: {verdict(r['diff'] <= 2 * onnx_load)} against ONNX loading, "
              f"{verdict(r['diff'] <= 2 * json_load)} against IR JSON loading")


# ------------------------------------------------------------------ section 4: memory

def worker_memory(what, path):
    """Body of ``--worker memory``: peak RSS before and after loading ``path``."""
    if what == "onnx":
        import onnx

        base = peak_rss_mb()
        start = now()
        model = onnx.load(path)
        seconds = now() - start
        kept = len(model.graph.node)
    else:
        import graphir
        import graphir.converters.onnx  # noqa: F401
        import graphir.loaders.onnx_file  # noqa: F401
        import onnx  # noqa: F401  (graphir imports it lazily; count it as start-up)
        import onnx.shape_inference  # noqa: F401

        base = peak_rss_mb()
        start = now()
        G = graphir.load(path)
        seconds = now() - start
        kept = G.number_of_nodes()
    print("BENCH-JSON " + json.dumps({"base_mb": base, "peak_mb": peak_rss_mb(),
                                      "rss_mb": (read_status_kb("VmRSS") or 0) / 1024,
                                      "seconds": seconds, "kept": kept}))


def bench_memory(cfg, work, log):
    from benchmarks.models import make_transformer_onnx

    res = {}
    mb = cfg["memory_mb"]
    # 12 blocks of width d hold 12 * (4 d^2 + 2 * d * 3d) ~= 120 d^2 floats.
    dim = max(16, int(round((mb * 2 ** 20 / 4 / 120) ** 0.5 / 16)) * 16)
    path = os.path.join(work, f"big{mb}mb.onnx")
    start = now()
    make_transformer_onnx(path, n_blocks=12, dim=dim, hidden=3 * dim, heads=16 if dim >= 256
                          else 4, big_weights=True)
    res["generate"] = now() - start
    res["file_mb"] = os.path.getsize(path) / 2 ** 20
    log(f"[memory] generated {res['file_mb']:.0f} MB ONNX (width {dim}) in "
        f"{res['generate']:.1f} s")
    for what in ("onnx", "graphir"):
        wall, rc, out, err = run_subprocess(
            [PY, str(Path(__file__).resolve()), "--worker", "memory", "--what", what,
             "--path", path], 3600)
        data = parse_worker(out) or {"error": (err.strip().splitlines() or ["failed"])[-1]}
        data["wall"] = wall
        res[what] = data
        log(f"[memory] {what}: " + (f"peak {data['peak_mb']:.0f} MB"
                                    if "peak_mb" in data else data["error"]))
    with contextlib.suppress(OSError):
        os.remove(path)
    return res


def memory_text(r):
    o, g = r["onnx"], r["graphir"]
    rows = [["file", f"{r['file_mb']:.0f} MB ONNX (generated in {r['generate']:.1f} s)",
             "", "", "", ""]]
    for label, d in (("onnx.load(path)", o), ("graphir.load(path)", g)):
        if "peak_mb" not in d:
            rows.append([label, "FAILED: " + d.get("error", "?"), "", "", "", ""])
            continue
        rows.append([label, f"{d['peak_mb']:.0f}", f"{d['base_mb']:.0f}",
                     f"{d['peak_mb'] - d['base_mb']:.0f}", f"{d['seconds']:.2f}", ""])
    if "peak_mb" in o and "peak_mb" in g:
        rows[-1][-1] = (f"{g['peak_mb'] / o['peak_mb']:.2f}× peak, "
                        f"{(g['peak_mb'] - g['base_mb']) / (o['peak_mb'] - o['base_mb']):.2f}× "
                        "above imports")
    text = (table(rows, ["memory (fresh process each)", "peak RSS MB", "after imports MB",
                         "peak - imports MB", "load s", "graphir ÷ onnx"], "lrrrrl")
            + f"\ntarget: {TARGETS['memory']}")
    if "peak_mb" in o and "peak_mb" in g:
        text += f"\nresult: {verdict(g['peak_mb'] <= 1.2 * o['peak_mb'])}"
    return text


# ------------------------------------------------------------------ section 5: CLI

def bench_cli(cfg, work, log):
    layers = cfg["cli_layers"]
    if layers:
        spec = f"benchmarks/models.py:gpt2_{layers}"
    else:  # smoke: a small ONNX file, no torch import
        from benchmarks.models import make_transformer_onnx

        spec = make_transformer_onnx(os.path.join(work, "cli-small.onnx"), n_blocks=2)
    res = {"spec": spec, "runs": []}
    tag = f"gpt2-{layers}" if layers else "onnx"
    for source, full in cfg["cli_runs"]:
        out = os.path.join(work, f"cli-{tag}-{source}-{'full' if full else 'default'}.svg")
        cmd = [PY, "cli.py", "render", spec, "--source", source, "-o", out, "-q",
               "--timeout", "3600"]
        if full:
            cmd += ["--no-fold", "--depth", "99"]
        wall, rc, _, err = run_subprocess(cmd, 3600)
        drawn = count_svg(out) if rc == 0 else (None, None)
        res["runs"].append({"source": source, "full": full, "wall": wall if rc == 0 else None,
                            "error": None if rc == 0 else (err.strip() or "timeout")[-300:],
                            "drawn_nodes": drawn[0], "drawn_clusters": drawn[1],
                            "cmd": " ".join(cmd[1:])})
        log(f"[cli] {source} {'full' if full else 'default'}: "
            + (f"{wall:.1f} s" if rc == 0 else "FAILED"))
    res["png"] = res["png_wall"] = res["startup"] = None
    if cfg["cli_png"]:
        png = os.path.join(work, f"cli-{tag}-default.png")
        wall, rc, _, err = run_subprocess([PY, "cli.py", "render", spec, "-o", png, "-q"], 3600)
        res["png"] = png if rc == 0 else None
        res["png_wall"] = wall if rc == 0 else None
    if layers:
        wall, rc, _, _ = run_subprocess([PY, "-c", "import torch, graphir"], 300)
        res["startup"] = wall if rc == 0 else None
    return res


def cli_text(r):
    rows = []
    for run in r["runs"]:
        view = "--no-fold --depth 99" if run["full"] else "default (fold, budget)"
        rows.append([f"--source {run['source']}", view,
                     fmt_s(run["wall"]) if run["wall"] else "FAILED: " + (run["error"] or ""),
                     "-" if run["drawn_nodes"] is None
                     else f"{run['drawn_nodes']}/{run['drawn_clusters']}"])
    text = table(rows, [f"cli.py render {r['spec']}", "view", "wall s", "nodes/clusters"],
                 "llrr")
    if r["startup"] is not None:
        text += f"\nstart-up alone (python -c 'import torch, graphir'): {fmt_s(r['startup'])} s"
    if r["png_wall"] is not None:
        text += f"\ndefault PNG ({fmt_s(r['png_wall'])} s): {r['png']}"
    return text


# ------------------------------------------------------------------ driver

def select(only, cfg):
    if not only:
        return list(cfg["models"]) + ["startup", "onnx10k", "diff10k", "memory", "cli"]
    chosen = []
    for name in only.split(","):
        name = name.strip()
        if name == "peers":
            chosen += list(cfg["models"])
        elif name in SECTIONS or name in SMOKE_MODELS:
            chosen.append(name)
        else:
            raise SystemExit(f"--only: unknown section {name!r}; choose from "
                             f"peers, {', '.join(SECTIONS)}")
    return chosen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, resnet18/gpt2-12/vit-s, 100 MB memory test (< 2 min)")
    parser.add_argument("--smoke", action="store_true", help="toy sizes (the test suite)")
    parser.add_argument("--only", help="comma-separated sections: peers, " + ", ".join(SECTIONS))
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--repeat", type=int, help="timed repeats (median); default 3, quick 1")
    parser.add_argument("--workdir", help="keep generated files here (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads in every process (default 1; 0 = torch's "
                             "default). The models are small: threads only add OpenMP "
                             "contention, which on a busy machine makes each tiny kernel "
                             "take milliseconds")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--worker", choices=("peer", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--tool", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--what", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    THREADS["n"] = opts.threads

    if opts.worker == "peer":
        return worker_peer(opts.tool, opts.model, opts.workdir or tempfile.gettempdir())
    if opts.worker == "memory":
        return worker_memory(opts.what, opts.path)

    mode = "smoke" if opts.smoke else "quick" if opts.quick else "full"
    cfg = dict(MODES[mode])
    if opts.repeat:
        cfg["repeat"] = opts.repeat
    sections = select(opts.only, cfg)

    def log(msg):
        if not opts.quiet:
            print(msg, file=sys.stderr, flush=True)

    work_ctx = (contextlib.nullcontext(opts.workdir) if opts.workdir
                else tempfile.TemporaryDirectory(prefix="graphir-bench-"))
    started = now()
    report = {"mode": mode, "machine": machine_info(), "sections": sections,
              "torch_threads": opts.threads or "default"}
    out = []
    with work_ctx as work:
        os.makedirs(work, exist_ok=True)
        m = report["machine"]
        out.append(f"graphir benchmark — mode {mode}, {m['date']}"
                   + (" (toy sizes: the verdicts mean nothing)" if mode == "smoke" else ""))
        out.append(f"machine: {m.get('cpu', '?')}, {m['nproc']} CPUs, {m.get('ram_gb', '?')} GB "
                   f"RAM, load average at start {' '.join(m.get('loadavg_start', []))}")
        out.append(f"versions: python {m['python']}, torch {m['torch']}, onnx {m['onnx']}, "
                   f"torchview {m['torchview']}, torchviz {m['torchviz']}, graphviz (py) "
                   f"{m['graphviz']}, {m['dot']}, graphir {m['graphir']} "
                   f"({m.get('graphir_git', '?')}); torch threads per process: "
                   f"{report['torch_threads']} (--threads)")
        models = [s for s in sections if s in PEER_MODELS or s in SMOKE_MODELS]
        missing = peers_available()
        number = 1 if models else 0
        if models:
            if missing:
                out.append(f"\n[peers] skipped: {', '.join(missing)} not installed")
                report["peers"] = {"skipped": missing}
            else:
                data = bench_peers(models, cfg, work, log)
                report["peers"] = data
                out.append("\n1. Peer comparison, one process, after shared costs "
                           f"(imports {data['shared']['imports']:.1f} s, first torch.export "
                           f"call {data['shared']['first_export']:.1f} s, model build, warm-up); "
                           f"median of {cfg['repeat']} (export: {cfg['export_repeat']})")
                out.append(peers_table(data))
                out.append("nodes/clusters = <g class=\"node\"> / <g class=\"cluster\"> in the SVG."
                           " ÷tv draw_graph = graphir total ÷ torchview's draw_graph alone "
                           "(no SVG).")
                out.append(f"target: {TARGETS['peer']}")
                if peers_verdict(data):
                    out.append("result: " + peers_verdict(data))
        for name, bench, text in (("startup", bench_startup, startup_table),
                                  ("onnx10k", bench_onnx10k, onnx10k_text),
                                  ("diff10k", bench_diff10k, diff10k_text),
                                  ("memory", bench_memory, memory_text),
                                  ("cli", bench_cli, cli_text)):
            if name not in sections:
                continue
            start = now()
            data = bench(cfg, work, log)
            data["section_seconds"] = now() - start
            report[name] = data
            title = {"startup": "Fresh-process runs (start-up cost shown separately)",
                     "onnx10k": "Synthetic 10,000-node ONNX: default render vs dot flat",
                     "diff10k": "Diff of two 10,000-node graphs",
                     "memory": "Peak memory converting a large ONNX file",
                     "cli": "CLI render (subprocess, wall time incl. start-up)"}[name]
            number += 1
            out.append(f"\n{number}. {title}")
            out.append(text(data))
        with contextlib.suppress(OSError):
            report["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        report["seconds"] = now() - started
        out.append(f"\nbenchmark wall time {report['seconds']:.0f} s; load average at end "
                   f"{' '.join(report['machine'].get('loadavg_end', []))}")
        if opts.workdir and "cli" in report and report["cli"].get("png"):
            out.append(f"default GPT-2 picture kept at {report['cli']['png']}")
    text = "\n".join(out)
    print(text)
    report["table"] = text
    if opts.json:
        Path(opts.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
