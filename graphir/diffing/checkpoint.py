"""Diff two checkpoints tensor by tensor, and draw how far weights moved.

Checkpoints come as mappings name → array: numpy arrays, or anything with
``.shape``/``.dtype`` that :func:`numpy.asarray` reads (a CPU tensor; a
tensor that needs grad or is bfloat16 is detached and cast first). Loading
the files into such mappings is :mod:`graphir.load`'s business; nothing
here imports a framework.

Per tensor the status is ``added``, ``removed``, ``shape_changed`` (old and
new shape), ``value_changed`` (max abs diff, relative L2 change),
``dtype_changed`` (equal values, other dtype) or ``same``, with
``atol``/``rtol`` deciding equality as :func:`numpy.allclose` does
(``|new - old| <= atol + rtol * |old|``; NaN equals NaN in the same place).
Tensors are compared in chunks, so memory stays bounded.

Examples
--------
>>> import numpy as np
>>> old = {"fc.weight": np.ones((2, 2)), "fc.bias": np.zeros(2)}
>>> new = {"fc.weight": np.ones((2, 2)), "fc.bias": np.array([0.0, 0.5])}
>>> ck = diff_tensors(old, new)
>>> [(t.name, t.status, t.max_abs_diff) for t in ck.differing()]
[('fc.bias', 'value_changed', 0.5)]
>>> print(checkpoint_to_text(ck, "a.pt", "b.pt"))
a.pt → b.pt: 1 value_changed, 1 same (atol 0, rtol 0)
fc
  bias  value_changed  max|Δ| 0.5  rel 1
"""

import math
import os
import pathlib
from dataclasses import dataclass, field
from typing import Optional

from graphir.diffing.match import local_param_name
from graphir.diffing.report import format_shape, natural_key
from graphir.util.optional import import_matplotlib
from graphir.errors import InputError, MissingDependencyError

__all__ = [
    "STATUSES",
    "TensorDiff",
    "CheckpointDiff",
    "diff_tensors",
    "checkpoint_to_json_dict",
    "checkpoint_to_text",
    "annotate_weight_change",
    "module_weight_change",
    "plot_weight_change",
]

STATUSES = ("added", "removed", "shape_changed", "value_changed", "dtype_changed", "same")
#: Elements compared at a time; bounds the temporary memory of a comparison.
CHUNK_ELEMENTS = 1 << 20
_STRIPPED_PREFIXES = ("module.", "model.", "_orig_mod.", "state_dict.")


@dataclass
class TensorDiff:
    """How one tensor differs between two checkpoints.

    ``max_abs_diff`` and ``rel_l2`` (``||new - old|| / ||old||``, or over
    ``||new||`` when the old tensor is all zeros) are set when both sides
    have the tensor with the same shape, else None; both are over the
    places where both values are finite, and ``nonfinite_mismatch`` counts
    the places where a NaN or inf is not matched on the other side.
    ``diff_norm``, ``old_norm`` are the L2 norms behind ``rel_l2``.
    """

    name: str
    status: str
    old_shape: Optional[list] = None
    new_shape: Optional[list] = None
    old_dtype: Optional[str] = None
    new_dtype: Optional[str] = None
    max_abs_diff: Optional[float] = None
    rel_l2: Optional[float] = None
    diff_norm: Optional[float] = None
    old_norm: Optional[float] = None
    new_norm: Optional[float] = None
    nonfinite_mismatch: int = 0

    @property
    def module(self):
        """The module path: the name before its last dot (``""`` at the root)."""
        return self.name.rsplit(".", 1)[0] if "." in self.name else ""

    @property
    def local_name(self):
        """The name after its last dot (``weight``)."""
        return self.name.rsplit(".", 1)[-1]


@dataclass
class CheckpointDiff:
    """Every tensor of two checkpoints with its :class:`TensorDiff`."""

    #: one TensorDiff per tensor name of either side, in order
    tensors: list = field(default_factory=list)
    #: absolute tolerance under which two tensors count as the same
    atol: float = 0.0
    #: relative tolerance under which two tensors count as the same
    rtol: float = 0.0
    #: the architecture's IR when the diff was made with ``--model``, else None
    graph: Optional[object] = None
    #: the new side's path, for messages
    new_path: Optional[str] = None

    @property
    def summary(self):
        """Count of tensors per status, every status present."""
        counts = dict.fromkeys(STATUSES, 0)
        for t in self.tensors:
            counts[t.status] += 1
        return counts

    @property
    def has_differences(self):
        """True when any tensor is not ``same``."""
        return any(t.status != "same" for t in self.tensors)

    def differing(self):
        """The tensors whose status is not ``same``, in order."""
        return [t for t in self.tensors if t.status != "same"]

    def by_module(self, only_differing=False):
        """Module path → its tensors, modules in first-appearance order."""
        groups = {}
        for t in self.tensors:
            if not only_differing or t.status != "same":
                groups.setdefault(t.module, []).append(t)
        return groups


def _shape(value):
    return [int(d) for d in value.shape]


def _dtype(value):
    text = str(value.dtype)
    return text[len("torch."):] if text.startswith("torch.") else text


def _as_numpy(value):
    """A numpy array from an array-like; detach and cast tensors if needed."""
    import numpy as np

    for method in ("detach", "cpu"):
        if hasattr(value, method) and not isinstance(value, np.ndarray):
            value = getattr(value, method)()
    try:
        return np.asarray(value)
    except (TypeError, RuntimeError):
        if hasattr(value, "float"):
            return np.asarray(value.float())
        raise


def _compute_dtype(a, b):
    """The dtype differences are computed in: complex128 or float64."""
    import numpy as np

    if np.iscomplexobj(a) or np.iscomplexobj(b):
        return np.complex128
    return np.float64


def _compare_chunk(ra, rb, atol, rtol, dtype, totals):
    """Compare one chunk; accumulate into ``totals``; return True if within tolerance.

    Equality is exact on the raw values (integers beyond 2**53 included);
    the tolerance, when there is one, is applied in ``dtype``.
    """
    import numpy as np

    x, y = ra.astype(dtype), rb.astype(dtype)
    exact = ra == rb if (ra.dtype.kind in "iub" and rb.dtype.kind in "iub") else x == y
    same = exact | (np.isnan(x) & np.isnan(y))
    finite = np.isfinite(x) & np.isfinite(y)
    with np.errstate(invalid="ignore", over="ignore"):
        delta = np.abs(x - y)
        within = same | (finite & (delta <= atol + rtol * np.abs(x))) if (atol or rtol) else same
    totals["mismatch"] += int(np.count_nonzero(~same & ~finite))
    delta = delta[finite]
    if delta.size:
        totals["max"] = max(totals["max"], float(delta.max()))
        totals["diff_sq"] += float(np.dot(delta, delta))
    old_finite = np.abs(x[np.isfinite(x)])
    new_finite = np.abs(y[np.isfinite(y)])
    totals["old_sq"] += float(np.dot(old_finite, old_finite))
    totals["new_sq"] += float(np.dot(new_finite, new_finite))
    return bool(within.all())


def _compare_values(old, new, atol, rtol, chunk=CHUNK_ELEMENTS):
    """Compare two same-shaped arrays chunk by chunk.

    Returns ``(equal, max_abs_diff, diff_norm, old_norm, new_norm, mismatch)``.
    """
    import numpy as np

    a, b = _as_numpy(old).reshape(-1), _as_numpy(new).reshape(-1)
    if a.dtype.kind == "b":
        a = a.astype(np.uint8)
    if b.dtype.kind == "b":
        b = b.astype(np.uint8)
    dtype = _compute_dtype(a, b)
    totals = {"max": 0.0, "diff_sq": 0.0, "old_sq": 0.0, "new_sq": 0.0, "mismatch": 0}
    equal = True
    for start in range(0, a.size, chunk):
        stop = start + chunk
        equal &= _compare_chunk(a[start:stop], b[start:stop], atol, rtol, dtype, totals)
    return (equal, totals["max"], math.sqrt(totals["diff_sq"]), math.sqrt(totals["old_sq"]),
            math.sqrt(totals["new_sq"]), totals["mismatch"])


def _relative(diff_norm, old_norm, new_norm):
    """``diff / ||old||``, over ``||new||`` when old is all zeros, 0 when both are."""
    if old_norm > 0:
        return diff_norm / old_norm
    if new_norm > 0:
        return diff_norm / new_norm
    return 0.0


def _tensor_diff(name, old, new, atol, rtol, chunk):
    """The :class:`TensorDiff` of one name present in one or both checkpoints."""
    if new is None:
        return TensorDiff(name, "removed", old_shape=_shape(old), old_dtype=_dtype(old))
    if old is None:
        return TensorDiff(name, "added", new_shape=_shape(new), new_dtype=_dtype(new))
    entry = TensorDiff(name, "same", old_shape=_shape(old), new_shape=_shape(new),
                       old_dtype=_dtype(old), new_dtype=_dtype(new))
    if entry.old_shape != entry.new_shape:
        entry.status = "shape_changed"
        return entry
    equal, biggest, diff_norm, old_norm, new_norm, mismatch = _compare_values(
        old, new, atol, rtol, chunk)
    entry.max_abs_diff, entry.diff_norm = biggest, diff_norm
    entry.old_norm, entry.new_norm = old_norm, new_norm
    entry.rel_l2 = _relative(diff_norm, old_norm, new_norm)
    entry.nonfinite_mismatch = mismatch
    if not equal:
        entry.status = "value_changed"
    elif entry.old_dtype != entry.new_dtype:
        entry.status = "dtype_changed"
    return entry


def diff_tensors(old, new, *, atol=0.0, rtol=0.0, chunk=CHUNK_ELEMENTS):
    """Compare two checkpoints tensor by tensor.

    Parameters
    ----------
    old, new : Mapping[str, array-like]
        Name → tensor (numpy array, or anything with ``.shape``/``.dtype``
        that :func:`numpy.asarray` reads). Values are only read when both
        sides have the name with the same shape.
    atol, rtol : float, default 0
        Values are equal when ``|new - old| <= atol + rtol * |old|``
        everywhere (NaN equals NaN in the same place).
    chunk : int
        Elements compared at a time.

    Returns
    -------
    CheckpointDiff
        One :class:`TensorDiff` per name: the old checkpoint's names in its
        order, then the names only the new one has.
    """
    if atol < 0 or rtol < 0:
        raise InputError(f"tolerances must be >= 0 (atol={atol}, rtol={rtol})",
                         hint="pass --atol/--rtol of 0 or more")
    names = list(old) + [name for name in new if name not in old]
    tensors = [_tensor_diff(name, old.get(name), new.get(name), atol, rtol, chunk)
               for name in names]
    return CheckpointDiff(tensors=tensors, atol=float(atol), rtol=float(rtol))


def _json_float(value):
    return None if value is None or not math.isfinite(value) else float(value)


def checkpoint_to_json_dict(ck):
    """The checkpoint diff as JSON-safe data, tensors sorted by name.

    ``{"summary": {status: count}, "tolerance": {"atol", "rtol"},
    "tensors": [{"name", "status", "old_shape", "new_shape", "max_abs_diff",
    "rel_l2", "old_dtype", "new_dtype"}…]}``; a tensor with unmatched NaN or
    inf values also has ``nonfinite_mismatch``. Every tensor is listed.
    """
    tensors = []
    for t in sorted(ck.tensors, key=lambda t: natural_key(t.name)):
        entry = {"name": t.name, "status": t.status, "old_shape": t.old_shape,
                 "new_shape": t.new_shape, "max_abs_diff": _json_float(t.max_abs_diff),
                 "rel_l2": _json_float(t.rel_l2), "old_dtype": t.old_dtype,
                 "new_dtype": t.new_dtype}
        if t.nonfinite_mismatch:
            entry["nonfinite_mismatch"] = t.nonfinite_mismatch
        tensors.append(entry)
    return {"summary": ck.summary, "tolerance": {"atol": ck.atol, "rtol": ck.rtol},
            "tensors": tensors}


def _number(value):
    return "?" if value is None else f"{value:.3g}"


def _tensor_line(t, width):
    """One text line for a differing tensor."""
    text = f"  {t.local_name:<{width}}  {t.status}"
    if t.status == "added":
        text += f"  {format_shape(t.new_shape)} {t.new_dtype}"
    elif t.status == "removed":
        text += f"  {format_shape(t.old_shape)} {t.old_dtype}"
    elif t.status == "shape_changed":
        text += f"  {format_shape(t.old_shape)} → {format_shape(t.new_shape)}"
    else:
        text += f"  max|Δ| {_number(t.max_abs_diff)}  rel {_number(t.rel_l2)}"
        if t.old_dtype != t.new_dtype:
            text += f"  {t.old_dtype} → {t.new_dtype}"
        if t.nonfinite_mismatch:
            text += f"  {t.nonfinite_mismatch} NaN/inf mismatched"
    return text


def checkpoint_to_text(ck, old_name="old", new_name="new"):
    """Counts, then only the tensors that differ, grouped by module."""
    counts = {k: v for k, v in ck.summary.items() if v}
    tolerance = f"(atol {ck.atol:g}, rtol {ck.rtol:g})"
    head = f"{old_name} → {new_name}: "
    if not ck.has_differences:
        return head + f"no differences ({len(ck.tensors)} tensors) {tolerance}"
    lines = [head + ", ".join(f"{v} {k}" for k, v in counts.items()) + f" {tolerance}"]
    for module, tensors in ck.by_module(only_differing=True).items():
        width = max(len(t.local_name) for t in tensors)
        lines.append(module or "(root)")
        lines += [_tensor_line(t, width) for t in tensors]
    return "\n".join(lines)


def _lookup(ck):
    """Name → TensorDiff, also under names without a wrapper prefix (``module.``)."""
    table = {t.name: t for t in ck.tensors}
    for t in ck.tensors:
        for prefix in _STRIPPED_PREFIXES:
            if t.name.startswith(prefix):
                table.setdefault(t.name[len(prefix):], t)
    return table


def annotate_weight_change(G, ck):
    """A copy of IR ``G`` coloured by how far each op's weights moved.

    Every node gets ``diff``: ``changed`` when a weight it reads is not
    ``same`` in ``ck``, else ``same``. A node reading weights found in
    ``ck`` also gets ``weight_change``, the largest ``rel_l2`` of them (0
    when none was value-compared), and changed nodes get ``changes:
    {"weights": {local name: {"status", "rel_l2", "max_abs_diff"}}}``.
    ``G.graph["weight_change_max"]`` is the largest ``weight_change``, for
    a colour scale; ``G.graph["diff_summary"]`` counts the nodes.
    """
    table = _lookup(ck)
    H = G.copy()
    biggest, counts = 0.0, {"added": 0, "removed": 0, "changed": 0, "same": 0}
    for node, data in H.nodes(data=True):
        found = [(name, table[name]) for name in (data.get("params") or {}) if name in table]
        moved = {local_param_name(name, data.get("module") or ""): {
            "status": t.status, "rel_l2": _json_float(t.rel_l2),
            "max_abs_diff": _json_float(t.max_abs_diff)} for name, t in found
            if t.status != "same"}
        data["diff"] = "changed" if moved else "same"
        counts[data["diff"]] += 1
        if moved:
            data["changes"] = {"weights": moved}
        if found:
            change = max((_json_float(t.rel_l2) or 0.0 for _, t in found), default=0.0)
            data["weight_change"] = change
            biggest = max(biggest, change)
    H.graph["weight_change_max"] = biggest
    H.graph["diff_summary"] = counts
    return H


def module_weight_change(ck):
    """Module → relative L2 change of all its value-compared tensors together.

    ``sqrt(sum ||Δ||²) / sqrt(sum ||old||²)`` over the module's tensors
    compared by value (same shape on both sides), in first-appearance order.
    """
    out = {}
    for module, tensors in ck.by_module().items():
        compared = [t for t in tensors if t.diff_norm is not None]
        if not compared:
            continue
        diff = math.sqrt(sum(t.diff_norm ** 2 for t in compared))
        old = math.sqrt(sum(t.old_norm ** 2 for t in compared))
        new = math.sqrt(sum(t.new_norm ** 2 for t in compared))
        out[module or "(root)"] = _relative(diff, old, new)
    return out


def _plot_figure(changes, title, Figure, FigureCanvasAgg):
    """A horizontal bar chart of relative change per module."""
    names, values = list(changes), list(changes.values())
    fig = Figure(figsize=(8, 1.4 + 0.22 * max(1, len(names))), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = range(len(names))
    ax.barh(positions, values, color="#4C72B0", edgecolor="#1F3A5F", linewidth=0.6)
    ax.set_yticks(list(positions), labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("relative L2 change  ||new − old|| / ||old||")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return fig


def plot_weight_change(ck, out_path, *, title="relative weight change per module",
                       max_bars=60):
    """Draw a bar chart of relative change per module to PNG, SVG or PDF.

    The format follows ``out_path``'s suffix. With more modules than
    ``max_bars``, the ``max_bars`` that moved most are drawn (in model
    order) and the title says so. Output is deterministic (no dates, fixed
    SVG ids) and written atomically.

    Raises
    ------
    MissingDependencyError
        When matplotlib is not installed.
    InputError
        For another suffix.
    """
    out_path = pathlib.Path(out_path)
    fmt = out_path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        raise InputError(f"cannot draw a plot as {fmt or 'a file without suffix'!r}",
                         path=out_path, hint="name the output .png, .svg or .pdf")
    matplotlib, Figure, FigureCanvasAgg = import_matplotlib("plotting weight changes")
    changes = module_weight_change(ck)
    if len(changes) > max_bars:
        top = set(sorted(changes, key=lambda m: -changes[m])[:max_bars])
        changes = {m: v for m, v in changes.items() if m in top}
        title = f"{title} (the {max_bars} that moved most)"
    metadata = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None},
                "png": {"Software": None}}[fmt]
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with matplotlib.rc_context({"svg.hashsalt": "graphir", "svg.fonttype": "path"}):
            fig = _plot_figure(changes, title, Figure, FigureCanvasAgg)
            fig.savefig(tmp, format=fmt, metadata=metadata)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_path


def as_arrays(tensors):
    """``{name: torch.Tensor}`` -> ``{name: numpy array}`` for :func:`diff_tensors`.

    Types numpy cannot hold (bfloat16, float8) go through float32; values
    that are already arrays pass through. torch itself is never imported:
    tensors are recognised by their ``detach`` method.
    """
    arrays = {}
    for name, value in tensors.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu()
            if str(value.dtype) in ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2",
                                    "torch.float8_e4m3fnuz", "torch.float8_e5m2fnuz"):
                value = value.float()
            value = value.numpy()
        arrays[name] = value
    return arrays
