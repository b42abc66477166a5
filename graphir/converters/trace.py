"""Capture a PyTorch module by recording one eager forward pass (source ``"trace"``).

The fast capture path. :func:`from_trace` runs the model once, eagerly, on
the example inputs, and records every call that reaches a
``torch.overrides.TorchFunctionMode``: ``torch.*`` functions, ``Tensor``
methods and operators (``x + y`` arrives as ``Tensor.add``) and
``torch.nn.functional.*``. That is the level users write models at
(``conv2d``, ``linear``, ``layer_norm``, ``softmax``, ``matmul``, ``view``),
and each call is recorded once: while the mode handles a call it is
switched off, so what ``F.layer_norm`` calls inside is not seen. A
``TorchDispatchMode`` would see aten ops after decomposition instead
(``linear`` as ``t`` + ``addmm``, every ``expand`` and ``detach``) and cost
more per op. No graph is traced, guarded or re-run, so capture costs about
one eager forward plus a few microseconds per op, where ``torch.export``
costs seconds.

What is recorded:

- every call returning tensors is one ``op`` node, with ``op`` the
  function's qualified name (``torch.nn.functional.conv2d``,
  ``torch.Tensor.view``, ``torch.add``) and ``label`` its short name; calls
  returning no tensor (``size``, ``shape``, ``dim``, ``__bool__``, ``item``)
  are not nodes;
- ``outputs`` are the shapes and dtypes of the real results; a call
  returning several tensors (``split``, ``chunk``, ``max(dim=...)``) has one
  entry per tensor and its consumers read them through ``src_port``;
- an argument tensor produced by an earlier call (or an input) is an edge;
  a parameter, buffer or tensor attribute of a module is a ``params`` entry
  under its qualified name (tied weights under their first name), never a
  node; other arguments are ``attrs``, keyed by parameter name;
- an in-place call (``relu_``, ``add_``, ``x[i] = v``) becomes the new
  producer of the tensor it changes; a call with no tensor argument
  (``torch.arange``) is a node without incoming edges;
- ``module``, ``module_type`` and ``scope`` come from a forward pre-hook and
  hook on every submodule (removed afterwards), which keep the stack of
  modules being called;
- inputs are named from ``forward``'s signature (``input:input_ids``),
  outputs from the output structure (``output:last_hidden_state``); a KV
  cache in the output (a ``transformers`` ``Cache``) is one grouped
  ``output:cache`` node, not two outputs per layer;
- on the ``meta`` device, value reads (``item``, ``bool(t)``) get
  placeholders and a warning (see :func:`from_trace`); a failing forward
  names the module it failed in, or with ``partial=True`` ends the graph in
  an ``op="error"`` node.

Tensors are matched to their producers by object identity during the pass
(a weak reference confirms the object is still the same); node ids come
from :class:`graphir.ir.IdAllocator` in execution order, so they are
deterministic. Aliasing is not followed: an in-place change made through a
view leaves the producer of the viewed tensor as it was.

The module runs under ``torch.no_grad()`` in the train/eval mode it is in;
its buffers and the CPU random state are restored afterwards.

Examples
--------
>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
>>> G = from_trace(model, (torch.randn(2, 4),))
>>> [(n, G.nodes[n]["op"]) for n in G]  # doctest: +NORMALIZE_WHITESPACE
[('input:input', 'input'), ('0/linear#0', 'torch.nn.functional.linear'),
 ('1/relu#0', 'torch.nn.functional.relu'), ('output:output', 'output')]
>>> sorted(G.nodes["0/linear#0"]["params"])
['0.bias', '0.weight']
"""

import contextlib
import functools
import gc
import inspect
import sys
import weakref

from graphir import ir
from graphir.converters._cache import cache_key, group_attrs
from graphir.converters._torch_common import (
    _children, bind_example, canonical_names, dtype_name, import_torch, iter_leaves, json_value,
    kept_state, leaf_name, weight_info,
)
from graphir.converters.stats import tensor_stats
from graphir.errors import ConversionError, GraphIRError
from graphir.util.text import brief as _brief

__all__ = ["from_trace"]

#: ``(module, module_type, scope)`` of code running outside any submodule.
_ROOT_SCOPE = ("", None, ())

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

#: torch function -> ``(op, label, positional parameter names)``; filled on first use.
_OP_INFO: dict = {}

#: Argument types that are already JSON-safe attribute values.
_PLAIN = (type(None), bool, int, str)


def from_trace(module, example_args, example_kwargs=None, *, name=None, stats=False,
               partial=False):
    """Record one eager forward pass of ``module`` as an IR (source ``"trace"``).

    Parameters
    ----------
    module : torch.nn.Module
        The model, in the mode it should be captured in; it is not switched
        to eval mode and is left as it was (buffers, random state, no hooks).
    example_args : tuple or torch.Tensor
        Positional example inputs (a single tensor is taken as one input).
    example_kwargs : dict, optional
        Keyword example inputs.
    name : str, optional
        Model name (default: the module's class name).
    stats : bool
        Also record activation statistics (:func:`graphir.converters.stats.tensor_stats`)
        of every op's first output and of every input, as ``stats`` on the node.
    partial : bool
        When the forward pass raises, return the graph captured up to the
        failing call instead of raising: that call is an ``op="error"`` node
        (``attrs``: ``exception``, ``call``, ``input_shapes``), the graph has
        no outputs, ``graph["partial"]`` says where it failed and a warning
        says the graph is partial.

    Returns
    -------
    networkx.MultiDiGraph
        The IR.

    Raises
    ------
    ConversionError
        When ``module`` is not a module, the inputs do not fit its
        ``forward``, the forward pass fails (the message names the module
        path where it failed; not with ``partial``), or it returns no tensor.

    Notes
    -----
    On the ``meta`` device tensors have shapes but no values. Reads of a
    value into Python (``item``, ``tolist``, ``bool(t)``, ``int(t)``) are
    answered with a placeholder (``True`` for truth tests, ``1``/``1.0`` for
    numbers) instead of failing, ``nonzero``/``argwhere`` assume every
    element is nonzero (torch's ``meta_nonzero_assume_all_nonzero``), and a
    warning on the graph names each place, since a branch or shape that
    depends on such a value follows an all-ones input.

    Examples
    --------
    >>> import torch
    >>> G = from_trace(torch.nn.Conv2d(3, 8, 3), torch.randn(1, 3, 8, 8), stats=True)
    >>> conv = G.nodes["conv2d#0"]
    >>> conv["label"], conv["outputs"], sorted(conv["params"])
    ('conv2d', [{'shape': [1, 8, 6, 6], 'dtype': 'float32'}], ['bias', 'weight'])
    >>> conv["stats"]["numel"]
    288
    """
    import_torch()
    name = name or type(module).__name__
    bound = bind_example(module, example_args, example_kwargs, name)
    with _gc_paused():
        recorder = _Recorder(name, _weight_table(module), stats)
        recorder.add_inputs(bound)
        output = _run_recorded(module, bound, recorder, name, partial)
        if "partial" not in recorder.G.graph:
            recorder.add_outputs(output, name)
    warning = recorder.approximation_warning()
    if warning:
        recorder.G.graph.setdefault("warnings", []).insert(0, warning)
    return recorder.G


# --------------------------------------------------------------------------
# Running the model
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector (if on) for the capture.

    The capture allocates a few small containers per op; collections they
    trigger would walk every object torch keeps alive, again and again,
    which costs about as much as the recording itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: Tensor methods that read a tensor's values into Python; on ``meta`` tensors
#: (which have none) the trace answers them with a placeholder.
_DATA_READS = ("item", "tolist", "__bool__", "__int__", "__float__", "__index__")


def _placeholder(func_name, tensor):
    """The documented stand-in for a value read from a ``meta`` tensor.

    Truth tests and ``item`` of a bool tensor answer ``True``; numbers answer
    ``1`` (``1.0`` for floating dtypes); ``tolist`` answers a nested list of
    those in the tensor's shape. ``True``/``1`` keep the common branches of
    model code (HF's "the mask is all ones, skip it" test) on the path a real
    all-ones input would take.
    """
    if func_name == "__bool__" or tensor.dtype == import_torch().bool:
        one = True
    elif tensor.is_floating_point() or func_name == "__float__":
        one = 1.0
    else:
        one = 1
    if func_name != "tolist":
        return one
    value = one
    for size in reversed(tuple(tensor.shape)):
        value = [value] * int(size)
    return value


@functools.cache
def _mode_class():
    """The ``TorchFunctionMode`` that runs each call, then records it."""
    torch = import_torch()
    from torch.overrides import TorchFunctionMode

    data_reads = {getattr(torch.Tensor, name): name for name in _DATA_READS}
    # data-dependent shapes: on meta, torch assumes every element is nonzero
    # (see _meta_nonzero); the recorder counts them for the warning
    nonzero = {torch.nonzero: "nonzero", torch.Tensor.nonzero: "nonzero",
               torch.argwhere: "argwhere", torch.Tensor.argwhere: "argwhere"}

    class RecordingMode(TorchFunctionMode):
        def __init__(self, recorder):
            super().__init__()
            self.recorder = recorder

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            read = data_reads.get(func)
            if read is not None and args and getattr(args[0], "is_meta", False):
                return self.recorder.approximate(read, args[0])
            if func in nonzero and args and getattr(args[0], "is_meta", False):
                self.recorder.approximate(nonzero[func], args[0])
            try:
                result = func(*args, **kwargs)
            except Exception as exc:
                self.recorder.failed(func, args, kwargs, exc)
                raise
            self.recorder.record(func, args, kwargs, result)
            return result

    return RecordingMode


def _meta_nonzero():
    """Let ``nonzero`` run on ``meta`` tensors, assuming every element is nonzero.

    Mixture-of-experts routing (``torch.nonzero`` of the expert mask) has a
    data-dependent shape that a ``meta`` tensor cannot give; torch's own
    option answers as if all elements were nonzero, and the trace names each
    such call in its placeholder warning. No effect on real tensors.
    """
    try:
        from torch.fx.experimental import _config
        return _config.patch(meta_nonzero_assume_all_nonzero=True)
    except (ImportError, AttributeError):  # an older torch: nonzero on meta fails as before
        return contextlib.nullcontext()


def _install_scope_hooks(module, recorder):
    """Forward pre-hooks and hooks on every submodule that keep the module stack.

    Returns the hook handles. The closing hook is ``always_call``, so the
    stack stays balanced when a forward raises.
    """
    torch = import_torch()
    handles = []
    for path, submodule in module.named_modules():
        if not path or isinstance(submodule, torch.jit.ScriptModule):
            continue
        enter = functools.partial(recorder.enter, path, type(submodule).__name__)
        handles.append(submodule.register_forward_pre_hook(enter))
        handles.append(submodule.register_forward_hook(recorder.leave, always_call=True))
    return handles


def _run_recorded(module, bound, recorder, name, partial=False):
    """Run ``module`` on the bound inputs under the recording mode; its output.

    When the forward raises, the error names the module path where it
    happened; with ``partial`` the failing call is added as an error node
    (:meth:`_Recorder.add_error`) and None is returned instead.
    """
    torch = import_torch()
    handles = _install_scope_hooks(module, recorder)
    try:
        with torch.no_grad(), kept_state(module), _meta_nonzero(), _mode_class()(recorder):
            return module(*bound.args, **bound.kwargs)
    except GraphIRError:
        raise
    except Exception as exc:  # the forward runs user code; report whatever it raises
        where = recorder.failure_path()
        if partial:
            recorder.add_error(exc)
            return None
        place = f" in {where}" if where else ""
        raise ConversionError(
            f"running the model on the example inputs failed{place} ({_brief(exc)})",
            path=name,
            hint="check the example input shapes and dtypes (--input-shape); "
                 "--partial draws the graph up to the failing call") from exc
    finally:
        for handle in handles:
            handle.remove()


# --------------------------------------------------------------------------
# What a call is
# --------------------------------------------------------------------------

def _describe(func):
    """``(op, label, positional parameter names)`` of a torch function.

    ``op`` is torch's own name for the function (``torch.overrides.resolve_name``:
    ``torch.nn.functional.conv2d``, ``torch.Tensor.view``,
    ``torch.Tensor.shape.__get__``); ``label`` its last part, the property
    name for a property, without dunder underscores (``__rsub__`` ->
    ``rsub``, ``__getitem__`` -> ``getitem``). Parameter names come from
    torch's reference signatures (``get_testing_overrides``) or the Python
    signature.
    """
    from torch.overrides import get_testing_overrides, resolve_name

    op = resolve_name(func) or (
        f"{getattr(func, '__module__', None) or 'torch'}."
        f"{getattr(func, '__qualname__', type(func).__name__)}")
    parts = op.split(".")
    label = parts[-2] if parts[-1] == "__get__" and len(parts) > 1 else parts[-1]
    if label.startswith("__") and label.endswith("__") and len(label) > 4:
        label = label[2:-2]
    try:
        signature = inspect.signature(get_testing_overrides().get(func, func))
        names = [p.name for p in signature.parameters.values() if p.kind in _POSITIONAL]
    except (TypeError, ValueError):
        names = []
    return op, label, names


def _op_info(func):
    """:func:`_describe`, computed once per function."""
    info = _OP_INFO.get(func)
    if info is None:
        info = _OP_INFO[func] = _describe(func)
    return info


def _named_arguments(args, kwargs, names):
    """``(name, value)`` for every argument of a call.

    Positional arguments beyond the known names are packed into the last
    one, as torch's varargs methods mean (``x.view(1, 2, 3)`` is
    ``view(self, shape=[1, 2, 3])``); without names they are ``arg0``,
    ``arg1`` ….
    """
    if names and len(args) > len(names):
        last = len(names) - 1
        args = (*args[:last], list(args[last:]))
    pairs = [(names[i] if i < len(names) else f"arg{i}", value)
             for i, value in enumerate(args)]
    pairs.extend(kwargs.items())
    return pairs


def _leaves(value):
    """The items of a (nested) list or tuple argument, or ``(value,)``."""
    if not isinstance(value, (list, tuple)):
        return (value,)
    flat = []
    for item in value:
        flat.extend(_leaves(item))
    return flat


# --------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------

def _weight_table(module):
    """``id(tensor) -> (tensor, qualified name, params entry)`` for a module's weights.

    Parameters, buffers (``kind="buffer"``) and plain tensor attributes of
    submodules (``kind="constant"``); tied weights share their first name.
    The table holds the tensors, so no id can be reused during the capture.
    """
    torch = import_torch()
    groups = (
        (None, list(module.named_parameters(remove_duplicate=False))),
        ("buffer", list(module.named_buffers(remove_duplicate=False))),
        ("constant", [(f"{path}.{key}" if path else key, value)
                      for path, submodule in module.named_modules()
                      for key, value in vars(submodule).items()
                      if isinstance(value, torch.Tensor)]),
    )
    canonical = canonical_names(pair for _, named in groups for pair in named)
    table = {}
    for kind, named in groups:
        for qualified, value in named:
            if id(value) not in table:
                info = weight_info(value, kind=kind, trainable=value.requires_grad)
                table[id(value)] = (value, canonical[qualified], info)
    return table


def _input_tensors(bound, tensor_type):
    """``(name, tensor)`` for every tensor among the bound example inputs.

    A tensor passed directly is named after its parameter (``input_ids``);
    one inside a container, ``*args`` or ``**kwargs`` gets its keys joined
    by ``_`` (``args_0``, ``batch_pixels``).
    """
    parameters = bound.signature.parameters
    for key, value in bound.arguments.items():
        kind = parameters[key].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            items = value.items()
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            items = ((f"{key}_{i}", item) for i, item in enumerate(value))
        else:
            items = ((key, value),)
        for base, item in items:
            for path, tensor in iter_leaves(item, lambda v: isinstance(v, tensor_type)):
                yield "_".join([base, *map(str, path)]), tensor


class _Recorder:
    """Builds the IR while the model runs; the mode and hooks call into it.

    Attributes
    ----------
    G : networkx.MultiDiGraph
        The IR being built.
    values : dict
        ``id(tensor) -> (weak reference, node id, output port)`` of the
        last producer of each tensor seen.
    weights : dict
        From :func:`_weight_table`.
    scopes : list
        Stack of ``(module, module_type, scope)`` of the modules being
        called, innermost last; ``scope`` is a tuple of ``(path, type)``.
    """

    def __init__(self, name, weights, with_stats):
        torch = import_torch()
        self.G = ir.new_graph("trace", name)
        self.ids = ir.IdAllocator()
        self.values = {}
        self.weights = weights
        self.scopes = []
        self.with_stats = with_stats
        self._tensor = torch.Tensor
        self._setitem = torch.Tensor.__setitem__
        self._dtypes = {}
        #: ``(method, module path) -> count`` of meta reads answered with a placeholder.
        self.approximated = {}
        #: ``(scope entry, func, args, kwargs)`` of the torch call that raised, if any.
        self.failure = None
        #: Innermost ``scopes`` entry open when an exception left a module.
        self.failure_scope = None

    # -- module stack (forward hooks) ---------------------------------------

    def enter(self, path, module_type, _module, _args):
        """Forward pre-hook: push ``path``, filling never-called containers (``h``)."""
        outer = self.scopes[-1][2] if self.scopes else ()
        known = {p for p, _ in outer}
        if path in known:
            self.scopes.append(self.scopes[-1])
            return
        parts = path.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts)))
        filled = tuple((prefix, None) for prefix in prefixes if prefix not in known)
        self.scopes.append((path, module_type, outer + filled + ((path, module_type),)))

    def leave(self, _module, _args, _output):
        """Forward hook: pop the module pushed by :meth:`enter`.

        The hook is ``always_call``: when it runs because the forward raised,
        the innermost open module is kept as where the failure happened.
        """
        if self.failure_scope is None and sys.exc_info()[1] is not None and self.scopes:
            self.failure_scope = self.scopes[-1]
        self.scopes.pop()

    # -- data-dependent reads and failures (the mode calls these) ---------------

    def _current(self):
        return self.scopes[-1] if self.scopes else _ROOT_SCOPE

    def approximate(self, method, tensor):
        """Answer a value read on a ``meta`` tensor with :func:`_placeholder`; count it."""
        key = (method, self._current()[0])
        self.approximated[key] = self.approximated.get(key, 0) + 1
        return _placeholder(method, tensor)

    def approximation_warning(self):
        """One warning line naming the placeholder answers, or None."""
        if not self.approximated:
            return None
        total = sum(self.approximated.values())
        places = [f"Tensor.{method} in {path or 'the top-level forward'}"
                  + (f" ×{count}" if count > 1 else "")
                  for (method, path), count in self.approximated.items()]
        shown = "; ".join(places[:3]) + (f"; +{len(places) - 3} more" if len(places) > 3 else "")
        return (f"the meta device holds no values: {total} data-dependent read(s) were answered "
                f"with placeholders (True for truth tests, 1 for numbers, every element nonzero "
                f"for nonzero) ({shown}); branches and shapes that depend on them follow an "
                "all-ones input and may differ with real data")

    def failed(self, func, args, kwargs, exc):
        """The mode saw ``func`` raise: keep it as the failing call."""
        self.failure = (self._current(), func, args, kwargs)
        self.failure_scope = None

    def failure_path(self):
        """Module path where the forward failed (``""`` at the top level)."""
        if self.failure is not None:
            return self.failure[0][0]
        return (self.failure_scope or _ROOT_SCOPE)[0]

    def add_error(self, exc):
        """Add the failing call as an ``op="error"`` node; mark the graph partial.

        The node sits in the module where the failure happened, is fed by the
        producers of the call's tensor arguments, and carries
        ``attrs={"exception": "Type: message", "call": op, "input_shapes":
        [...]}``; it has no outputs. ``G.graph["partial"]`` records
        ``{"error", "module", "node"}`` and a warning says the graph stops there.
        """
        message = _brief(exc)
        edges, params, input_shapes, call, label = [], {}, [], None, "error"
        if self.failure is not None:
            scope_entry, func, args, kwargs = self.failure
            call, label, names = _op_info(func)
            edges, params, _ = self._read_arguments(args, kwargs, names)
            input_shapes = [self._entry(leaf)["shape"]
                            for _, value in _named_arguments(args, kwargs, names)
                            for leaf in _leaves(value) if isinstance(leaf, self._tensor)]
        else:
            scope_entry = self.failure_scope or _ROOT_SCOPE
        module, module_type, scope = scope_entry
        node_id = self.ids.allocate(module, "error")
        attrs = {"exception": message, "input_shapes": input_shapes}
        if call is not None:
            attrs["call"] = call
        ir.add_node(self.G, node_id, kind="op", op="error", name=node_id,
                    label=f"{label} failed" if call is not None else "error",
                    module=module, module_type=module_type,
                    scope=[list(pair) for pair in scope], outputs=[], params=params,
                    attrs=attrs)
        for source, src_port, dst_port in edges:
            ir.add_edge(self.G, source, node_id, src_port, dst_port)
        where = module or "the top-level forward"
        self.G.graph["partial"] = {"error": message, "module": module, "node": node_id}
        self.G.graph.setdefault("warnings", []).append(
            f"the forward pass failed in {where} ({message}); the graph stops at that call")

    # -- tensors --------------------------------------------------------------

    def _entry(self, value):
        """The IR ``outputs`` entry of a tensor."""
        dtype = self._dtypes.get(value.dtype)
        if dtype is None:
            dtype = self._dtypes[value.dtype] = dtype_name(value.dtype)
        return ir.tensor(dtype, value.shape)

    def _producer(self, value):
        """``(node id, port)`` of the call that last produced ``value``, or None."""
        found = self.values.get(id(value))
        if found is not None and found[0]() is value:
            return found[1], found[2]
        return None

    def _produced(self, values, node_id):
        """Make ``node_id`` the producer of ``values`` (output ``i`` is port ``i``)."""
        for port, value in enumerate(values):
            self.values[id(value)] = (weakref.ref(value), node_id, port)

    def _output_tensors(self, func, args, result):
        """The tensors a call produced (the changed tensor for ``x[i] = v``)."""
        if isinstance(result, self._tensor):
            return (result,)
        if isinstance(result, (tuple, list)):
            return tuple(v for v in _leaves(result) if isinstance(v, self._tensor))
        if result is None and func == self._setitem:
            return (args[0],)
        return ()

    def _read_arguments(self, args, kwargs, names):
        """``(edges, params, attrs)`` of a call's arguments.

        Ports count the leaves of the flattened arguments, as in the fx
        converter. An argument holding no tensor is an attribute, unless its
        name is private (``F.softmax``'s ``_stacklevel``).
        """
        edges, params, attrs = [], {}, {}
        port = 0
        for key, value in _named_arguments(args, kwargs, names):
            holds_tensor = False
            for leaf in _leaves(value):
                if isinstance(leaf, self._tensor):
                    holds_tensor = True
                    producer = self._producer(leaf)
                    if producer is not None:
                        edges.append((*producer, port))
                    elif id(leaf) in self.weights:
                        _, qualified, info = self.weights[id(leaf)]
                        params[qualified] = info
                port += 1
            if not holds_tensor and not key.startswith("_"):
                attrs[key] = value if isinstance(value, _PLAIN) else json_value(value)
        return edges, params, attrs

    def _stats(self, value):
        """``{"stats": ...}`` for ``value`` when statistics are asked for and apply."""
        summary = tensor_stats(value) if self.with_stats else None
        return {} if summary is None else {"stats": summary}

    # -- graph ------------------------------------------------------------------

    def record(self, func, args, kwargs, result):
        """Add one call as an op node (nothing when it returned no tensor)."""
        self.failure = None
        outputs = self._output_tensors(func, args, result)
        if not outputs:
            return
        op, label, names = _op_info(func)
        module, module_type, scope = self.scopes[-1] if self.scopes else _ROOT_SCOPE
        edges, params, attrs = self._read_arguments(args, kwargs, names)
        node_id = self.ids.allocate(module, label)
        ir.add_node(self.G, node_id, kind="op", op=op, name=node_id, label=label,
                    module=module, module_type=module_type, scope=[list(pair) for pair in scope],
                    outputs=[self._entry(v) for v in outputs], params=params, attrs=attrs,
                    **self._stats(outputs[0]))
        for source, src_port, dst_port in edges:
            ir.add_edge(self.G, source, node_id, src_port, dst_port)
        self._produced(outputs, node_id)

    def add_inputs(self, bound):
        """One ``input:<name>`` node per example input tensor."""
        for name, value in _input_tensors(bound, self._tensor):
            node_id = ir.add_node(self.G, f"input:{name}", kind="input", op="input", name=name,
                                  label=name, outputs=[self._entry(value)], **self._stats(value))
            self.G.graph["inputs"].append(node_id)
            if self._producer(value) is None:
                self._produced((value,), node_id)

    def add_outputs(self, output, name):
        """One ``output:<name>`` node per tensor of the model's output structure.

        The tensors of a KV cache (a ``transformers`` ``Cache`` or a
        ``past_key_values`` tuple at the top of the output) become one
        ``output:<key>`` node (see :mod:`graphir.converters._cache`): its
        ``outputs`` hold the distinct tensor types (the first tensor's first),
        ``attrs`` the count and the distinct shapes, and every cache tensor's
        producer feeds it on port 0.
        """
        cached = set()
        if not isinstance(output, self._tensor):
            cached = {key for key, value in _children(output) or ()
                      if cache_key(output, key, value)}
        leaves = list(iter_leaves(output, lambda v: isinstance(v, self._tensor)))
        if not leaves:
            raise ConversionError("the model returned no tensors", path=name,
                                  hint="graphir draws models whose forward returns tensors")
        groups = {}
        for path, value in leaves:
            if path and path[0] in cached:
                groups.setdefault(path[0], []).append(value)
                continue
            leaf = leaf_name(path)
            self._output_node(leaf, [value], leaf, {}, [self._entry(value)])
        for key, values in groups.items():
            entries = [self._entry(v) for v in values]
            distinct = []
            for entry in entries:
                if entry not in distinct:
                    distinct.append(entry)
            label = f"{key} ({len(values)} tensors)"
            self._output_node(leaf_name((key,)), values, label, group_attrs(entries),
                              distinct[:8])

    def _output_node(self, leaf, values, label, attrs, outputs):
        """Add ``output:<leaf>`` fed by the producers of ``values`` (port 0)."""
        node_id = ir.add_node(self.G, f"output:{leaf}", kind="output", op="output",
                              name=leaf, label=label, outputs=outputs, attrs=attrs)
        seen = set()
        for value in values:
            producer = self._producer(value)
            if producer is not None and producer not in seen:
                seen.add(producer)
                ir.add_edge(self.G, producer[0], node_id, producer[1], 0)
        self.G.graph["outputs"].append(node_id)
