"""Key/value caches in a model's output: recognised and grouped into one output.

A Hugging Face decoder returns its KV cache (a ``transformers`` ``Cache``
object in transformers 5, a tuple of ``(key, value)`` tuples under
``past_key_values`` before) next to its logits: two tensors per layer. Drawn as
outputs, a 32-layer model gets 64 output nodes, and every layer sends a tensor
out of the chain of layers, so the layers cannot fold. Converters group them
into one ``output:<key>`` node whose ``attrs`` say it stands for a group
(:func:`group_attrs`); :func:`graphir.passes.fold.fold` lets folded blocks feed
such a node.
"""

__all__ = ["CACHE_KEYS", "is_cache", "cache_key", "group_attrs", "without_cache"]

#: Output keys that hold a KV cache when the value is a plain tuple.
CACHE_KEYS = ("past_key_values", "present_key_values", "present", "presents", "cache")


def is_cache(value):
    """True for a ``transformers`` ``Cache`` object (checked by class name, no import).

    Examples
    --------
    >>> is_cache(()), is_cache(None)
    (False, False)
    """
    return any(cls.__name__ == "Cache" and cls.__module__.startswith("transformers")
               for cls in type(value).__mro__)


def cache_key(output, key, value):
    """True when the top-level output ``key`` (holding ``value``) is a KV cache.

    Examples
    --------
    >>> cache_key({}, "past_key_values", ((1, 2),)), cache_key({}, "logits", 1)
    (True, False)
    """
    if is_cache(value):
        return True
    return str(key) in CACHE_KEYS and isinstance(value, (tuple, list))


def group_attrs(entries):
    """``attrs`` of a grouped output node standing for the tensors ``entries``.

    ``{"group": "kv_cache", "count": N, "shapes": [distinct shapes, in order]}``.

    Examples
    --------
    >>> e = {"shape": [1, 8, 16, 128], "dtype": "float32"}
    >>> group_attrs([e, e])
    {'group': 'kv_cache', 'count': 2, 'shapes': [[1, 8, 16, 128]]}
    """
    shapes = []
    for entry in entries:
        shape = entry.get("shape")
        if shape not in shapes:
            shapes.append(shape)
    return {"group": "kv_cache", "count": len(entries), "shapes": shapes[:8]}


def without_cache(module, kwargs, kv_cache=False):
    """Example kwargs that switch a model's KV cache off, and the note saying so.

    A model whose ``forward`` takes ``use_cache`` (Hugging Face decoders and
    encoder-decoders) is called with ``use_cache=False`` unless ``kv_cache``
    is true or the caller already chose; the drawing then has no cache
    output. Other models are left as they are.

    Parameters
    ----------
    module : torch.nn.Module
        The model.
    kwargs : dict or None
        The example keyword inputs (not changed).
    kv_cache : bool
        Draw the cache (``--kv-cache``): change nothing.

    Returns
    -------
    tuple
        ``(kwargs, note)``: the keyword inputs to use, and a note for the
        graph (``G.graph["notes"]``) or None when nothing was changed.

    Examples
    --------
    >>> class M:
    ...     def forward(self, input_ids, use_cache=None): ...
    >>> without_cache(M(), None)
    ({'use_cache': False}, 'drawn without the KV cache (use_cache=False); pass --kv-cache to draw it')
    >>> without_cache(M(), {"use_cache": True})
    ({'use_cache': True}, None)
    """
    import inspect

    kwargs = dict(kwargs or {})
    if kv_cache or "use_cache" in kwargs:
        return kwargs, None
    try:
        parameters = inspect.signature(module.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return kwargs, None
    if "use_cache" not in parameters:
        return kwargs, None
    kwargs["use_cache"] = False
    return kwargs, "drawn without the KV cache (use_cache=False); pass --kv-cache to draw it"
