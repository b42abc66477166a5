"""A forward pass that fails still shows where: the module path in the error, --partial graphs."""

import pytest
import torch
from torch import nn

from graphir import ir
from graphir.converters.trace import from_trace
from graphir.errors import ConversionError
from graphir.renderers.dot import to_dot


class _Block(nn.Module):
    def __init__(self, width_in, width_out):
        super().__init__()
        self.fc = nn.Linear(width_in, width_out)

    def forward(self, x):
        return torch.relu(self.fc(x))


class _Mismatch(nn.Module):
    """``b.fc`` expects 32 features and gets 16."""

    def __init__(self):
        super().__init__()
        self.a = _Block(8, 16)
        self.b = _Block(32, 4)

    def forward(self, x):
        return self.b(self.a(x))


class _Raises(nn.Module):
    def forward(self, x):
        raise ValueError("no custom op 'mylib::fancy'")


class _PythonFailure(nn.Module):
    """The failure is a Python raise inside ``inner.leaf``, not a torch call."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(4, 4))
        self.inner.add_module("leaf", _Raises())

    def forward(self, x):
        return self.inner(x)


def test_error_names_the_module_path_and_the_exception():
    with pytest.raises(ConversionError) as caught:
        from_trace(_Mismatch(), (torch.randn(2, 8),))
    message = caught.value.one_line()
    assert "failed in b.fc" in message
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in message
    assert "--partial" in message and "\n" not in message


def test_partial_graph_ends_in_an_error_node():
    G = from_trace(_Mismatch(), (torch.randn(2, 8),), partial=True)
    ir.validate(G)
    error = G.nodes["b.fc/error#0"]
    assert (error["kind"], error["op"], error["label"]) == ("op", "error", "linear failed")
    assert error["attrs"]["exception"].startswith("RuntimeError: mat1 and mat2")
    assert error["attrs"]["call"] == "torch.nn.functional.linear"
    assert error["attrs"]["input_shapes"] == [[2, 16], [4, 32], [4]]
    assert sorted(error["params"]) == ["b.fc.bias", "b.fc.weight"]
    assert error["outputs"] == [] and error["module"] == "b.fc"
    assert list(G.predecessors("b.fc/error#0")) == ["a/relu#0"]
    assert G.graph["outputs"] == []
    assert G.graph["partial"] == {"error": error["attrs"]["exception"], "module": "b.fc",
                                  "node": "b.fc/error#0"}
    assert "failed in b.fc" in G.graph["warnings"][-1]


def test_error_node_is_drawn_red_with_the_message():
    G = from_trace(_Mismatch(), (torch.randn(2, 8),), partial=True)
    dot = to_dot(G)
    line = next(line for line in dot.splitlines() if '"b.fc/error#0"' in line
                and "label" in line)
    assert "#D98C8C" in line  # the default theme's "removed" red
    assert "mat1 and mat2 shapes" in line and "2×16" in line


def test_python_failure_is_placed_in_the_innermost_module():
    with pytest.raises(ConversionError, match=r"failed in inner\.leaf \(ValueError: no custom"):
        from_trace(_PythonFailure(), (torch.randn(1, 4),))
    G = from_trace(_PythonFailure(), (torch.randn(1, 4),), partial=True)
    ir.validate(G)
    assert G.graph["partial"]["module"] == "inner.leaf"
    error = G.nodes["inner.leaf/error#0"]
    assert error["attrs"] == {"exception": "ValueError: no custom op 'mylib::fancy'",
                              "input_shapes": []}
    assert "inner.0/linear#0" in G


def test_failure_at_the_top_level():
    with pytest.raises(ConversionError, match=r"failed \(ValueError"):
        from_trace(_Raises(), (torch.randn(1, 4),))
    G = from_trace(_Raises(), (torch.randn(1, 4),), partial=True)
    assert G.graph["partial"]["module"] == "" and "error#0" in G


class _CaughtInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        try:
            torch.ones(2) @ torch.ones(3)  # fails, and the model handles it
        except RuntimeError:
            pass
        return self.fc(x)


def test_an_exception_the_model_catches_is_not_a_failure():
    G = from_trace(_CaughtInside(), (torch.randn(1, 4),), partial=True)
    assert "partial" not in G.graph and G.graph["outputs"] == ["output:output"]
