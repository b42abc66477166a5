"""Colouring nodes by a number: palettes, colour scales and readable text.

Pure Python (no matplotlib). :func:`scale_for` builds a :class:`ColorScale`
from the values a graph holds for one quantity; :meth:`ColorScale.color`
maps a value to a fill and :func:`ink_for` picks text colours that read on
that fill.

Palettes
--------
:data:`SEQUENTIAL` is magma (van der Walt & Smith's perceptually uniform
sibling of viridis, matplotlib) run backwards — pale cream for low values,
through orange and pink, to dark purple for high ones — sampled at 17
points and interpolated linearly in sRGB; its near-black last 15 % is left
out. Its lightness falls monotonically, so it reads in greyscale (more ink
= more) and with the common colour-vision deficiencies, and the many small
values of a typical graph (unchanged weights, few zeros) get pale fills
that stay quiet and keep black text readable; large values stand out.
Nodes without a value take the theme's neutral ``nodata_fill`` (in
greyscale it reads like a low value; the legend shows it).
:data:`DIVERGING` is ColorBrewer's RdBu (Brewer,
2002; colour-blind safe), blue for negative, near-white at zero, red for
positive — darker further from zero; it is used, centred on zero, for
signed quantities whose values straddle zero.

Quantities
----------
``mean``, ``std``, ``min``, ``max``, ``zeros``, ``numel``, ``nonfinite``
are read from a node's ``stats`` dict (activation statistics),
``weight_change`` from the node attribute a checkpoint diff writes (its scale
runs from 0 to ``G.graph["weight_change_max"]``), and ``params`` is the
number of weight elements a node stands for.

Examples
--------
>>> scale = scale_for("mean", [-2.0, 0.5, 1.0])
>>> scale.diverging, scale.low, scale.high
(True, -2.0, 2.0)
>>> scale.color(0.0)
'#F7F6F6'
>>> scale_for("zeros", [0.1, 0.3]).labels()
('0%', '50%', '100%')
>>> ink_for("#251255"), ink_for("#FCFDBF")
(('#FFFFFF', '#E8E8E8'), ('#000000', '#222222'))
"""

import functools
import math
from dataclasses import dataclass

from graphir.ir import node_param_count, numel
from graphir.renderers.labels import format_count

__all__ = [
    "SEQUENTIAL",
    "DIVERGING",
    "STATS_QUANTITIES",
    "QUANTITIES",
    "QUANTITY_NAMES",
    "interpolate",
    "luminance",
    "contrast",
    "ink_for",
    "format_value",
    "node_value",
    "ColorScale",
    "scale_for",
]

#: magma from 1 down to 0.15 (17 samples): pale cream (low) → orange → dark purple (high).
SEQUENTIAL = (
    "#FCFDBF", "#FDE5A7", "#FECC8F", "#FEB47B", "#FD9A6A", "#FA815F", "#F4675C",
    "#E75263", "#D5446D", "#BF3A77", "#AA337D", "#932B80", "#7C2382", "#681C81",
    "#52137C", "#3D0F71", "#251255",
)
#: ColorBrewer RdBu reversed: blue (negative) → near-white (0) → red (positive).
DIVERGING = (
    "#053061", "#2065AB", "#4393C3", "#90C4DD", "#D1E5F0", "#F7F6F6", "#FDDBC7",
    "#F3A481", "#D6604D", "#B1182B", "#67001F",
)

#: Keys of a node's ``stats`` dict that ``color_by`` accepts.
STATS_QUANTITIES = ("mean", "std", "min", "max", "zeros", "numel", "nonfinite")
#: Every quantity ``color_by`` accepts.
QUANTITIES = STATS_QUANTITIES + ("weight_change", "params")
#: How the colour bar names each quantity.
QUANTITY_NAMES = {
    "mean": "activation mean", "std": "activation std", "min": "activation min",
    "max": "activation max", "zeros": "activation zeros", "numel": "activation elements",
    "nonfinite": "NaN/inf count", "weight_change": "weight change (relative L2)",
    "params": "parameters",
}

_SIGNED = frozenset({"mean", "min", "max"})
_FROM_ZERO = frozenset({"weight_change", "nonfinite"})
_LOG_CANDIDATES = frozenset({"std", "numel", "params"})
_LOG_SPAN = 100.0
_OUTLIER_FACTOR = 1000.0
_DARK_INK = ("#000000", "#222222")
_LIGHT_INK = ("#FFFFFF", "#E8E8E8")


def _channels(colour):
    return [int(colour[i:i + 2], 16) for i in (1, 3, 5)]


def interpolate(stops, t):
    """The colour at ``t`` in [0, 1] along evenly spaced ``stops`` (``#RRGGBB``).

    Examples
    --------
    >>> interpolate(("#000000", "#FFFFFF"), 0.5), interpolate(SEQUENTIAL, 2.0)
    ('#808080', '#251255')
    """
    t = min(1.0, max(0.0, float(t)))
    position = t * (len(stops) - 1)
    index = min(int(position), len(stops) - 2)
    frac = position - index
    low, high = _channels(stops[index]), _channels(stops[index + 1])
    mixed = [round(a + (b - a) * frac) for a, b in zip(low, high)]
    return "#" + "".join(f"{c:02X}" for c in mixed)


@functools.lru_cache(maxsize=1024)
def luminance(colour):
    """WCAG relative luminance of ``#RRGGBB`` (0 black … 1 white).

    >>> round(luminance("#FFFFFF"), 3), round(luminance("#808080"), 3)
    (1.0, 0.216)
    """
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    red, green, blue = (linear(c) for c in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(a, b):
    """WCAG contrast ratio of two colours (1 … 21).

    >>> round(contrast("#000000", "#FFFFFF"), 1)
    21.0
    """
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def ink_for(fill):
    """``(text colour, detail colour)`` that read best on ``fill``.

    Black on fills where black has the higher contrast, white otherwise.
    """
    return _DARK_INK if contrast(fill, "#000000") >= contrast(fill, "#FFFFFF") else _LIGHT_INK


def format_value(quantity, value):
    """A value of ``quantity`` for labels and the colour bar, compactly.

    Examples
    --------
    >>> format_value("zeros", 0.125), format_value("params", 1234567)
    ('12%', '1.23M')
    >>> format_value("mean", -0.000123), format_value("std", 1234.5), format_value("mean", 0.0)
    ('-0.000123', '1.23e+03', '0')
    """
    if value is None:
        return "?"
    if quantity == "zeros":
        return f"{100 * value:.0f}%"
    if quantity in ("params", "numel", "nonfinite"):
        return format_count(int(round(value)))
    return f"{value:.3g}"


def node_value(data, quantity):
    """The value of ``quantity`` on one node, or None when it has none.

    Parameters
    ----------
    data : dict
        The node's attributes.
    quantity : str
        A key of the node's ``stats`` dict, ``weight_change`` or ``params``
        (weight elements: ``subtree_params`` of a parameter-tree node,
        ``total_params`` of a collapsed module, the tensor of a ``param``
        node, else the weights it reads; 0 counts as no value).

    Returns
    -------
    float or None
        None also for null, NaN, infinite and non-numeric values.

    Examples
    --------
    >>> node_value({"stats": {"mean": 0.5, "std": None}}, "mean")
    0.5
    >>> node_value({"stats": {"std": None}}, "std"), node_value({}, "weight_change")
    (None, None)
    >>> node_value({"params": {"w": {"shape": [3, 4], "dtype": "float32"}}}, "params")
    12.0
    """
    if quantity == "weight_change":
        value = data.get("weight_change")
    elif quantity == "params":
        value = _param_total(data) or None
    else:
        stats = data.get("stats")
        value = stats.get(quantity) if isinstance(stats, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return None
    return float(value)


def _param_total(data):
    """Weight elements a node stands for (see :func:`node_value`)."""
    for key in ("subtree_params", "total_params"):
        if isinstance(data.get(key), int):
            return data[key]
    if data.get("kind") == "param":  # a weight drawn as its own node: its tensor
        outputs = data.get("outputs") or [{}]
        return numel((outputs[0] or {}).get("shape")) or 0
    return node_param_count(data)


@dataclass(frozen=True)
class ColorScale:
    """A map from one quantity's values to fills, with its colour-bar labels.

    Attributes
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    low, high : float
        Values at the two ends of the palette (symmetric about 0 when
        ``diverging``).
    diverging : bool
        Palette :data:`DIVERGING` centred on 0, else :data:`SEQUENTIAL`.
    log : bool
        Positions are taken on ``log10`` of the value; values ≤ 0 get the
        low end.
    clipped : tuple of (bool, bool)
        Whether values beyond the low / high end exist (outliers drawn in
        the end colour); the colour bar labels that end ``≤``/``≥``.
    """

    quantity: str
    low: float
    high: float
    diverging: bool = False
    log: bool = False
    clipped: tuple = (False, False)

    def position(self, value):
        """Where ``value`` falls on the palette, in [0, 1]."""
        low, high, value = self.low, self.high, float(value)
        if self.log:
            if value <= 0:
                return 0.0
            low, high, value = math.log10(low), math.log10(high), math.log10(value)
        if high <= low:
            return 0.5 if self.diverging else 0.0
        return min(1.0, max(0.0, (value - low) / (high - low)))

    def color(self, value):
        """The fill of a node whose value is ``value``."""
        stops = DIVERGING if self.diverging else SEQUENTIAL
        return interpolate(stops, self.position(value))

    def value_at(self, t):
        """The value at position ``t`` of the palette (inverse of :meth:`position`)."""
        if self.log:
            low, high = math.log10(self.low), math.log10(self.high)
            return 10 ** (low + (high - low) * t)
        return self.low + (self.high - self.low) * t

    def cells(self, count=7):
        """``count`` fills sampled evenly from low to high, for the colour bar."""
        stops = DIVERGING if self.diverging else SEQUENTIAL
        return [interpolate(stops, i / (count - 1)) for i in range(count)]

    def labels(self):
        """Text for the low end, the middle and the high end of the bar."""
        low, mid, high = (format_value(self.quantity, self.value_at(t)) for t in (0.0, 0.5, 1.0))
        return (("≤ " if self.clipped[0] else "") + low, mid,
                ("≥ " if self.clipped[1] else "") + high)

    def title(self):
        """The colour bar's heading: the quantity's name, ``(log)`` when log."""
        return QUANTITY_NAMES.get(self.quantity, self.quantity) + (" (log)" if self.log else "")


def _without_outliers(values):
    """``values`` without extreme outliers, and whether any were dropped below/above.

    An outlier is a value more than :data:`_OUTLIER_FACTOR` times larger in
    magnitude than the upper quartile of magnitudes — the ``finfo.min`` an
    attention mask adds, a ``1e30`` sentinel — which would otherwise squash
    every other value into one colour. Ordinary spread is never dropped.
    """
    magnitudes = sorted(abs(v) for v in values)
    typical = magnitudes[int(0.75 * (len(magnitudes) - 1))]
    if typical <= 0:
        return values, False, False
    kept = [v for v in values if abs(v) <= _OUTLIER_FACTOR * typical]
    return kept, kept[0] > values[0], kept[-1] < values[-1]


def scale_for(quantity, values, *, maximum=None):
    """The colour scale of ``quantity`` for the values a graph holds.

    Parameters
    ----------
    quantity : str
        One of :data:`QUANTITIES`.
    values : iterable of float
        Every finite value present (at least one).
    maximum : float, optional
        Upper end to use instead of the largest value (the diff's
        ``weight_change_max``).

    Returns
    -------
    ColorScale
        ``zeros`` always spans 0–100 %; ``weight_change`` and ``nonfinite``
        start at 0; ``mean``/``min``/``max`` whose values straddle 0 are
        diverging and symmetric; ``std``/``numel``/``params`` whose positive
        values span 100× or more are on a log scale; anything else spans
        the values' range. On a linear scale, extreme outliers (1000× the
        typical magnitude) are left out of the range and drawn in the end
        colour, and the colour bar says ``≤``/``≥`` at that end.

    Examples
    --------
    >>> scale = scale_for("mean", [-3.4e38, -0.5, 0.1, 0.2, 0.4, 1.0])
    >>> scale.low, scale.high, scale.labels()
    (-1.0, 1.0, ('≤ -1', '0', '1'))
    """
    values = sorted(float(v) for v in values)
    if quantity == "zeros":
        return ColorScale(quantity, 0.0, 1.0)
    positive = [v for v in values if v > 0]
    if quantity in _LOG_CANDIDATES and positive and values[-1] / positive[0] >= _LOG_SPAN:
        return ColorScale(quantity, positive[0], values[-1], log=True)
    kept, cut_low, cut_high = _without_outliers(values)
    low, high = kept[0], kept[-1]
    if maximum is not None and math.isfinite(maximum) and maximum > high:
        high, cut_high = float(maximum), False
    if quantity in _FROM_ZERO:
        return ColorScale(quantity, min(0.0, low), high, clipped=(cut_low, cut_high))
    if quantity in _SIGNED and low < 0 < high:
        reach = max(-low, high)  # outliers lie beyond it: |outlier| > every kept |value|
        return ColorScale(quantity, -reach, reach, diverging=True, clipped=(cut_low, cut_high))
    return ColorScale(quantity, low, high, clipped=(cut_low, cut_high))
