#!/usr/bin/env python
"""Speed and memory on real-sized models (issue 10, "Speed and memory").

Run from the repository root::

    .venv/bin/python benchmarks/real_models.py                 # every section (~3-5 min)
    .venv/bin/python benchmarks/real_models.py --only llama-8b,gpt2-48-nomask

Sections (names for ``--only``):

- ``llama-8b`` -- a Llama-3-8B-sized ``LlamaForCausalLM`` (32 layers,
  hidden 4096, GQA 32/8, vocab 128256) built on the ``meta`` device from its
  config, ``graphir.convert`` + ``graphir.render(G, "x.svg")`` (default view),
  in a fresh process: whole-process wall time (less the time the child
  spends reporting) and peak RSS (``VmHWM``).
  Targets: ≤ 6 s, ≤ 600 MB.
- ``llama-70b`` -- the same at the 70B layout (80 layers, hidden 8192, 64/8
  heads, MLP 28672). Target: ≤ 15 s.
- ``hf-folder`` -- a ``save_pretrained``-style folder of the 8B model:
  ``config.json`` and a ``model.safetensors`` whose header lists every tensor
  (bf16, ~16 GB) and whose data is a sparse hole made with ``truncate`` (no
  disk used). ``graphir.load(DIR)`` + default render against the same render
  from the config alone, each in a fresh process. Target: peak RSS within
  100 MB of the config-only run (reading the folder costs its headers only).
  Needs ``graphir.load`` of a folder (issue 10 item 2); until then the row
  shows the error.
- ``gpt2-48-nomask`` -- the peer comparison of ``benchmarks/run.py`` (48-layer
  GPT-2 of ``samples/gpt2.py``, 1×16 tokens) at equal detail: graphir full
  (trace; every op, ``depth=None, fold=False, max_nodes=0``) against
  torchview (``expand_nested=True, depth=inf, hide_module_functions=False``),
  each in a fresh process, with the attention mask (as in benchmarks/run.py)
  and without it. Whole-process wall time, and graphir ÷ torchview. Aim: ≤ 0.5×
  on both.

No timing is asserted; targets are printed next to the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.run import (THREADS, child_env, count_svg, fmt_s, machine_info,  # noqa: E402
                            peak_rss_mb, run_subprocess, table)

PY = sys.executable
SECTIONS = ("llama-8b", "llama-70b", "hf-folder", "gpt2-48-nomask")

LLAMA_8B = dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                max_position_embeddings=8192, rope_theta=500000.0, tie_word_embeddings=False)
LLAMA_70B = dict(LLAMA_8B, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                 num_attention_heads=64)
CONFIGS = {"llama-8b": LLAMA_8B, "llama-70b": LLAMA_70B}

TARGETS = {
    "llama-8b": "whole process <= 6 s, peak RSS <= 600 MB",
    "llama-70b": "whole process <= 15 s",
    "hf-folder": "peak RSS of the folder render within 100 MB of the config-only render",
    "gpt2-48-nomask": "graphir full (trace) <= 0.5x torchview, with and without the mask",
}


def now():
    return time.perf_counter()


# ------------------------------------------------------------------ children (fresh processes)

def _report(marks, out_svg=None, G=None):
    """Print the child's measurements. The time this takes (an extra view for the
    fold labels) is reported as ``report`` and left out of the wall time."""
    start = now()
    marks["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if out_svg:
        marks["drawn_nodes"], marks["drawn_clusters"] = count_svg(out_svg)
    if G is not None:
        import graphir

        V = graphir.view(G)
        folded = V.graph.get("folded") or {}
        marks["folds"] = sorted(r.get("label", p) for p, r in folded.items()
                                if isinstance(r, dict))
        marks["warnings"] = list(G.graph.get("warnings") or [])
        marks["ir_nodes"] = G.number_of_nodes()
    marks["report"] = now() - start
    print("BENCH-JSON " + json.dumps(marks))


def child_llm(config_kwargs, out_svg):
    """Build a Llama of this config on meta, convert, render the default view."""
    marks = {}
    start = now()
    import torch
    import transformers

    import graphir

    marks["imports"] = now() - start
    start = now()
    config = transformers.LlamaConfig(**config_kwargs)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config).eval()
        ids = torch.zeros(1, 16, dtype=torch.int64)
    marks["build"] = now() - start
    marks["params"] = int(sum(p.numel() for p in model.parameters()))
    start = now()
    G = graphir.convert(model, example_kwargs={"input_ids": ids})
    marks["convert"] = now() - start
    start = now()
    graphir.render(G, out_svg)
    marks["render"] = now() - start
    marks["graphir_params"] = graphir.summary(G)["total_params"]
    _report(marks, out_svg, G)


def child_folder(folder, out_svg, from_config):
    """Default render of a HF folder (``graphir.load(DIR)``), or of the model its
    config.json describes, built on meta (``from_config``)."""
    marks = {}
    start = now()
    import graphir

    if from_config:
        import torch
        import transformers
    marks["imports"] = now() - start
    start = now()
    if from_config:
        config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(config).eval()
            ids = torch.zeros(1, 16, dtype=torch.int64)
        G = graphir.convert(model, example_kwargs={"input_ids": ids})
    else:
        G = graphir.load(folder)
    marks["convert"] = now() - start
    start = now()
    graphir.render(G, out_svg)
    marks["render"] = now() - start
    _report(marks, out_svg, G)


def child_peer(tool, mask, out_dir):
    """One tool on the 48-layer GPT-2 at full detail (benchmarks/run.py's run_tool)."""
    from benchmarks.run import build_model, run_tool, set_torch_threads

    marks = {}
    start = now()
    import torch

    if tool == "torchview":
        import torchview  # noqa: F401
    else:
        import graphir  # noqa: F401
    marks["imports"] = now() - start
    set_torch_threads()
    model, args, kwargs = build_model("gpt2-48")
    if not mask:
        args = args[:1]
    with torch.no_grad():
        model(*args)
    res = run_tool(tool, model, args, kwargs, out_dir, f"gpt2-48-{'mask' if mask else 'nomask'}")
    marks.update({k: res.get(k) for k in ("capture", "layout", "total", "error",
                                          "drawn_nodes", "drawn_clusters")})
    _report(marks)


# ------------------------------------------------------------------ sections

def run_child(args, timeout=1800):
    wall, rc, out, err = run_subprocess([PY, str(Path(__file__).resolve()), "--child"] + args,
                                        timeout, env=child_env())
    marks = {}
    for line in out.splitlines():
        if line.startswith("BENCH-JSON "):
            marks = json.loads(line[len("BENCH-JSON "):])
    if rc != 0 and not marks.get("error"):
        lines = [x for x in err.strip().splitlines() if x.strip()]
        marks["error"] = "timeout" if rc is None else (lines or ["failed"])[-1][-200:]
    marks["wall"] = wall - (marks.get("report") or 0.0)
    return marks


def write_sparse_folder(folder, config_kwargs, dtype="BF16"):
    """``config.json`` + a ``model.safetensors`` with every tensor of the model in
    its header and a sparse data section (``truncate``): several GB, no disk."""
    import torch
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = transformers.LlamaConfig(**config_kwargs)
    config.architectures = ["LlamaForCausalLM"]
    config.save_pretrained(str(folder))
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, tensor in model.state_dict().items():
        if name.endswith("rotary_emb.inv_freq"):
            continue
        size = tensor.numel() * 2
        header[name] = {"dtype": dtype, "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    path = folder / "model.safetensors"
    with open(path, "wb") as handle:
        handle.write(len(blob).to_bytes(8, "little"))
        handle.write(blob)
    subprocess.run(["truncate", "-s", str(8 + len(blob) + offset), str(path)], check=True)
    return path, 8 + len(blob) + offset


def bench_llm(name, work, log):
    marks = run_child(["llm", name, os.path.join(work, f"{name}.svg")])
    log(f"[{name}] wall {marks['wall']:.2f} s, peak {marks.get('peak_rss_mb')} MB"
        + (f", error {marks['error']}" if marks.get("error") else ""))
    return marks


def bench_folder(work, log):
    folder = os.path.join(work, "llama-8b-folder")
    path, size = write_sparse_folder(folder, LLAMA_8B)
    log(f"[hf-folder] {path}: {size / 1e9:.1f} GB (sparse)")
    res = {"size_gb": size / 1e9}
    for label, flag in (("folder", "0"), ("config", "1")):
        res[label] = run_child(["folder", folder, os.path.join(work, f"folder-{label}.svg"),
                                flag])
        log(f"[hf-folder] {label}: wall {res[label]['wall']:.2f} s, "
            f"peak {res[label].get('peak_rss_mb')} MB"
            + (f", error {res[label]['error']}" if res[label].get("error") else ""))
    return res


def bench_nomask(work, log):
    res = {}
    for mask in (True, False):
        for tool in ("graphir-full", "torchview"):
            key = f"{tool}/{'mask' if mask else 'nomask'}"
            res[key] = run_child(["peer", tool, "1" if mask else "0", work], 3600)
            log(f"[gpt2-48] {key}: wall {res[key]['wall']:.2f} s, "
                f"tool {fmt_s(res[key].get('total'))} s, nodes {res[key].get('drawn_nodes')}"
                + (f", error {res[key]['error']}" if res[key].get("error") else ""))
    return res


# ------------------------------------------------------------------ report

def _mb(value):
    return "-" if value is None else f"{value:.0f}"


def report(results):
    out = []
    llm_rows = []
    for name in ("llama-8b", "llama-70b"):
        m = results.get(name)
        if not m:
            continue
        llm_rows.append([name, fmt_s(m.get("wall")), fmt_s(m.get("imports")),
                         fmt_s(m.get("build")), fmt_s(m.get("convert")), fmt_s(m.get("render")),
                         _mb(m.get("peak_rss_mb")),
                         f"{m.get('drawn_nodes')}" if m.get("drawn_nodes") else "-",
                         ", ".join(m.get("folds") or []) or "no fold",
                         m.get("error") or "; ".join(m.get("warnings") or [])])
    if llm_rows:
        out.append("Meta-device LLMs: default render, fresh process")
        out.append(table(llm_rows, ["model", "wall s", "imports s", "build s", "convert s",
                                    "render s", "peak MB", "drawn nodes", "folds", "notes"],
                         "lrrrrrrrll"))
        for name in ("llama-8b", "llama-70b"):
            m = results.get(name)
            if m and m.get("params"):
                out.append(f"{name}: {m['params']:,} parameters (sum numel); graphir "
                           f"reports {m.get('graphir_params', 0):,}")
        for name in ("llama-8b", "llama-70b"):
            if name in results:
                out.append(f"target {name}: {TARGETS[name]}")
        out.append("")
    if "hf-folder" in results:
        r = results["hf-folder"]
        rows = []
        for label, what in (("folder", "graphir.load(DIR) + render"),
                            ("config", "model from config.json on meta + render")):
            m = r[label]
            rows.append([what, fmt_s(m.get("wall")), fmt_s(m.get("convert")),
                         fmt_s(m.get("render")), _mb(m.get("peak_rss_mb")),
                         m.get("error") or ""])
        out.append(f"HF folder, 8B layout, model.safetensors {r['size_gb']:.1f} GB (sparse)")
        out.append(table(rows, ["run (fresh process)", "wall s", "load/convert s", "render s",
                                "peak MB", "error"], "lrrrrl"))
        a, b = r["folder"].get("peak_rss_mb"), r["config"].get("peak_rss_mb")
        if a is not None and b is not None and not r["folder"].get("error"):
            out.append(f"folder - config peak RSS: {a - b:+.0f} MB "
                       f"(target: within 100 MB) -> {'MET' if a - b <= 100 else 'MISSED'}")
        else:
            out.append("folder - config peak RSS: not measured (the folder did not load)")
        out.append("")
    if "gpt2-48-nomask" in results:
        r = results["gpt2-48-nomask"]
        rows = []
        for mask in ("mask", "nomask"):
            g, t = r[f"graphir-full/{mask}"], r[f"torchview/{mask}"]
            for label, m in (("graphir full (trace)", g), ("torchview expanded", t)):
                rows.append([f"{'with' if mask == 'mask' else 'without'} mask", label,
                             fmt_s(m.get("wall")), fmt_s(m.get("capture")),
                             fmt_s(m.get("layout")), fmt_s(m.get("total")),
                             f"{m.get('drawn_nodes')}/{m.get('drawn_clusters')}",
                             (f"{g['wall'] / t['wall']:.2f}×" if label.startswith("graphir")
                              and g.get("wall") and t.get("wall") else ""),
                             (f"{g['total'] / t['total']:.2f}×" if label.startswith("graphir")
                              and g.get("total") and t.get("total") else ""),
                             m.get("error") or ""])
        out.append("48-layer GPT-2 at equal detail (fresh process each)")
        out.append(table(rows, ["inputs", "tool", "wall s", "capture s", "layout s", "tool s",
                                "nodes/clusters", "wall ÷tv", "tool ÷tv", "error"],
                         "llrrrrrrrl"))
        out.append(f"target: {TARGETS['gpt2-48-nomask']}")
    return "\n".join(out)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        kind, rest = argv[1], argv[2:]
        if kind == "llm":
            child_llm(CONFIGS[rest[0]], rest[1])
        elif kind == "folder":
            child_folder(rest[0], rest[1], rest[2] == "1")
        elif kind == "peer":
            child_peer(rest[0], rest[1] == "1", rest[2])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated sections: " + " ".join(SECTIONS))
    parser.add_argument("--workdir", help="keep the SVGs and the sparse folder here")
    parser.add_argument("--json", help="write every measurement as JSON")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else list(SECTIONS)
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; use {', '.join(SECTIONS)}")
    THREADS["n"] = 1
    work = args.workdir or tempfile.mkdtemp(prefix="graphir-real-")
    os.makedirs(work, exist_ok=True)
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, flush=True))
    results = {"machine": machine_info()}
    for section in only:
        if section in CONFIGS:
            results[section] = bench_llm(section, work, log)
        elif section == "hf-folder":
            results[section] = bench_folder(work, log)
        elif section == "gpt2-48-nomask":
            results[section] = bench_nomask(work, log)
    text = report(results)
    print()
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
