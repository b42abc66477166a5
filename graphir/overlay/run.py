"""``run_attention``: the ``graphir attention`` command's work for one loaded model.

Loading ``FILE.py:CALLABLE`` and making ``--input-shape`` inputs is the API's
job (:mod:`graphir.load` is not a dependency of this package); this module
takes the module and its example inputs, optionally swaps the image input
for ``--image``, captures the attention and writes the report.
"""

import os

from graphir.errors import InputError
from graphir.overlay.attention import capture_attention
from graphir.util.optional import import_torch
from graphir.overlay.image import (default_normalization, display_from_pixels, infer_patch_grid,
                                   load_image)
from graphir.overlay.report import write_attention_report

__all__ = ["find_image_input", "run_attention"]


def find_image_input(torch, args, kwargs):
    """Where the image is among the inputs: ``("args", index)``, ``("kwargs", name)`` or None.

    The image is the first floating-point tensor of rank 4
    [batch, channels, height, width].
    """
    def is_image(value):
        return isinstance(value, torch.Tensor) and value.dim() == 4 \
            and value.is_floating_point()

    for index, value in enumerate(args):
        if is_image(value):
            return "args", index
    for name, value in kwargs.items():
        if is_image(value):
            return "kwargs", name
    return None


def _floats(values):
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def _input_at(args, kwargs, slot):
    where, key = slot
    return args[key] if where == "args" else kwargs[key]


def _normalization(module, mean, std):
    """Caller's mean/std, else ``image_mean``/``image_std`` on the module or its config."""
    config = getattr(module, "config", None)
    for owner in (module, config):
        if mean is None and owner is not None:
            mean = getattr(owner, "image_mean", None)
        if std is None and owner is not None:
            std = getattr(owner, "image_std", None)
    return mean, std


def _swap_in_image(torch, module, args, kwargs, slot, image_path, mean, std):
    """Inputs with the image tensor replaced by ``image_path``; and the image to draw on."""
    where, key = slot
    tensor = _input_at(args, kwargs, slot)
    channels, size = int(tensor.shape[1]), tuple(int(n) for n in tensor.shape[-2:])
    default_mean, default_std = default_normalization(channels)
    mean, std = _normalization(module, mean, std)
    mean = default_mean if mean is None else tuple(mean)
    std = default_std if std is None else tuple(std)
    pixels, display = load_image(image_path, size, channels, mean=mean, std=std)
    batch = torch.from_numpy(pixels).to(dtype=tensor.dtype, device=tensor.device)
    batch = batch.expand(tensor.shape[0], -1, -1, -1).contiguous()
    if where == "args":
        args = args[:key] + (batch,) + args[key + 1:]
    else:
        kwargs = {**kwargs, key: batch}
    described = (f"image {os.path.basename(str(image_path))}, resized to "
                 f"{size[0]} × {size[1]}, {channels} channel{'s' if channels > 1 else ''}, "
                 f"normalised with mean {_floats(mean)} and std {_floats(std)}")
    return args, kwargs, display, described


def run_attention(module, args, kwargs, out_dir, *, image_path=None, name=None,
                  image_mean=None, image_std=None, show_input=True):
    """Capture a model's attention on one input and write maps, statistics and report.

    Parameters
    ----------
    module : torch.nn.Module
        The model (run once, in eval mode, without gradients).
    args : tuple
        Example positional inputs (from the factory or ``--input-shape``).
    kwargs : dict or None
        Example keyword inputs.
    out_dir : str or os.PathLike
        Output folder (see :func:`graphir.overlay.write_attention_report`).
    image_path : str or os.PathLike, optional
        ``--image``: replaces the model's image input (the first float tensor
        [batch, channels, height, width]), resized to its height × width,
        converted to its 1 or 3 channels and normalised (``image_mean`` /
        ``image_std``, else the module's or its config's ``image_mean`` /
        ``image_std`` attributes, else ImageNet's for 3 channels and 0.5 / 0.5
        for 1 channel).
    name : str, optional
        Model name for titles and messages (default: the class name).
    image_mean, image_std : sequence of float, optional
        Normalisation for ``image_path``.
    show_input : bool
        Without ``image_path``, show the example image input (each channel
        min-max scaled) beside the layer maps; the maps are drawn on the
        image only for ``image_path``.

    Returns
    -------
    AttentionResult

    Raises
    ------
    InputError
        No attention in the model; ``image_path`` unreadable, or given for a
        model without an image input.
    ConversionError
        The forward pass raised.
    """
    torch = import_torch("capturing attention")
    name = name or type(module).__name__
    args = (args,) if isinstance(args, torch.Tensor) else tuple(args or ())
    kwargs = dict(kwargs or {})
    slot = find_image_input(torch, args, kwargs)
    if image_path is not None:
        if slot is None:
            raise InputError("the model has no image input [batch, channels, height, width] "
                             "to replace", path=image_path,
                             hint="drop --image for text models")
        args, kwargs, display, described = _swap_in_image(
            torch, module, args, kwargs, slot, image_path, image_mean, image_std)
    else:
        display, described = _example_display(torch, args, kwargs, slot, show_input)
    captures = capture_attention(module, args, kwargs, name=name)
    image_hw = None if slot is None else tuple(_input_at(args, kwargs, slot).shape[-2:])
    grid = _patch_grid(captures, image_hw)
    return write_attention_report(captures, out_dir, model_name=name, image=display,
                                  overlay=image_path is not None, patch_grid=grid,
                                  input_description=described)


def _example_display(torch, args, kwargs, slot, show_input):
    """Without ``--image``: the example image to show (or None), and a description
    such as ``the example inputs int64 [1, 16], int64 [1, 16]``."""
    tensors = [v for v in list(args) + list(kwargs.values()) if isinstance(v, torch.Tensor)]
    shown = ", ".join(f"{str(t.dtype).replace('torch.', '')} {list(t.shape)}" for t in tensors)
    described = f"the example input{'s' if len(tensors) > 1 else ''} {shown}" if shown else None
    if slot is None or not show_input:
        return None, described
    pixels = _input_at(args, kwargs, slot)[0].detach().float().cpu().numpy()
    return display_from_pixels(pixels), described


def _patch_grid(captures, image_hw):
    """``(rows, cols)`` of the first layer's patches, or None (token matrices)."""
    if image_hw is None:
        return None
    found = infer_patch_grid(captures[0].key_tokens, image_hw)
    return None if found is None else found[1:]
