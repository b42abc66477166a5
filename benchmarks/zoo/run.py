#!/usr/bin/env python
"""graphir model zoo (issue 10, item 8): models nobody in this project wrote.

Run from the repository root::

    .venv/bin/python benchmarks/zoo/run.py                      # whole zoo (~15 min, 2 cores)
    .venv/bin/python benchmarks/zoo/run.py --subset ci          # representative subset (< 5 min)
    .venv/bin/python benchmarks/zoo/run.py --family llama,onnx-light --markdown out.md
    .venv/bin/python benchmarks/zoo/run.py --id gpt2 -v          # one model, every check printed

Every entry of ``benchmarks/zoo/models.json`` is built (a ``transformers``
class from a tiny config, no download; an ONNX file the ``onnx`` package
ships; a dynamo ONNX export, a ``.pt2`` or a ``save_pretrained`` folder
generated into a cache directory), converted with the default source and,
for torch models, with ``source="export"``, and checked against its
expected facts:

``ops``       op count of the IR within ``[lo, hi]``;
``shapes``    share of ops whose outputs all have a shape (default ≥ 0.99);
``modules``   share of ops with a module path, torch sources (default ≥ 0.95);
``params``    the IR's parameter total equals ``sum(p.numel())`` of the model
              (for ONNX files: the elements of its initializers), computed now;
``view``      nodes in the default view (``graphir.view(G)``) ≤ 300;
``fold``      each expected fold (``"h ×4"``: a run of 4 blocks under a module
              named ``h``) appears in the default view; with ≥ 3 identical
              blocks a ``×N`` is expected.

A known failure is written down with its reason: ``"expect": "error"`` with
``"error": REGEX`` (the conversion must still raise a message matching it), or
``"known": {"CHECK": "reason"}`` (``"export:CHECK"`` for one source only;
that check must still fail). Anything else -- a new failure, or a known one
that now passes -- is *unexpected* and makes the exit status 1, so the marks
are kept true.

Models run in worker subprocesses (one process reused for many models); a
model that takes longer than its timeout kills its worker, is recorded as a
timeout and a new worker goes on with the rest.
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MANIFEST = HERE / "models.json"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "graphir-zoo-cache"
DEFAULT_TIMEOUT = 120.0

#: Thresholds when an entry does not give its own.
SHAPES_MIN = 0.99
MODULES_MIN = 0.95
VIEW_MAX = 300

#: Kinds converted from a running nn.Module (so also with ``source="export"``).
MODULE_KINDS = ("hf_config", "hf_folder")
#: Kinds whose graph comes from torch (module paths expected).
TORCH_KINDS = ("hf_config", "hf_folder", "onnx_export", "pt2")

CHECKS = ("convert", "ops", "shapes", "modules", "params", "view", "fold")


# ------------------------------------------------------------------ manifest

def load_manifest(path=MANIFEST):
    """The manifest's entries (a list of dicts), in file order."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    entries = data["models"] if isinstance(data, dict) else data
    ids = [e["id"] for e in entries]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SystemExit(f"{path}: duplicate ids {dupes}")
    return entries


def select(entries, subset=None, families=None, ids=None):
    """Entries of the CI subset / given families / given ids (all when None)."""
    out = []
    for entry in entries:
        if subset == "ci" and not entry.get("ci"):
            continue
        if families and entry["family"] not in families:
            continue
        if ids and entry["id"] not in ids:
            continue
        out.append(entry)
    return out


def sources_of(entry):
    """Sources an entry runs with: the default, plus ``export`` for modules."""
    if "sources" in entry:
        return list(entry["sources"])
    return ["auto", "export"] if entry["kind"] in MODULE_KINDS else ["auto"]


def onnx_data_dir():
    import onnx

    return Path(onnx.__file__).resolve().parent / "backend" / "test" / "data"


def unlisted_onnx_files(entries):
    """ONNX files shipped under onnx/backend/test/data that no entry names."""
    listed = {e["path"] for e in entries if e["kind"] == "onnx_file"}
    base = onnx_data_dir().parent.parent.parent  # the onnx package
    found = sorted(str(p.relative_to(base)) for p in onnx_data_dir().rglob("*.onnx"))
    return [p for p in found if p not in listed]


# ------------------------------------------------------------------ building models

def _by_id(entries):
    return {e["id"]: e for e in entries}


def build_hf(entry):
    """``(model, args, kwargs)`` of an ``hf_config`` entry (no download)."""
    import torch
    import transformers

    config_cls = getattr(transformers, entry["config_class"])
    model_cls = getattr(transformers, entry["class"])
    config = config_cls(**entry.get("config", {}))
    device = entry.get("device", "cpu")
    torch.manual_seed(0)
    if device == "meta":
        with torch.device("meta"):
            model = model_cls(config)
    else:
        model = model_cls(config)
    model.eval()
    kwargs = make_inputs(entry.get("inputs", "tokens"), config, device,
                         entry.get("seq", 16))
    return model, (), kwargs


def _sub(config, name):
    for attr in (name, name + "_config"):
        sub = getattr(config, attr, None)
        if sub is not None:
            return sub
    return config


def make_inputs(kind, config, device="cpu", seq=16):
    """Example keyword inputs for the main model kinds."""
    import torch

    gen = torch.Generator().manual_seed(0)

    def tokens(vocab, n=seq):
        t = torch.randint(0, min(int(vocab), 1000), (1, n), generator=gen)
        return t.to(device)

    def pixels(cfg):
        size = cfg.image_size
        if isinstance(size, (list, tuple)):
            size = size[0]
        channels = getattr(cfg, "num_channels", 3)
        return torch.randn(1, channels, size, size, generator=gen).to(device)

    if kind == "tokens":
        return {"input_ids": tokens(config.vocab_size)}
    if kind == "seq2seq":
        return {"input_ids": tokens(config.vocab_size),
                "decoder_input_ids": tokens(config.vocab_size, 8)}
    if kind == "pixels":
        return {"pixel_values": pixels(config)}
    if kind == "whisper":
        frames = 2 * config.max_source_positions
        return {"input_features": torch.randn(1, config.num_mel_bins, frames,
                                              generator=gen).to(device),
                "decoder_input_ids": tokens(config.vocab_size, 4)}
    if kind == "audio":
        return {"input_values": torch.randn(1, 4000, generator=gen).to(device)}
    if kind == "clip":
        text = _sub(config, "text")
        vision = _sub(config, "vision")
        return {"input_ids": tokens(text.vocab_size, 8), "pixel_values": pixels(vision)}
    raise ValueError(f"unknown inputs kind {kind!r}")


def param_total(model):
    """``sum(p.numel())`` over the model's (deduplicated) parameters."""
    return int(sum(p.numel() for p in model.parameters()))


_FLOAT_TYPES = (1, 10, 11, 16)  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
#: Inputs of these ops that hold running statistics (buffers in torch, not params).
_BUFFER_INPUTS = {"BatchNormalization": (3, 4)}


def onnx_weight_total(path):
    """Elements of an ONNX file's weights, computed from the file alone.

    Weights are the floating-point constant values that a computing op reads:
    initializers, ``Constant`` nodes and the outputs of constant subgraphs
    (an op all of whose inputs are constant, such as ``ConstantOfShape`` fed by
    a shape initializer; shapes from ONNX shape inference). Integer constants
    (shapes, indices) and BatchNormalization's running mean and variance (a
    buffer in torch) are not parameters. Only the main graph is counted.
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(path), load_external_data=False)
    with contextlib.suppress(Exception):
        model = shape_inference.infer_shapes(model)
    graph = model.graph
    info = {}  # name -> (elem_type, shape or None)
    for init in graph.initializer:
        info[init.name] = (init.data_type, [int(d) for d in init.dims])
    for vi in list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            info.setdefault(vi.name, (t.elem_type, None if None in dims else dims))
    const = set(info) & {i.name for i in graph.initializer}
    for node in graph.node:  # nodes are in topological order
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    arr = numpy_helper.to_array(attr.t)
                    info[node.output[0]] = (attr.t.data_type, list(arr.shape))
                elif attr.name in ("value_float", "value_int"):
                    info[node.output[0]] = (1 if attr.name == "value_float" else 7, [])
            const.update(node.output)
        elif node.input and all(not i or i in const for i in node.input) \
                and not any(a.type in (5, 10) for a in node.attribute):  # no subgraphs
            const.update(o for o in node.output if o)
    seen = set()
    total = 0
    for node in graph.node:
        if node.op_type == "Constant" or all(o in const for o in node.output if o):
            continue
        skip = _BUFFER_INPUTS.get(node.op_type, ())
        for k, name in enumerate(node.input):
            if not name or name not in const or name in seen or k in skip:
                continue
            seen.add(name)
            elem, shape = info.get(name, (None, None))
            if elem in _FLOAT_TYPES and shape:  # rank-0 scalars are constants, not weights
                n = 1
                for d in shape:
                    n *= int(d)
                total += n
    return total


def _cache_path(cache, entry, suffix):
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    return cache / f"{entry['id']}{suffix}"


def prepare(entry, entries, cache):
    """What to hand graphir for an entry, and the expected parameter total.

    Returns ``(target, expected_params)``: ``target`` is a path or an
    ``(model, args, kwargs)`` triple. Generated files go to ``cache`` (made
    on first use, reused afterwards).
    """
    kind = entry["kind"]
    if kind == "hf_config":
        model, args, kwargs = build_hf(entry)
        return (model, args, kwargs), param_total(model)
    if kind == "onnx_file":
        path = onnx_data_dir().parent.parent.parent / entry["path"]
        return path, onnx_weight_total(path)
    base = dict(_by_id(entries)[entry["of"]])
    base["config"] = dict(base.get("config", {}), **entry.get("config", {}))
    model, args, kwargs = build_hf(base)
    expected = param_total(model)
    if kind == "onnx_export":
        import torch

        path = _cache_path(cache, entry, ".onnx")
        if not path.exists():
            tmp = path.with_suffix(".tmp.onnx")
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                torch.onnx.export(model, args, str(tmp), kwargs=kwargs, dynamo=True,
                                  external_data=False)
            os.replace(tmp, path)
        return path, expected
    if kind == "pt2":
        import torch

        path = _cache_path(cache, entry, ".pt2")
        if not path.exists():
            program = torch.export.export(model, args, kwargs, strict=False)
            tmp = path.with_suffix(".tmp.pt2")
            torch.export.save(program, str(tmp))
            os.replace(tmp, path)
        return path, expected
    if kind == "hf_folder":
        path = _cache_path(cache, entry, "")
        if not (path / "config.json").exists():
            tmp = Path(str(path) + ".tmp")
            save_kwargs = {}
            if entry.get("max_shard_size"):
                save_kwargs["max_shard_size"] = entry["max_shard_size"]
            model.save_pretrained(str(tmp), **save_kwargs)
            if path.exists():
                import shutil

                shutil.rmtree(path)
            os.replace(tmp, path)
        return path, expected
    raise ValueError(f"{entry['id']}: unknown kind {kind!r}")


# ------------------------------------------------------------------ measuring

def _op_ids(G):
    return [n for n, k in G.nodes(data="kind") if k == "op"]


def shape_share(G):
    """Share of op nodes whose outputs are non-empty and all have a shape."""
    ops = _op_ids(G)
    if not ops:
        return 1.0
    good = 0
    for n in ops:
        outs = G.nodes[n].get("outputs") or []
        if outs and all(isinstance(o, dict) and o.get("shape") is not None for o in outs):
            good += 1
    return good / len(ops)


def module_share(G):
    """Share of op nodes with a module path."""
    ops = _op_ids(G)
    if not ops:
        return 1.0
    return sum(1 for n in ops if G.nodes[n].get("module")) / len(ops)


def folds_of(V):
    """``["h ×4", ...]``: folded runs in a viewed graph, named by their parent module."""
    found = {}
    records = V.graph.get("folded") or {}
    for path, record in records.items():
        if isinstance(record, dict):
            found[path] = record.get("repeat") or 1
    for _, data in V.nodes(data=True):
        if data.get("kind") == "module" and (data.get("repeat") or 1) > 1:
            found.setdefault(data.get("module") or "", data["repeat"])
    names = []
    for path, repeat in found.items():
        if repeat < 2:
            continue
        parts = path.split(".")
        parent = parts[-2] if len(parts) >= 2 and parts[-1].isdigit() else parts[-1]
        names.append(f"{parent} ×{repeat}")
    return sorted(set(names))


def fold_matches(expected, found):
    """True when the expected fold (``"layers ×4"``; ``"×4"`` for any parent;
    ``"layers ×N"`` for any count ≥ 3) is among ``found``."""
    want_parent, _, want_count = expected.rpartition("×")
    want_parent = want_parent.strip()
    for name in found:
        parent, _, count = name.rpartition("×")
        if want_parent and parent.strip() != want_parent:
            continue
        if want_count.strip() == "N":
            if int(count) >= 3:
                return True
        elif count.strip() == want_count.strip():
            return True
    return False


def convert_target(target, source):
    """Convert one prepared target with one source; returns the IR."""
    import graphir

    if isinstance(target, tuple):
        model, args, kwargs = target
        return graphir.convert(model, args, example_kwargs=kwargs, source=source)
    return graphir.load(str(target), source=source)


def measure(entry, entries, cache, source):
    """Run one entry with one source; return the measured facts (no verdicts)."""
    facts = {"id": entry["id"], "family": entry["family"], "source": source}
    start = time.perf_counter()
    try:
        target, expected_params = prepare(entry, entries, cache)
    except Exception as exc:  # building the model is part of the zoo's result
        facts["error"] = f"prepare: {type(exc).__name__}: {' '.join(str(exc).split())}"[:400]
        facts["seconds"] = time.perf_counter() - start
        return facts
    facts["prepare_seconds"] = time.perf_counter() - start
    facts["expected_params"] = expected_params
    if entry.get("fresh_process"):
        facts.update(measure_fresh(target, source))
        return facts
    facts.update(graph_facts(target, source))
    return facts


def measure_fresh(path, source):
    """:func:`graph_facts` of a file in a new Python process that imports only
    graphir (so, e.g., no ``transformers`` pytree types are registered, as for
    a user who opens a ``.pt2`` someone else saved)."""
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure",
                           str(path), source], capture_output=True, text=True,
                          cwd=str(ROOT))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-2:])
        return {"error": f"fresh process failed (exit {proc.returncode}): {tail}"[:400],
                "seconds": 0.0}
    return json.loads(lines[-1])


def graph_facts(target, source):
    """Convert ``target`` with ``source`` and measure the IR and its default view."""
    import graphir

    facts = {}
    start = time.perf_counter()
    try:
        G = convert_target(target, source)
        facts["convert_seconds"] = time.perf_counter() - start
        V = graphir.view(G)
        graphir.to_dot(V)
    except Exception as exc:
        facts["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]
        facts["seconds"] = time.perf_counter() - start
        return facts
    facts["seconds"] = time.perf_counter() - start
    facts["ir_source"] = G.graph.get("source")
    facts["ops"] = len(_op_ids(G))
    facts["shapes"] = round(shape_share(G), 4)
    facts["modules"] = round(module_share(G), 4)
    facts["params"] = int(graphir.summary(G)["total_params"])
    facts["view_nodes"] = V.number_of_nodes()
    facts["folds"] = folds_of(V)
    facts["warnings"] = list(G.graph.get("warnings") or [])
    return facts


# ------------------------------------------------------------------ verdicts

def _known(entry, source):
    known = {}
    for key, reason in (entry.get("known") or {}).items():
        src, _, check = key.rpartition(":")
        if not src or src == source:
            known[check] = reason
    return known


def judge(entry, facts):
    """Checks of one run against its entry.

    Returns a dict with ``status`` (``pass``, ``xfail`` -- every failure is a
    known one --, ``fail`` or ``xpass`` -- a known failure that now passes),
    ``checks`` (``{check: (ok, detail)}``) and ``unexpected`` (messages).
    """
    source = facts["source"]
    checks = {}
    expect = entry.get("expect", "ok")
    if isinstance(expect, dict):
        expect = expect.get(source, expect.get("*", "ok"))
    if expect == "error":
        pattern = entry.get("error", "")
        if "error" not in facts:
            checks["convert"] = (True, "converted, but a failure was expected: "
                                 + entry.get("reason", ""))
            return _verdict(checks, {"convert": entry.get("reason", "expected error")})
        ok = re.search(pattern, facts["error"]) is not None
        detail = facts["error"] if ok else f"failed differently: {facts['error']}"
        checks["convert"] = (False, detail)
        result = _verdict(checks, {"convert": entry.get("reason", "")} if ok else {})
        return result
    if "error" in facts:
        checks["convert"] = (False, facts["error"])
        return _verdict(checks, _known(entry, source))
    checks["convert"] = (True, "")
    lo, hi = entry.get("ops", [1, 10 ** 9])
    checks["ops"] = (lo <= facts["ops"] <= hi, f"{facts['ops']} ops, expected {lo}..{hi}")
    need = entry.get("shapes_min", SHAPES_MIN)
    checks["shapes"] = (facts["shapes"] >= need, f"shapes on {facts['shapes']:.1%} of ops")
    if entry["kind"] in TORCH_KINDS:
        need = entry.get("modules_min", MODULES_MIN)
        checks["modules"] = (facts["modules"] >= need,
                             f"module paths on {facts['modules']:.1%} of ops")
    checks["params"] = (facts["params"] == facts["expected_params"],
                        f"{facts['params']:,} params, sum(numel) {facts['expected_params']:,}")
    vmax = entry.get("view_max", VIEW_MAX)
    checks["view"] = (facts["view_nodes"] <= vmax,
                      f"{facts['view_nodes']} nodes in the default view")
    folds = entry.get("fold") or []
    if isinstance(folds, str):
        folds = [folds]
    if folds:
        missing = [f for f in folds if not fold_matches(f, facts["folds"])]
        shown = ", ".join(facts["folds"]) or "no fold"
        checks["fold"] = (not missing, f"expected {', '.join(folds)}; shown: {shown}")
    return _verdict(checks, _known(entry, source))


def _verdict(checks, known):
    unexpected = []
    xfails = []
    for name, (ok, detail) in checks.items():
        if not ok and name in known:
            xfails.append(f"{name}: {detail} (known: {known[name]})")
        elif not ok:
            unexpected.append(f"{name} failed: {detail}")
    for name, reason in known.items():
        if name in checks and checks[name][0]:
            unexpected.append(f"{name} passes now, remove its known-failure mark ({reason})")
        elif name not in checks and name != "convert" and "convert" in checks \
                and checks["convert"][0]:
            unexpected.append(f"known failure {name!r} names no check that ran")
    if unexpected:
        status = "xpass" if all("passes now" in u for u in unexpected) else "fail"
    else:
        status = "xfail" if xfails else "pass"
    return {"status": status, "checks": {k: list(v) for k, v in checks.items()},
            "unexpected": unexpected, "xfails": xfails}


def run_in_process(entries, selected, cache=DEFAULT_CACHE, sources=None):
    """Measure and judge ``selected`` entries in this process; a list of results."""
    results = []
    for entry in selected:
        for source in sources_of(entry):
            if sources and source not in sources:
                continue
            facts = measure(entry, entries, cache, source)
            facts.update(judge(entry, facts))
            results.append(facts)
    return results


# ------------------------------------------------------------------ workers

def _worker(argv):
    """``--worker IN OUT``: run the (id, source) pairs listed in IN, append to OUT."""
    in_path, out_path, cache, manifest = argv
    entries = load_manifest(manifest)
    by_id = _by_id(entries)
    with open(in_path) as handle:
        jobs = [json.loads(line) for line in handle if line.strip()]
    with open(out_path, "a") as out:
        for job in jobs:
            out.write(json.dumps({"start": job}) + "\n")
            out.flush()
            entry = by_id[job["id"]]
            facts = measure(entry, entries, cache, job["source"])
            out.write(json.dumps({"done": facts}) + "\n")
            out.flush()
    return 0


def _set_threads():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_workers(entries, jobs, cache, manifest=MANIFEST, workers=1, log=print,
                default_timeout=DEFAULT_TIMEOUT):
    """Run ``jobs`` (``{"id", "source"}``) in worker subprocesses.

    Each worker takes its share in order; when a model exceeds its timeout
    (or the worker dies) the worker is killed, that model is recorded as a
    failure, and a fresh worker continues with the rest. Returns the facts
    of every job, in job order.
    """
    by_id = _by_id(entries)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    _set_threads()
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
                "TRANSFORMERS_VERBOSITY", "HF_HUB_OFFLINE"):
        env[key] = os.environ[key]
    shares = [jobs[i::workers] for i in range(workers)]
    done = {}
    tmp = tempfile.mkdtemp(prefix="zoo-")
    slots = [{"todo": list(share), "proc": None, "out": None, "pos": 0, "started": None,
              "current": None, "k": k} for k, share in enumerate(shares) if share]

    def launch(slot):
        slot["k"] += workers
        in_path = os.path.join(tmp, f"in{slot['k']}.jsonl")
        out_path = os.path.join(tmp, f"out{slot['k']}.jsonl")
        with open(in_path, "w") as handle:
            for job in slot["todo"]:
                handle.write(json.dumps(job) + "\n")
        open(out_path, "w").close()
        errlog = open(os.path.join(tmp, f"err{slot['k']}.log"), "w")
        slot["proc"] = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", in_path, out_path,
             str(cache), str(manifest)], stdout=subprocess.DEVNULL, stderr=errlog, env=env,
            cwd=str(ROOT))
        slot["errlog"] = errlog
        slot["out"], slot["pos"], slot["current"] = out_path, 0, None
        slot["started"] = time.perf_counter()

    def key(job):
        return (job["id"], job["source"])

    for slot in slots:
        launch(slot)
    while any(slot["proc"] is not None for slot in slots):
        time.sleep(0.2)
        for slot in slots:
            proc = slot["proc"]
            if proc is None:
                continue
            with open(slot["out"]) as handle:
                handle.seek(slot["pos"])
                chunk = handle.read()
            lines = chunk.split("\n")
            complete, rest = lines[:-1], lines[-1]
            slot["pos"] += len(chunk) - len(rest)
            for line in complete:
                record = json.loads(line)
                if "start" in record:
                    slot["current"] = record["start"]
                    slot["started"] = time.perf_counter()
                else:
                    facts = record["done"]
                    job = {"id": facts["id"], "source": facts["source"]}
                    done[key(job)] = facts
                    slot["todo"] = [j for j in slot["todo"] if key(j) != key(job)]
                    slot["current"] = None
                    log(_progress_line(by_id[facts["id"]], facts))
            current = slot["current"]
            exited = proc.poll() is not None
            timeout = default_timeout
            if current is not None:
                timeout = by_id[current["id"]].get("timeout", default_timeout)
            overdue = current is not None and time.perf_counter() - slot["started"] > timeout
            if not exited and not overdue:
                continue
            if exited and not slot["todo"]:
                slot["proc"] = None
                slot["errlog"].close()
                continue
            if not exited:
                proc.kill()
                proc.wait()
            slot["errlog"].close()
            if current is not None:
                why = (f"timeout: more than {timeout:.0f} s" if overdue else
                       f"worker died (exit {proc.returncode}): " + _tail(slot["errlog"].name))
                facts = {"id": current["id"], "family": by_id[current["id"]]["family"],
                         "source": current["source"], "error": why,
                         "seconds": time.perf_counter() - slot["started"]}
                done[key(current)] = facts
                slot["todo"] = [j for j in slot["todo"] if key(j) != key(current)]
                log(_progress_line(by_id[current["id"]], facts))
            elif exited:  # died before starting anything: give up on its share
                for job in slot["todo"]:
                    done[key(job)] = {"id": job["id"], "family": by_id[job["id"]]["family"],
                                      "source": job["source"], "seconds": 0.0,
                                      "error": "worker failed to start: "
                                               + _tail(slot["errlog"].name)}
                slot["todo"] = []
            if slot["todo"]:
                launch(slot)
            else:
                slot["proc"] = None
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return [done[key(job)] for job in jobs]


def _tail(path, limit=300):
    with contextlib.suppress(OSError):
        text = Path(path).read_text(errors="replace").strip().splitlines()
        return " ".join(text[-3:])[-limit:]
    return ""


def _progress_line(entry, facts):
    if "error" in facts:
        what = "error: " + facts["error"][:110]
    else:
        what = (f"{facts['ops']} ops, view {facts['view_nodes']}, "
                f"{', '.join(facts['folds']) or 'no fold'}")
    return f"  {entry['id']:<38} {facts['source']:<6} {facts.get('seconds', 0):6.2f} s  {what}"


# ------------------------------------------------------------------ report

def family_table(results):
    """Rows ``(family, models, runs, as expected, all facts pass, median s, median
    view nodes, notes)`` per family, in first-seen order."""
    order = []
    groups = {}
    for r in results:
        if r["family"] not in groups:
            order.append(r["family"])
            groups[r["family"]] = []
        groups[r["family"]].append(r)
    rows = []
    for fam in order:
        runs = groups[fam]
        models = len({r["id"] for r in runs})
        expected = sum(1 for r in runs if r["status"] in ("pass", "xfail"))
        clean = sum(1 for r in runs if r["status"] == "pass" or (
            r["status"] == "xpass" and not r.get("xfails")))
        times = [r["seconds"] for r in runs if "error" not in r and "seconds" in r]
        nodes = [r["view_nodes"] for r in runs if "view_nodes" in r]
        rows.append([fam, models, len(runs), f"{expected}/{len(runs)}",
                     f"{clean / len(runs):.0%}",
                     f"{statistics.median(times):.2f}" if times else "-",
                     f"{statistics.median(nodes):.0f}" if nodes else "-",
                     _notes(runs)])
    return rows


def _notes(runs):
    counts = {}
    for r in runs:
        for check, (ok, _) in r.get("checks", {}).items():
            if not ok:
                label = "error" if check == "convert" else check
                if check == "convert" and r.get("status") in ("pass", "xfail") \
                        and not r.get("xfails"):
                    label = "expected error"
                counts[label] = counts.get(label, 0) + 1
    timeouts = sum(1 for r in runs if str(r.get("error", "")).startswith("timeout"))
    parts = [f"{k} ×{v}" if v > 1 else k for k, v in sorted(counts.items())]
    if timeouts:
        parts.append(f"timeout ×{timeouts}")
    return "; ".join(parts)


HEADERS = ("family", "models", "runs", "as expected", "all facts pass", "median s",
           "median view nodes", "failing facts")


def text_table(rows, headers=HEADERS):
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for k, row in enumerate(cells):
        out.append("  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows, headers=HEADERS):
    out = ["| " + " | ".join(headers) + " |",
           "| " + " | ".join("---" if i in (0, 7) else "---:" for i in range(len(headers)))
           + " |"]
    for row in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def detail_lines(results):
    """One line per run that did not simply pass, then the known-failure reasons
    they cite (``[K1]`` ...), each written once."""
    reasons = {}
    lines = []
    for r in results:
        if r["status"] == "pass":
            continue
        msgs = list(r.get("unexpected") or [])
        for text in r.get("xfails") or []:
            fact, _, reason = text.rpartition(" (known: ")
            reason = reason[:-1] if reason.endswith(")") else reason
            tag = reasons.setdefault(reason, f"K{len(reasons) + 1}")
            msgs.append(f"{fact} [{tag}]")
        lines.append(f"{r['status'].upper():<5} {r['id']} [{r['source']}]: " + " | ".join(msgs))
    if reasons:
        lines.append("")
        lines.extend(f"{tag}: known failure: {reason}" for reason, tag in reasons.items())
    return lines


def write_markdown(path, results, info, seconds):
    rows = family_table(results)
    runs = len(results)
    ok = sum(1 for r in results if r["status"] in ("pass", "xfail"))
    clean = sum(1 for r in results if r["status"] == "pass")
    text = [
        "# graphir model zoo results",
        "",
        f"`{info['command']}` — {len({r['id'] for r in results})} models, {runs} runs "
        f"(default source, plus `--source export` for torch modules), {seconds:.0f} s wall; "
        f"{info['date']}, {info['machine']}; graphir {info['git']}, torch {info['torch']}, "
        f"transformers {info['transformers']}, onnx {info['onnx']}.",
        "",
        f"**{ok}/{runs} runs as expected** (passing, or failing only in the known ways the "
        f"manifest writes down with a reason); **{clean}/{runs} pass every fact**. "
        "*as expected*: runs whose result matches the manifest; *all facts pass*: runs "
        "meeting every target (convert, op range, shapes ≥ 99 %, module paths ≥ 95 % for "
        "torch sources, parameter total = `sum(numel)`, default view ≤ 300 nodes, expected "
        "`×N` folds); *failing facts*: the checks that failed, known or not.",
        "",
        markdown_table(rows),
        "",
        "## Runs that did not pass every fact",
        "",
        "```",
        *detail_lines(results),
        "```",
        "",
    ]
    Path(path).write_text("\n".join(text), encoding="utf-8")


def run_info(argv):
    import platform

    info = {"command": "benchmarks/zoo/run.py " + " ".join(argv),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{os.cpu_count()} CPU {platform.machine()}, Python "
                       f"{platform.python_version()}"}
    from importlib import metadata

    for dist in ("torch", "transformers", "onnx"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = "missing"
    try:
        info["git"] = subprocess.run(["git", "-C", str(ROOT), "describe", "--always",
                                      "--dirty"], capture_output=True, text=True,
                                     timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        info["git"] = "?"
    return info


# ------------------------------------------------------------------ main

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--measure":
        _set_threads()
        print(json.dumps(graph_facts(argv[1], argv[2])))
        return 0
    if argv and argv[0] == "--worker":
        _set_threads()
        return _worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", choices=("ci",), help="only the entries marked ci")
    parser.add_argument("--family", help="comma-separated families")
    parser.add_argument("--id", help="comma-separated entry ids")
    parser.add_argument("--source", help="only this source (auto or export)")
    parser.add_argument("--manifest", default=str(MANIFEST))
    parser.add_argument("--cache", default=str(DEFAULT_CACHE),
                        help="where generated exports, .pt2 files and folders go")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds per model unless its entry says otherwise")
    parser.add_argument("--markdown", help="write the table (and details) as markdown")
    parser.add_argument("--json", help="write every run's facts and verdicts as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every check")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    entries = load_manifest(args.manifest)
    families = set(args.family.split(",")) if args.family else None
    ids = set(args.id.split(",")) if args.id else None
    selected = select(entries, args.subset, families, ids)
    if not selected:
        print("no entry matches", file=sys.stderr)
        return 2
    jobs = [{"id": e["id"], "source": s} for e in selected for s in sources_of(e)
            if not args.source or s == args.source]
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, flush=True))
    start = time.perf_counter()
    log(f"zoo: {len(selected)} models, {len(jobs)} runs, {args.jobs} worker(s)")
    facts = run_workers(entries, jobs, args.cache, manifest=args.manifest, workers=args.jobs,
                        log=log, default_timeout=args.timeout)
    by_id = _by_id(entries)
    results = []
    for f in facts:
        f.update(judge(by_id[f["id"]], f))
        results.append(f)
    seconds = time.perf_counter() - start
    unlisted = [] if (args.subset or families or ids) else unlisted_onnx_files(entries)
    print()
    print(text_table(family_table(results)))
    print()
    lines = detail_lines(results) if not args.verbose else [
        f"{r['status'].upper():<5} {r['id']} [{r['source']}]: " + "; ".join(
            f"{k} {'ok' if ok else 'FAIL'} ({d})" for k, (ok, d) in r["checks"].items())
        for r in results]
    for line in lines:
        print(line)
    for path in unlisted:
        print(f"FAIL  {path}: shipped by the onnx package but not in the manifest")
    ok = sum(1 for r in results if r["status"] in ("pass", "xfail"))
    print(f"\n{ok}/{len(results)} runs as expected, "
          f"{sum(1 for r in results if r['status'] == 'pass')} pass every fact; "
          f"{seconds:.0f} s")
    if args.markdown:
        write_markdown(args.markdown, results, run_info(argv), seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok == len(results) and not unlisted else 1


if __name__ == "__main__":
    sys.exit(main())
