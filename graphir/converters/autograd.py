"""The autograd graph of one forward pass (source ``autograd``), like torchviz and more.

The module runs once on the example inputs with grad enabled; the graph is
walked from the outputs' ``grad_fn`` back through ``next_functions``:

- every backward function (``ConvolutionBackward0``) is an op node, and
  edges run in the forward direction (input side to output side) so it
  renders like the other sources;
- ``AccumulateGrad`` leaves that are parameters fold into the ``params`` of
  the op that reads them, under their qualified names (``layer1.0.conv1.weight``);
  other leaves that require grad are ``param`` nodes;
- example inputs are ``input`` nodes: connected through their
  ``AccumulateGrad`` when they require grad, otherwise to the first op that
  saved them for backward (a convolution saves its input, an embedding its
  indices); outputs are ``output`` nodes named from the output structure;
- each op's ``outputs`` entry is the shape and dtype of the tensor its
  forward produced (the backward function's ``_input_metadata``), so every
  edge carries a shape;
- non-tensor values saved for backward (``stride``, ``padding``, ``dim``)
  become ``attrs``; with ``show_saved`` the saved tensors (``self``,
  ``weight``, ``result``) are ``const`` nodes feeding the op, like torchviz's
  ``show_saved``;
- ops are grouped by module: a forward pre-hook and hook on every submodule
  (removed afterwards; nothing global is patched) claim the backward
  functions created during that module's call that lead to its outputs;
  inner modules finish first, so each op belongs to the innermost module.

The forward runs in the module's current mode; its buffers (BatchNorm
statistics) and the CPU random state are restored afterwards.
"""

import contextlib
import inspect

from graphir import ir
from graphir.converters._torch_common import (
    dtype_name,
    import_torch,
    iter_leaves,
    json_value,
    named_tensor_outputs,
    weight_info,
)
from graphir.errors import ConversionError

__all__ = ["from_autograd"]

_ACCUMULATE = "AccumulateGrad"
_SKIPPED_SAVED = ("_sym_sizes", "_sym_strides", "_sym_sizes_opt", "_sym_argsize",
                  "_sym_numel")


def _next_sequence_nr(torch):
    """The sequence number the next autograd node created in this thread gets."""
    getter = getattr(torch._C._autograd, "_get_sequence_nr", None)
    if getter is not None:
        return getter()
    probe = torch.zeros((), requires_grad=True) * 1
    return probe.grad_fn._sequence_nr() + 1


def _is_accumulate(fn):
    return fn.name().rsplit("::", 1)[-1] == _ACCUMULATE


def _tensor_key(value):
    """What identifies one tensor's memory: address, shape, dtype, strides."""
    try:
        return value.data_ptr(), tuple(value.shape), value.dtype, tuple(value.stride())
    except (RuntimeError, AttributeError):
        return None


class _Recorder:
    """Forward hooks that record which module's call created each backward function."""

    def __init__(self, torch):
        self.torch = torch
        self.owner = {}
        self.starts = []

    def before(self, module, args):
        self.starts.append(_next_sequence_nr(self.torch))

    def after(self, path):
        def hook(module, args, output):
            start, end = self.starts.pop(), _next_sequence_nr(self.torch)
            leaves = iter_leaves(output, lambda v: isinstance(v, self.torch.Tensor))
            stack = [t.grad_fn for _, t in leaves if t.grad_fn is not None]
            seen = set()
            while stack:
                fn = stack.pop()
                if fn is None or fn in seen or not start <= fn._sequence_nr() < end:
                    continue
                seen.add(fn)
                self.owner.setdefault(fn, path)
                stack.extend(prev for prev, _ in fn.next_functions)
        return hook

    @contextlib.contextmanager
    def hooks(self, module):
        handles = []
        try:
            for path, sub in module.named_modules():
                handles.append(sub.register_forward_pre_hook(self.before))
                handles.append(sub.register_forward_hook(self.after(path)))
            yield
        finally:
            for handle in handles:
                handle.remove()


def _named_inputs(module, args, kwargs, torch):
    """``[(name, tensor)]`` of the example inputs, named by ``forward``'s signature."""
    try:
        bound = inspect.signature(module.forward).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {f"input_{i}": a for i, a in enumerate(args)} | dict(kwargs)
    named = []
    for arg, value in bound.items():
        for path, leaf in iter_leaves(value, lambda v: isinstance(v, torch.Tensor)):
            named.append((".".join([arg, *map(str, path)]), leaf))
    return named


def _with_grad_inputs(args, kwargs, torch):
    """Copies of the floating-point tensor inputs that require grad."""
    def track(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.detach().requires_grad_(True)
        return value
    return tuple(track(a) for a in args), {k: track(v) for k, v in kwargs.items()}


def _run(module, args, kwargs, recorder, torch):
    """One forward pass with grad and the hooks; the CPU random state is kept."""
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad(), recorder.hooks(module):
            return module(*args, **kwargs)
    except ConversionError:
        raise
    except Exception as exc:  # the user's forward can raise anything
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConversionError(f"running {type(module).__name__}.forward failed "
                              f"({type(exc).__name__}: {text[:300]})",
                              hint="check the example input shapes and dtypes") from exc


@contextlib.contextmanager
def _buffers_kept(module, torch):
    """Put back the buffers (BatchNorm statistics) a forward pass changed.

    They are put back only on leaving, after the graph has been read: writing
    a buffer earlier would invalidate the tensors saved for backward.
    """
    saved = {name: b.detach().clone() for name, b in module.named_buffers()}
    try:
        yield
    finally:
        with torch.no_grad():
            for name, buffer in module.named_buffers():
                kept = saved.get(name)
                if kept is not None and kept.shape == buffer.shape \
                        and not torch.equal(kept, buffer):
                    buffer.copy_(kept)


def _reachable(roots):
    """Every backward function reachable from ``roots``."""
    seen, stack = set(), list(roots)
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(prev for prev, _ in fn.next_functions)
    return seen


def _saved_values(fn, torch):
    """``(tensors, others)``: what ``fn`` saved for backward, by short name."""
    tensors, others = {}, {}
    for attr in dir(fn):
        if not attr.startswith("_saved_") or attr.endswith(_SKIPPED_SAVED):
            continue
        try:
            value = getattr(fn, attr)
        except (RuntimeError, AttributeError):
            continue
        short = attr[len("_saved_"):]
        if isinstance(value, torch.Tensor):
            tensors[short] = value
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, torch.Tensor) for v in value):
            tensors.update({f"{short}.{i}": v for i, v in enumerate(value)})
        else:
            others[short] = json_value(value)
    return tensors, others


def _output_entries(fn):
    """The tensors the forward op produced, from the backward function's input metadata."""
    entries = []
    for meta in getattr(fn, "_input_metadata", ()):
        try:
            entries.append(ir.tensor(dtype_name(meta.dtype), list(meta.shape)))
        except (RuntimeError, AttributeError, TypeError):
            entries.append(ir.tensor(None, None))
    return entries


class _Builder:
    """Writes the IR of the walked autograd graph."""

    def __init__(self, module, name, recorder, show_saved, torch):
        self.torch = torch
        self.G = ir.new_graph("autograd", name)
        self.ids = ir.IdAllocator()
        self.owner = recorder.owner
        self.show_saved = show_saved
        self.types = {path: type(sub).__name__ for path, sub in module.named_modules()}
        self.params = {}
        for qualified, value in module.named_parameters():
            self.params.setdefault(id(value), (qualified, value))
        self.buffers = {}
        for qualified, value in module.named_buffers():
            if _tensor_key(value) is not None:
                self.buffers.setdefault(_tensor_key(value), (qualified, value))
        self.input_ids = {}
        self.input_keys = {}
        self.nodes = {}

    def place(self, fn):
        path = self.owner.get(fn, "")
        module_type = self.types.get(path) if path else None
        return dict(module=path, module_type=module_type,
                    scope=ir.scope_from_path(path, module_type, self.types))

    def add_inputs(self, named):
        for name, value in named:
            node_id = f"input:{name}"
            if node_id in self.G:
                continue
            ir.add_node(self.G, node_id, kind="input", op="input", name=name,
                        outputs=[ir.tensor(dtype_name(value.dtype), list(value.shape))])
            self.G.graph["inputs"].append(node_id)
            self.input_ids[id(value)] = node_id
            if _tensor_key(value) is not None:
                self.input_keys.setdefault(_tensor_key(value), node_id)

    def add_op(self, fn):
        """The op node of ``fn`` (after its saved-tensor nodes with ``show_saved``)."""
        saved, attrs = _saved_values(fn, self.torch)
        place = self.place(fn)
        op = fn.name()
        node_id = self.ids.allocate(place["module"], op)
        consts = self.add_saved(node_id, saved, place) if self.show_saved else []
        ir.add_node(self.G, node_id, kind="op", op=op, name=op, outputs=_output_entries(fn),
                    attrs=attrs, **place)
        for k, const_id in enumerate(consts):
            ir.add_edge(self.G, const_id, node_id, 0, len(fn.next_functions) + k)
        self.nodes[fn] = node_id
        return saved

    def add_saved(self, node_id, saved, place):
        """``const`` nodes for the tensors an op saved for backward; their ids."""
        by_key = {_tensor_key(v): q for q, v in self.params.values()}
        consts = []
        for short, value in saved.items():
            const_id = f"{node_id}/saved_{short}"
            weight = self.params.get(id(value), (by_key.get(_tensor_key(value)),))[0]
            attrs = {"saved_by": node_id} | ({"tensor": weight} if weight else {})
            ir.add_node(self.G, const_id, kind="const", op="saved", name=short,
                        label=f"saved {short}", attrs=attrs,
                        outputs=[ir.tensor(dtype_name(value.dtype), list(value.shape))],
                        **place)
            consts.append(const_id)
        return consts

    def connect(self, fn, saved):
        """Edges into ``fn``'s node, and the parameters and buffers it reads."""
        node_id = self.nodes[fn]
        data = self.G.nodes[node_id]
        free = []
        for port, (prev, nr) in enumerate(fn.next_functions):
            if prev is None:
                free.append(port)
            elif prev in self.nodes:
                ir.add_edge(self.G, self.nodes[prev], node_id, nr, port)
            elif _is_accumulate(prev):
                self.connect_leaf(prev.variable, node_id, port, data)
        linked = [src for src, _ in self.G.in_edges(node_id) if src in self.G.graph["inputs"]]
        for value in saved.values():
            key = _tensor_key(value)
            source = self.input_keys.get(key)
            if key in self.buffers:
                qualified, buffer = self.buffers[key]
                data["params"][qualified] = weight_info(buffer, kind="buffer")
            elif source is not None and source not in linked:
                port = free.pop(0) if free else len(fn.next_functions) + len(saved) + len(linked)
                linked.append(source)
                ir.add_edge(self.G, source, node_id, 0, port)

    def connect_leaf(self, variable, node_id, port, data):
        if id(variable) in self.params:
            qualified, value = self.params[id(variable)]
            data["params"][qualified] = weight_info(value)
        elif id(variable) in self.input_ids:
            ir.add_edge(self.G, self.input_ids[id(variable)], node_id, 0, port)
        else:
            leaf_id = self.ids.allocate(data["module"], "leaf")
            ir.add_node(self.G, leaf_id, kind="param", op="leaf", name="leaf",
                        outputs=[ir.tensor(dtype_name(variable.dtype), list(variable.shape))],
                        module=data["module"], module_type=data["module_type"],
                        scope=data["scope"])
            ir.add_edge(self.G, leaf_id, node_id, 0, port)

    def add_outputs(self, named):
        for name, value in named.items():
            node_id = f"output:{name}"
            ir.add_node(self.G, node_id, kind="output", op="output", name=name,
                        outputs=[ir.tensor(dtype_name(value.dtype), list(value.shape))])
            if value.grad_fn in self.nodes:
                ir.add_edge(self.G, self.nodes[value.grad_fn], node_id, value.output_nr, 0)
            self.G.graph["outputs"].append(node_id)


def from_autograd(module, example_args, example_kwargs=None, *, name=None, show_saved=False,
                  inputs_require_grad=False):
    """Run ``module`` once and convert its autograd graph to the IR.

    Parameters
    ----------
    module : torch.nn.Module
        The model, in the mode it should run in (its state is left unchanged).
    example_args : tuple or torch.Tensor
        Positional example inputs.
    example_kwargs : dict, optional
        Keyword example inputs.
    name : str, optional
        Model name (default: the module's class name).
    show_saved : bool
        Add the tensors each backward function saved as ``const`` nodes.
    inputs_require_grad : bool
        Run on copies of the floating-point inputs that require grad, so the
        ops that touch only inputs are recorded too. Off by default, as in
        torchviz: a model that writes into its input in place would fail.

    Returns
    -------
    networkx.MultiDiGraph

    Raises
    ------
    ConversionError
        When the forward fails or no output carries an autograd graph (all
        parameters frozen, or ``forward`` runs under ``torch.no_grad``).
    """
    torch = import_torch()
    args = (example_args,) if isinstance(example_args, torch.Tensor) else \
        tuple(example_args or ())
    kwargs = dict(example_kwargs or {})
    if inputs_require_grad:
        args, kwargs = _with_grad_inputs(args, kwargs, torch)
    name = name or type(module).__name__
    recorder = _Recorder(torch)
    named_inputs = _named_inputs(module, args, kwargs, torch)
    with _buffers_kept(module, torch):
        outputs = named_tensor_outputs(_run(module, args, kwargs, recorder, torch))
        roots = [t.grad_fn for t in outputs.values() if t.grad_fn is not None]
        if not roots:
            raise ConversionError(f"{name}: no output carries an autograd graph (no parameter "
                                  "requires grad, or forward runs under torch.no_grad)",
                                  hint="use --source fx or --source export instead")
        functions = sorted((fn for fn in _reachable(roots) if not _is_accumulate(fn)),
                           key=lambda fn: fn._sequence_nr())
        builder = _Builder(module, name, recorder, show_saved, torch)
        builder.add_inputs(named_inputs)
        saved = {fn: builder.add_op(fn) for fn in functions}
        for fn in functions:
            builder.connect(fn, saved[fn])
        builder.add_outputs(outputs)
    return builder.G
