"""Interactive HTML pages: which views to precompute, then one self-contained file.

:func:`model_page` and :func:`diff_page` run the passes to get the default
view (exactly what a static render draws: focused, folded, collapsed to the
node budget) and, breadth first, the inside of every module box the user can
open (one drawing per distinct module path; the copies of a folded ``×N``
run share the first copy's drawing), until a size budget is spent. The
modules left out are listed in the page with the command that draws them.
:mod:`graphir.renderers.html` lays each state out with Graphviz and writes
the page.

Diff pages add "only the changes and N hops of context" states
(:func:`graphir.diffing.context`) and a change list grouped by module.

This module may import the passes, renderers and diffing (it is an
orchestrator like :mod:`graphir.api`, which it must not import).
"""

from collections import OrderedDict

from graphir import passes
from graphir.errors import InputError
from graphir.renderers.html import ViewState, build_page, node_record, render_state
from graphir.util.text import short_name

__all__ = ["model_page", "diff_page", "DEFAULT_BUDGET_BYTES", "MAX_STATES"]

#: Total SVG bytes of the precomputed module insides (the default view is always drawn).
DEFAULT_BUDGET_BYTES = 12_000_000
#: At most this many drawings in one page.
MAX_STATES = 150


def _version(version):
    if version:
        return str(version)
    try:
        from importlib.metadata import PackageNotFoundError, version as package_version
        return package_version("graphir")
    except (ImportError, PackageNotFoundError):
        return "unknown"


def _box_paths(data):
    """The module paths a ``module`` box stands for (all copies of a folded run)."""
    folded = data.get("folded") or []
    path = data.get("module") or ""
    return list(folded) if folded else ([path] if path else [])


def _budgets(depth, max_nodes):
    """``(first view's max_nodes, insides' max_nodes)`` as the CLI reads ``--max-nodes``."""
    max_nodes = passes.budget_for(depth, max_nodes)
    return max_nodes, (max_nodes if max_nodes else passes.DEFAULT_MAX_NODES)


def _draw_options(theme, show, rankdir, color_by, timeout):
    return dict(theme=theme, show=show, rankdir=rankdir, color_by=color_by, timeout=timeout)


def _grow_states(G, states, rendered, by_path, *, fold, max_nodes, draw, budget_bytes,
                 max_states, left_out, command_for, shared=None):
    """Add the inside of every openable module box, breadth first, within the budget.

    With ``shared`` (a dict, filled here), boxes with the same structural
    ``signature`` (unfolded copies of a block) share one drawing: the first
    copy's; ``shared`` maps each other copy's path to that copy's path.
    """
    if G.graph.get("source") == "state_dict":
        return
    by_signature = {}
    spent = sum(r.size for r in rendered[1:])
    queue = list(range(len(states)))
    seen_left = {item["path"] for item in left_out}
    while queue:
        index = queue.pop(0)
        state = states[index]
        for node, data in state.graph.nodes(data=True):
            if data.get("kind") != "module" or data.get("elided") is not None:
                continue
            paths = _box_paths(data)
            if not paths or node.startswith("elided:"):
                continue
            head = paths[0]
            signature = data.get("signature")
            if shared is not None and head not in by_path and signature in by_signature:
                first = by_signature[signature]
                by_path[head] = by_path[first]
                shared[head] = first
            if head in by_path:
                if by_path[head] != index:
                    state.opens[node] = by_path[head]
                    if head in (shared or {}):
                        state.aliases[node] = shared[head]
                continue
            if state.root != "full":
                continue
            if spent >= budget_bytes or len(states) >= max_states:
                if head not in seen_left:
                    seen_left.add(head)
                    left_out.append({"path": head, "command": command_for(head)})
                continue
            try:
                inner = passes.view(G, focus=head, fold=fold, max_nodes=max_nodes)
            except InputError:
                continue
            if any(d.get("kind") == "module" and head in _box_paths(d)
                   for _, d in inner.nodes(data=True)):
                continue  # nothing to open: the budget keeps the module a box
            mtype = data.get("module_type") or ""
            title = short_name(head) + (f" : {mtype}" if mtype else "")
            result = render_state(inner, title=f"{head}" + (f" : {mtype}" if mtype else ""),
                                  **draw)
            spent += result.size
            by_path[head] = len(states)
            if signature:
                by_signature.setdefault(signature, head)
            state.opens[node] = len(states)
            queue.append(len(states))
            states.append(ViewState(inner, title=title, parent=index, path=head,
                                    root=state.root))
            rendered.append(result)


def _twins(states, shared=None):
    """Module path → the first path of its folded run (from boxes and open runs)."""
    twins = dict(shared or {})
    for state in states:
        for record in (state.graph.graph.get("folded") or {}).values():
            paths = record.get("paths") or []
            for path in paths[1:]:
                twins.setdefault(path, paths[0])
        for _, data in state.graph.nodes(data=True):
            if data.get("kind") == "module":
                paths = data.get("folded") or []
                for path in paths[1:]:
                    twins.setdefault(path, paths[0])
    return twins


def _prefixes(path):
    """``a.b.c`` → ``['a.b.c', 'a.b', 'a']``."""
    parts = path.split(".") if path else []
    return [".".join(parts[:k]) for k in range(len(parts), 0, -1)]


def _locate(G, states, drawn, shared=None):
    """Where each node no state draws can be found: ``{id: [state, shown id]}``.

    A node in the second copy of a folded run is shown as its twin in the
    first copy when that node exists (ids are ``<module path>/<op>#k``);
    otherwise as the deepest module box that holds it.
    """
    twins = _twins(states, shared)
    boxes = []
    for index, state in enumerate(states):
        table = {}
        for node, data in state.graph.nodes(data=True):
            if data.get("kind") == "module":
                for path in _box_paths(data):
                    table.setdefault(path, node)
        boxes.append(table)
    where = {}

    def find(node, hops=0):
        if node in drawn:
            return [drawn[node], node]
        if node in where:
            return where[node]
        module = G.nodes[node].get("module") or "" if node in G else ""
        if hops < 8:
            for prefix in _prefixes(module):
                head = twins.get(prefix)
                if head and head != prefix and node.startswith(prefix) \
                        and node[len(prefix):len(prefix) + 1] in ("/", "."):
                    twin = head + node[len(prefix):]
                    if twin in G:
                        found = find(twin, hops + 1)
                        if found is not None:
                            return found
        best = None
        for index, table in enumerate(boxes):
            for prefix in _prefixes(module):
                if prefix in table:
                    best = [index, table[prefix]]
                    break
        return best

    for node in G.nodes:
        if node not in drawn:
            found = find(node)
            if found is not None:
                where[node] = found
    return where


def _edge_text(data):
    src, dst = data.get("src_port", 0), data.get("dst_port", 0)
    return f"out {src} → in {dst}"


def _node_table(graphs):
    """Records for every node of ``graphs`` (the first graph owning a node wins)."""
    nodes, owner = OrderedDict(), {}
    for index, graph in enumerate(graphs):
        for node, data in graph.nodes(data=True):
            if node not in nodes:
                nodes[node] = dict(node_record(data), **{"in": [], "out": []})
                owner[node] = index
    for index, graph in enumerate(graphs):
        for src, dst, data in graph.edges(data=True):
            if owner.get(dst) == index:
                entry = [src, _edge_text(data)]
                if entry not in nodes[dst]["in"]:
                    nodes[dst]["in"].append(entry)
            if owner.get(src) == index:
                entry = [dst, _edge_text(data)]
                if entry not in nodes[src]["out"]:
                    nodes[src]["out"].append(entry)
    return nodes


def _about(G):
    """``[label, text]`` rows of graph facts worth showing (doc strings, metadata)."""
    rows = []
    for key in ("doc_string", "doc", "producer"):
        if G.graph.get(key):
            rows.append([key, str(G.graph[key])])
    for key in ("onnx", "metadata"):
        value = G.graph.get(key)
        if isinstance(value, dict):
            for sub, item in sorted(value.items()):
                rows.append([f"{key}.{sub}", str(item)])
    for warning in G.graph.get("warnings") or []:
        rows.append(["warning", str(warning)])
    return rows


def _drawn_map(states, rendered):
    drawn = {}
    for index, result in enumerate(rendered):
        for node in result.dom.values():
            drawn.setdefault(node, index)
    return drawn


def model_page(G, *, title=None, source_info=None, command_line=None, theme="default",
               show=None, rankdir=None, color_by=None, depth=None, focus=None, fold=True,
               max_nodes=None, budget_bytes=DEFAULT_BUDGET_BYTES,
               max_states=MAX_STATES, version=None, timeout=120):
    """One self-contained interactive HTML page to explore an IR graph.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        A graphir IR (full detail: the page runs the view passes itself).
    title : str, optional
        Page and drawing title; default the graph's name.
    source_info : str, optional
        Where the model came from (a path, ``FILE.py:CALLABLE``); shown in the
        page and used in the commands suggested for modules left out.
    command_line : str, optional
        The command that made the page, shown in its footer.
    theme, show, rankdir, color_by
        Drawing options, as for :func:`graphir.renderers.dot.to_dot`.
    depth, focus, fold, max_nodes
        View options, as for :func:`graphir.passes.view`; they give the
        first view (the same as a static render with these options).
        ``max_nodes`` None means the CLI's rule: the default budget without
        ``depth``, none with it. A module's inside is always drawn within
        ``max_nodes`` when it is positive, else the default budget.
    budget_bytes : int
        SVG bytes allowed for module insides beyond the first view.
    max_states : int
        At most this many drawings.
    version : str, optional
        graphir version to print; default the installed package's.
    timeout : float
        Seconds Graphviz may take per drawing.

    Returns
    -------
    str
        The HTML page (UTF-8 text; no external resources).

    Raises
    ------
    InputError
        On bad view or drawing options.
    RenderError
        When Graphviz is missing or fails.
    """
    draw = _draw_options(theme, show, rankdir, color_by, timeout)
    name = G.graph.get("name") or "model"
    max_nodes, inside_nodes = _budgets(depth, max_nodes)
    root = passes.view(G, depth=depth, focus=focus, fold=fold, max_nodes=max_nodes)
    states = [ViewState(root, title=focus or name, path=focus or None)]
    rendered = [render_state(root, title=title, **draw)]
    by_path = {focus: 0} if focus else {}
    left_out = []
    model = source_info or "MODEL"
    shared = {}
    _grow_states(G, states, rendered, by_path, fold=fold, max_nodes=inside_nodes, draw=draw,
                 budget_bytes=budget_bytes, max_states=max_states, left_out=left_out,
                 shared=shared,
                 command_for=lambda path: f"graphir render {model} --focus {path} -o "
                                          f"{path.replace('.', '_') or 'inside'}.html")
    nodes = _node_table([G] + [state.graph for state in states])
    drawn = _drawn_map(states, rendered)
    meta = {
        "title": title or f"{name} · graphir", "name": name, "source": G.graph.get("source"),
        "sourceInfo": source_info, "version": _version(version), "command": command_line,
        "notes": list(root.graph.get("notes") or []), "about": _about(G),
        "counts": {"nodes": G.number_of_nodes(), "shown": root.number_of_nodes()},
    }
    return build_page(kind="model", meta=meta, nodes=nodes, order=list(nodes), states=states,
                      rendered=rendered, where=_locate(G, states, drawn, shared),
                      left_out=left_out,
                      theme=theme)


def _whole_modules(U):
    """Module path → state, for modules all of whose nodes were added (or removed).

    Only the outermost such modules are kept (``h.4`` rather than ``h.4.attn``).
    """
    states, types = {}, {}
    for _, data in U.nodes(data=True):
        module = data.get("module") or ""
        if module and data.get("module_type"):
            types.setdefault(module, data["module_type"])
        for prefix in _prefixes(module):
            states.setdefault(prefix, set()).add(data.get("diff"))
    whole = {path: next(iter(found)) for path, found in states.items()
             if len(found) == 1 and next(iter(found)) in ("added", "removed")}
    outer = {path: state for path, state in whole.items()
             if not any(prefix in whole for prefix in _prefixes(path)[1:])}
    return outer, types


def _change_groups(U):
    """Changed, added and removed nodes grouped by module, in natural order.

    A module added or removed as a whole is one group (its nodes inside).
    """
    from graphir.diffing.report import describe_changes, natural_key

    whole, types = _whole_modules(U)
    groups = {}
    for node, data in U.nodes(data=True):
        state = data.get("diff")
        if state not in ("added", "removed", "changed") or data.get("kind") in ("param",
                                                                                 "const"):
            continue
        module = data.get("module") or ""
        key = next((prefix for prefix in reversed(_prefixes(module)) if prefix in whole), module)
        words = describe_changes(data.get("changes") or {}) if state == "changed" else []
        label = data.get("label") or data.get("name") or data.get("op") or node
        inner = module[len(key):].lstrip(".") if key else module
        groups.setdefault(key, []).append({
            "id": node, "state": state, "label": str(label), "op": str(data.get("op") or ""),
            "text": "; ".join(words), "where": inner})
    return [{"module": module, "type": types.get(module) or "", "whole": whole.get(module),
             "entries": groups[module]} for module in sorted(groups, key=natural_key)]


def diff_page(result, *, old_name="old", new_name="new", command_line=None, title=None,
              theme="default", show=None, rankdir=None, depth=None, fold=True,
              max_nodes=None, contexts=(1, 2, 3),
              budget_bytes=DEFAULT_BUDGET_BYTES, max_states=MAX_STATES, version=None,
              timeout=120):
    """One self-contained interactive HTML page to explore a model diff.

    Parameters
    ----------
    result : graphir.diffing.DiffResult
        From :func:`graphir.diffing.diff_graphs` (with its union graph).
    old_name, new_name : str
        How the page names the two sides.
    command_line : str, optional
        The command that made the page.
    title : str, optional
    theme, show, rankdir
        Drawing options.
    depth, fold, max_nodes
        View options of the full view, as for :func:`model_page`.
    contexts : iterable of int
        Hop counts offered by the "only changes and N hops" toggle (each
        is one precomputed drawing).
    budget_bytes, max_states, version, timeout
        As for :func:`model_page`.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    InputError
        When ``result`` has no union graph.
    """
    from graphir.diffing import context as keep_context

    U = result.union
    if U is None:
        raise InputError("the diff has no union graph to draw",
                         hint="call diff_graphs(old, new) with union=True")
    draw = _draw_options(theme, show, rankdir, None, timeout)
    heading = title or f"{old_name} → {new_name}"
    max_nodes, inside_nodes = _budgets(depth, max_nodes)
    root = passes.view(U, depth=depth, fold=fold, max_nodes=max_nodes)
    states = [ViewState(root, title="whole model")]
    rendered = [render_state(root, title=heading, **draw)]
    by_path, left_out = {}, []
    context_states = {}
    if result.has_differences:
        for hops in contexts:
            C = passes.view(keep_context(U, hops), depth=depth, fold=fold, max_nodes=max_nodes)
            context_states[str(hops)] = len(states)
            states.append(ViewState(C, title=f"changes ± {hops} hop" + ("s" if hops > 1 else ""),
                                    root=f"context{hops}"))
            rendered.append(render_state(C, title=f"{heading} (changes ± {hops})", **draw))
    _grow_states(U, states, rendered, by_path, fold=fold, max_nodes=inside_nodes, draw=draw,
                 budget_bytes=budget_bytes, max_states=max_states, left_out=left_out,
                 command_for=lambda path: f"graphir diff {old_name} {new_name} "
                                          f"--focus {path} -o {path.replace('.', '_')}.html")
    nodes = _node_table([U] + [state.graph for state in states])
    inverse = {new: old for old, new in result.matches.items()}
    for node in result.changed:
        old = inverse.get(node)
        if node in nodes and old is not None and old in result.old:
            nodes[node]["old"] = node_record(result.old.nodes[old])
            nodes[node]["oldId"] = old
    drawn = _drawn_map(states, rendered)
    where = _locate(U, states, drawn)
    counts = {key: int(value) for key, value in result.summary.items()}
    meta = {
        "title": f"{heading} · graphir diff", "name": heading, "source": U.graph.get("source"),
        "sourceInfo": f"{old_name} → {new_name}", "version": _version(version),
        "command": command_line, "notes": list(root.graph.get("notes") or []),
        "about": [["renamed", f"{old} → {new}"] for old, new in sorted(result.renames.items())],
        "counts": {"nodes": U.number_of_nodes(), "shown": root.number_of_nodes()},
    }
    diff = {"counts": counts, "groups": _change_groups(U),
            "context": context_states, "oldName": old_name, "newName": new_name}
    return build_page(kind="diff", meta=meta, nodes=nodes, order=list(nodes), states=states,
                      rendered=rendered, where=where, diff=diff, left_out=left_out, theme=theme)
