"""Activation statistics: what the tensors flowing through a model look like.

Each op node of an IR may carry ``stats`` — mean, standard deviation, min,
max, fraction of exact zeros and element count of its first output, when
that output is a floating-point tensor. They are plain JSON floats, so they
survive :mod:`graphir.serialize`, and the renderer and the summary can show
them (dead ReLUs, exploding activations, NaNs).

Two ways to get them:

- ``from_trace(..., stats=True)`` (:mod:`graphir.converters.trace`) computes
  them during its one eager forward, with :func:`tensor_stats`;
- :func:`stats_for_exported` runs a ``torch.export`` program node by node
  (``torch.fx.Interpreter``) and writes them onto the IR nodes built from
  that program (source ``"export"``), matched by the fx node name.

Examples
--------
>>> import torch
>>> stats = tensor_stats(torch.tensor([0.0, 1.0, 2.0, 3.0]))
>>> stats["mean"], stats["std"], stats["min"], stats["max"]
(1.5, 1.118033988749895, 0.0, 3.0)
>>> stats["zeros"], stats["numel"], stats["nonfinite"]
(0.25, 4, 0)
"""

import math

from graphir.converters._torch_common import (bind_example, import_torch, kept_state,
                                              keyword_form, output_flattener)
from graphir.errors import ConversionError

__all__ = ["STATS_KEYS", "tensor_stats", "stats_for_exported"]

#: The keys of every ``stats`` dict, in order.
STATS_KEYS = ("mean", "std", "min", "max", "zeros", "numel", "nonfinite")


def _finite_or_none(value):
    """``value`` as a float, or None when it is NaN or infinite."""
    return value if math.isfinite(value) else None


def tensor_stats(value):
    """Summary statistics of a floating-point tensor, as JSON-safe numbers.

    Reductions run in float64 over the whole tensor, so a float16 or a
    huge-magnitude float32 tensor (an attention mask of ``finfo.min``) does
    not overflow. The standard deviation is taken around the mean (two
    passes), and NaN and ±inf are only counted when the sum is not finite,
    which keeps the cost to a few cheap reductions.

    Parameters
    ----------
    value : object
        Usually a tensor; anything that is not a real floating-point tensor
        (ints, bools, complex, None, a tuple) gives None.

    Returns
    -------
    dict or None
        ``mean``, ``std`` (population, ``correction=0``), ``min``, ``max``
        (floats, or None when not finite or when the tensor is empty),
        ``zeros`` (fraction of elements exactly 0, None when empty),
        ``numel`` and ``nonfinite`` (count of NaN and ±inf elements).

    Examples
    --------
    >>> import torch
    >>> s = tensor_stats(torch.tensor([1.0, float("nan")]))
    >>> s["mean"], s["min"], s["nonfinite"]
    (None, None, 1)
    >>> tensor_stats(torch.arange(3)) is None
    True
    """
    torch = import_torch()
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        return None
    count = value.numel()
    if count == 0:
        return dict.fromkeys(STATS_KEYS[:5]) | {"numel": 0, "nonfinite": 0}
    data = value.detach().to(torch.float64)
    total = data.sum()
    low, high = torch.aminmax(data)
    spread = torch.linalg.vector_norm(data - total / count)
    zeros = torch.count_nonzero(data == 0).to(torch.float64)
    total, low, high, spread, zeros = torch.stack([total, low, high, spread, zeros]).tolist()
    nonfinite = 0 if math.isfinite(total) else count - int(torch.count_nonzero(data.isfinite()))
    return {"mean": _finite_or_none(total / count),
            "std": _finite_or_none(spread / math.sqrt(count)),
            "min": _finite_or_none(low), "max": _finite_or_none(high),
            "zeros": zeros / count, "numel": count, "nonfinite": nonfinite}


def _first_tensor(value):
    """``value`` itself, or the first tensor of a tuple or list of results."""
    if isinstance(value, (list, tuple)):
        return next((v for v in value if hasattr(v, "is_floating_point")), None)
    return value


def _export_like_fx(module, args, kwargs):
    """Export ``module`` exactly as ``from_module(method="export")`` does.

    Returns the program and the ``(args, kwargs)`` it is called with, so its
    fx node names are the ``name`` of the IR nodes built from it.
    """
    torch = import_torch()
    name = type(module).__name__
    args, kwargs = keyword_form(bind_example(module, args, kwargs, name))
    try:
        with torch.no_grad():
            ep = torch.export.export(output_flattener(module), args, kwargs, strict=False)
    except Exception as exc:  # export raises many unrelated types; report any of them
        raise ConversionError(f"torch.export.export failed ({type(exc).__name__})", path=name,
                              hint="statistics of an export graph need the model to export; "
                                   "try --source trace") from exc
    return ep, args, kwargs


def _stats_by_node_name(ep, args, kwargs):
    """Run ``ep``'s graph on the inputs; ``{fx node name: stats}``.

    Placeholders (user inputs) and call nodes are recorded; a multi-output
    call gives the stats of its first tensor. The program's buffers (which
    batch norm in train mode updates in place, and which may be the model's
    own tensors) and the CPU random state are restored afterwards.
    """
    torch = import_torch()
    found = {}

    class _Recording(torch.fx.Interpreter):
        def run_node(self, node):
            result = super().run_node(node)
            if node.op in ("placeholder", "call_function"):
                summary = tensor_stats(_first_tensor(result))
                if summary is not None:
                    found[node.name] = summary
            return result

    flat_inputs = ep._graph_module_flat_inputs(args, kwargs)
    with torch.no_grad(), kept_state(ep):
        _Recording(ep.graph_module).run(*flat_inputs)
    return found


def stats_for_exported(ep_or_module, G, example_args, example_kwargs=None):
    """Write activation statistics onto an IR built from a ``torch.export`` program.

    Parameters
    ----------
    ep_or_module : torch.export.ExportedProgram or torch.nn.Module
        The program ``G`` was converted from (``from_exported_program``), or
        the module ``G`` was captured from (``from_module(method="export")``),
        which is exported again the same way so the node names match.
    G : networkx.MultiDiGraph
        The IR; modified in place.
    example_args : tuple or torch.Tensor
        Inputs, as for the capture (for a program: as it was exported with).
    example_kwargs : dict, optional

    Returns
    -------
    int
        How many IR nodes (``op`` and ``input``) received ``stats``: those
        whose ``name`` is an fx node with a floating-point result.

    Raises
    ------
    ConversionError
        When ``ep_or_module`` is a module that does not export.

    Examples
    --------
    >>> import torch
    >>> from graphir.converters.fx import from_module
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    >>> x = torch.randn(2, 3)
    >>> G, _ = from_module(model, (x,), method="export")
    >>> stats_for_exported(model, G, (x,))
    3
    >>> G.nodes["1/relu#0"]["stats"]["min"] >= 0
    True
    """
    torch = import_torch()
    if not isinstance(example_args, (tuple, list)):
        example_args = (example_args,)
    args, kwargs = tuple(example_args), dict(example_kwargs or {})
    if isinstance(ep_or_module, torch.nn.Module):
        ep, args, kwargs = _export_like_fx(ep_or_module, args, kwargs)
    else:
        ep = ep_or_module
    found = _stats_by_node_name(ep, args, kwargs)
    filled = 0
    for _, data in G.nodes(data=True):
        if data.get("kind") in ("op", "input") and data.get("name") in found:
            data["stats"] = found[data["name"]]
            filled += 1
    return filled
