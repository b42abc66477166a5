"""Compare what two runs of a model emit at every matched module boundary.

Pure numpy (imported lazily): the runners that produce the values live in
:mod:`graphir.overlay.numeric` (torch, onnxruntime). A runner is any
callable ``runner(inputs) -> {module path: [arrays leaving it, in call
order]}`` with ``""`` → the graph outputs.

Examples
--------
>>> import numpy as np
>>> from types import SimpleNamespace
>>> result = SimpleNamespace(groups={"fc": {"old": ["fc"], "new": ["fc"], "how": ""}})
>>> old = lambda inputs: {"fc": [np.ones(3)], "": [np.ones(3)]}
>>> new = lambda inputs: {"fc": [np.array([1.0, 1.0, 1.5])], "": [np.ones(3)]}
>>> report = compare_numeric(result, old, new, [], atol=1e-4, rtol=1e-3)
>>> report["ok"], report["modules"][0]["module"], report["modules"][0]["max_abs"]
(False, 'fc', 0.5)
"""

from collections.abc import Callable, Sequence

from graphir.errors import InputError

__all__ = ["compare_numeric"]


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
        elementwise, for every tensor paired by shape. The reported
        ``max_rel`` is ``max |old - new| / max |old|`` per tensor (relative
        to the tensor's scale, so the zeros after a ReLU do not make it
        explode).

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
        spellings = getattr(result, "raw_paths", None) or {}
        olds = _group_values(_canonical(old_values, spellings.get("old")), group["old"], key)
        news = _group_values(_canonical(new_values, spellings.get("new")), group["new"], key)
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
                scale = float(np.nanmax(np.abs(a64)))     # relative to the tensor's scale:
                max_rel = max(max_rel, float(np.nanmax(diff)) / max(scale, 1e-12))  # ReLU zeros
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


def _canonical(values, spelling):
    """Values keyed by canonical module path: ``relu_1`` (a second call) joins ``relu``."""
    if not spelling:
        return values
    out = {}
    for path, arrays in values.items():
        out.setdefault(spelling.get(path, path), []).extend(arrays)
    return out


def _group_values(values, members, key):
    """The arrays leaving a group: those of the member that ran last (hooks record in call order)."""
    if key == "":
        return values.get("")
    order = {path: i for i, path in enumerate(values)}
    present = [p for p in members if values.get(p)]
    return values[max(present, key=order.get)] if present else None
