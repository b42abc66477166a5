"""Image input for the attention overlay, and the patch grid of a vision model.

Pixels are scaled to [0, 1] and normalised per channel as
``(pixel - mean) / std``: ImageNet's mean and std for three channels, 0.5 and
0.5 for one channel (pixels then span [-1, 1]), unless the caller passes
others. The image is resized to the model's height × width (no crop, so the
aspect ratio may change).
"""

import math

import numpy as np

from graphir.errors import InputError, MissingDependencyError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "GRAY_MEAN", "GRAY_STD", "default_normalization",
           "load_image", "display_from_pixels", "infer_patch_grid"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN = (0.5,)
GRAY_STD = (0.5,)

#: Tokens before the patch tokens, tried in this order: a class token, none,
#: class + distillation token (DeiT), class + 4 registers.
_PREFIX_TOKENS = (1, 0, 2, 5)


def default_normalization(channels):
    """``(mean, std)`` for ``channels`` input channels (1 or 3).

    >>> default_normalization(1)
    ((0.5,), (0.5,))
    """
    if channels == 1:
        return GRAY_MEAN, GRAY_STD
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    raise InputError(f"the model takes {channels} input channels; an image has 1 or 3",
                     hint="drop --image and use the example input or --input-shape")


def _import_pil():
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingDependencyError("reading --image needs Pillow, which is not installed",
                                     hint="pip install pillow") from None
    return Image, UnidentifiedImageError


def _read_resized(path, size, mode):
    Image, UnidentifiedImageError = _import_pil()
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            return image.resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    except FileNotFoundError:
        raise InputError("no such image file", path=path, hint="check the --image path") from None
    except IsADirectoryError:
        raise InputError("is a folder, not an image", path=path,
                         hint="pass a PNG or JPEG file") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot be read as an image ({type(exc).__name__})", path=path,
                         hint="pass a PNG or JPEG file") from None


def load_image(path, size, channels, mean=None, std=None):
    """Read an image, resize it to ``size`` and normalise it for the model.

    Parameters
    ----------
    path : str or os.PathLike
        Any file Pillow reads (PNG, JPEG, …).
    size : tuple of int
        ``(height, width)`` the model expects.
    channels : int
        1 (grayscale) or 3 (RGB).
    mean, std : sequence of float, optional
        Per-channel normalisation; default :func:`default_normalization`.

    Returns
    -------
    pixels : numpy.ndarray
        float32 [1, channels, height, width], normalised.
    display : numpy.ndarray
        float32 [height, width] (one channel) or [height, width, 3] in [0, 1],
        the resized image to draw maps on.

    Raises
    ------
    InputError
        When the file is missing or not an image, or ``channels`` is not 1 or 3.
    """
    default_mean, default_std = default_normalization(channels)
    mean = np.asarray(default_mean if mean is None else mean, dtype=np.float32)
    std = np.asarray(default_std if std is None else std, dtype=np.float32)
    if mean.size not in (1, channels) or std.size not in (1, channels) or (std == 0).any():
        raise InputError(f"image mean {mean.tolist()} / std {std.tolist()} do not fit "
                         f"{channels} channels", hint="give one value per channel, std > 0")
    image = _read_resized(path, size, "L" if channels == 1 else "RGB")
    display = np.asarray(image, dtype=np.float32) / 255.0
    planes = display[None] if channels == 1 else display.transpose(2, 0, 1)
    pixels = (planes - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)
    return pixels[None].astype(np.float32), display


def display_from_pixels(pixels):
    """A drawable image from one model input [channels, height, width].

    Each channel is min-max scaled to [0, 1] (the normalisation is unknown);
    one channel gives [height, width], three give [height, width, 3], other
    counts show the channel mean. Returns None for other ranks.
    """
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 3:
        return None
    low = pixels.min(axis=(1, 2), keepdims=True)
    span = np.maximum(pixels.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    scaled = (pixels - low) / span
    if scaled.shape[0] == 3:
        return scaled.transpose(1, 2, 0)
    return scaled.mean(axis=0)


def infer_patch_grid(tokens, image_hw=None):
    """``(prefix, rows, cols)``: how ``tokens`` key tokens split into a patch grid.

    Tries a class token first, then none, then two (DeiT) and five (class
    token and registers); the patch count must be a square, or with
    ``image_hw`` a grid of the image's aspect ratio.

    Examples
    --------
    >>> infer_patch_grid(17)
    (1, 4, 4)
    >>> infer_patch_grid(49)
    (0, 7, 7)
    >>> infer_patch_grid(1 + 2 * 4, image_hw=(16, 32))
    (1, 2, 4)
    >>> infer_patch_grid(7) is None
    True
    """
    for prefix in _PREFIX_TOKENS:
        patches = tokens - prefix
        if patches < 4:
            continue
        if image_hw:
            height, width = image_hw
            rows = max(1, round(math.sqrt(patches * height / width)))
            cols = patches // rows
            if rows * cols == patches and rows * width == cols * height:
                return prefix, rows, cols
        else:
            side = math.isqrt(patches)
            if side * side == patches:
                return prefix, side, side
    return None
