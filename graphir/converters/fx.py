"""Convert PyTorch modules to the IR through ``torch.export`` or ``torch.fx``.

Three entry points:

- :func:`from_module` captures an ``nn.Module`` on example inputs, with
  ``torch.export.export(strict=False)`` (source ``"export"``) or
  ``torch.fx.symbolic_trace`` plus ``ShapeProp`` (source ``"fx"``), and
  converts the captured graph.
- :func:`from_exported_program` converts an ``ExportedProgram`` (for
  example one read from a ``.pt2`` file with ``torch.export.load``).
- :func:`from_graph_module` converts a symbolically traced ``GraphModule``
  that carries ``ShapeProp`` metadata.

Every call node becomes one ``op`` node; parameters, buffers and constants
become the ``params`` of the ops that read them; ``getitem`` on a
multi-output op folds into the edge's ``src_port``. Module paths come from
``node.meta["nn_module_stack"]`` (see :func:`module_scope`), shapes from
``node.meta["val"]`` (export) or ``node.meta["tensor_meta"]`` (fx).

The module is captured in the train/eval mode it is in (call ``.eval()``
first for an inference graph: in train mode dropout and batch norm show as
training ops) and under ``torch.no_grad()``; it is not modified.
"""

import dataclasses
import inspect
import operator

from graphir import ir
from graphir.converters._torch_common import (
    bind_example, canonical_names, import_torch, iter_leaves, json_value, kept_state, leaf_name,
    module_scope, named_tensor_outputs, strip_prefix, value_entries, weight_info,
)
from graphir.errors import ConversionError
from graphir.util.logs import silenced_logging
from graphir.util.text import brief as _brief
from graphir.converters._torch_common import keyword_form as _keyword_form
from graphir.converters._torch_common import output_flattener as _output_flattener

__all__ = ["from_module", "from_exported_program", "from_graph_module"]

_METHODS = ("auto", "export", "fx")

#: Child name under which :func:`from_module` wraps the model for export.
_WRAPPED = "module"

_ASSERTIONS = ("_assert", "sym_constrain_range")


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------

def from_module(module, example_args, example_kwargs=None, *, method="auto", name=None):
    """Capture ``module`` on example inputs and convert it to the IR.

    Parameters
    ----------
    module : torch.nn.Module
        The model, in the mode it should be captured in. It is not switched
        to eval mode; capture runs under ``torch.no_grad()`` and leaves its
        buffers and the CPU random state as they were.
    example_args : tuple or torch.Tensor
        Positional example inputs (a single tensor is taken as one input).
    example_kwargs : dict, optional
        Keyword example inputs. Non-tensor arguments are specialised.
    method : {"auto", "export", "fx"}
        ``"export"``: ``torch.export.export(strict=False)``; ``"fx"``:
        ``torch.fx.symbolic_trace`` and ``ShapeProp``; ``"auto"``: export,
        then fx when export fails.
    name : str, optional
        Model name (default: the module's class name).

    Returns
    -------
    G : networkx.MultiDiGraph
        The IR.
    method : str
        The capture that succeeded: ``"export"`` or ``"fx"``.

    Raises
    ------
    ConversionError
        When no capture succeeds; names each failure.
    """
    import_torch()
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    name = name or type(module).__name__
    bound = bind_example(module, example_args, example_kwargs, name)
    methods = ("export", "fx") if method == "auto" else (method,)
    failures = []
    for candidate in methods:
        try:
            return _CAPTURES[candidate](module, bound, name), candidate
        except ConversionError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    raise ConversionError(
        "; ".join(exc.message for exc in failures), path=name, hint="check the example input shapes and dtypes (--input-shape), or "
                        "pick one capture with --source export / --source fx")


def from_exported_program(ep, *, name):
    """Convert a ``torch.export.ExportedProgram`` to the IR (source ``"export"``).

    User inputs become ``input:<name>`` nodes named as in the graph
    signature; parameters, buffers and lifted constants become ``params``
    of the ops reading them, tied weights under their first name; user
    outputs become ``output:<name>`` nodes named from the output structure.

    Parameters
    ----------
    ep : torch.export.ExportedProgram
    name : str
        Model name.
    """
    return _convert_exported(ep, name, prefix="")


def from_graph_module(gm, *, name, source="fx"):
    """Convert a ``torch.fx.GraphModule`` with ``ShapeProp`` metadata to the IR.

    Placeholders with ``tensor_meta`` (or without a default value) are the
    inputs; placeholders specialised by ``concrete_args`` are left out.
    ``get_attr`` tensors and the weights of called leaf modules become the
    ``params`` of the ops that use them.

    Parameters
    ----------
    gm : torch.fx.GraphModule
        Typically ``torch.fx.symbolic_trace(model)`` after
        ``ShapeProp(gm).propagate(*inputs)``.
    name : str
        Model name.
    source : str
        The IR ``source`` to record.
    """
    return _convert_graph_module(gm, name, source)


# --------------------------------------------------------------------------
# Capture
# --------------------------------------------------------------------------

def _capture_failure(step, exc, name, other):
    """The ConversionError for a failed capture step, suggesting the other capture."""
    return ConversionError(f"{step} failed ({_brief(exc)})", path=name,
                           hint=f"try {other}, or check the example input shapes and dtypes")


def _capture_export(module, bound, name):
    """Export ``module`` (non-strict) and convert the program."""
    torch = import_torch()
    args, kwargs = _keyword_form(bound)
    try:
        with torch.no_grad(), silenced_logging():
            ep = torch.export.export(_output_flattener(module), args, kwargs, strict=False)
    except Exception as exc:  # export raises many unrelated types; report any of them
        raise _capture_failure("torch.export.export", exc, name, "--source fx") from exc
    return _convert_exported(ep, name, prefix=_WRAPPED)


def _fx_inputs(bound):
    """``(values, concrete_args)`` for tracing: non-tensor arguments are specialised."""
    torch = import_torch()
    parameters = bound.signature.parameters.values()
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return list(bound.args), {}
    bound = bound.signature.bind(*bound.args, **bound.kwargs)
    bound.apply_defaults()
    concrete = {}
    for key, value in bound.arguments.items():
        if not any(iter_leaves(value, lambda v: isinstance(v, torch.Tensor))):
            concrete[key] = value
    return list(bound.arguments.values()), concrete


def _capture_fx(module, bound, name):
    """Trace ``module`` with ``symbolic_trace``, run ``ShapeProp``, convert.

    ``ShapeProp`` runs the model on the example inputs (the traced graph
    shares the model's submodules); buffers and the RNG are restored after.
    """
    torch = import_torch()
    from torch.fx.passes.shape_prop import ShapeProp

    values, concrete = _fx_inputs(bound)
    try:
        gm = torch.fx.symbolic_trace(module, concrete_args=concrete or None)
    except Exception as exc:  # tracing runs user code; report whatever it raises
        raise _capture_failure("torch.fx.symbolic_trace", exc, name, "--source export") from exc
    try:
        with torch.no_grad(), kept_state(module), silenced_logging():
            ShapeProp(gm).propagate(*values)
    except Exception as exc:  # so does running the traced graph
        raise _capture_failure("running the fx graph on the example inputs (ShapeProp)", exc,
                               name, "--source export") from exc
    return _convert_graph_module(gm, name, "fx")


_CAPTURES = {"export": _capture_export, "fx": _capture_fx}


# --------------------------------------------------------------------------
# Graph walking shared by export and fx
# --------------------------------------------------------------------------

def _flat_arguments(args, kwargs):
    """The leaves of a node's args and kwargs, in order (a leaf's index is its port)."""
    flat = []

    def visit(value):
        if isinstance(value, (list, tuple)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, slice):
            visit((value.start, value.stop, value.step))
        else:
            flat.append(value)

    visit((tuple(args), dict(kwargs)))
    return flat


def _node_value(node):
    """What a node computes: ``meta["val"]`` (export) or ``meta["tensor_meta"]`` (fx)."""
    return node.meta.get("val", node.meta.get("tensor_meta"))


def _is_multi_output(value):
    """True for a tuple or list of results (not a ``TensorMetadata`` namedtuple)."""
    from torch.fx.passes.shape_prop import TensorMetadata

    return isinstance(value, (list, tuple)) and not isinstance(value, TensorMetadata)


def _outputs_of(node):
    """The IR ``outputs`` of a node; one unknown entry when it has no metadata."""
    if "val" in node.meta or "tensor_meta" in node.meta:
        return value_entries(_node_value(node))
    return [ir.tensor()]


def _call_attrs(node, arg_names):
    """JSON-safe non-tensor arguments of a call, keyed by parameter name."""
    from torch.fx import Node

    def plain(value):
        return not any(isinstance(v, Node) for v in _flat_arguments((value,), {}))

    attrs = {}
    for i, value in enumerate(node.args):
        if plain(value):
            attrs[arg_names[i] if i < len(arg_names) else f"arg{i}"] = json_value(value)
    for key, value in node.kwargs.items():
        if plain(value):
            attrs[key] = json_value(value)
    return attrs


def _argument_names(target):
    """Parameter names of a call target (aten schema or Python signature)."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return [argument.name for argument in schema.arguments]
    try:
        return list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return []


def _function_names(target):
    """``(op, label)`` of a call_function target.

    ``aten.conv2d.default`` / ``conv2d`` for an aten overload,
    ``higher_order.cond`` / ``cond`` for a higher-order op, and the
    qualified name (``torch.relu``, ``operator.add``) / ``__name__`` for a
    Python callable.
    """
    from torch._ops import HigherOrderOperator, OpOverload

    if isinstance(target, OpOverload):
        return str(target), target.overloadpacket.__name__
    if isinstance(target, HigherOrderOperator):
        return f"higher_order.{target.name()}", target.name()
    label = getattr(target, "__name__", type(target).__name__)
    module = getattr(target, "__module__", None) or ""
    module = {"_operator": "operator", "builtins": ""}.get(module, module)
    return (f"{module}.{label}" if module else label), label


def _is_assertion(target):
    """True for export/fx bookkeeping calls (``_assert_tensor_metadata`` …)."""
    label = _function_names(target)[1]
    return label.startswith(_ASSERTIONS)


class _Builder:
    """Accumulates the IR while walking one fx graph in order.

    Attributes
    ----------
    G : networkx.MultiDiGraph
        The IR being built.
    values : dict
        fx node -> ``(IR node id, output port)`` of the tensor it stands for.
    weights : dict
        fx node -> ``{qualified name: param info}`` for weight placeholders
        and ``get_attr`` nodes.
    skipped : set
        fx nodes with no IR counterpart (specialised inputs, assertions).
    """

    def __init__(self, source, name):
        self.G = ir.new_graph(source, name)
        self.ids = ir.IdAllocator()
        self.values = {}
        self.weights = {}
        self.skipped = set()
        self._folded = set()

    def add_input(self, node, name):
        node_id = ir.add_node(self.G, f"input:{name}", kind="input", op="input", name=name,
                              label=name, outputs=_outputs_of(node))
        self.G.graph["inputs"].append(node_id)
        self.values[node] = (node_id, 0)

    def add_weights(self, node, weights):
        self.weights[node] = weights

    def skip(self, node):
        self.skipped.add(node)

    def derives_from_skipped(self, node):
        """True when every input of ``node`` is skipped (dead specialisation code)."""
        inputs = node.all_input_nodes
        return bool(inputs) and all(n in self.skipped for n in inputs)

    def fold_getitem(self, node):
        """Fold ``getitem(multi_output_op, i)`` into port ``i``; True when folded."""
        if node.target is not operator.getitem or len(node.args) != 2:
            return False
        source, index = node.args
        if source not in self.values or source in self._folded or not isinstance(index, int):
            return False
        count = len(self.G.nodes[self.values[source][0]]["outputs"])
        if not _is_multi_output(_node_value(source)) or not -count <= index < count:
            return False
        self.values[node] = (self.values[source][0], index % count)
        self._folded.add(node)
        return True

    def add_op(self, node, *, op, label, scope_info, attrs, params=None):
        """Add one op node, its weights and its incoming edges."""
        from torch.fx import Node

        module, module_type, scope = scope_info
        node_id = self.ids.allocate(module, label)
        params = dict(params or {})
        edges = []
        for port, arg in enumerate(_flat_arguments(node.args, node.kwargs)):
            if not isinstance(arg, Node):
                continue
            if arg in self.weights:
                params.update(self.weights[arg])
            elif arg in self.values:
                edges.append((*self.values[arg], port))
        ir.add_node(self.G, node_id, kind="op", op=op, name=node.name, label=label,
                    module=module, module_type=module_type, scope=scope,
                    outputs=_outputs_of(node), params=params, attrs=attrs)
        for source, src_port, dst_port in edges:
            ir.add_edge(self.G, source, node_id, src_port, dst_port)
        self.values[node] = (node_id, 0)

    def add_output(self, name, value):
        """Add ``output:<name>`` fed by the fx node ``value``."""
        if value in self.values:
            source, port = self.values[value]
            outputs = [dict(self.G.nodes[source]["outputs"][port])]
        else:
            source, port, outputs = None, 0, _outputs_of(value)[:1]
        node_id = ir.add_node(self.G, f"output:{name}", kind="output", op="output",
                              name=name, label=name, outputs=outputs)
        if source is not None:
            ir.add_edge(self.G, source, node_id, port, 0)
        self.G.graph["outputs"].append(node_id)


# --------------------------------------------------------------------------
# torch.export
# --------------------------------------------------------------------------

def _weight_roles(ep, prefix):
    """Placeholder name -> ``(qualified name, kind, trainable)`` for weight inputs."""
    from torch.export.graph_signature import InputKind

    kinds = {InputKind.PARAMETER: None, InputKind.BUFFER: "buffer",
             InputKind.CONSTANT_TENSOR: "constant"}
    specs = [s for s in ep.graph_signature.input_specs if s.kind in kinds]
    tensors = {**ep.constants, **ep.state_dict}
    canonical = canonical_names((s.target, tensors.get(s.target)) for s in specs)
    roles = {}
    for spec in specs:
        trainable = getattr(tensors.get(spec.target), "requires_grad", True)
        qualified = strip_prefix(canonical[spec.target], prefix)
        roles[spec.arg.name] = (qualified, kinds[spec.kind], trainable)
    return roles


def _user_input_names(ep):
    """Names of the tensor user inputs, in signature order."""
    from torch.export.graph_signature import InputKind, TensorArgument

    return [s.arg.name for s in ep.graph_signature.input_specs
            if s.kind == InputKind.USER_INPUT and isinstance(s.arg, TensorArgument)]


def _output_names(spec, count):
    """Names of ``count`` flat outputs from the program's output TreeSpec."""
    from torch.utils import _pytree as pytree

    fallback = [f"output_{i}" for i in range(count)]
    try:
        tree = pytree.tree_unflatten(list(range(count)), spec)
    except Exception:  # a custom pytree type may refuse integer leaves
        return fallback
    leaves = iter_leaves(tree, lambda v: isinstance(v, int) and not isinstance(v, bool))
    names = {index: leaf_name(path) for path, index in leaves}
    return [names.get(i, fallback[i]) for i in range(count)]


def _add_export_outputs(builder, ep, node):
    """Add the user outputs (not buffer mutations) of the program's output node."""
    from torch.export.graph_signature import OutputKind
    from torch.fx import Node

    specs = ep.graph_signature.output_specs
    values = [v for s, v in zip(specs, node.args[0]) if s.kind == OutputKind.USER_OUTPUT]
    for name, value in zip(_output_names(ep.call_spec.out_spec, len(values)), values):
        if isinstance(value, Node):
            builder.add_output(name, value)


def _add_export_call(builder, node, prefix):
    if _is_assertion(node.target) or builder.derives_from_skipped(node):
        builder.skip(node)
    elif not builder.fold_getitem(node):
        op, label = _function_names(node.target)
        builder.add_op(node, op=op, label=label,
                       scope_info=module_scope(node.meta.get("nn_module_stack"), prefix),
                       attrs=_call_attrs(node, _argument_names(node.target)))


def _convert_exported(ep, name, prefix):
    """Walk ``ep.graph`` in order; ``prefix`` is a wrapper child to strip."""
    builder = _Builder("export", name)
    roles = _weight_roles(ep, prefix)
    inputs = set(_user_input_names(ep))
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in roles:
            qualified, kind, trainable = roles[node.name]
            builder.add_weights(node, {qualified: weight_info(
                node.meta["val"], kind=kind, trainable=trainable)})
        elif node.op == "placeholder" and node.name in inputs:
            builder.add_input(node, node.name)
        elif node.op == "call_function":
            _add_export_call(builder, node, prefix)
        elif node.op == "output":
            _add_export_outputs(builder, ep, node)
        else:
            builder.skip(node)
    return builder.G


# --------------------------------------------------------------------------
# torch.fx
# --------------------------------------------------------------------------

def _fx_attribute(gm, target):
    """The object a ``get_attr`` target names."""
    owner, _, attr = target.rpartition(".")
    return getattr(gm.get_submodule(owner), attr)


def _fx_weights(prefix, tensors, canonical, buffers):
    """``{qualified name: info}`` for ``(local name, tensor)`` pairs under ``prefix``."""
    torch = import_torch()
    weights = {}
    for local, value in tensors:
        qualified = f"{prefix}.{local}" if prefix else local
        if qualified in buffers:
            kind = "buffer"
        else:
            kind = None if isinstance(value, torch.nn.Parameter) else "constant"
        weights[canonical.get(qualified, qualified)] = weight_info(
            value, kind=kind, trainable=value.requires_grad)
    return weights


def _module_attrs(module):
    """Public scalar settings of a leaf module (``kernel_size``, ``eps``, ``p`` …)."""
    simple = (type(None), bool, int, float, str)
    attrs = {}
    for key, value in vars(module).items():
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, simple) or (
                isinstance(value, (tuple, list)) and all(isinstance(v, simple) for v in value)):
            attrs[key] = json_value(value)
    return attrs


def _add_fx_call(builder, node, gm, context):
    """Add a call_module / call_function / call_method node."""
    canonical, buffers = context
    stack = node.meta.get("nn_module_stack")
    params = None
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        op = label = type(module).__name__
        scope_info = module_scope(stack) if stack else (
            node.target, op, ir.scope_from_path(node.target, op))
        params = _fx_weights(node.target, list(module.named_parameters())
                             + list(module.named_buffers()), canonical, buffers)
        attrs = _module_attrs(module)
    else:
        if node.op == "call_method":
            op, label, names = f"method.{node.target}", node.target, []
        else:
            (op, label), names = _function_names(node.target), _argument_names(node.target)
        scope_info = module_scope(stack)
        attrs = _call_attrs(node, names)
    builder.add_op(node, op=op, label=label, scope_info=scope_info, attrs=attrs, params=params)


def _constructor_fields(target):
    """Field names when ``target`` is a dataclass or namedtuple class, else None."""
    if not isinstance(target, type):
        return None
    if dataclasses.is_dataclass(target):
        return [f.name for f in dataclasses.fields(target)]
    return list(target._fields) if issubclass(target, tuple) and hasattr(target, "_fields") \
        else None


def _is_output_constructor(node):
    """True for a record built only to be returned (fx records ``Out(a=x)`` as a call)."""
    return (node.op == "call_function" and _constructor_fields(node.target) is not None
            and all(user.op == "output" for user in node.users))


def _expand_constructors(value):
    """Replace output-constructor nodes by ``{field: value}`` dicts."""
    from torch.fx import Node
    from torch.fx.node import map_aggregate

    def expand(item):
        if not (isinstance(item, Node) and _is_output_constructor(item)):
            return item
        names = _constructor_fields(item.target)
        fields = dict(zip(names, item.args)) | dict(item.kwargs)
        return {key: _expand_constructors(fields[key]) for key in names if key in fields}

    return map_aggregate(value, expand)


def _add_fx_outputs(builder, node):
    from torch.fx import Node

    tree = _expand_constructors(node.args[0])
    for path, value in iter_leaves(tree, lambda v: isinstance(v, Node)):
        builder.add_output(leaf_name(path), value)


def _add_fx_node(builder, node, gm, context):
    """Dispatch one fx node to the builder."""
    torch = import_torch()
    if node.op == "placeholder":
        if "tensor_meta" in node.meta or not node.args:
            builder.add_input(node, str(node.target).lstrip("*"))
        else:
            builder.skip(node)
    elif node.op == "get_attr":
        value = _fx_attribute(gm, node.target)
        owner, _, attr = node.target.rpartition(".")
        if isinstance(value, torch.Tensor):
            builder.add_weights(node, _fx_weights(owner, [(attr, value)], *context))
        else:
            builder.skip(node)
    elif node.op == "output":
        _add_fx_outputs(builder, node)
    elif (node.op == "call_function" and _is_assertion(node.target)) \
            or builder.derives_from_skipped(node) or _is_output_constructor(node):
        builder.skip(node)
    elif not builder.fold_getitem(node):
        _add_fx_call(builder, node, gm, context)


def _convert_graph_module(gm, name, source):
    """Walk ``gm.graph`` in order and build the IR."""
    named = list(gm.named_parameters(remove_duplicate=False)) + list(
        gm.named_buffers(remove_duplicate=False))
    buffers = {key for key, _ in gm.named_buffers(remove_duplicate=False)}
    context = (canonical_names(named), buffers)
    builder = _Builder(source, name)
    for node in gm.graph.nodes:
        _add_fx_node(builder, node, gm, context)
    return builder.G
