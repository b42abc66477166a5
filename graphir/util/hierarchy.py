"""The module hierarchy of an IR graph: one builder, one rule.

Every module-tree reader (the passes' :func:`graphir.passes.module_tree`,
the summary table, the differ's signature tree) builds its skeleton here:
a module is known from the ``scope`` chains of the nodes, its parent is the
entry before it in a chain, and children are listed in the order their
first node appears. The readers differ only in which chain each node
contributes (its own ``scope``, the scope it is drawn in, or the chain of
its ``module`` path) and in what they count on top.

Examples
--------
>>> H = module_hierarchy([("n1", [["h", None], ["h.0", "Block"]]),
...                       ("n2", [["h", None], ["h.1", "Block"]]), ("n3", [])])
>>> H.children[""], H.children["h"], H.types["h.1"], H.depth["h.0"], H.members[""]
(['h'], ['h.0', 'h.1'], 'Block', 2, ['n3'])
>>> preorder(H)
['', 'h', 'h.0', 'h.1']
"""

from typing import Any, Dict, Hashable, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from graphir import ir

__all__ = ["Hierarchy", "module_hierarchy", "node_chain", "module_chain", "preorder"]


class Hierarchy(NamedTuple):
    """Modules known from node scope chains; the root is ``""``."""

    #: path -> class name (the first one seen that is not None), root None
    types: Dict[str, Optional[str]]
    #: path -> depth (root 0, top-level modules 1)
    depth: Dict[str, int]
    #: path -> parent path (root None)
    parent: Dict[str, Optional[str]]
    #: path -> child paths in first-appearance order
    children: Dict[str, List[str]]
    #: path -> nodes whose innermost module it is, in the order given
    members: Dict[str, List[Hashable]]
    #: every path in first-appearance order, root first
    order: List[str]


def node_chain(data: Dict[str, Any]) -> Sequence[Sequence[Any]]:
    """A node's ``scope`` chain, rebuilt from ``module`` when it has none."""
    return data.get("scope") or ir.scope_from_path(data.get("module") or "",
                                                   data.get("module_type"))


def module_chain(data: Dict[str, Any]) -> Sequence[Sequence[Any]]:
    """The chain of dotted prefixes of a node's ``module`` path (``h``, ``h.0``, ``h.0.attn``).

    The differ reads modules this way, so that a module's parent is always
    its dotted prefix, even for a module shared by two callers.
    """
    return ir.scope_from_path(data.get("module") or "", data.get("module_type"))


def module_hierarchy(chains: Iterable[Tuple[Hashable, Sequence[Sequence[Any]]]]) -> Hierarchy:
    """Build the hierarchy from ``(node, chain)`` pairs, in the order given.

    Parameters
    ----------
    chains : iterable of (node, chain)
        ``chain`` is ``[[path, type], …]`` from the outermost module to the
        node's innermost one (``[]`` for the root).
    """
    types: Dict[str, Optional[str]] = {"": None}
    depth = {"": 0}
    parent: Dict[str, Optional[str]] = {"": None}
    children: Dict[str, List[str]] = {"": []}
    members: Dict[str, List[Hashable]] = {"": []}
    order = [""]
    for node, chain in chains:
        above = ""
        for level, (path, mtype) in enumerate(chain, 1):
            path = str(path)
            if path not in types:
                types[path], depth[path], parent[path] = mtype, level, above
                children[path], members[path] = [], []
                children[above].append(path)
                order.append(path)
            elif types[path] is None and mtype is not None:
                types[path] = mtype
            above = path
        members[above].append(node)
    return Hierarchy(types, depth, parent, children, members, order)


def preorder(H: Hierarchy) -> List[str]:
    """Paths with each module before its children, siblings in first-appearance order."""
    out, stack = [], [""]
    while stack:
        path = stack.pop()
        out.append(path)
        stack.extend(reversed(H.children[path]))
    return out
