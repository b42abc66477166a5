"""Weights without an architecture: the parameter tree of a state_dict.

A bare ``.pth``/``.safetensors`` file holds named tensors and nothing about
how they are used, so its IR is the module tree those names spell: one
``kind="module"`` node per module path (``""`` the model, ``layer1``,
``layer1.0``, ``layer1.0.conv1``), edges from parent to child, and on each
node the tensors it owns directly (``params``). Names of BatchNorm running
statistics (``running_mean``, ``running_var``, ``num_batches_tracked``) and a
few other conventional buffer names are marked ``kind="buffer"``, so totals
count parameters the way ``torchinfo`` does; the caller can pass the exact
buffer names when it knows them.

Every module node also carries element counts: ``own_params`` and
``own_buffers`` (its direct tensors), ``subtree_params`` and
``subtree_buffers`` (with its descendants) and ``child_modules``. They are
not named ``total_params``/``children``: those mean "this node stands for a
collapsed subtree" in the IR, and :func:`graphir.ir.graph_param_count` would
add nested totals up many times.

:func:`load_weights_into` loads a state_dict into an architecture with
strict checks, for ``--model FILE.py:CALLABLE``.

Examples
--------
>>> G = from_state_dict({"fc.weight": ([2, 4], "float32"), "fc.bias": ([2], "float32")},
...                     name="tiny")
>>> list(G.nodes), list(G.edges())
(['module:', 'module:fc'], [('module:', 'module:fc')])
>>> G.nodes["module:fc"]["own_params"], G.nodes["module:"]["subtree_params"]
(10, 10)
"""

from collections.abc import Mapping

from graphir import ir
from graphir.converters._torch_common import canonical_names, class_name, dtype_name
from graphir.errors import ConversionError, InputError

__all__ = ["BUFFER_NAMES", "from_state_dict", "from_module_weights", "load_weights_into"]

#: Last name components that are buffers by convention when nothing says otherwise.
BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked",
                          "position_ids", "inv_freq"})
_SHOWN_KEYS = 5


def _node_id(path):
    return f"module:{path}"


def _describe(value, name):
    """``(shape, IR dtype)`` of a tensor-like value or a ``(shape, dtype)`` pair."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return [int(d) for d in value.shape], dtype_name(value.dtype)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        shape, dtype = value
        if isinstance(shape, (tuple, list)):
            return [int(d) for d in shape], dtype if dtype in ir.DTYPES else None
    raise ConversionError(f"state_dict entry {name!r} is a {type(value).__name__}, "
                          "not a tensor or (shape, dtype)",
                          hint="pass a mapping of names to tensors")


def _module_paths(names):
    """Every module path the names spell, parents before children, in order."""
    paths = {"": None}
    for name in names:
        parts = name.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            paths.setdefault(".".join(parts[:i]), None)
    return list(paths)


def _tensor_entries(tensors, buffers, trainable):
    """``{name: (owner path, params entry)}``, with buffer and tied marks."""
    has_storage = all(hasattr(v, "data_ptr") for v in tensors.values())
    canonical = canonical_names(tensors.items()) if has_storage and tensors else {}
    entries = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ConversionError(f"state_dict key {name!r} is not a non-empty string",
                                  hint="pass a mapping of names to tensors")
        shape, dtype = _describe(value, name)
        is_buffer = name in buffers if buffers is not None else \
            name.rpartition(".")[2] in BUFFER_NAMES
        info = ir.param_info(shape, dtype)
        if is_buffer:
            info["kind"] = "buffer"
        elif trainable is not None and name not in trainable:
            info["trainable"] = False
        if canonical.get(name, name) != name:
            info["tied_to"] = canonical[name]
        entries[name] = (name.rpartition(".")[0], info)
    return entries


def _counts(entries):
    """``{path: [params, buffers]}`` of each module's own tensors (tied ones skipped)."""
    own = {}
    for owner, info in entries.values():
        counts = own.setdefault(owner, [0, 0])
        if "tied_to" not in info:
            counts[info.get("kind") == "buffer"] += ir.numel(info["shape"]) or 0
    return own


def from_state_dict(tensors, *, name, buffers=None, module_types=None, trainable=None,
                    metadata=None):
    """The parameter tree of a state_dict (source ``state_dict``).

    Parameters
    ----------
    tensors : Mapping
        ``name -> tensor`` (anything with ``shape`` and ``dtype``), or
        ``name -> (shape, dtype)`` with an IR dtype (a safetensors header).
    name : str
        Model name.
    buffers : collection of str, optional
        The names that are buffers. When None, buffers are told by their
        last component (:data:`BUFFER_NAMES`).
    module_types : Mapping, optional
        ``path -> class name`` when the architecture is known.
    trainable : collection of str, optional
        Parameter names that require grad; the others get
        ``"trainable": False``. None means all.
    metadata : Mapping, optional
        Checkpoint facts (epoch, ...), stored as ``G.graph["metadata"]``.

    Returns
    -------
    networkx.MultiDiGraph
        One ``module`` node per module path, parent -> child edges.
        Tied tensors (one storage under two names) carry ``tied_to`` and
        count once.

    Raises
    ------
    ConversionError
        When an entry is neither a tensor nor ``(shape, dtype)``.
    """
    if not isinstance(tensors, Mapping):
        raise ConversionError(f"expected a mapping of names to tensors, got "
                              f"{type(tensors).__name__}", hint="pass a state_dict")
    types = {path: class_name(t) for path, t in (module_types or {}).items()}
    entries = _tensor_entries(tensors, set(buffers) if buffers is not None else None,
                              set(trainable) if trainable is not None else None)
    paths = _module_paths(entries)
    own = _counts(entries)
    subtree = {path: [0, 0] for path in paths}
    for path, (n_params, n_buffers) in own.items():
        parts = path.split(".") if path else []
        for i in range(len(parts) + 1):
            subtree[".".join(parts[:i])][0] += n_params
            subtree[".".join(parts[:i])][1] += n_buffers
    children = {path: 0 for path in paths}
    for path in paths[1:]:
        children[path.rpartition(".")[0]] += 1
    G = ir.new_graph("state_dict", name)
    if metadata:
        G.graph["metadata"] = dict(metadata)
    params = {path: {} for path in paths}
    for tensor_name, (owner, info) in entries.items():
        params[owner][tensor_name] = info
    for path in paths:
        parent = path.rpartition(".")[0]
        ir.add_node(G, _node_id(path), kind="module", op="module", name=path or name,
                    label=path.rpartition(".")[2] if path else name, module=path,
                    module_type=types.get(path),
                    scope=ir.scope_from_path(path, types.get(path), types),
                    params=params[path],
                    own_params=own.get(path, [0, 0])[0], own_buffers=own.get(path, [0, 0])[1],
                    subtree_params=subtree[path][0], subtree_buffers=subtree[path][1],
                    child_modules=children[path])
        if path:
            ir.add_edge(G, _node_id(parent), _node_id(path))
    return G


def from_module_weights(module, *, name=None):
    """The parameter tree of an ``nn.Module``'s own weights, with exact kinds and types.

    For a module known without example inputs (an unpickled ``nn.Module``):
    parameters and buffers are told apart by the module, and every module
    path gets its class name.
    """
    state = {}
    for qualified, value in module.named_parameters(remove_duplicate=False):
        state[qualified] = value
    buffer_names = set()
    for qualified, value in module.named_buffers(remove_duplicate=False):
        state[qualified] = value
        buffer_names.add(qualified)
    trainable = {n for n, p in module.named_parameters(remove_duplicate=False)
                 if p.requires_grad}
    types = {path: type(sub).__name__ for path, sub in module.named_modules()}
    return from_state_dict(state, name=name or type(module).__name__, buffers=buffer_names,
                           module_types=types, trainable=trainable)


def _listed(items, noun):
    shown = ", ".join(items[:_SHOWN_KEYS])
    more = f", and {len(items) - _SHOWN_KEYS} more" if len(items) > _SHOWN_KEYS else ""
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''} ({shown}{more})"


def _prefix_hint(missing, unexpected):
    """A hint when the file's keys differ from the model's by one leading prefix."""
    if not missing or not unexpected:
        return None
    prefixes = {k.split(".", 1)[0] for k in unexpected}
    if len(prefixes) == 1:
        prefix = prefixes.pop() + "."
        if {k[len(prefix):] for k in unexpected} & set(missing):
            return f"the file's keys start with {prefix!r} where the model's do not"
    prefixes = {k.split(".", 1)[0] for k in missing}
    if len(prefixes) == 1:
        prefix = prefixes.pop() + "."
        if {k[len(prefix):] for k in missing} & set(unexpected):
            return f"the model's keys start with {prefix!r} where the file's do not"
    return None


def load_weights_into(module, state_dict, *, path=None):
    """Load ``state_dict`` into ``module``, strictly; name what does not fit.

    Shapes are compared first, then ``module.load_state_dict(strict=False)``
    runs (so modules' own compatibility hooks, such as BatchNorm's for old
    checkpoints without ``num_batches_tracked``, apply) and any missing or
    unexpected key is an error.

    Parameters
    ----------
    module : torch.nn.Module
        The architecture, from ``--model FILE.py:CALLABLE``.
    state_dict : Mapping
        ``name -> tensor``.
    path : str, optional
        The weights file, for messages.

    Raises
    ------
    InputError
        Naming the first few missing keys, unexpected keys and shape
        mismatches, with their counts.
    """
    expected = module.state_dict()
    mismatched = [f"{k}: {list(v.shape)} in the file, {list(expected[k].shape)} in the model"
                  for k, v in state_dict.items()
                  if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if mismatched:
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
    else:
        try:
            result = module.load_state_dict(dict(state_dict), strict=False)
        except Exception as exc:  # dtype or device trouble inside torch
            raise InputError(f"the weights cannot be loaded into {type(module).__name__} "
                             f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]})",
                             path=path, hint="check that --model builds the architecture "
                                             "these weights were saved from") from exc
        missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    problems = [_listed(items, noun) for items, noun in (
        (missing, "missing key"), (unexpected, "unexpected key"),
        (mismatched, "shape mismatch")) if items]
    if problems:
        hint = _prefix_hint(missing, unexpected) or \
            "check that --model builds the architecture these weights were saved from"
        raise InputError(f"the weights do not fit {type(module).__name__}: "
                         f"{'; '.join(problems)}", path=path, hint=hint)
