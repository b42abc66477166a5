"""Attention statistics, figures and report, written into one folder atomically.

Files (``k`` counts attention calls from 0, zero-padded when there are ten or more):

``layer_<k>_heads.png``
    one map per head: for vision models the class token's (first token's)
    attention over the patch grid, on the input image when there is one; for
    text models the token × token matrix.
``layers_evolution.png``
    one map per layer (mean over heads), shallow to deep, on one colour scale.
``stats.png``
    max, mean of row max and entropy per layer and head.
``attention.json``
    every number, for scripts.
``report.md``
    the table of those numbers and links to the figures.

Everything is drawn in a private staging folder first and moved into the
output folder at the end, so a failure leaves the folder as it was. Files of
other names in the folder are left alone.
"""

import dataclasses
import errno
import json
import math
import os
import pathlib
import shutil
import tempfile

import numpy as np

from graphir.errors import ConversionError, InputError
from graphir.overlay.image import infer_patch_grid
from graphir.overlay.plots import plot_head_maps, plot_layer_evolution, plot_statistics

__all__ = ["AttentionResult", "head_statistics", "uniform_reference", "attention_statistics",
           "layer_layout",
           "write_attention_report", "REPORT_SCHEMA"]

#: ``schema`` of ``attention.json``.
REPORT_SCHEMA = "graphir-attention/1"

_SOURCE_NAMES = {"mha": "nn.MultiheadAttention weights", "softmax": "softmax outputs",
                 "sdpa": "recomputed from scaled_dot_product_attention's q and k"}
_ENTROPY_SLACK = 1e-4


@dataclasses.dataclass
class AttentionResult:
    """What :func:`write_attention_report` wrote.

    Attributes
    ----------
    out_dir : str
        The output folder.
    files : list of str
        Paths of the files written, figures first.
    layers : int
        Number of attention calls captured.
    heads : list of int
        Heads per layer.
    layout : str
        ``"patches"`` (maps over an image's patch grid) or ``"tokens"``.
    stats : list of dict
        One row per layer and head (see :func:`attention_statistics`).
    captures : list of AttentionCapture
        The captured maps themselves.
    """

    out_dir: str
    files: list
    layers: int
    heads: list
    layout: str
    stats: list
    captures: list = dataclasses.field(default_factory=list, repr=False)


def head_statistics(probs):
    """Max, mean of row max, entropy and first-token weight of each head.

    Parameters
    ----------
    probs : numpy.ndarray
        [heads, query, key] attention weights, rows summing to 1.

    Returns
    -------
    dict of str to numpy.ndarray
        Each [heads]. ``entropy`` is the mean over query rows of
        ``-sum(p * ln p)`` (nats), within [0, ln(key tokens)].

    Examples
    --------
    >>> stats = head_statistics(np.full((1, 2, 4), 0.25))
    >>> round(float(stats["entropy"][0]), 4) == round(math.log(4), 4)
    True
    """
    p = np.asarray(probs, dtype=np.float64)
    log_p = np.log(np.where(p > 0, p, 1.0))
    return {
        "max": p.max(axis=(1, 2)),
        "mean_row_max": p.max(axis=2).mean(axis=1),
        "entropy": -(p * log_p).sum(axis=2).mean(axis=1),
        "first_token": p[:, :, 0].mean(axis=1),
    }


def uniform_reference(probs):
    """:func:`head_statistics` of uniform attention over the keys each query sees.

    The keys a query sees are those with a non-zero weight in any head (a
    causal or padding mask zeroes the others), so under a causal mask the
    reference max is 1 and the reference entropy the mean of ln(1 … keys).

    Returns
    -------
    dict of str to float
    """
    support = (np.asarray(probs) > 0).any(axis=0).astype(np.float64)
    counts = support.sum(axis=1, keepdims=True)
    uniform = np.divide(support, counts, out=np.zeros_like(support), where=counts > 0)
    stats = head_statistics(uniform[None])
    return {key: round(float(value[0]), 6) for key, value in stats.items()}


def attention_statistics(captures):
    """One row per layer and head; checks every entropy is within [0, ln(keys)].

    Raises
    ------
    ConversionError
        When a map is not a probability distribution (entropy out of bounds).
    """
    rows = []
    for capture in captures:
        stats = head_statistics(capture.probs)
        bound = math.log(capture.key_tokens)
        for head in range(capture.heads):
            entropy = float(stats["entropy"][head])
            if not -_ENTROPY_SLACK <= entropy <= bound + _ENTROPY_SLACK:
                raise ConversionError(
                    f"layer {capture.layer_index} ({capture.module_path or 'root'}) head {head}: "
                    f"entropy {entropy:.4f} is outside [0, ln({capture.key_tokens})]",
                    hint="the captured tensor is not attention probabilities; please report it")
            rows.append({
                "layer": capture.layer_index, "module": capture.module_path, "head": head,
                "max": round(float(stats["max"][head]), 6),
                "mean_row_max": round(float(stats["mean_row_max"][head]), 6),
                "entropy": round(min(max(entropy, 0.0), bound), 6),
                "first_token": round(float(stats["first_token"][head]), 6),
            })
    return rows


def layer_layout(capture, patch_grid):
    """``(prefix, rows, cols)`` when the capture's keys are patches, else None.

    ``patch_grid`` is ``(rows, cols)``; the tokens before the patches
    (``prefix``: class token, registers) are the rest of the key tokens.
    """
    if patch_grid is None:
        return None
    rows, cols = patch_grid
    prefix = capture.key_tokens - rows * cols
    return (prefix, rows, cols) if prefix >= 0 else None


def _patch_maps(capture, layout):
    """[heads, rows, cols]: the class token's weights over the patches.

    Without a token before the patches, the mean weight each patch receives.
    """
    prefix, rows, cols = layout
    if prefix:
        weights = capture.probs[:, 0, prefix:]
    else:
        weights = capture.probs.mean(axis=1)
    return weights.reshape(capture.heads, rows, cols)


def _layer_file(index, count):
    width = len(str(count - 1))
    return f"layer_{index:0{width}d}_heads.png"


def _display_path(path):
    return path or "(root)"


def _map_description(layout):
    if layout is None:
        return "each head's query × key token matrix"
    prefix, rows, cols = layout
    if prefix:
        return (f"the class (first) token's attention over the {rows} × {cols} patch grid "
                f"({prefix} token{'s' if prefix > 1 else ''} before the patches)")
    return f"the mean attention each patch of the {rows} × {cols} grid receives (no class token)"


def _draw_figures(captures, layouts, staging, *, model_name, image, overlay):
    """Every PNG into ``staging``; returns ``[(file name, what it shows)]``."""
    drawn = []
    for capture, layout in zip(captures, layouts):
        name = _layer_file(capture.layer_index, len(captures))
        kind = "tokens" if layout is None else "patches"
        maps = capture.probs if layout is None else _patch_maps(capture, layout)
        what = "attention weight" if layout is None or layout[0] == 0 else \
            "attention weight from the class token"
        title = (f"{model_name} — layer {capture.layer_index}: "
                 f"{_display_path(capture.module_path)} ({capture.module_type})")
        plot_head_maps(maps, staging / name, title=title, kind=kind,
                       image=image if overlay and layout is not None else None, what=what)
        drawn.append((name, f"`{_display_path(capture.module_path)}` "
                            f"({capture.module_type}), one map per head"))
    panels = [(f"layer {c.layer_index}", "tokens" if lay is None else "patches",
               (c.probs if lay is None else _patch_maps(c, lay)).mean(axis=0))
              for c, lay in zip(captures, layouts)]
    plot_layer_evolution(panels, staging / "layers_evolution.png", image=image, overlay=overlay,
                         title=f"{model_name} — attention by layer (mean over heads)")
    drawn.insert(0, ("layers_evolution.png", "one map per layer, mean over heads, "
                                             "shallow to deep on one colour scale"))
    return drawn


def _stats_figure(rows, captures, staging, model_name):
    title = f"{model_name} — attention statistics per layer and head"
    plot_statistics(rows, [uniform_reference(c.probs) for c in captures],
                    staging / "stats.png", title=title)
    return "stats.png", "max, mean of row max and entropy per layer and head"


def _summary_lines(captures, layouts, model_name, input_description):
    sources = sorted({c.source for c in captures})
    heads = sorted({c.heads for c in captures})
    shapes = sorted({(c.query_tokens, c.key_tokens) for c in captures})
    lines = [f"# Attention of {model_name}", "",
             f"{len(captures)} attention layers ({'; '.join(_SOURCE_NAMES[s] for s in sources)}), "
             f"{' or '.join(map(str, heads))} heads each, "
             + ", ".join(f"{q} query × {k} key tokens" for q, k in shapes) + "."]
    if input_description:
        lines += ["", f"Input: {input_description}."]
    lines += ["", f"Maps show {_map_description(layouts[0])}.", "",
              "![attention by layer](layers_evolution.png)", ""]
    return lines


def _reference_sentence(captures):
    """What uniform attention would score, per distinct mask pattern."""
    seen = {}
    for capture in captures:
        ref = uniform_reference(capture.probs)
        key = (ref["max"], ref["mean_row_max"], ref["entropy"])
        seen.setdefault(key, []).append(capture.layer_index)
    parts = []
    for (peak, row_max, entropy), layers in seen.items():
        where = "" if len(seen) == 1 else f" (layer{'s' if len(layers) > 1 else ''} " \
            f"{', '.join(map(str, layers))})"
        parts.append(f"max {peak:.4f}, mean row max {row_max:.4f}, entropy {entropy:.4f}{where}")
    causal = any(ref[0] == 1.0 for ref in seen)
    return ("Uniform attention over the keys each query may see would give " + "; ".join(parts)
            + (". Under a causal mask query 0 sees only token 0, so max is 1 in every head; "
               "compare mean row max and entropy instead." if causal else "."))


def _statistics_lines(rows, captures):
    bounds = ", ".join(sorted({f"ln({c.key_tokens}) = {math.log(c.key_tokens):.3f}"
                               for c in captures}))
    lines = ["## Statistics", "",
             "Per head, over its query × key weights: **max** is the largest weight; "
             "**mean row max** is the mean over query tokens of each one's largest weight "
             "(1 / keys for uniform attention, 1 when every query looks at one token; a plain "
             "mean of the weights is always 1 / keys); **entropy** is the mean over query "
             "tokens of −Σ p ln p in nats, from 0 (one token) to " + bounds + " (uniform); "
             "**first token** is the mean weight on token 0 (the class token, or an "
             "attention sink). " + _reference_sentence(captures), "",
             "| layer | module | head | max | mean row max | entropy | first token |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['layer']} | `{_display_path(row['module'])}` | {row['head']} | "
                     f"{row['max']:.4f} | {row['mean_row_max']:.4f} | {row['entropy']:.4f} | "
                     f"{row['first_token']:.4f} |")
    return lines


def _markdown(rows, captures, layouts, files, model_name, input_description):
    lines = _summary_lines(captures, layouts, model_name, input_description)
    lines += ["## Files", "", "| file | shows |", "|---|---|"]
    lines += [f"| [{name}]({name}) | {what} |" for name, what in files]
    lines += [""] + _statistics_lines(rows, captures)
    return "\n".join(lines) + "\n"


def _json_report(rows, captures, layouts, files, model_name, input_description):
    layers = [{
        "layer": c.layer_index, "module": c.module_path, "module_type": c.module_type,
        "source": c.source, "heads": c.heads, "query_tokens": c.query_tokens,
        "key_tokens": c.key_tokens, "entropy_bound": round(math.log(c.key_tokens), 6),
        "uniform": uniform_reference(c.probs),
        "layout": "tokens" if lay is None else "patches",
        "patch_grid": None if lay is None else {"prefix_tokens": lay[0], "rows": lay[1],
                                                  "cols": lay[2]},
        "file": _layer_file(c.layer_index, len(captures)),
    } for c, lay in zip(captures, layouts)]
    report = {"schema": REPORT_SCHEMA, "model": model_name, "input": input_description,
              "layers": layers, "heads": rows,
              "files": [name for name, _ in files] + ["report.md"]}
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _staging_folder(out_dir):
    """A private folder next to ``out_dir`` (same file system) or in the temp dir."""
    parent = out_dir.parent
    where = parent if parent.is_dir() and os.access(parent, os.W_OK) else None
    return pathlib.Path(tempfile.mkdtemp(prefix=".graphir-attention-", dir=where))


def _publish(staging, out_dir, names):
    """Move finished files into ``out_dir``; each replaces its old version atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        source, target = staging / name, out_dir / name
        try:
            os.replace(source, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            partial = out_dir / f".{name}.partial"
            shutil.copyfile(source, partial)
            os.replace(partial, target)
    return [str(out_dir / name) for name in names]


def _check_out_dir(out_dir):
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("exists and is not a folder", path=out_dir,
                         hint="name a folder with -o (it is created if missing)")


def _resolve_grid(captures, image, patch_grid):
    if patch_grid == "auto" or (patch_grid is None and image is not None):
        hw = None if image is None else tuple(image.shape[:2])
        found = infer_patch_grid(captures[0].key_tokens, hw)
        return None if found is None else found[1:]
    if patch_grid is None:
        return None
    rows, cols = (int(n) for n in patch_grid)
    return rows, cols


def write_attention_report(captures, out_dir, *, model_name, image=None, overlay=True,
                           patch_grid=None, input_description=None):
    """Draw the attention figures and write the report into ``out_dir``.

    Parameters
    ----------
    captures : list of AttentionCapture
        From :func:`graphir.overlay.capture_attention`.
    out_dir : str or os.PathLike
        Output folder; created if missing. Only the files named in the
        module docstring are written or replaced.
    model_name : str
        Shown in titles and the report.
    image : numpy.ndarray, optional
        [height, width] or [height, width, 3] in [0, 1]: the input image,
        drawn first in the layer-evolution figure.
    overlay : bool
        Also draw the patch maps on ``image`` (a photo or drawing; leave it
        off for random inputs, where the noise hides the maps).
    patch_grid : tuple of int or "auto", optional
        ``(rows, cols)`` of patches: maps over the patches of every layer whose
        key tokens are that many patches plus a few tokens before them (class
        token, registers). ``"auto"`` (the default when ``image`` is given)
        infers it from the first layer's token count and the image's aspect
        ratio. None without an image: token × token matrices (text models).
    input_description : str, optional
        One phrase on what the input was, for the report.

    Returns
    -------
    AttentionResult

    Raises
    ------
    InputError
        No captures, or ``out_dir`` is a file.
    ConversionError
        A captured map is not a probability distribution.
    """
    if not captures:
        raise InputError("found no attention probabilities", path=model_name,
                         hint="attention needs a transformer model")
    out_dir = pathlib.Path(out_dir)
    _check_out_dir(out_dir)
    rows = attention_statistics(captures)
    grid = _resolve_grid(captures, image, patch_grid)
    layouts = [layer_layout(capture, grid) for capture in captures]
    staging = _staging_folder(out_dir)
    try:
        files = _draw_figures(captures, layouts, staging, model_name=model_name,
                              image=None if image is None else np.asarray(image),
                              overlay=overlay)
        files.insert(1, _stats_figure(rows, captures, staging, model_name))
        files.append(("attention.json", "every number, for scripts"))
        (staging / "attention.json").write_text(
            _json_report(rows, captures, layouts, files, model_name, input_description),
            encoding="utf-8")
        (staging / "report.md").write_text(
            _markdown(rows, captures, layouts, files, model_name, input_description),
            encoding="utf-8")
        paths = _publish(staging, out_dir, [name for name, _ in files] + ["report.md"])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AttentionResult(out_dir=str(out_dir), files=paths, layers=len(captures),
                           heads=[c.heads for c in captures],
                           layout="tokens" if layouts[0] is None else "patches",
                           stats=rows, captures=list(captures))
