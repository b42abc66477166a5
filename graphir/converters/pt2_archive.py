"""A ``torch.export.save`` archive (``.pt2``) -> IR, from its JSON program alone.

``torch.export.load`` rebuilds a live ``ExportedProgram``: it needs every
output pytree type registered in the reading process (a Hugging Face
``BaseModelOutputWithPooling`` is not, unless ``transformers`` was imported
first), every custom op's library loaded, it unpickles parts of the archive
and passes shape expressions to ``sympy.sympify``. To draw the model none of
that is needed: the archive's serialised program (the zip member
``<archive>/models/<model>.json``) lists every node with its target,
arguments, output tensor metadata and ``nn_module_stack``, plus the
signature (which inputs are parameters, buffers, constants or user inputs)
and the output structure.

:func:`from_pt2_archive` reads that JSON directly -- no torch, no unpickling,
no sympy: symbolic sizes keep their text (``Symbol('s77', ...)`` -> ``"s77"``,
``Mul(Integer(2), Symbol('s0'))`` -> ``"2*s0"``, parsed with :mod:`ast`,
never evaluated). The IR is the one
:func:`graphir.converters.fx.from_exported_program` builds from the loaded
program (a differential test checks this on samples): same ids, ops,
labels, module scopes, shapes, params (tied weights under their first name,
read from the weights config), attrs, ports and output names.

Usage: ``G = from_pt2_archive("model.pt2")`` (see ``tests/test_pt2_archive.py``
for archives made on the fly).
"""

import ast
import json
import os
import zipfile

from graphir import ir
from graphir.converters._torch_common import leaf_name, module_scope
from graphir.errors import InputError

__all__ = ["from_pt2_archive", "read_program", "symbolic_text"]

#: Serialised ``ScalarType`` codes (torch/_export/serde/schema.py) -> IR dtypes.
_SCALAR_TYPES = {
    1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16",
    7: "float32", 8: "float64", 10: "complex64", 11: "complex128", 12: "bool",
    13: "bfloat16", 28: "uint16", 29: "float8_e4m3fn", 30: "float8_e5m2",
    31: "float8_e4m3fnuz", 32: "float8_e5m2fnuz", 34: "uint32", 35: "uint64",
}
_LAYOUTS = {0: "Unknown", 1: "torch.sparse_coo", 2: "torch.sparse_csr",
            3: "torch.sparse_csc", 4: "torch.sparse_bsr", 5: "torch.sparse_bsc",
            6: "torch._mkldnn", 7: "torch.strided"}
_MEMORY_FORMATS = {0: "Unknown", 1: "torch.contiguous_format", 2: "torch.channels_last",
                   3: "torch.channels_last_3d", 4: "torch.preserve_format"}
_ASSERTIONS = ("_assert", "sym_constrain_range")
_MAX_LIST = 64
_MAX_JSON_BYTES = 1 << 30
_BINARY = {"Add": " + ", "Mul": "*", "Pow": "**", "FloorDiv": "//", "Mod": "%",
           "PythonMod": "%", "CleanDiv": "/", "IntTrueDiv": "/", "TrueDiv": "/",
           "Max": None, "Min": None}


# --------------------------------------------------------------------------- reading

def _corrupt(path, what):
    return InputError(f"{what}; the torch.export archive is damaged", path=path,
                      hint="save the program again with torch.export.save "
                           "(or re-copy the file)")


def read_program(path):
    """The serialised program of a ``.pt2`` archive and its weights config.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    (dict, dict, str)
        The parsed ``models/<model>.json`` (the first model, ``model`` when
        present), the parsed ``data/weights/<model>_weights_config.json``
        (``{}`` when absent) and the model's name in the archive.

    Raises
    ------
    InputError
        When the file is not a zip archive, holds no program, or the
        program is not valid JSON of the expected form.
    """
    path = os.fspath(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i for i in archive.infolist() if not i.is_dir()]
            programs = sorted((i for i in members if _is_program(i.filename)),
                              key=lambda i: (os.path.basename(i.filename) != "model.json",
                                             i.filename))
            if not programs:
                raise InputError("holds no serialised program (no models/*.json member)",
                                 path=path, hint="is it a torch.export.save archive? "
                                 "AOTInductor packages hold no graph graphir can read")
            info = programs[0]
            model = os.path.basename(info.filename)[:-len(".json")]
            program = _read_json(archive, info, path)
            config = {}
            prefix = info.filename[:-len(f"models/{model}.json")]
            wanted = f"{prefix}data/weights/{model}_weights_config.json"
            if wanted in archive.namelist():
                config = _read_json(archive, archive.getinfo(wanted), path)
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"cannot be read as a zip archive ({type(exc).__name__}: "
                         f"{str(exc)[:120]})", path=path,
                         hint="the file may be truncated; save it again") from None
    graph_module = program.get("graph_module") if isinstance(program, dict) else None
    if not isinstance(graph_module, dict) or not isinstance(graph_module.get("graph"), dict) \
            or not isinstance(graph_module["graph"].get("nodes"), list):
        raise _corrupt(path, f"{info.filename} is not a serialised ExportedProgram "
                             "(no graph_module.graph.nodes)")
    return program, (config.get("config") or {}) if isinstance(config, dict) else {}, model


def _is_program(name):
    parts = name.split("/")
    return len(parts) >= 2 and parts[-2] == "models" and parts[-1].endswith(".json")


def _read_json(archive, info, path):
    if info.file_size > _MAX_JSON_BYTES:
        raise InputError(f"{info.filename} is larger than 1 GB", path=path,
                         hint="the archive may be damaged; save it again")
    try:
        return json.loads(archive.read(info))
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(path, f"{info.filename} is not valid JSON "
                             f"({str(exc).splitlines()[0][:80]})") from None


# ----------------------------------------------------------------- symbolic sizes

def symbolic_text(expr_str):
    """Readable text of a serialised sympy expression, without sympy.

    Parameters
    ----------
    expr_str : str
        ``sympy.srepr`` text as ``torch.export.save`` writes it.

    Examples
    --------
    >>> symbolic_text("Symbol('s77', positive=True, integer=True)")
    's77'
    >>> symbolic_text("Mul(Integer(2), Symbol('s0', integer=True))")
    '2*s0'
    >>> symbolic_text("Add(Symbol('s0'), Integer(-1))")
    's0 - 1'
    """
    try:
        tree = ast.parse(str(expr_str), mode="eval").body
        return _expr_text(tree)
    except (SyntaxError, ValueError, RecursionError, TypeError):
        return str(expr_str)


def _expr_text(node):
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return f"-{_expr_text(node.operand)}"
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError("not an srepr call")
    kind, args = node.func.id, [_expr_text(a) for a in node.args]
    if kind == "Symbol":
        return args[0]
    if kind in ("Integer", "Float", "Rational") and len(args) == 1:
        return args[0]
    if kind == "Rational" and len(args) == 2:
        return f"{args[0]}/{args[1]}"
    if kind == "Add":
        text = args[0]
        for arg in args[1:]:
            text += f" - {arg[1:]}" if arg.startswith("-") else f" + {arg}"
        return text
    if kind in _BINARY and _BINARY[kind] and len(args) >= 2:
        parts = [f"({a})" if " " in a else a for a in args]
        if kind == "Mul" and parts[0] == "-1":
            return "-" + "*".join(parts[1:])
        return _BINARY[kind].join(parts)
    return f"{kind}({', '.join(args)})"


def _size(entry):
    if "as_int" in entry:
        size = int(entry["as_int"])
        return size if size >= 0 else None  # a damaged file: unknown, not invalid IR
    expr = entry.get("as_expr") or {}
    return symbolic_text(expr.get("expr_str", "?"))


def _tensor(meta):
    if not isinstance(meta, dict):
        return ir.tensor(None, None)
    return ir.tensor(_SCALAR_TYPES.get(meta.get("dtype")),
                     [_size(s) for s in meta.get("sizes") or []])


# ------------------------------------------------------------------- arguments

def _leaves(arg):
    """Flat leaves of one serialised argument: ``[(kind, value)]``.

    ``kind`` is ``"tensor"`` (value: tensor name), ``"sym"`` (a symbol's
    producer name), ``"graph"`` (a subgraph, never an edge) or ``"value"``.
    """
    (key, value), = arg.items() if isinstance(arg, dict) and len(arg) == 1 else [(None, None)]
    if key == "as_tensor":
        return [("tensor", value["name"])]
    if key in ("as_tensors",):
        return [("tensor", v["name"]) for v in value]
    if key == "as_optional_tensors":
        return [("tensor", v["as_tensor"]["name"]) if "as_tensor" in v else ("value", None)
                for v in value]
    if key == "as_optional_tensor":
        return [("tensor", value["as_tensor"]["name"]) if "as_tensor" in value
                else ("value", None)]
    if key == "as_nested_tensors":
        return [("tensor", v["name"]) for inner in value for v in inner]
    if key in ("as_sym_int", "as_sym_bool", "as_sym_float"):
        return [_sym_leaf(value)]
    if key in ("as_sym_ints", "as_sym_bools", "as_sym_floats"):
        return [_sym_leaf(v) for v in value]
    if key == "as_graph":
        return [("graph", None)]
    if key in ("as_ints", "as_floats", "as_bools", "as_strings"):
        return [("value", v) for v in value]
    if key in ("as_int_lists", "as_float_lists"):
        return [("value", v) for inner in value for v in inner]
    if key == "as_string_to_argument":
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [("value", _plain(key, value))]


def _sym_leaf(value):
    if "as_name" in value:
        return ("sym", value["as_name"])
    if "as_int" in value:
        return ("value", value["as_int"])
    if "as_float" in value:
        return ("value", value["as_float"])
    if "as_bool" in value:
        return ("value", value["as_bool"])
    return ("value", None)


def _plain(key, value):
    """JSON-safe value as ``graphir.converters._torch_common.json_value`` gives it."""
    if key == "as_none":
        return None
    if key == "as_scalar_type":
        return _SCALAR_TYPES.get(value, str(value))
    if key == "as_layout":
        return _LAYOUTS.get(value, str(value))
    if key == "as_memory_format":
        return _MEMORY_FORMATS.get(value, str(value))
    if key == "as_device":
        index = value.get("index")
        return value.get("type", "cpu") + ("" if index is None else f":{index}")
    if key == "as_float" and isinstance(value, str):
        return {"Infinity": "inf", "-Infinity": "-inf", "NaN": "nan"}.get(value, value)
    if key == "as_complex":
        return "complex"
    if key in ("as_custom_obj", "as_operator"):
        return value if isinstance(value, str) else "object"
    return value


def _attr_value(arg, is_node):
    """The attrs value of an argument with no tensor/symbol in it, else a sentinel.

    ``is_node(name)`` tells whether a symbol is a graph value (then the
    argument is wired, not an attribute).
    """
    leaves = _leaves(arg)
    if any(kind in ("tensor", "graph") for kind, _ in leaves) or any(
            kind == "sym" and is_node(name) for kind, name in leaves):
        return _NOT_PLAIN
    (key, value), = arg.items()
    if key in ("as_ints", "as_floats", "as_bools", "as_strings", "as_sym_ints",
               "as_sym_floats", "as_sym_bools", "as_int_lists", "as_float_lists"):
        items = [v for _, v in leaves] if key.startswith("as_sym") else list(value)
        if key in ("as_floats",):
            items = [_plain("as_float", v) for v in items]
        cut = items[:_MAX_LIST]
        return cut + ["..."] if len(items) > _MAX_LIST else cut
    if key in ("as_sym_int", "as_sym_bool", "as_sym_float"):
        return leaves[0][1]
    return _plain(key, value)


_NOT_PLAIN = object()


# ------------------------------------------------------------------- structure

def _parse_stack(text):
    """``nn_module_stack`` metadata text -> ``{key: (path, type)}``.

    Entries are ``key,path,type`` joined by ``;``; commas inside brackets or
    parentheses belong to the path (``L['self'].h[0]``).
    """
    stack = {}
    for item in (text or "").split(";"):
        parts, start, depth = [], 0, 0
        for end, char in enumerate(item):
            if char in "[(":
                depth += 1
            elif char in ")]":
                depth -= 1
            elif char == "," and depth == 0:
                parts.append(item[start:end])
                start = end + 1
        parts.append(item[start:])
        if len(parts) == 3:
            stack[parts[0]] = (parts[1], parts[2])
    return stack


def _op_names(target):
    """``(op, label)`` as :func:`graphir.converters.fx._function_names` gives them."""
    target = str(target)
    if target.startswith("torch.ops.higher_order."):
        label = target.rsplit(".", 1)[-1]
        return f"higher_order.{label}", label
    if target.startswith("torch.ops."):
        op = target[len("torch.ops."):]
        parts = op.split(".")
        return op, parts[1] if len(parts) >= 2 else op
    module, _, label = target.rpartition(".")
    module = {"_operator": "operator", "builtins": ""}.get(module, module)
    return (f"{module}.{label}" if module else label), label


def _out_spec_names(text, count):
    """Names of ``count`` flat outputs from the serialised output TreeSpec."""
    fallback = [f"output_{i}" for i in range(count)]
    try:
        spec = json.loads(text)
        tree = spec[1] if isinstance(spec, list) and len(spec) == 2 else spec
        names = []
        _spec_leaves(tree, (), names)
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return fallback
    return names if len(names) == count else fallback


def _spec_leaves(tree, path, names):
    kind = tree.get("type")
    children = tree.get("children_spec") or []
    if kind is None and not children:
        names.append(leaf_name(path))
        return
    keys = list(range(len(children)))
    context = tree.get("context")
    if kind not in ("builtins.tuple", "builtins.list") and isinstance(context, str):
        try:
            found = json.loads(context)
        except ValueError:
            found = None
        if isinstance(found, list) and len(found) == len(children) \
                and all(isinstance(k, (str, int)) for k in found):
            keys = found
    for key, child in zip(keys, children):
        if child.get("type") is None and not child.get("children_spec") \
                and child.get("context") is None and kind == "builtins.NoneType":
            continue
        _spec_leaves(child, path + (key,), names)


def _spec_of(entry):
    """``(kind, payload)`` of one input/output spec entry."""
    (kind, payload), = entry.items()
    return kind, payload


def _weight_roles(signature, tensor_values, config):
    """Placeholder name -> ``(qualified name, kind, trainable)``; tied names merged."""
    first_by_file, roles = {}, {}
    for entry in signature.get("input_specs", []):
        kind, spec = _spec_of(entry)
        if kind == "parameter":
            target, weight_kind = spec["parameter_name"], None
        elif kind == "buffer":
            target, weight_kind = spec["buffer_name"], "buffer"
        elif kind == "tensor_constant":
            target, weight_kind = spec["tensor_constant_name"], "constant"
        else:
            continue
        stored = (config.get(target) or {}).get("path_name")
        qualified = first_by_file.setdefault(stored, target) if stored else target
        arg = spec["arg"]["name"]
        trainable = bool((tensor_values.get(arg) or {}).get("requires_grad", True))
        roles[arg] = (qualified, weight_kind, trainable)
    return roles


def _weight_info(meta, kind, trainable):
    entry = _tensor(meta)
    info = ir.param_info(entry["shape"] or [], entry["dtype"])
    if kind is not None:
        info["kind"] = kind
    elif not trainable:
        info["trainable"] = False
    return info


# ------------------------------------------------------------------- conversion

class _Walk:
    def __init__(self, G, graph, roles):
        self.G = G
        self.ids = ir.IdAllocator()
        self.tensors = graph.get("tensor_values") or {}
        self.roles = roles
        self.values = {}   # tensor or symbol name -> (node id, port)
        self.skipped = set()
        self.custom = {}   # ops outside aten/prims/higher_order: op -> count

    def is_node(self, name):
        return name in self.values or name in self.skipped

    def add_input(self, name):
        node_id = ir.add_node(self.G, f"input:{name}", kind="input", op="input", name=name,
                              label=name, outputs=[_tensor(self.tensors.get(name))])
        self.G.graph["inputs"].append(node_id)
        self.values[name] = (node_id, 0)

    def _outputs(self, node):
        names, entries = [], []
        for out in node.get("outputs") or []:
            for kind, name in _leaves(out):
                if kind == "tensor":
                    names.append(name)
                    entries.append(_tensor(self.tensors.get(name)))
                elif kind == "sym":
                    names.append(name)
                    entries.append(ir.tensor(None, None))
        return names, entries

    def add_call(self, node):
        op, label = _op_names(node.get("target", "?"))
        inputs = node.get("inputs") or []
        sources = [n for arg in inputs for kind, n in _leaves(arg.get("arg") or {})
                   if kind in ("tensor", "sym") and (n in self.values or n in self.skipped
                                                     or n in self.roles)]
        out_names, outputs = self._outputs(node)
        if label.startswith(_ASSERTIONS) or (
                sources and all(n in self.skipped for n in sources)):
            self.skipped.update(out_names)
            return
        namespace = op.split(".", 1)[0]
        if namespace not in ("aten", "prims", "higher_order", "operator", "math", "") \
                and "." in op:
            self.custom[op] = self.custom.get(op, 0) + 1
        meta = node.get("metadata") or {}
        module, module_type, scope = module_scope(_parse_stack(meta.get("nn_module_stack")))
        node_id = self.ids.allocate(module, label)
        params, edges, attrs, port = {}, [], {}, 0
        for arg in inputs:
            raw = arg.get("arg") or {}
            value = _attr_value(raw, self.is_node) if raw else None
            if value is not _NOT_PLAIN:
                attrs[arg.get("name") or f"arg{port}"] = value
            for kind, name in _leaves(raw) if raw else [("value", None)]:
                if kind in ("tensor", "sym") and name in self.roles:
                    qualified, weight_kind, trainable = self.roles[name]
                    params[qualified] = _weight_info(self.tensors.get(name), weight_kind,
                                                     trainable)
                elif kind in ("tensor", "sym") and name in self.values:
                    edges.append((*self.values[name], port))
                port += 1
        name = node.get("name") or (out_names[0] if out_names else label)
        ir.add_node(self.G, node_id, kind="op", op=op, name=name, label=label,
                    module=module, module_type=module_type, scope=scope,
                    outputs=outputs, params=params, attrs=attrs)
        for source, src_port, dst_port in edges:
            ir.add_edge(self.G, source, node_id, src_port, dst_port)
        for index, out in enumerate(out_names):
            self.values[out] = (node_id, index)

    def add_output(self, name, tensor_name):
        source = self.values.get(tensor_name)
        outputs = [dict(self.G.nodes[source[0]]["outputs"][source[1]])] if source and \
            source[1] < len(self.G.nodes[source[0]]["outputs"]) else \
            [_tensor(self.tensors.get(tensor_name))]
        node_id = ir.add_node(self.G, f"output:{name}", kind="output", op="output",
                              name=name, label=name, outputs=outputs)
        if source is not None:
            ir.add_edge(self.G, source[0], node_id, source[1], 0)
        self.G.graph["outputs"].append(node_id)


def from_pt2_archive(path, *, name=None, note=None):
    """Convert a ``torch.export.save`` archive to the IR by reading its JSON program.

    Never imports torch, never unpickles, never evaluates a shape
    expression; works for archives ``torch.export.load`` cannot rebuild
    (unregistered output pytree types, custom ops whose library is not
    installed).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pt2`` archive.
    name : str, optional
        Model name; the file stem by default.
    note : str, optional
        Appended to ``G.graph["notes"]`` (e.g. why ``torch.export.load``
        could not be used).

    Returns
    -------
    networkx.MultiDiGraph
        The IR, source ``"export"``. ``G.graph["pt2"]`` records the schema
        and torch versions of the archive, the ops from libraries other
        than aten/prims (``custom_ops``: op -> count) and the output
        container types from outside builtins/torch (``output_types``,
        e.g. ``transformers.modeling_outputs.BaseModelOutputWithPooling``);
        a note names those, which ``torch.export.load`` would need
        importable to rebuild the program.

    Raises
    ------
    InputError
        When the archive or its program cannot be read (one line: the file,
        what is wrong, what to do).
    """
    path = os.fspath(path)
    program, config, model = read_program(path)
    graph_module = program["graph_module"]
    graph = graph_module["graph"]
    signature = graph_module.get("signature") or {}
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    G = ir.new_graph("export", str(name))
    try:
        _walk_program(G, graph, signature, config, graph_module)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise _corrupt(path, f"models/{model}.json does not follow the torch.export schema "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None
    info = G.graph.pop("_pt2")
    G.graph["pt2"] = {"schema_version": program.get("schema_version"),
                      "torch_version": program.get("torch_version"), **info}
    notes = [str(note)] if note else []
    foreign = [f"output type {t}" for t in info["output_types"]] + \
        [f"custom op {op}" for op in info["custom_ops"]]
    if foreign:
        notes.append("read from the archive's program without rebuilding it; drawn from its "
                     f"metadata only: {', '.join(foreign)}")
    if notes:
        G.graph["notes"] = notes
    return G


def _walk_program(G, graph, signature, config, graph_module):
    tensors = graph.get("tensor_values") or {}
    roles = _weight_roles(signature, tensors, config)
    walk = _Walk(G, graph, roles)
    for entry in signature.get("input_specs", []):
        kind, spec = _spec_of(entry)
        if kind == "user_input":
            arg_kind, arg = _spec_of(spec["arg"])
            if arg_kind == "as_tensor":
                walk.add_input(arg["name"])
            else:
                walk.skipped.update(n for k, n in _leaves(spec["arg"]) if k == "sym")
        elif kind not in ("parameter", "buffer", "tensor_constant"):
            walk.skipped.update(n for k, n in _leaves(spec.get("arg") or {})
                                if k in ("tensor", "sym"))
            if "arg" in spec and isinstance(spec["arg"], dict) and "name" in spec["arg"]:
                walk.skipped.add(spec["arg"]["name"])
    for node in graph["nodes"]:
        walk.add_call(node)
    user = []
    for entry in signature.get("output_specs", []):
        kind, spec = _spec_of(entry)
        if kind == "user_output":
            user.append(_leaves(spec["arg"]))
    calls = graph_module.get("module_call_graph") or []
    out_spec = ((calls[0].get("signature") or {}).get("out_spec") if calls else None) or "null"
    names = _out_spec_names(out_spec, len(user))
    for name, leaves in zip(names, user):
        if len(leaves) == 1 and leaves[0][0] == "tensor":
            walk.add_output(name, leaves[0][1])
    G.graph["_pt2"] = {"custom_ops": dict(sorted(walk.custom.items())),
                       "output_types": _foreign_types(out_spec)}


def _foreign_types(text):
    """Container types of the output TreeSpec defined outside builtins, collections, torch."""
    found = set()

    def visit(tree, depth=0):
        if not isinstance(tree, dict) or depth > 32:
            return
        kind = tree.get("type")
        if isinstance(kind, str) and not kind.startswith(("builtins.", "collections.",
                                                          "torch.")):
            found.add(kind)
        for child in tree.get("children_spec") or []:
            visit(child, depth + 1)

    try:
        spec = json.loads(text)
    except ValueError:
        return []
    visit(spec[1] if isinstance(spec, list) and len(spec) == 2 else spec)
    return sorted(found)
