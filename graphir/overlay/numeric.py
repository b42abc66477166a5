"""Numbers for a cross-source diff: run both sides, compare every matched module's output.

:func:`compare_numeric` takes a :class:`graphir.diffing.modules.ModuleDiffResult`
and one *runner* per side, runs both on the same example inputs and
reports, per matched module (or folded group), the max absolute and
relative error of the tensors leaving it. A runner is made by:

- :func:`module_runner` — an ``nn.Module`` (forward hooks on every submodule);
- :func:`exported_runner` — a loaded ``.pt2`` program (``torch.export.unflatten``
  restores the submodules, so hooks work);
- :func:`torchscript_runner` — a loaded TorchScript module (only the graph
  outputs: a traced archive runs inlined);
- :func:`onnx_runner` — an ``.onnx`` run by onnxruntime, with the tensors
  leaving every module exposed as extra graph outputs on a copy of the
  model (the file is not changed).

Each runner returns ``{module path: [arrays leaving it, in order]}`` plus
``""`` → the graph outputs. onnxruntime is optional
(``pip install 'graphir[numeric]'``); torch is needed for the torch sides.
"""

from collections.abc import Callable, Sequence

from graphir.errors import InputError, MissingDependencyError

__all__ = [
    "module_runner",
    "exported_runner",
    "torchscript_runner",
    "onnx_runner",
    "compare_numeric",
]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in CI
        raise MissingDependencyError("numeric comparison needs torch",
                                     hint="pip install 'graphir[torch]'") from exc
    return torch


def _flat_tensors(value, torch):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if hasattr(value, "__dataclass_fields__"):
        value = [getattr(value, f) for f in value.__dataclass_fields__]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat_tensors(v, torch)]
    return []


def _numpy(t):
    return t.detach().float().cpu().clone().numpy() if hasattr(t, "detach") else t


def _hooked_run(root, inputs, torch):
    """Run ``root`` with forward hooks on every named submodule."""
    captured, handles = {}, []
    for path, sub in root.named_modules():
        if not path:
            continue

        def hook(module, args, output, path=path):
            captured.setdefault(path, []).extend(_numpy(t) for t in _flat_tensors(output, torch))

        handles.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = root(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    captured[""] = [_numpy(t) for t in _flat_tensors(out, torch)]
    return captured


def module_runner(module) -> Callable:
    """A runner for an ``nn.Module`` (outputs of every submodule call by forward hooks)."""
    torch = _torch()
    return lambda inputs: _hooked_run(module, inputs, torch)


def exported_runner(program) -> Callable:
    """A runner for a loaded ``ExportedProgram`` (``torch.export.unflatten`` restores submodules).

    Load the ``.pt2`` with :func:`graphir.loaders.torch_files.load_exported_program`
    (which checks the archive first) and pass the program.
    """
    torch = _torch()
    module = torch.export.unflatten(program)
    return lambda inputs: _hooked_run(module, inputs, torch)


def torchscript_runner(scripted) -> Callable:
    """A runner for a loaded TorchScript module: graph outputs only (traced code runs inlined)."""
    torch = _torch()

    def run(inputs):
        with torch.no_grad():
            out = scripted(*inputs)
        return {"": [_numpy(t) for t in _flat_tensors(out, torch)]}

    return run


def onnx_runner(model_or_path, G) -> Callable:
    """A runner for an ONNX model, exposing each module's outgoing tensors as outputs.

    Parameters
    ----------
    model_or_path : onnx.ModelProto or str
        The model (a copy is changed, never the given one or the file).
    G : networkx.MultiDiGraph
        Its IR (:func:`graphir.converters.onnx.from_onnx`): which ONNX
        tensors leave which module is read from the nodes' ``tensor_names``.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("--numeric on an ONNX model needs onnxruntime",
                                     hint="pip install 'graphir[numeric]'") from exc
    import onnx

    model = onnx.load(str(model_or_path)) if not hasattr(model_or_path, "graph") \
        else model_or_path
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    leaving = _leaving_tensors(G)
    existing = {o.name for o in copy.graph.output}
    for names in leaving.values():
        for name in names:
            if name not in existing:
                copy.graph.output.append(onnx.ValueInfoProto(name=name))
                existing.add(name)
    session = ort.InferenceSession(copy.SerializeToString(), providers=["CPUExecutionProvider"])
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    graph_outputs = [o.name for o in model.graph.output]

    def run(inputs):
        feeds = {name: (value.detach().cpu().numpy() if hasattr(value, "detach") else value)
                 for name, value in zip(input_names, inputs)}
        values = dict(zip(output_names, session.run(output_names, feeds)))
        out = {path: [values[n] for n in names] for path, names in leaving.items()}
        out[""] = [values[n] for n in graph_outputs]
        return out

    return run


def _leaving_tensors(G):
    """``{module path: [ONNX tensor names leaving that module's subtree]}``."""
    module_of = {n: d.get("module") or "" for n, d in G.nodes(data=True)}
    paths = {p for p in module_of.values() if p}
    leaving = {}
    for path in sorted(paths):
        def inside(node, path=path):
            m = module_of[node]
            return G.nodes[node]["kind"] == "op" and (m == path or m.startswith(path + "."))
        names = []
        for node in G:
            if not inside(node):
                continue
            tensors = G.nodes[node].get("tensor_names") or []
            for dst, keyed in G._succ[node].items():
                if inside(dst):
                    continue
                for data in keyed.values():
                    port = data.get("src_port", 0)
                    if port < len(tensors) and tensors[port] and tensors[port] not in names:
                        names.append(tensors[port])
        leaving[path] = names
    return leaving


def _pair(old_values, new_values):
    """Pairs of arrays with the same shape, in order."""
    pairs, used = [], set()
    for a in old_values:
        for j, b in enumerate(new_values):
            if j not in used and tuple(getattr(b, "shape", ())) == tuple(getattr(a, "shape", ())):
                used.add(j)
                pairs.append((a, b))
                break
    return pairs


def compare_numeric(result, old_runner: Callable, new_runner: Callable, example_inputs: Sequence,
                    *, atol: float = 1e-4, rtol: float = 1e-3) -> dict:
    """Run both sides and compare each matched module's outgoing tensors.

    Parameters
    ----------
    result : ModuleDiffResult
        From :func:`graphir.diffing.modules.diff_across_sources`; its
        ``groups`` say which modules were matched (and folded together).
    old_runner, new_runner : callable
        ``runner(inputs) -> {path: [arrays]}`` (see the ``*_runner`` functions).
    example_inputs : sequence
        Positional inputs (tensors), the same for both sides.
    atol, rtol : float
        A module is within tolerance when ``|old - new| <= atol + rtol * |old|``
        elementwise, for every tensor paired by shape.

    Returns
    -------
    dict
        ``{"atol", "rtol", "ok", "modules": [{"module", "max_abs", "max_rel",
        "ok", "tensors", "failing"}...], "notes": [...]}`` (``failing``: the
        1-based positions of the out-of-tolerance tensors among those the
        module emitted, e.g. its second call), modules in graph order (the
        graph outputs last, as module ``""``); also stored in
        ``result.numeric`` so ``has_differences`` and the reports see it.
    """
    import numpy as np

    if atol < 0 or rtol < 0:
        raise InputError("--atol and --rtol must be ≥ 0")
    inputs = list(example_inputs)
    old_values, new_values = old_runner(inputs), new_runner(inputs)
    rows, notes = [], []
    keys = [k for k, g in result.groups.items() if g["how"] != "elided" and k]
    for key in keys + [""]:
        group = result.groups.get(key, {"old": [""], "new": [""]})
        olds = _group_values(old_values, group["old"], key)
        news = _group_values(new_values, group["new"], key)
        if olds is None or news is None:
            continue
        pairs = _pair(olds, news)
        if not pairs:
            if olds and news:
                notes.append(f"{key or '(output)'}: no tensors of equal shape to compare")
            continue
        max_abs = max_rel = 0.0
        ok, failing = True, []
        for index, (a, b) in enumerate(pairs, 1):
            a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
            diff = np.abs(a64 - b64)
            if diff.size:
                max_abs = max(max_abs, float(np.nanmax(diff)))
                max_rel = max(max_rel, float(np.nanmax(diff / np.maximum(np.abs(a64), 1e-12))))
                within = bool(np.all(diff <= atol + rtol * np.abs(a64)))
                ok = ok and within
                if not within:
                    failing.append(index)
        rows.append({"module": key, "max_abs": max_abs, "max_rel": max_rel, "ok": ok,
                     "tensors": len(pairs), "failing": failing})
    if not any(r["module"] for r in rows):
        notes.append("only the graph outputs could be compared (a side reports no modules)")
    numeric = {"atol": atol, "rtol": rtol, "ok": all(r["ok"] for r in rows),
               "modules": rows, "notes": notes}
    result.numeric = numeric
    return numeric


def _group_values(values, members, key):
    """The arrays leaving a group: those of the member that ran last (hooks record in call order)."""
    if key == "":
        return values.get("")
    order = {path: i for i, path in enumerate(values)}
    present = [p for p in members if values.get(p)]
    return values[max(present, key=order.get)] if present else None
