"""The torchinfo-style table of a model: one row per module, totals at the end.

Everything is read from the IR: module paths and types from ``scope``,
parameter shapes from ``params`` (each weight counted once, however many ops
read it; buffers are not parameters), output shapes from the tensors that
leave a module. So the table works for every source, a bare state_dict
included.

Examples
--------
>>> from graphir import ir
>>> G = ir.new_graph("fx", "m")
>>> _ = ir.add_node(G, "fc/linear#0", kind="op", op="linear", name="fc", module="fc",
...                 module_type="Linear", outputs=[ir.tensor("float32", [1, 2])],
...                 params={"fc.weight": ir.param_info([2, 4], "float32"),
...                         "fc.bias": ir.param_info([2], "float32")})
>>> table = summarize(G)
>>> table["total_params"], [row["module"] for row in table["rows"]]
(10, ['fc'])
"""

import csv
import io
import json

from graphir import ir
from graphir.util.text import short_name as _short_name

__all__ = ["TABLE_FORMATS", "summarize", "format_summary"]

TABLE_FORMATS = ("text", "json", "markdown", "csv")

_BYTES_PER_ELEMENT = {
    "float64": 8, "int64": 8, "uint64": 8, "complex64": 8, "complex128": 16,
    "float32": 4, "int32": 4, "uint32": 4, "float16": 2, "bfloat16": 2, "int16": 2,
    "uint16": 2, "int8": 1, "uint8": 1, "bool": 1,
}


def _owner(param_name, reader_module):
    """Module that owns a weight: its dotted name's prefix, else the reading op's module.

    Names a framework made up (``onnx::Conv_12``, ``/conv/Constant``) say nothing
    about ownership, so the op that reads them owns them.
    """
    prefix = param_name.rpartition(".")[0]
    if not prefix or "::" in param_name or "/" in param_name:
        return reader_module
    return prefix


def _collect_weights(G):
    """``{name: (owner module, info)}`` for every distinct weight in the graph."""
    weights = {}
    for _, data in G.nodes(data=True):
        for name, info in (data.get("params") or {}).items():
            if name not in weights:
                weights[name] = (_owner(name, data.get("module", "")), info)
    return weights


def _collect_modules(G):
    """``{path: [type, depth]}`` in order of first appearance in the graph."""
    modules = {}
    for _, data in G.nodes(data=True):
        for depth, (path, type_name) in enumerate(data.get("scope") or [], start=1):
            entry = modules.setdefault(path, [type_name, depth])
            if entry[0] is None:
                entry[0] = type_name
    return modules


def _is_buffer(info):
    return info.get("kind") == "buffer"


def _chain(module):
    """``"a.b.c"`` -> ``["a", "a.b", "a.b.c"]``."""
    parts = module.split(".") if module else []
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _module_outputs(G):
    """``{path: [shape, ...]}``: tensors made inside a module and used outside it.

    Also ``{path: stats}``: the activation statistics of the first of those
    tensors, when the graph has them (``--stats``).
    """
    outputs, stats, seen, grouped = {}, {}, set(), {}
    for src, dst, edge in G.edges(data=True):
        data = G.nodes[src]
        if data.get("kind") not in ("op", "module"):
            continue
        port = edge.get("src_port", 0)
        dst_data = G.nodes[dst]
        dst_chain = set() if dst_data.get("kind") == "output" else set(
            _chain(dst_data.get("module", "")))
        outs = data.get("outputs") or []
        for path in _chain(data.get("module", "")):
            if path not in dst_chain and (path, src, port) not in seen:
                seen.add((path, src, port))
                # tensors of a grouped output (a KV cache) are listed after the others
                target = grouped if (dst_data.get("attrs") or {}).get("group") else outputs
                target.setdefault(path, []).append(
                    outs[port]["shape"] if port < len(outs) else None)
                if path not in stats and port == 0 and data.get("stats"):
                    stats[path] = data["stats"]
    for path, shapes in grouped.items():
        outputs.setdefault(path, []).extend(shapes)
    return outputs, stats


def _rows(G, modules, weights, max_depth):
    outputs, stats = ({}, {}) if G.graph.get("source") == "state_dict" else _module_outputs(G)
    owned_by = {}
    for owner, info in weights.values():
        if _is_buffer(info):
            continue
        for path in _chain(owner):
            owned_by.setdefault(path, []).append(info)
    rows = []
    for path, (type_name, depth) in modules.items():
        if max_depth is not None and depth > max_depth:
            continue
        owned = owned_by.get(path, [])
        params = sum(ir.numel(info.get("shape")) or 0 for info in owned)
        trainable = sum(ir.numel(info.get("shape")) or 0 for info in owned
                        if info.get("trainable", True))
        row = {"module": path, "type": type_name, "depth": depth,
               "output_shape": outputs.get(path, []), "params": params,
               "trainable_params": trainable,
               "trainable": None if not owned else trainable == params}
        if path in stats:
            row["output_stats"] = {k: stats[path].get(k) for k in _STAT_COLUMNS}
        rows.append(row)
    return rows


def summarize(G, *, depth=None):
    """Rows per module (to ``depth``) and parameter totals of an IR graph.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        An IR graph.
    depth : int, optional
        Deepest module level to list (1 = the model's direct children).

    Returns
    -------
    dict
        ``{"model", "rows": [{"module", "type", "depth", "output_shape", "params",
        "trainable_params", "trainable"}], "total_params", "trainable_params",
        "non_trainable_params", "buffer_elements", "param_bytes"}``. Totals count
        every distinct parameter once, buffers apart.
    """
    weights = _collect_weights(G)
    modules = _collect_modules(G)
    params = [info for _, info in weights.values() if not _is_buffer(info)]
    total = sum(ir.numel(info.get("shape")) or 0 for info in params)
    trainable = sum(ir.numel(info.get("shape")) or 0 for info in params
                    if info.get("trainable", True))
    param_bytes = sum((ir.numel(info.get("shape")) or 0)
                      * _BYTES_PER_ELEMENT.get(info.get("dtype"), 4) for info in params)
    buffers = sum(ir.numel(info.get("shape")) or 0 for _, info in weights.values()
                  if _is_buffer(info))
    return {"model": G.graph.get("name", ""), "rows": _rows(G, modules, weights, depth),
            "total_params": total, "trainable_params": trainable,
            "non_trainable_params": total - trainable, "buffer_elements": buffers,
            "param_bytes": param_bytes}


#: Output shapes listed in a text or Markdown cell before the rest are counted.
MAX_SHAPES_SHOWN = 3


def _shape_text(shapes, limit=None):
    """Shapes as ``[1, 16], [1, 8]``; past ``limit`` the first and a count.

    Examples
    --------
    >>> _shape_text([[1, 2], [3]]), _shape_text([[1, 2]] * 5, limit=3)
    ('[1, 2], [3]', '[1, 2] + 4 more')
    """
    def one(shape):
        if shape is None:
            return "?"
        return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    if not shapes:
        return "--"
    if limit is not None and len(shapes) > limit:
        return f"{one(shapes[0])} + {len(shapes) - 1} more"
    return ", ".join(one(s) for s in shapes)


_STAT_COLUMNS = ("mean", "std", "min", "max", "zeros")


def _stat_text(value, key):
    if value is None:
        return "--"
    return f"{value:.0%}" if key == "zeros" else f"{value:.3g}"


def _table_cells(table):
    with_stats = any("output_stats" in row for row in table["rows"])
    header = ["Module", "Type", "Output shape", "Params", "Trainable"]
    if with_stats:
        header += ["Out mean", "Out std", "Zeros"]
    body = []
    for row in table["rows"]:
        name = "  " * (row["depth"] - 1) + _short_name(row["module"])
        flag = {None: "--", True: "yes", False: "no"}[row["trainable"]]
        cells = [name, row["type"] or "", _shape_text(row["output_shape"], MAX_SHAPES_SHOWN),
                 f"{row['params']:,}", flag]
        if with_stats:
            values = row.get("output_stats") or {}
            cells += [_stat_text(values.get(k), k) for k in ("mean", "std", "zeros")]
        body.append(cells)
    return header, body


def _totals_lines(table):
    mb = table["param_bytes"] / 2 ** 20
    lines = [f"Total params: {table['total_params']:,}",
             f"Trainable params: {table['trainable_params']:,}",
             f"Non-trainable params: {table['non_trainable_params']:,}",
             f"Params size (MB): {mb:.2f}"]
    if table["buffer_elements"]:
        lines.append(f"Buffer elements (not params): {table['buffer_elements']:,}")
    return lines


def _as_text(table):
    header, body = _table_cells(table)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    align = ["<", "<", "<", ">", "<", ">", ">", ">"]
    fmt = lambda cells: "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths))  # noqa: E731
    rule = "=" * len(fmt(header))
    lines = [rule, fmt(header), rule] + [fmt(r).rstrip() for r in body] + [rule]
    return "\n".join(lines + _totals_lines(table) + [rule]) + "\n"


def _as_markdown(table):
    header, body = _table_cells(table)
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    rule = "|---|---|---|---:|---|" + "---:|" * (len(header) - 5)
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(esc(c.strip()) if i else esc(c) for i, c in enumerate(r)) + " |"
              for r in body]
    return "\n".join(lines) + "\n\n" + "  \n".join(_totals_lines(table)) + "\n"


def _as_csv(table):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    with_stats = any("output_stats" in row for row in table["rows"])
    stat_header = [f"out_{k}" for k in _STAT_COLUMNS] if with_stats else []
    writer.writerow(["module", "type", "depth", "output_shape", "params", "trainable_params",
                     "trainable"] + stat_header)
    for row in table["rows"]:
        stats = row.get("output_stats") or {}
        stat_cells = ["" if stats.get(k) is None else stats[k] for k in _STAT_COLUMNS]
        writer.writerow([row["module"], row["type"] or "", row["depth"],
                         _shape_text(row["output_shape"]), row["params"],
                         row["trainable_params"], "" if row["trainable"] is None
                         else str(row["trainable"]).lower()] + (stat_cells if with_stats else []))
    return buffer.getvalue()


def format_summary(table, fmt="text"):
    """Render :func:`summarize` output as ``text``, ``json``, ``markdown`` or ``csv``."""
    if fmt == "json":
        return json.dumps(table, sort_keys=True, indent=1) + "\n"
    return {"text": _as_text, "markdown": _as_markdown, "csv": _as_csv}[fmt](table)
