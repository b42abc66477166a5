"""TorchScript modules (``torch.jit.trace``/``script``, ``torch.jit.load``) to the IR.

The forward graph is copied and inlined (``torch._C._jit_pass_inline``), then
walked once, in order:

- ``prim::Constant`` values and constant lists fold into the ``attrs`` of the
  ops that read them, keyed by the op schema's argument names
  (``stride``, ``padding``, ...);
- ``prim::GetAttr`` chains from ``self`` resolve to module paths and to
  qualified parameter and buffer names, which go into the ``params`` of the
  ops that read them;
- ``prim::ListConstruct``/``TupleConstruct``/``DictConstruct`` and their
  unpacking fold away, so a ``cat`` of two tensors has two input edges;
- ``prim::If``/``prim::Loop`` become one op node after the ops of their
  blocks, fed by what the blocks return;
- every other node is an op (``aten::_convolution``) with id
  ``<module path>/<op>#<k>``.

Module paths come from the node's scope name when the graph is fresh from
``torch.jit.trace`` (``__module.layer1.0.conv1``), otherwise from its inlined
call stack (``layer1(Sequential).0(BasicBlock).conv1(Conv2d)``), with the
``GetAttr`` chains of each call frame anchoring the frame to its full path
(a scripted ``ModuleList`` loop calls ``blocks.0`` as ``0``). Module types
are the scripted modules' ``original_name``.

Shapes are those the graph's value types record. Graphs of traced modules
from torch 2.x no longer keep them after ``torch.jit.save``, so ops of a
loaded archive usually have unknown output shapes; weights always have
theirs. Nothing here runs the module.
"""

import re

from graphir import ir
from graphir.converters._torch_common import import_torch, json_value, leaf_name, weight_info
from graphir.errors import ConversionError

__all__ = ["from_torchscript"]

_SCALAR_TYPES = {
    "Float": "float32", "Double": "float64", "Half": "float16", "BFloat16": "bfloat16",
    "Long": "int64", "Int": "int32", "Short": "int16", "Char": "int8", "Byte": "uint8",
    "Bool": "bool", "ComplexFloat": "complex64", "ComplexDouble": "complex128",
}
# c10::ScalarType codes, as TorchScript passes a ``dtype`` argument.
_SCALAR_CODES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16",
                 6: "float32", 7: "float64", 9: "complex64", 10: "complex128", 11: "bool",
                 15: "bfloat16"}
_DROPPED = frozenset({"prim::RaiseException", "aten::warn", "prim::Print"})
_SEQUENCES = frozenset({"prim::ListConstruct", "prim::TupleConstruct"})
_UNPACKS = frozenset({"prim::ListUnpack", "prim::TupleUnpack"})
_FRAME = re.compile(r"(\w+)\((\w*)\)")
_VERSION_SUFFIX = re.compile(r"\.\d+$")


def _join(path, name):
    return f"{path}.{name}" if path else name


def _value_entry(value, torch):
    """IR tensor entry from a TorchScript value's type (shape only when recorded)."""
    kind = value.type()
    if not isinstance(kind, torch._C.TensorType):
        return ir.tensor(None, None)
    try:
        sizes = kind.varyingSizes()
    except RuntimeError:
        sizes = None
    return ir.tensor(_SCALAR_TYPES.get(kind.scalarType()), sizes)


def _hierarchy(node):
    """``[(instance, type), ...]`` of the module calls a node was inlined from."""
    getter = getattr(node, "getModuleHierarchy", None)
    text = getter() if getter is not None else ""
    return [(inst, kind) for inst, kind in _FRAME.findall(text or "")
            if inst != "UNKNOWN_INSTANCE"]


def _all_nodes(block):
    for node in block.nodes():
        yield node
        for inner in node.blocks():
            yield from _all_nodes(inner)


class _Scopes:
    """Module paths of values (``GetAttr`` chains) and of nodes (scopes, call stacks)."""

    def __init__(self, module, graph):
        self.types = {path: sub.original_name for path, sub in module.named_modules()}
        inputs = list(graph.inputs())
        self.paths = {inputs[0].unique(): ""} if inputs else {}
        self.anchors = {}
        self.cache = {}
        for node in _all_nodes(graph):
            if node.kind() != "prim::GetAttr":
                continue
            base = node.input().unique()
            if base not in self.paths:
                continue
            child = _join(self.paths[base], node.s("name"))
            if child in self.types:
                self.paths[node.output().unique()] = child
            frame = "".join(f"{i}({t})." for i, t in _hierarchy(node))
            known = self.anchors.get(frame)
            if frame and (known is None or len(self.paths[base]) < len(known)):
                self.anchors[frame] = self.paths[base]

    def _step(self, path, instance, type_name):
        """Full path of submodule ``instance`` called from module ``path``."""
        direct = _join(path, instance)
        if direct in self.types:
            return direct
        prefix = _join(path, "")
        found = [p for p in self.types if p.startswith(prefix) and
                 p.rsplit(".", 1)[-1] == instance and self.types[p] == type_name]
        return found[0] if len(found) == 1 else direct

    def resolve(self, node):
        """``(path, type)`` of the innermost module a node belongs to."""
        scope = node.scopeName()
        if scope:
            path = scope.rsplit("/", 1)[-1].removeprefix("__module").lstrip(".")
            if path in self.types:
                return path, self.types[path] if path else None
        frames = _hierarchy(node)
        key = tuple(frames)
        if key not in self.cache:
            path, frame = "", ""
            for instance, type_name in frames:
                frame += f"{instance}({type_name})."
                path = self.anchors.get(frame) or self._step(path, instance, type_name)
            self.cache[key] = (path, self.types.get(path, frames[-1][1]) if path else None)
        return self.cache[key]


class _Builder:
    """Walks an inlined TorchScript graph and writes the IR."""

    def __init__(self, module, graph, name, torch):
        self.torch = torch
        self.G = ir.new_graph("torchscript", name)
        self.ids = ir.IdAllocator()
        self.scopes = _Scopes(module, graph)
        self.tensors = dict(module.named_parameters())
        self.buffers = dict(module.named_buffers())
        self.bind = {}
        self.schemas = {}

    def weight(self, qualified):
        if qualified in self.buffers:
            return weight_info(self.buffers[qualified], kind="buffer")
        value = self.tensors[qualified]
        return weight_info(value, trainable=value.requires_grad)

    def argument_names(self, node):
        schema = node.schema()
        if schema not in self.schemas:
            try:
                names = [a.name for a in self.torch._C.parse_schema(schema).arguments]
            except RuntimeError:
                names = []
            self.schemas[schema] = names
        return self.schemas[schema]

    def constant(self, node):
        value = node.output()
        if value.type().kind() == "FunctionType":
            return None
        try:
            return ("const", value.toIValue())
        except RuntimeError:
            return None

    def get_attr(self, node):
        out = node.output().unique()
        if out in self.scopes.paths:
            return ("module", self.scopes.paths[out])
        base = node.input().unique()
        if base in self.scopes.paths:
            qualified = _join(self.scopes.paths[base], node.s("name"))
            if qualified in self.tensors or qualified in self.buffers:
                return ("param", qualified)
            return ("attr", qualified)
        return ("attr", node.s("name"))

    def fold(self, node):
        """Bind the outputs of a node that needs no IR node; False if it needs one."""
        kind = node.kind()
        inputs = [self.bind.get(v.unique()) for v in node.inputs()]
        if kind == "prim::Constant":
            results = [self.constant(node)]
        elif kind == "prim::GetAttr":
            results = [self.get_attr(node)]
        elif kind in _SEQUENCES:
            if all(b is not None and b[0] == "const" for b in inputs):
                results = [("const", [b[1] for b in inputs])]
            else:
                results = [("seq", inputs)]
        elif kind == "prim::DictConstruct":
            keys = [str(b[1]) if b and b[0] == "const" else str(i)
                    for i, b in enumerate(inputs[0::2])]
            results = [("dict", dict(zip(keys, inputs[1::2])))]
        elif kind in _UNPACKS and inputs and inputs[0] and inputs[0][0] == "seq" \
                and len(inputs[0][1]) == node.outputsSize():
            results = list(inputs[0][1])
        elif kind in ("prim::TupleIndex", "aten::__getitem__") and len(inputs) == 2 \
                and inputs[0] and inputs[0][0] == "seq" and inputs[1] \
                and inputs[1][0] == "const" and isinstance(inputs[1][1], int) \
                and -len(inputs[0][1]) <= inputs[1][1] < len(inputs[0][1]):
            results = [inputs[0][1][inputs[1][1]]]
        elif kind in _DROPPED or kind == "prim::Uninitialized":
            results = [None] * node.outputsSize()
        else:
            return False
        for value, result in zip(node.outputs(), results):
            self.bind[value.unique()] = result
        return True

    def attach(self, node_id, binding, arg, state):
        """Turn one input binding into edges, ``params`` or ``attrs`` of ``node_id``."""
        if binding is None or binding[0] == "module":
            return None
        kind, value = binding
        if kind == "tensor":
            ir.add_edge(self.G, value[0], node_id, value[1], state["port"])
            state["port"] += 1
            return None
        if kind == "param":
            state["params"][value] = self.weight(value)
            return None
        if kind == "const":
            if arg == "dtype" and isinstance(value, int) and value in _SCALAR_CODES:
                return _SCALAR_CODES[value]
            return json_value(value)
        if kind == "attr":
            return f"self.{value}"
        items = value.values() if kind == "dict" else value
        folded = [self.attach(node_id, item, arg, state) for item in items]
        return folded if any(f is not None for f in folded) else None

    def add_op(self, node, extra_inputs=()):
        """One op node for ``node``; its outputs are bound to it."""
        module, module_type = self.scopes.resolve(node)
        op = node.kind()
        node_id = self.ids.allocate(module, op.split("::", 1)[-1])
        outputs = list(node.outputs())
        ir.add_node(self.G, node_id, kind="op", op=op,
                    name=_VERSION_SUFFIX.sub("", outputs[0].debugName()) if outputs else op,
                    module=module, module_type=module_type,
                    scope=ir.scope_from_path(module, module_type, self.scopes.types),
                    outputs=[_value_entry(v, self.torch) for v in outputs])
        names = self.argument_names(node)
        state = {"port": 0, "params": {}}
        attrs = {}
        for index, value in enumerate(node.inputs()):
            arg = names[index] if index < len(names) else f"arg{index}"
            folded = self.attach(node_id, self.bind.get(value.unique()), arg, state)
            if folded is not None:
                attrs[arg] = folded
        for binding in extra_inputs:
            self.attach(node_id, binding, "", state)
        data = self.G.nodes[node_id]
        data["params"], data["attrs"] = state["params"], attrs
        for port, value in enumerate(outputs):
            self.bind[value.unique()] = ("tensor", (node_id, port))

    def walk(self, block):
        for node in block.nodes():
            if self.fold(node):
                continue
            returned = []
            for inner in node.blocks():
                if node.kind() == "prim::Loop":
                    params = list(inner.inputs())
                    self.bind[params[0].unique()] = None
                    carried = list(node.inputs())[2:]
                    for param, init in zip(params[1:], carried):
                        self.bind[param.unique()] = self.bind.get(init.unique())
                self.walk(inner)
                returned += [self.bind.get(v.unique()) for v in inner.outputs()]
            self.add_op(node, returned)

    def add_inputs(self, graph):
        for value in list(graph.inputs())[1:]:
            name = _VERSION_SUFFIX.sub("", value.debugName()) or f"input_{value.offset()}"
            node_id = f"input:{name}"
            attrs = {} if isinstance(value.type(), self.torch._C.TensorType) \
                else {"type": str(value.type())}
            ir.add_node(self.G, node_id, kind="input", op="input", name=name,
                        outputs=[_value_entry(value, self.torch)], attrs=attrs)
            self.G.graph["inputs"].append(node_id)
            self.bind[value.unique()] = ("tensor", (node_id, 0))

    def add_outputs(self, graph):
        returned = list(graph.outputs())
        tree = self.bind.get(returned[0].unique()) if len(returned) == 1 else \
            ("seq", [self.bind.get(v.unique()) for v in returned])
        for path, binding in _leaves(tree, ()):
            name = leaf_name(path)
            node_id = f"output:{name}"
            if node_id in self.G:
                continue
            if binding[0] == "tensor":
                src, port = binding[1]
                entry = dict(self.G.nodes[src]["outputs"][port])
            else:
                entry = dict(self.weight(binding[1]))
                entry = ir.tensor(entry["dtype"], entry["shape"])
            ir.add_node(self.G, node_id, kind="output", op="output", name=name, outputs=[entry])
            if binding[0] == "tensor":
                ir.add_edge(self.G, src, node_id, port, 0)
            self.G.graph["outputs"].append(node_id)


def _leaves(binding, path):
    """``(path, binding)`` for each tensor or weight in a returned structure."""
    if binding is None:
        return
    kind, value = binding
    if kind in ("tensor", "param"):
        yield path, binding
    elif kind == "seq":
        for index, item in enumerate(value):
            yield from _leaves(item, path + (index,))
    elif kind == "dict":
        for key, item in value.items():
            yield from _leaves(item, path + (key,))


def from_torchscript(module, *, name):
    """Convert a TorchScript module's ``forward`` to the IR (source ``torchscript``).

    Parameters
    ----------
    module : torch.jit.ScriptModule
        From ``torch.jit.trace``, ``torch.jit.script`` or ``torch.jit.load``.
    name : str
        Model name.

    Returns
    -------
    networkx.MultiDiGraph
        Inputs (without ``self``), one op per TorchScript node that does
        work, outputs named ``output``/``output_0``/dict keys.

    Raises
    ------
    ConversionError
        When ``module`` has no TorchScript ``forward``.
    """
    torch = import_torch()
    forward = getattr(module, "forward", None)
    graph = getattr(forward, "graph", None)
    if not isinstance(module, torch.jit.ScriptModule) or graph is None:
        raise ConversionError(f"expected a TorchScript module with a forward method, got "
                              f"{type(module).__name__}",
                              hint="pass the result of torch.jit.trace, torch.jit.script or "
                                   "torch.jit.load")
    graph = graph.copy()
    torch._C._jit_pass_inline(graph)
    builder = _Builder(module, graph, name, torch)
    builder.add_inputs(graph)
    builder.walk(graph)
    builder.add_outputs(graph)
    return builder.G
