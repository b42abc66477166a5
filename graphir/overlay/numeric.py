"""Runners for a numeric cross-source diff: run one side, return what leaves each module.

:func:`graphir.diffing.numeric.compare_numeric` (or
``diff_across_sources(..., old_runner=, new_runner=)``) takes one *runner*
per side, runs both on the same example inputs and reports, per matched
module (or folded group), the max absolute and relative error of the
tensors leaving it. A runner is made by:

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

from collections.abc import Callable

from graphir.errors import MissingDependencyError
from graphir.util.graphs import succ_map

__all__ = [
    "module_runner",
    "exported_runner",
    "torchscript_runner",
    "onnx_runner",
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
            for dst, keyed in succ_map(G)[node].items():
                if inside(dst):
                    continue
                for data in keyed.values():
                    port = data.get("src_port", 0)
                    if port < len(tensors) and tensors[port] and tensors[port] not in names:
                        names.append(tensors[port])
        leaving[path] = names
    return leaving
