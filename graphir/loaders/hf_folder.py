"""Hugging Face model folders: the architecture from ``config.json``, checked against the weights' headers.

A folder written by ``save_pretrained`` holds ``config.json`` and weights in
one of four layouts (tried in this order, as ``transformers`` does):

- ``model.safetensors.index.json`` and the shards it names,
- ``model.safetensors``,
- ``pytorch_model.bin.index.json`` and the shards it names,
- ``pytorch_model.bin``.

The architecture is built with ``transformers`` (imported lazily; the
``hf`` extra) on the ``meta`` device, so no weight is ever materialised, and
its parameter names and shapes are compared with the weights' headers: the
safetensors JSON header, or for ``.bin`` files the pickle scan of
:mod:`graphir.loaders.pickle_scan` followed by ``torch.load`` onto the
``meta`` device (which reads the pickle, never the tensor data). A ``.bin``
that would run code when loaded is refused as everywhere else.

Nothing from the folder runs: a ``config.json`` whose model needs the
folder's own code (``auto_map`` with a ``model_type`` the installed
``transformers`` does not know) is refused unless ``unsafe_load``. When
``transformers`` has the ``model_type`` built in, that class is used and the
folder's code is ignored (as ``transformers`` does without
``trust_remote_code``), with a note.
"""

import dataclasses
import json
import os
import re
import struct

from graphir.errors import InputError, MissingDependencyError, UnsafeFileError
from graphir.loaders.kinds import CONFIG_FILE, folder_without_config
from graphir.util.text import brief as _brief

__all__ = [
    "CONFIG_FILE",
    "HF_EXTRA_HINT",
    "WeightsHeader",
    "HFModel",
    "is_hf_folder",
    "read_config",
    "read_weights_header",
    "check_weights",
    "example_inputs",
    "to_module_device",
    "build_hf_model",
    "diff_headers",
    "headers_diff_text",
]

#: What to install for model folders (``pyproject``: ``hf = ["transformers>=4.45"]``).
HF_EXTRA_HINT = "pip install 'graphir[hf]' (or transformers>=4.45)"
_UNSAFE_FLAG = "--unsafe-load"
# (file name, format, is an index) in the order transformers prefers them
_LAYOUTS = (
    ("model.safetensors.index.json", "safetensors", True),
    ("model.safetensors", "safetensors", False),
    ("pytorch_model.bin.index.json", "pytorch_bin", True),
    ("pytorch_model.bin", "pytorch_bin", False),
)
# weights of other frameworks, named in the note when no PyTorch weights are found
_OTHER_WEIGHTS = ("tf_model.h5", "flax_model.msgpack", "model.ckpt.index", "openvino_model.xml",
                  "model.onnx", "onnx/model.onnx")
_MAX_CONFIG_BYTES = 16 * 2 ** 20
_SHOWN = 3
_SEQ_LEN = 16
_DECODER_LEN = 8
_AUDIO_SAMPLES = 16000
_DIGITS = re.compile(r"(\d+)")
# architecture-name suffix -> Auto class, when transformers lacks the named class
_AUTO_BY_SUFFIX = (
    ("ForCausalLM", "AutoModelForCausalLM"),
    ("ForMaskedLM", "AutoModelForMaskedLM"),
    ("ForSequenceClassification", "AutoModelForSequenceClassification"),
    ("ForTokenClassification", "AutoModelForTokenClassification"),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering"),
    ("ForImageClassification", "AutoModelForImageClassification"),
    ("ForSpeechSeq2Seq", "AutoModelForSpeechSeq2Seq"),
    ("ForCTC", "AutoModelForCTC"),
    ("ForConditionalGeneration", "AutoModelForSeq2SeqLM"),
)


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]


def _shape_text(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _listed(names, limit=_SHOWN):
    names = sorted(names, key=_natural_key)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def is_hf_folder(path):
    """True when ``path`` is a folder holding ``config.json``.

    Examples
    --------
    >>> is_hf_folder("/")
    False
    """
    path = os.fspath(path)
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, CONFIG_FILE))


def read_config(folder):
    """The parsed ``config.json`` of a model folder (a dict).

    Raises
    ------
    InputError
        When the folder has no ``config.json`` or it is not a JSON object.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, CONFIG_FILE)
    if not os.path.isfile(path):
        raise folder_without_config(folder)
    try:
        too_big = os.path.getsize(path) > _MAX_CONFIG_BYTES
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path=path,
                         hint="check its permissions") from None
    if too_big:
        raise InputError("is larger than 16 MB, too large for a model config", path=path,
                         hint="pass the config.json that save_pretrained wrote")
    data = _read_json(path, "fix the file, or save the model again with save_pretrained")
    if not isinstance(data, dict):
        raise InputError("is not a JSON object", path=path,
                         hint="pass the config.json that save_pretrained wrote")
    return data


@dataclasses.dataclass(frozen=True)
class WeightsHeader:
    """What a folder's weights hold, read from headers only.

    Attributes
    ----------
    path : str
        The file that names the weights: the index of a sharded checkpoint,
        else the single weights file.
    format : str
        ``safetensors`` or ``pytorch_bin``.
    files : tuple of str
        The weight files, relative to the folder, in name order.
    tensors : dict
        ``name -> (shape tuple, dtype)`` in natural name order; ``dtype`` is
        an IR dtype name (``float32``, ``bfloat16``...) or None.
    nbytes : int
        Total bytes of tensor data.
    """

    path: str
    format: str
    files: tuple
    tensors: dict
    nbytes: int

    @property
    def count(self):
        """Number of tensors."""
        return len(self.tensors)

    @property
    def dtypes(self):
        """``dtype -> number of tensors``, most common first."""
        counts = {}
        for _, dtype in self.tensors.values():
            counts[dtype or "other"] = counts.get(dtype or "other", 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _safetensors_file(path):
    """``(tensors, data bytes)`` of one safetensors file, from its header."""
    from graphir.loaders.safetensors_file import read_safetensors_header

    entries, _ = read_safetensors_header(path)
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
    tensors = {name: (tuple(shape), dtype) for name, (shape, dtype) in entries.items()}
    return tensors, os.path.getsize(path) - 8 - length


def _bin_file(path, unsafe_load):
    """``(tensors, data bytes)`` of one ``torch.save`` file, without reading tensor data."""
    from graphir.util.optional import import_torch
    from graphir.loaders.pickle_scan import describe_globals, scan_torch_file

    scan = scan_torch_file(path)
    if scan.runs_code and not unsafe_load:
        raise UnsafeFileError(f"holds pickled Python objects, not only tensors; loading it "
                              f"runs code from the file (it references "
                              f"{describe_globals(scan.unsafe)})", path=path,
                              hint=f"pass {_UNSAFE_FLAG} if you trust it, or save the "
                                   "weights as safetensors")
    if scan.key is None and not scan.runs_code:
        raise InputError("holds no state_dict", path=path,
                         hint="save the weights with save_pretrained")
    torch = import_torch(f"reading {path}")
    try:
        # map_location="meta" rebuilds every tensor on the meta device: the pickle
        # is read, the (possibly many GB of) tensor data is not.
        obj = torch.load(path, map_location="meta", weights_only=not scan.runs_code)
    except Exception as exc:  # torch.load raises many types on a bad file
        raise InputError(f"cannot be read by torch.load ({_brief(exc)})",
                         path=path, hint="the file may be truncated; save it again") from None
    for part in scan.key or ():
        obj = obj[part] if isinstance(obj, dict) and part in obj else obj
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    tensors, nbytes = {}, 0
    for name, value in (obj.items() if isinstance(obj, dict) else ()):
        if isinstance(name, str) and isinstance(value, torch.Tensor):
            tensors[name] = (tuple(value.shape), str(value.dtype).replace("torch.", ""))
            nbytes += value.numel() * value.element_size()
    if not tensors:
        raise InputError("holds no tensors", path=path, hint="save the weights with "
                                                             "save_pretrained")
    return tensors, nbytes


def _read_json(path, hint):
    """The parsed JSON of ``path``; :class:`InputError` (with ``hint``) when it is not JSON."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path=path,
                         hint="check its permissions") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InputError("is not valid JSON", path=path, hint=hint) from None


def _read_index(path):
    """``tensor name -> shard file name`` from a sharded checkpoint's index."""
    data = _read_json(path, "save the model again with save_pretrained")
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise InputError("has no weight_map of tensor names to shard files", path=path,
                         hint="save the model again with save_pretrained")
    for shard in set(weight_map.values()):
        if os.path.isabs(shard) or ".." in shard.replace("\\", "/").split("/"):
            raise InputError(f"names shard {shard!r} outside the folder", path=path,
                             hint="shards must sit in the model folder")
    return weight_map


def read_weights_header(folder, *, unsafe_load=False):
    """Read the names, shapes and dtypes of a model folder's weights, headers only.

    Parameters
    ----------
    folder : str or os.PathLike
        A ``save_pretrained`` folder.
    unsafe_load : bool
        Also read ``.bin`` files that run code when loaded.

    Returns
    -------
    WeightsHeader or None
        None when the folder holds no weights in a known layout.

    Raises
    ------
    InputError
        A shard named by the index is missing, a header is corrupt, or the
        index puts a tensor in a shard that does not hold it.
    UnsafeFileError
        A ``.bin`` file would run code when loaded and ``unsafe_load`` is False.
    """
    folder = os.fspath(folder)
    for filename, fmt, is_index in _LAYOUTS:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            break
    else:
        return None

    def read_one(file_path):
        if fmt == "safetensors":
            return _safetensors_file(file_path)
        return _bin_file(file_path, unsafe_load)

    if not is_index:
        tensors, nbytes = read_one(path)
        files = (filename,)
    else:
        weight_map = _read_index(path)
        files = tuple(sorted(set(weight_map.values()), key=_natural_key))
        missing = [f for f in files if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise InputError(f"names shard {_listed(missing)}, which is missing from the "
                             "folder", path=path,
                             hint="download or copy the missing shard into the folder")
        tensors, nbytes, where = {}, 0, {}
        for shard in files:
            found, size = read_one(os.path.join(folder, shard))
            nbytes += size
            for name, entry in found.items():
                tensors[name] = entry
                where[name] = shard
        absent = [n for n, shard in weight_map.items() if where.get(n) != shard]
        if absent:
            name = sorted(absent, key=_natural_key)[0]
            raise InputError(f"puts {len(absent)} tensor(s) in shards that do not hold them "
                             f"(first: {name!r} in {weight_map[name]})", path=path,
                             hint="the index and the shards come from different saves; "
                                  "save the model again")
    tensors = {n: tensors[n] for n in sorted(tensors, key=_natural_key)}
    return WeightsHeader(path=path, format=fmt, files=files, tensors=tensors, nbytes=nbytes)


# --------------------------------------------------------------------------- building


def _import_transformers(folder):
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError("reading a Hugging Face model folder needs transformers, "
                                     "which is not installed", path=folder,
                                     hint=HF_EXTRA_HINT) from None
    return transformers


def _config_object(folder, data, transformers, unsafe_load, notes):
    """The ``PretrainedConfig`` of ``data``, never running code from the folder."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    path = os.path.join(folder, CONFIG_FILE)
    model_type = data.get("model_type")
    auto_map = data.get("auto_map")
    known = isinstance(model_type, str) and model_type in CONFIG_MAPPING
    version = getattr(transformers, "__version__", "?")
    if auto_map and (unsafe_load or not known):
        if not unsafe_load:
            raise UnsafeFileError(f"needs the folder's own Python code (auto_map: "
                                  f"{_listed(sorted(map(str, auto_map)), 2)}; model_type "
                                  f"{model_type!r} is not built into transformers {version})",
                                  path=path,
                                  hint=f"pass {_UNSAFE_FLAG} if you trust the folder's code")
        try:
            config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
        except Exception as exc:
            raise InputError(f"the folder's config code failed ({_brief(exc)})", path=path,
                             hint="check the folder's configuration_*.py") from None
        notes.append("ran the folder's own code (auto_map), as --unsafe-load allowed")
        return config, True
    if not isinstance(model_type, str) or not model_type:
        raise InputError("has no model_type", path=path,
                         hint="add the model_type (e.g. \"llama\") that save_pretrained writes")
    if not known:
        raise InputError(f"has model_type {model_type!r}, which transformers {version} does "
                         "not know", path=path,
                         hint="upgrade transformers (pip install -U transformers), or check "
                              "the model_type")
    if auto_map:
        notes.append(f"config.json names the folder's own code (auto_map); used transformers' "
                     f"built-in {model_type!r} classes instead (pass {_UNSAFE_FLAG} to use "
                     "the folder's code)")
    try:
        config = CONFIG_MAPPING[model_type].from_pretrained(folder)
    except Exception as exc:
        raise InputError(f"transformers cannot read it as a {model_type} config "
                         f"({_brief(exc)})", path=path,
                         hint="fix config.json, or save the model again") from None
    return config, False


def _model_class(config, transformers, remote, notes):
    """``(callable building the model from a config, its name)``."""
    architectures = getattr(config, "architectures", None) or []
    wanted = architectures[0] if architectures and isinstance(architectures[0], str) else None
    if remote:
        auto = getattr(transformers, _auto_name(wanted))
        return (lambda cfg, **kw: auto.from_config(cfg, trust_remote_code=True, **kw)), \
            wanted or auto.__name__
    if wanted:
        try:
            cls = getattr(transformers, wanted, None)
        except Exception:  # a lazy import that fails for a missing backend
            cls = None
        if cls is not None and hasattr(cls, "_from_config"):
            return cls._from_config, wanted
    auto = getattr(transformers, _auto_name(wanted))
    if wanted:
        notes.append(f"transformers has no class {wanted}; built it with {auto.__name__}")
    else:
        notes.append(f"config.json names no architecture; built {auto.__name__}")
    return auto.from_config, wanted or auto.__name__


def _auto_name(architecture):
    for suffix, auto in _AUTO_BY_SUFFIX:
        if architecture and architecture.endswith(suffix):
            return auto
    return "AutoModel"


def _build_dtype(header, data, torch):
    """The dtype to build in: the weights' floating dtype, else config.json's."""
    if header is not None:
        floating = [d for d in header.dtypes if d and d.startswith(("float", "bfloat"))
                    and not d.startswith("float8")]
        if floating:
            return getattr(torch, floating[0])
    text = data.get("dtype") or data.get("torch_dtype")
    value = getattr(torch, text, None) if isinstance(text, str) else None
    return value if isinstance(value, torch.dtype) and value.is_floating_point else torch.float32


def _expected_spaces(module):
    """The module's state_dict as checkpoints name it: converted back, then as is.

    transformers >= 5 renames (and fuses, e.g. MoE experts) some weights when
    loading and reverts that when saving, so a ``save_pretrained`` folder holds
    the reverted names; older folders and other writers hold the module's own.
    The reverted names come from transformers' own
    ``revert_weight_conversion``, run on the ``meta`` tensors (shapes only).
    """
    state = module.state_dict(keep_vars=True)
    spaces = []
    try:
        from transformers.core_model_loading import revert_weight_conversion

        reverted = revert_weight_conversion(module, dict(state))
        if isinstance(reverted, dict) and set(reverted) != set(state):
            spaces.append(reverted)
    except Exception:  # older transformers, or a conversion that needs real data
        pass
    spaces.append(state)
    return spaces


def _shapes_and_ties(state):
    """``(name -> shape, groups of names sharing one tensor)``."""
    shapes = {name: tuple(value.shape) for name, value in state.items()}
    by_id = {}
    for name, value in state.items():
        by_id.setdefault(id(value), []).append(name)
    return shapes, [names for names in by_id.values() if len(names) > 1]


def _ignored(name, patterns):
    return any(re.search(p, name) for p in patterns or ())


def _align_prefix(module, expected, names):
    """Checkpoint names renamed to the module's, for a base-model checkpoint; and a note."""
    prefix = getattr(module, "base_model_prefix", "") or ""
    if not prefix or expected & set(names):
        return {n: n for n in names}, None
    added = {n: f"{prefix}.{n}" for n in names}
    if expected & set(added.values()):
        return added, f"the weights are those of the base model; prefixed them with '{prefix}.'"
    stripped = {n: n[len(prefix) + 1:] if n.startswith(prefix + ".") else n for n in names}
    if expected & set(stripped.values()):
        return stripped, f"removed the '{prefix}.' prefix of the weights' names"
    return {n: n for n in names}, None


def _compare(module, state, header):
    expected, tied = _shapes_and_ties(state)
    renamed, note = _align_prefix(module, set(expected), list(header.tensors))
    found = {renamed[name]: shape for name, (shape, _) in header.tensors.items()}
    missing_patterns = getattr(module, "_keys_to_ignore_on_load_missing", None)
    unexpected_patterns = getattr(module, "_keys_to_ignore_on_load_unexpected", None)
    satisfied = set(found)
    for group in tied:
        if satisfied & set(group):
            satisfied |= set(group)
    missing = [n for n in expected if n not in satisfied and not _ignored(n, missing_patterns)]
    unexpected = [n for n in found if n not in expected and not _ignored(n, unexpected_patterns)]
    shapes = {n: (tuple(found[n]), expected[n]) for n in found
              if n in expected and tuple(found[n]) != expected[n]}
    return {"missing": missing, "unexpected": unexpected, "shape": shapes}, \
        ([note] if note else [])


def check_weights(module, header):
    """Compare a module's state_dict with a checkpoint's header, by name.

    Names are compared as transformers saves them (its weight conversions
    reverted, see :func:`_expected_spaces`) and as the module has them; the
    closer match is reported. Tied tensors (``lm_head.weight`` sharing the
    embedding when ``tie_word_embeddings``) need to appear only once; names
    the model class declares ignorable (``_keys_to_ignore_on_load_missing``
    / ``_unexpected``) are not counted; a base-model checkpoint for a model
    with a head (or the reverse) is matched through ``base_model_prefix``.

    Parameters
    ----------
    module : torch.nn.Module
        The architecture (any device, usually ``meta``).
    header : WeightsHeader
        The checkpoint's tensors.

    Returns
    -------
    problems : dict
        ``missing`` (names), ``unexpected`` (names) and ``shape`` (``name ->
        (checkpoint shape, module shape)``); all empty when they match.
    notes : list of str
        What was adjusted (a base-model prefix).
    """
    best = None
    for state in _expected_spaces(module):
        problems, notes = _compare(module, state, header)
        count = sum(len(v) for v in problems.values())
        if best is None or count < best[0]:
            best = (count, problems, notes)
    return best[1], best[2]


def _mismatch_error(problems, header, architecture):
    parts = []
    if problems["missing"]:
        parts.append(f"{len(problems['missing'])} missing ({_listed(problems['missing'])})")
    if problems["unexpected"]:
        parts.append(f"{len(problems['unexpected'])} unexpected "
                     f"({_listed(problems['unexpected'])})")
    if problems["shape"]:
        names = sorted(problems["shape"], key=_natural_key)
        shown = ", ".join(f"{n} {_shape_text(problems['shape'][n][0])} in the weights vs "
                          f"{_shape_text(problems['shape'][n][1])} from config.json"
                          for n in names[:_SHOWN])
        more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
        parts.append(f"{len(names)} of another shape ({shown}{more})")
    return InputError(f"does not match the {architecture} that config.json describes: "
                      + "; ".join(parts) + " tensors", path=header.path,
                      hint="check that config.json and the weights come from the same model, "
                           "or save the folder again with save_pretrained")


# --------------------------------------------------------------------------- inputs


def _first(config, *names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def _sub_config(config, name):
    sub = getattr(config, name, None)
    return sub if sub is not None and hasattr(sub, "to_dict") else None


def _seq_len(config):
    limit = _first(config, "max_position_embeddings", "n_positions", "max_seq_len",
                   "seq_length")
    return max(1, min(_SEQ_LEN, limit)) if isinstance(limit, int) and limit > 0 else _SEQ_LEN


def _image_size(config):
    size = _first(config, "image_size", default=224)
    if isinstance(size, dict):
        size = size.get("height") or size.get("shortest_edge") or 224
    if isinstance(size, (list, tuple)):
        return tuple(int(s) for s in size[:2]) if len(size) >= 2 else (int(size[0]),) * 2
    return (int(size), int(size))


def _forward_params(module):
    import inspect

    try:
        return inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return {}


def example_inputs(module, config, *, dtype=None, device="meta", kv_cache=False):
    """Keyword example inputs for a transformers model, by what its forward takes.

    - token ids (ones, ``[1, 16]`` or the position limit) and an attention
      mask for text models,
    - ``pixel_values`` ``[1, num_channels, H, W]`` at ``config.image_size``
      for vision models,
    - ``input_features`` ``[1, num_mel_bins, 2 * max_source_positions]``
      (3000 frames for Whisper) or ``input_values`` ``[1, 16000]`` for audio,
    - ``decoder_input_ids`` ``[1, 8]`` for encoder–decoders,
    - both token ids and pixel values for dual encoders such as CLIP,
    - ``use_cache=False`` whenever ``forward`` accepts it, unless
      ``kv_cache`` (the CLI's ``--kv-cache``).

    Parameters
    ----------
    module : transformers.PreTrainedModel
    config : transformers.PretrainedConfig
    dtype : torch.dtype, optional
        Floating dtype of the inputs (the model's); float32 by default.
    device : str
        Where the tensors are made: ``meta`` (the default) matches a module
        built on ``meta``; model code that makes tensors on its inputs'
        device then stays on one device.
    kv_cache : bool
        Leave ``use_cache`` to the model (draw the KV cache).

    Returns
    -------
    kwargs : dict
        ``name -> tensor`` plus ``use_cache``.
    notes : list of str
        What was assumed, for the graph's notes.
    """
    import torch

    dtype = dtype or torch.float32
    params = _forward_params(module)
    main = getattr(module, "main_input_name", "input_ids")
    kwargs, shown = {}, []
    vision = _sub_config(config, "vision_config")
    text = _sub_config(config, "text_config")

    def tokens(cfg, name="input_ids"):
        length = _seq_len(cfg)
        kwargs[name] = torch.ones(1, length, dtype=torch.long)
        shown.append(f"{name} [1, {length}]")
        if name == "input_ids" and "attention_mask" in params:
            kwargs["attention_mask"] = torch.ones(1, length, dtype=torch.long)
            shown[-1] += " with attention_mask"

    def pixels(cfg):
        height, width = _image_size(cfg)
        channels = int(_first(cfg, "num_channels", default=3))
        kwargs["pixel_values"] = torch.randn(
            1, channels, height, width, generator=torch.Generator().manual_seed(0)).to(dtype)
        shown.append(f"pixel_values [1, {channels}, {height}, {width}]")

    if main == "pixel_values" or ("pixel_values" in params and "input_ids" not in params):
        pixels(vision or config)
    elif main == "input_features":
        bins = int(_first(config, "num_mel_bins", "feature_size", default=80))
        frames = 2 * int(_first(config, "max_source_positions", default=1500))
        kwargs["input_features"] = torch.zeros(1, bins, frames, dtype=dtype)
        shown.append(f"input_features [1, {bins}, {frames}]")
    elif main == "input_values":
        kwargs["input_values"] = torch.zeros(1, _AUDIO_SAMPLES, dtype=dtype)
        shown.append(f"input_values [1, {_AUDIO_SAMPLES}]")
    else:
        tokens(text or config)
        if "pixel_values" in params and vision is not None:
            pixels(vision)
    if getattr(config, "is_encoder_decoder", False) and "decoder_input_ids" in params:
        kwargs["decoder_input_ids"] = torch.ones(1, _DECODER_LEN, dtype=torch.long)
        shown.append(f"decoder_input_ids [1, {_DECODER_LEN}]")
    notes = [f"example inputs: {', '.join(shown)} (pass --input-shape to change them)"]
    kwargs = {k: v.to(device) for k, v in kwargs.items()}
    if "use_cache" in params and not kv_cache:
        # the same sentence as graphir.converters._cache.without_cache
        kwargs["use_cache"] = False
        notes.append("drawn without the KV cache (use_cache=False); pass --kv-cache to draw it")
    return kwargs, notes


def to_module_device(module, args, kwargs):
    """``(args, kwargs)`` with every tensor on ``module``'s device, floats in its dtype.

    For inputs made elsewhere (``--input-shape`` gives float32 on the CPU) and
    a module built on ``meta``, possibly in bfloat16.
    """
    first = next(iter(module.parameters()), None)
    if first is None:
        return tuple(args or ()), dict(kwargs or {})

    def move(value):
        if not (hasattr(value, "to") and hasattr(value, "is_floating_point")):
            return value
        if value.is_floating_point() and first.is_floating_point():
            return value.to(device=first.device, dtype=first.dtype)
        return value.to(first.device)

    return (tuple(move(a) for a in args or ()),
            {k: move(v) for k, v in (kwargs or {}).items()})


# --------------------------------------------------------------------------- the model


@dataclasses.dataclass
class HFModel:
    """A model folder's architecture, ready for a converter.

    Attributes
    ----------
    module : torch.nn.Module
        Built from ``config.json`` on the ``meta`` device (no weights).
    args : tuple
        Positional example inputs (empty: transformers models take keywords).
    kwargs : dict
        Keyword example inputs (see :func:`example_inputs`).
    name : str
        The folder's name.
    facts : dict
        ``architecture``, ``model_type``, ``parameters`` (unique, from the
        module), ``dtype`` (built in), and for the weights ``weights_format``,
        ``weights_files``, ``weights_tensors``, ``weights_bytes``,
        ``weights_dtypes`` (``dtype -> count``); the weights keys are absent
        for a folder without weights.
    notes : list of str
        What was assumed or adjusted, one sentence each.
    config : transformers.PretrainedConfig
    header : WeightsHeader or None
    """

    module: object
    args: tuple
    kwargs: dict
    name: str
    facts: dict
    notes: list
    config: object = None
    header: object = None


def build_hf_model(folder, *, unsafe_load=False, strict=True, inputs=True, kv_cache=False):
    """Build a Hugging Face folder's architecture on ``meta`` and check its weights.

    Parameters
    ----------
    folder : str or os.PathLike
        A folder written by ``save_pretrained`` (``config.json`` and weights).
        A folder with ``config.json`` alone gives the architecture, with a note.
    unsafe_load : bool
        Run the folder's own code (``auto_map``) and read ``.bin`` files that
        run code when loaded. Off by default.
    strict : bool
        Raise when the weights do not match the architecture; otherwise the
        mismatch becomes a note.
    inputs : bool
        Also make example inputs (see :func:`example_inputs`).
    kv_cache : bool
        Do not pass ``use_cache=False`` (``--kv-cache``).

    Returns
    -------
    HFModel

    Raises
    ------
    InputError
        No ``config.json``; an unknown ``model_type``; a missing shard; a
        corrupt header; weights that do not match (``strict``).
    UnsafeFileError
        The model needs the folder's code, or a ``.bin`` would run code, and
        ``unsafe_load`` is False.
    MissingDependencyError
        transformers (or torch) is not installed.

    Examples
    --------
    >>> hf = build_hf_model("path/to/folder")                    # doctest: +SKIP
    >>> G = graphir.convert(hf.module, hf.args, example_kwargs=hf.kwargs,
    ...                     name=hf.name)                        # doctest: +SKIP
    """
    folder = os.fspath(folder)
    data = read_config(folder)
    transformers = _import_transformers(folder)
    from graphir.util.optional import import_torch

    torch = import_torch(f"reading {folder}")
    notes = []
    config, remote = _config_object(folder, data, transformers, unsafe_load, notes)
    header = read_weights_header(folder, unsafe_load=unsafe_load)
    build, architecture = _model_class(config, transformers, remote, notes)
    dtype = _build_dtype(header, data, torch)
    try:
        with torch.device("meta"):
            try:
                module = build(config, dtype=dtype)
            except TypeError as exc:  # transformers < 4.56 calls it torch_dtype
                if "dtype" not in str(exc):
                    raise
                module = build(config, torch_dtype=dtype)
    except Exception as exc:
        raise InputError(f"building {architecture} from it failed ({_brief(exc)})",
                         path=os.path.join(folder, CONFIG_FILE),
                         hint="check the config's sizes, or upgrade transformers") from None
    module.eval()
    architecture = type(module).__name__
    unique = {id(p): p for p in module.parameters()}
    facts = {"architecture": architecture, "model_type": getattr(config, "model_type", None),
             "parameters": sum(p.numel() for p in unique.values()),
             "dtype": str(dtype).replace("torch.", "")}
    if header is None:
        others = [n for n in _OTHER_WEIGHTS if os.path.isfile(os.path.join(folder, n))]
        found = f" (its {', '.join(others)} is not read)" if others else ""
        notes.append("the folder holds no PyTorch weights (model.safetensors, pytorch_model.bin "
                     f"or their index){found}; drew the architecture from config.json alone")
    else:
        problems, more = check_weights(module, header)
        notes += more
        quantized = _quantization(data)
        if any(problems.values()):
            error = _mismatch_error(problems, header, architecture)
            if quantized:
                notes.append(f"config.json declares {quantized} quantization: the weights' "
                             f"names and shapes differ from the unquantized {architecture} "
                             "drawn here, as expected")
            elif strict:
                raise error
            else:
                notes.append(error.one_line())
        facts.update(weights_format=header.format, weights_files=list(header.files),
                     weights_tensors=header.count, weights_bytes=header.nbytes,
                     weights_dtypes=header.dtypes)
        where = header.files[0] if len(header.files) == 1 else \
            f"{len(header.files)} shards of {os.path.basename(header.path)}"
        notes.append(f"checked {header.count:,} tensors ({_size(header.nbytes)}, "
                     f"{', '.join(header.dtypes)}) in {where} against {architecture} by "
                     "their headers; no weights were read")
    kwargs = {}
    if inputs:
        kwargs, more = example_inputs(module, config, dtype=dtype, kv_cache=kv_cache)
        notes += more
    name = os.path.basename(os.path.normpath(os.path.abspath(folder))) or architecture
    return HFModel(module=module, args=(), kwargs=kwargs, name=name, facts=facts, notes=notes,
                   config=config, header=header)


def _quantization(data):
    """The quantization method config.json declares (``gptq``, ``awq``...), or None."""
    config = data.get("quantization_config")
    if not isinstance(config, dict):
        return None
    method = config.get("quant_method") or config.get("quantization_method")
    return str(method) if method else "a"


def _size(nbytes):
    """Human-readable bytes: ``1.2 GB``."""
    if nbytes < 1000:
        return f"{nbytes} B"
    for unit in ("KB", "MB", "GB"):
        nbytes /= 1000
        if nbytes < 1000 or unit == "GB":
            break
    return f"{nbytes:.1f} {unit}"


# --------------------------------------------------------------------------- diff


def diff_headers(old, new):
    """Compare two folders' weights by their headers: names, shapes, dtypes.

    Parameters
    ----------
    old, new : WeightsHeader or None
        From :func:`read_weights_header` (None: a folder without weights).

    Returns
    -------
    dict
        ``removed`` and ``added`` (names), ``shape`` (``name -> (old, new)``),
        ``dtype`` (``name -> (old, new)``), ``same`` (count of tensors equal
        in name, shape and dtype), and ``old_bytes``/``new_bytes``. Values are
        not compared: that would read the weights.

    Examples
    --------
    >>> a = WeightsHeader("a", "safetensors", ("a",), {"w": ((2, 3), "float32")}, 24)
    >>> b = WeightsHeader("b", "safetensors", ("b",), {"w": ((3, 3), "float32"),
    ...                                                 "v": ((3,), "float32")}, 48)
    >>> d = diff_headers(a, b)
    >>> d["added"], d["shape"]
    (['v'], {'w': ((2, 3), (3, 3))})
    """
    old_t = old.tensors if old is not None else {}
    new_t = new.tensors if new is not None else {}
    both = [n for n in old_t if n in new_t]
    return {
        "removed": sorted((n for n in old_t if n not in new_t), key=_natural_key),
        "added": sorted((n for n in new_t if n not in old_t), key=_natural_key),
        "shape": {n: (tuple(old_t[n][0]), tuple(new_t[n][0])) for n in both
                  if tuple(old_t[n][0]) != tuple(new_t[n][0])},
        "dtype": {n: (old_t[n][1], new_t[n][1]) for n in both if old_t[n][1] != new_t[n][1]},
        "same": sum(1 for n in both if tuple(old_t[n][0]) == tuple(new_t[n][0])
                    and old_t[n][1] == new_t[n][1]),
        "old_bytes": old.nbytes if old is not None else 0,
        "new_bytes": new.nbytes if new is not None else 0,
    }


def headers_diff_text(diff, *, limit=20):
    """Plain-text lines for :func:`diff_headers`' result (one section per change kind).

    Examples
    --------
    >>> print(headers_diff_text({"removed": [], "added": ["v"], "shape": {}, "dtype": {},
    ...                          "same": 1, "old_bytes": 24, "new_bytes": 36}))
    weights: 1 tensor(s) the same, 1 added, 0 removed, 0 reshaped, 0 of another dtype (24 B -> 36 B)
      + v
    """
    lines = [f"weights: {diff['same']} tensor(s) the same, {len(diff['added'])} added, "
             f"{len(diff['removed'])} removed, {len(diff['shape'])} reshaped, "
             f"{len(diff['dtype'])} of another dtype ({_size(diff['old_bytes'])} -> "
             f"{_size(diff['new_bytes'])})"]
    entries = ([f"  - {n}" for n in diff["removed"]] + [f"  + {n}" for n in diff["added"]]
               + [f"  ~ {n} {_shape_text(a)} -> {_shape_text(b)}"
                  for n, (a, b) in sorted(diff["shape"].items(), key=lambda i: _natural_key(i[0]))]
               + [f"  ~ {n} {a} -> {b}"
                  for n, (a, b) in sorted(diff["dtype"].items(), key=lambda i: _natural_key(i[0]))])
    lines += entries[:limit]
    if len(entries) > limit:
        lines.append(f"  ... and {len(entries) - limit} more")
    return "\n".join(lines)
