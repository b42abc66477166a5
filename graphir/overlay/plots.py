"""Attention figures drawn with matplotlib (Agg, imported lazily).

Every function writes one PNG at a fixed DPI without a ``Software`` stamp, so
the same maps give the same bytes. Nothing here touches pyplot's global state:
figures are ``matplotlib.figure.Figure`` objects on their own Agg canvas.

Two kinds of map:

``patches``
    [rows, cols] weights over the image's patch grid, drawn on the image
    (upsampled to its pixels, alpha-blended) when there is one.
``tokens``
    a [query, key] token × token matrix.
"""

import math

import numpy as np

from graphir.util.optional import import_matplotlib
from graphir.errors import MissingDependencyError

__all__ = ["DPI", "plot_head_maps", "plot_layer_evolution", "plot_statistics"]

#: Resolution of every figure.
DPI = 110
_MAP_CMAP = "inferno"
_MATRIX_CMAP = "viridis"
#: Opacity of the map over an image, for the lowest and the highest weight.
_OVERLAY_ALPHA = (0.1, 0.75)
_PANEL_INCHES = 2.4
_MAX_COLUMNS = 6


def _save(draw, path, *args):
    """Call ``draw(Figure, *args)`` in graphir's rc context and write a PNG."""
    matplotlib, Figure, FigureCanvasAgg = import_matplotlib("drawing attention maps")
    style = {"svg.hashsalt": "graphir", "font.size": 9, "axes.titlesize": 9,
             "figure.titlesize": 11, "image.interpolation": "nearest"}
    with matplotlib.rc_context(style):
        fig = draw(Figure, *args)
        FigureCanvasAgg(fig)
        fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _panel_grid(count, max_columns=_MAX_COLUMNS):
    """``(rows, cols)`` for ``count`` panels: as few rows as fit, filled evenly.

    >>> _panel_grid(7)
    (2, 4)
    >>> _panel_grid(4)
    (1, 4)
    """
    rows = math.ceil(count / max_columns)
    return rows, math.ceil(count / rows)


def _draw_patches(ax, grid, image, norm):
    """A patch-grid map, on ``image`` when given.

    On an image, each patch's colour is blended with an opacity that grows
    with its weight, so the image shows through where attention is low.
    """
    rows, cols = grid.shape
    if image is None:
        ax.imshow(grid, cmap=_MAP_CMAP, norm=norm, extent=(0, cols, rows, 0))
    else:
        height, width = image.shape[:2]
        extent = (0, width, height, 0)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1,
                  extent=extent)
        opacity = _OVERLAY_ALPHA[0] + (_OVERLAY_ALPHA[1] - _OVERLAY_ALPHA[0]) * np.clip(
            norm(grid).filled(0), 0, 1)
        ax.imshow(grid, cmap=_MAP_CMAP, norm=norm, extent=extent, alpha=opacity)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_tokens(ax, matrix, norm, labels=True):
    """A token × token matrix, query tokens down and key tokens across."""
    from matplotlib.ticker import MaxNLocator

    ax.imshow(matrix, cmap=_MATRIX_CMAP, norm=norm, aspect="equal")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.tick_params(labelsize=7, length=2)
    ax.set_xlabel("key token")
    if labels:
        ax.set_ylabel("query token")


def _draw_input(ax, image):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_figure(Figure, panels, title):
    """A figure sized for ``panels`` in a grid; returns ``(fig, gridspec, colorbar box)``.

    The layout is computed in inches (no layout engine: constrained layout
    measures every tick label and is slow), so panels stay the same size
    however many there are.
    """
    rows, cols = _panel_grid(len(panels))
    ticks = any(kind == "tokens" for _, kind, _ in panels)
    side = _PANEL_INCHES
    left, bottom = (0.75, 0.6) if ticks else (0.2, 0.2)
    gap_x, gap_y = (0.45, 0.9) if ticks else (0.15, 0.4)
    top, right = 0.75, 1.3
    grid_width, grid_height = cols * side + (cols - 1) * gap_x, rows * side + (rows - 1) * gap_y
    width, height = left + grid_width + right, bottom + grid_height + top
    fig = Figure(figsize=(width, height))
    fig.suptitle(title, y=1 - 0.12 / height, va="top")
    grid = fig.add_gridspec(rows, cols, left=left / width, right=(left + grid_width) / width,
                            bottom=bottom / height, top=(bottom + grid_height) / height,
                            wspace=gap_x / side, hspace=gap_y / side)
    colorbar_box = ((left + grid_width + 0.3) / width, bottom / height, 0.16 / width,
                    grid_height / height)
    return fig, grid, colorbar_box


def _draw_panels(Figure, panels, title, image, vmax, colorbar_label, overlay=True):
    """Panels ``(title, kind, data)`` in a grid, one colour scale, one colorbar.

    ``kind`` is ``"patches"`` (on ``image`` when ``overlay``), ``"tokens"``
    or ``"input"`` (the bare image). Returns the figure.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig, grid, colorbar_box = _panel_figure(Figure, panels, title)
    norm = Normalize(vmin=0.0, vmax=vmax)
    cols = grid.ncols
    cmap = _MATRIX_CMAP
    for index, (name, kind, data) in enumerate(panels):
        ax = fig.add_subplot(grid[index // cols, index % cols])
        if kind == "input":
            _draw_input(ax, image)
        elif kind == "patches":
            _draw_patches(ax, data, image if overlay else None, norm)
            cmap = _MAP_CMAP
        else:
            _draw_tokens(ax, data, norm, labels=index % cols == 0)
        ax.set_title(name)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=fig.add_axes(colorbar_box))
    bar.set_label(colorbar_label)
    return fig


def plot_head_maps(maps, path, *, title, kind, image=None, what="attention weight"):
    """One layer's per-head maps in a grid, to PNG.

    Parameters
    ----------
    maps : numpy.ndarray
        [heads, rows, cols] patch maps or [heads, query, key] matrices.
    path : str or os.PathLike
        The PNG to write.
    title : str
        Figure title.
    kind : {"patches", "tokens"}
        How to draw each map (see the module docstring).
    image : numpy.ndarray, optional
        [height, width] or [height, width, 3] in [0, 1] under patch maps.
    what : str
        Colorbar label.
    """
    maps = np.asarray(maps, dtype=np.float32)
    vmax = max(float(maps.max()), 1e-6)
    panels = [(f"head {head}", kind, grid) for head, grid in enumerate(maps)]

    return _save(_draw_panels, path, panels, title, image, vmax, what)


def plot_layer_evolution(panels, path, *, title, image=None, overlay=True,
                         what="attention weight, mean over heads"):
    """One map per layer, shallow to deep, after the bare input image when given.

    Parameters
    ----------
    panels : list of tuple
        ``(title, kind, map)`` per layer: ``kind`` is ``"patches"`` or
        ``"tokens"``, ``map`` a 2-D array (sizes may differ between layers).
    path : str or os.PathLike
        The PNG to write.
    title : str
        Figure title.
    image : numpy.ndarray, optional
        Input image, drawn first, and under the patch maps when ``overlay``.
    overlay : bool
        Draw the patch maps on ``image``.
    what : str
        Colorbar label.

    All layers share one colour scale, so a layer that concentrates its
    attention stands out.
    """
    panels = [(name, kind, np.asarray(grid, dtype=np.float32)) for name, kind, grid in panels]
    vmax = max(max(float(grid.max()) for _, _, grid in panels), 1e-6)
    if image is not None and any(kind == "patches" for _, kind, _ in panels):
        panels.insert(0, ("input", "input", None))

    return _save(_draw_panels, path, panels, title, image, vmax, what, overlay)


#: The statistics drawn, as (key in a row, axis label).
_STAT_PANELS = (
    ("max", "max weight"),
    ("mean_row_max", "mean of row max"),
    ("entropy", "entropy (nats)"),
)
_MAX_BARS_PER_LAYER = 8


def _stat_matrix(rows, key, layers, heads):
    values = np.full((layers, heads), np.nan)
    for row in rows:
        values[row["layer"], row["head"]] = row[key]
    return values


def _draw_stat_bars(ax, values):
    """Grouped bars: one group per layer, one bar per head."""
    layers, heads = values.shape
    width = 0.8 / heads
    colors = [f"C{head % 10}" for head in range(heads)]
    for head in range(heads):
        offsets = np.arange(layers) - 0.4 + width * (head + 0.5)
        ax.bar(offsets, values[:, head], width=width * 0.92, color=colors[head],
               label=f"head {head}")


def _draw_stat_boxes(ax, values):
    """Box plots: the spread over heads, one box per layer."""
    data = [row[np.isfinite(row)] for row in values]
    ax.boxplot(data, positions=np.arange(len(data)), widths=0.5)
    for layer, row in enumerate(data):
        ax.scatter(np.full(row.shape, layer), row, s=6, color="C0", alpha=0.5, zorder=3)


def _draw_uniform_levels(ax, levels):
    """Dashed segments at the value uniform attention would give, per layer."""
    for layer, level in enumerate(levels):
        ax.hlines(level, layer - 0.45, layer + 0.45, colors="#555555", linestyles="dashed",
                  linewidth=1, label="uniform over\nvisible keys" if layer == 0 else None)


def plot_statistics(rows, uniform, path, *, title):
    """Per layer and head: max, mean of row max and entropy, to PNG.

    Parameters
    ----------
    rows : list of dict
        One per (layer, head) with keys ``layer``, ``head``, ``max``,
        ``mean_row_max``, ``entropy``.
    uniform : list of dict
        Per layer, the same statistics for uniform attention over the keys
        each query may see (dashed marks): 1/keys and ln(keys) without a
        mask, less under a causal mask.
    path : str or os.PathLike
        The PNG to write.
    title : str
        Figure title.
    """
    layers = len(uniform)
    heads = 1 + max(row["head"] for row in rows)
    as_bars = heads <= _MAX_BARS_PER_LAYER

    def draw(Figure):
        per_layer = 0.25 * heads if as_bars else 0.6
        width = min(max(6.5, per_layer * layers + 2.5), 24.0)
        fig = Figure(figsize=(width, 7.2))
        fig.suptitle(title, y=0.985, va="top")
        fig.subplots_adjust(left=0.8 / width, right=1 - 1.5 / width, top=0.93, bottom=0.08,
                            hspace=0.12)
        axes = fig.subplots(len(_STAT_PANELS), 1, sharex=True)
        for ax, (key, label) in zip(axes, _STAT_PANELS):
            values = _stat_matrix(rows, key, layers, heads)
            (_draw_stat_bars if as_bars else _draw_stat_boxes)(ax, values)
            levels = [reference[key] for reference in uniform]
            _draw_uniform_levels(ax, levels)
            ax.set_ylabel(label)
            ax.set_ylim(0, 1.08 * max(np.nanmax(values), max(levels), 1e-6))
            ax.grid(axis="y", color="#DDDDDD", linewidth=0.6)
            ax.set_axisbelow(True)
        axes[-1].set_xticks(range(layers), labels=[str(k) for k in range(layers)])
        axes[-1].set_xlabel("layer (attention call, in order)")
        axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        return fig

    return _save(draw, path)
