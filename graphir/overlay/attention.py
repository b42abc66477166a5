"""Capture attention probabilities from one forward pass, without editing the model.

Three sources, all scoped to the one forward pass and removed afterwards:

``mha``
    Every ``nn.MultiheadAttention`` gets a forward pre-hook that asks it for
    per-head weights (``need_weights=True, average_attn_weights=False``) and
    a forward hook that records them and hands the caller what it asked for:
    ``None`` when it passed ``need_weights=False``, the head average when it
    left ``average_attn_weights`` at its default.
``softmax``
    A :class:`torch.overrides.TorchFunctionMode`, active only during the
    forward, sees every ``torch.softmax`` / ``F.softmax`` / ``Tensor.softmax``
    / ``torch.special.softmax``. A rank-4 output taken over its last dim is an
    attention map [batch, heads, queries, keys] when queries == keys, or when
    the module running it looks like attention (its path or class name holds
    ``attn`` or ``attention``), so cross-attention is kept too.
``sdpa``
    ``F.scaled_dot_product_attention`` never materialises the probabilities;
    the same mode recomputes them from its query and key (scale, boolean or
    additive ``attn_mask``, ``is_causal``, grouped-query heads) for batch item 0.

Each map is attributed to the innermost module executing when it was made
(forward pre/post hooks on every submodule keep a stack). Maps seen inside an
``nn.MultiheadAttention`` by the mode are dropped in favour of its own weights.
The mode also turns off the fused fast paths of ``nn.TransformerEncoderLayer``
and ``nn.MultiheadAttention`` (they skip when a torch-function mode is active),
so those models report their weights too.

Limits: softmax over rank-3 [batch × heads, q, k] tensors is not split into
heads and is ignored; attention computed by a custom C++/Triton kernel, or
outside ``torch`` functions, is invisible; dropout on the probabilities is not
applied (the model runs in eval mode).
"""

import dataclasses
import math

import numpy as np

from graphir.util.optional import import_torch
from graphir.errors import ConversionError, InputError, MissingDependencyError

__all__ = ["AttentionCapture", "capture_attention", "looks_like_attention", "sdpa_probabilities"]

#: ``nn.MultiheadAttention.forward`` parameters after ``query, key, value``.
_MHA_OPTIONAL_PARAMS = ("key_padding_mask", "need_weights", "attn_mask",
                        "average_attn_weights", "is_causal")

#: Name fragments of modules that compute attention.
_ATTENTION_WORDS = ("attn", "attention")


@dataclasses.dataclass
class AttentionCapture:
    """The attention probabilities of one attention call, batch item 0.

    Attributes
    ----------
    module_path : str
        Dotted path of the module that made the map (``""`` is the root).
    layer_index : int
        Position in the order of capture, from 0.
    probs : numpy.ndarray
        float32 [heads, query tokens, key tokens]; every row sums to 1
        (rows that were fully masked are all zero).
    source : str
        ``"mha"``, ``"softmax"`` or ``"sdpa"`` (see the module docstring).
    module_type : str
        Class name of that module.
    """

    module_path: str
    layer_index: int
    probs: np.ndarray
    source: str
    module_type: str = ""

    @property
    def heads(self):
        """Number of heads."""
        return int(self.probs.shape[0])

    @property
    def query_tokens(self):
        """Number of query tokens (rows)."""
        return int(self.probs.shape[1])

    @property
    def key_tokens(self):
        """Number of key tokens (columns)."""
        return int(self.probs.shape[2])


def looks_like_attention(path, type_name):
    """Whether a module's path or class name says it computes attention.

    >>> looks_like_attention("h.0.attn", "GPT2Attention")
    True
    >>> looks_like_attention("layer1.0.conv1", "Conv2d")
    False
    """
    text = f"{path} {type_name}".lower()
    return any(word in text for word in _ATTENTION_WORDS)


class _Recorder:
    """What one capture has seen: the module stack, the maps, pending MHA calls."""

    def __init__(self):
        self.stack = []        # (path, type name) of modules running, innermost last
        self.found = []        # (path, type name, source, tensor [heads, q, k])
        self.mha_calls = []    # (caller's need_weights, caller's average, len(found))
        self.skipped = 0       # maps dropped for non-finite values

    def current(self):
        return self.stack[-1] if self.stack else ("", "")

    def add(self, path, type_name, source, probs):
        self.found.append((path, type_name, source, probs.detach()))


def _push_hook(recorder, path, type_name):
    def hook(module, args):
        recorder.stack.append((path, type_name))
    return hook


def _pop_hook(recorder):
    def hook(module, args, output):
        if recorder.stack:
            recorder.stack.pop()
    return hook


def _mha_kwargs(args, kwargs):
    """Move ``nn.MultiheadAttention`` arguments after the third into kwargs."""
    kwargs = dict(kwargs)
    for name, value in zip(_MHA_OPTIONAL_PARAMS, args[3:]):
        kwargs[name] = value
    return tuple(args[:3]), kwargs


def _mha_pre_hook(recorder):
    def hook(module, args, kwargs):
        args, kwargs = _mha_kwargs(args, kwargs)
        recorder.mha_calls.append((kwargs.get("need_weights", True),
                                   kwargs.get("average_attn_weights", True),
                                   len(recorder.found)))
        kwargs["need_weights"] = True
        kwargs["average_attn_weights"] = False
        return args, kwargs
    return hook


def _mha_post_hook(recorder, path, type_name):
    def hook(module, args, kwargs, output):
        if not recorder.mha_calls:
            return None
        need_weights, average, mark = recorder.mha_calls.pop()
        if not (isinstance(output, tuple) and len(output) == 2):
            return None                       # the forward raised: nothing to adjust
        attn_output, weights = output
        del recorder.found[mark:]             # the mode's view of this same map
        if weights is None:
            return None
        # batched [batch, heads, q, k] or unbatched [heads, q, k]
        recorder.add(path, type_name, "mha", weights[0] if weights.dim() == 4 else weights)
        if not need_weights:
            return attn_output, None
        if average:
            return attn_output, weights.mean(dim=-3)
        return output
    return hook


def _softmax_dim(args, kwargs):
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim if isinstance(dim, int) else None


def _on_softmax(recorder, torch, args, kwargs, output):
    dim = _softmax_dim(args, kwargs)
    if not isinstance(output, torch.Tensor) or output.dim() != 4 or dim is None:
        return
    if dim % 4 != 3 or not output.is_floating_point():
        return
    path, type_name = recorder.current()
    if output.shape[-2] != output.shape[-1] and not looks_like_attention(path, type_name):
        return
    recorder.add(path, type_name, "softmax", output[0])


def _sdpa_arg(args, kwargs, index, name, default=None):
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def sdpa_probabilities(torch, query, key, attn_mask=None, is_causal=False, scale=None):
    """The probabilities ``F.scaled_dot_product_attention`` uses, for batch item 0.

    Follows PyTorch's reference implementation: ``softmax(q kᵀ · scale + bias)``
    with ``scale = 1/sqrt(E)`` by default, a lower-triangular mask for
    ``is_causal``, ``attn_mask`` as a keep-mask (bool) or an additive bias,
    and key heads repeated when the query has more (grouped-query attention).
    Rows that are fully masked come out as zeros.

    Returns
    -------
    torch.Tensor or None
        float32 [heads, q, k], or None when the shapes are not
        [batch, heads, tokens, dim] (or [batch, tokens, dim], one head).
    """
    if query.dim() == 3:
        query, key = query.unsqueeze(1), key.unsqueeze(1)
        attn_mask = None if attn_mask is None else attn_mask.unsqueeze(-3)
    if query.dim() != 4 or key.dim() != 4:
        return None
    q, k = query[:1].float(), key[:1].float()
    if k.size(1) != q.size(1) and k.size(1) and q.size(1) % k.size(1) == 0:
        k = k.repeat_interleave(q.size(1) // k.size(1), dim=1)
    factor = 1.0 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-1, -2)) * factor
    if is_causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        mask = attn_mask[:1] if attn_mask.dim() == 4 else attn_mask
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.float()
    return torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)[0]


def _on_sdpa(recorder, torch, args, kwargs):
    query, key = _sdpa_arg(args, kwargs, 0, "query"), _sdpa_arg(args, kwargs, 1, "key")
    try:
        probs = sdpa_probabilities(
            torch, query, key, attn_mask=_sdpa_arg(args, kwargs, 3, "attn_mask"),
            is_causal=bool(_sdpa_arg(args, kwargs, 5, "is_causal", False)),
            scale=kwargs.get("scale"))
    except RuntimeError:            # a mask that does not broadcast to batch item 0
        return
    if probs is not None:
        path, type_name = recorder.current()
        recorder.add(path, type_name, "sdpa", probs)


def _attention_mode(torch, recorder):
    """A TorchFunctionMode that reports softmax and SDPA calls to ``recorder``."""
    functional = torch.nn.functional
    softmax_functions = {torch.softmax, functional.softmax, torch.Tensor.softmax,
                         torch.special.softmax}
    sdpa = functional.scaled_dot_product_attention

    class AttentionMode(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            output = func(*args, **kwargs)
            if func in softmax_functions:
                _on_softmax(recorder, torch, args, kwargs, output)
            elif func is sdpa:
                _on_sdpa(recorder, torch, args, kwargs)
            return output

    return AttentionMode()


def _register_hooks(torch, module, recorder):
    """Hooks on ``module`` and every submodule; returns their handles."""
    handles = []
    for path, sub in module.named_modules():
        type_name = type(sub).__name__
        handles.append(sub.register_forward_pre_hook(_push_hook(recorder, path, type_name)))
        if isinstance(sub, torch.nn.MultiheadAttention):
            handles.append(sub.register_forward_pre_hook(_mha_pre_hook(recorder),
                                                         with_kwargs=True))
            handles.append(sub.register_forward_hook(_mha_post_hook(recorder, path, type_name),
                                                     with_kwargs=True, always_call=True))
        handles.append(sub.register_forward_hook(_pop_hook(recorder), always_call=True))
    return handles


def _run_forward(torch, module, args, kwargs, recorder, name):
    """One eval-mode, no-grad forward with hooks and the mode; restores everything."""
    training = {sub: sub.training for sub in module.modules()}
    handles = _register_hooks(torch, module, recorder)
    try:
        module.eval()
        with torch.no_grad(), _attention_mode(torch, recorder):
            module(*args, **kwargs)
    except Exception as exc:
        raise ConversionError(f"the forward pass raised {type(exc).__name__}: {exc}", path=name,
                              hint="check the example inputs (--input-shape), "
                                   "or rerun with --debug") from exc
    finally:
        for handle in handles:
            handle.remove()
        for sub, mode in training.items():
            sub.training = mode


def _to_captures(recorder):
    captures = []
    for path, type_name, source, probs in recorder.found:
        array = probs.float().cpu().numpy().astype(np.float32)
        if not np.isfinite(array).all():
            recorder.skipped += 1
            continue
        captures.append(AttentionCapture(module_path=path, layer_index=len(captures),
                                         probs=array, source=source, module_type=type_name))
    return captures


def capture_attention(module, example_args, example_kwargs=None, *, name=None):
    """Run one forward pass and return the attention maps it computed.

    The module runs in eval mode under ``torch.no_grad()``; its training
    flags, hooks and outputs are as before afterwards.

    Parameters
    ----------
    module : torch.nn.Module
        The model.
    example_args : tuple
        Positional inputs of its forward.
    example_kwargs : dict, optional
        Keyword inputs of its forward.
    name : str, optional
        Model name for messages (default: the class name).

    Returns
    -------
    list of AttentionCapture
        In the order they were computed; ``layer_index`` counts from 0.

    Raises
    ------
    InputError
        When the forward computed no attention probabilities.
    ConversionError
        When the forward pass raised, or every map holds NaN or infinite
        values (maps that do are left out).
    """
    torch = import_torch("capturing attention")
    name = name or type(module).__name__
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"is a {type(module).__name__}, not a torch.nn.Module", path=name,
                         hint="attention needs a PyTorch model")
    recorder = _Recorder()
    args = example_args if isinstance(example_args, (tuple, list)) else (example_args,)
    _run_forward(torch, module, tuple(args), dict(example_kwargs or {}), recorder, name)
    captures = _to_captures(recorder)
    if not captures and recorder.skipped:
        raise ConversionError(f"all {recorder.skipped} attention maps hold NaN or infinite "
                              "values", path=name, hint="check the weights and the inputs")
    if not captures:
        raise InputError("found no attention probabilities (no nn.MultiheadAttention and no "
                         "softmax over [batch, heads, tokens, tokens])", path=name,
                         hint="attention needs a transformer model")
    return captures
