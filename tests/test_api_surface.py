"""The public API's doors and the defects a review found (issue 13), each pinned by a test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import graphir
from graphir import api, ir
from graphir.errors import InputError
from graphir.graph import Graph

ROOT = Path(__file__).resolve().parent.parent
ONNX = str(ROOT / "samples" / "resnet_tiny.onnx")

torch = pytest.importorskip("torch")


def _linear_files(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    old = tmp_path / "old.pth"
    torch.save(model.state_dict(), old)
    with torch.no_grad():
        model[0].weight.add_(0.5)
    new = tmp_path / "new.pth"
    torch.save(model.state_dict(), new)
    return old, new


def test_checkpoint_diff_draws_as_svg_without_an_architecture(tmp_path):
    old, new = _linear_files(tmp_path)
    result = graphir.diff(str(old), str(new))
    assert result.graph is None and result.has_differences
    svg = graphir.diff_report(result, format="svg")
    assert svg.startswith(b"<?xml") and b"0.weight" in svg


def test_checkpoint_diff_made_in_python_draws_too():
    from graphir.diffing import diff_tensors

    import numpy as np

    result = diff_tensors({"fc.weight": np.zeros((2, 2))}, {"fc.weight": np.ones((2, 2))})
    assert graphir.diff_report(result, format="svg").startswith(b"<?xml")


def test_load_names_weights_and_ir_json_as_asked(tmp_path):
    old, _ = _linear_files(tmp_path)
    assert graphir.load(str(old), name="foo").graph["name"] == "foo"
    path = tmp_path / "g.json"
    graphir.load(ONNX).save(path)
    assert graphir.load(str(path)).graph["name"] == "resnet_tiny"
    assert graphir.load(str(path), name="bar").graph["name"] == "bar"


def test_summary_is_read_only_and_keeps_the_callers_class():
    import networkx as nx

    G = graphir.load(ONNX)
    plain = nx.MultiDiGraph(G)
    assert type(plain) is nx.MultiDiGraph
    graphir.summary(plain)
    graphir.render(plain, format="dot")
    assert type(plain) is nx.MultiDiGraph


def test_every_public_function_takes_a_path_a_module_or_a_graph(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    x = torch.zeros(1, 4)
    table = graphir.summary(model, x)                   # like torchinfo.summary(model, input_data)
    assert table["total_params"] == 15
    assert graphir.summary(ONNX)["total_params"] == graphir.summary(graphir.load(ONNX))["total_params"]
    out = graphir.render(ONNX, tmp_path / "fig.svg", theme="paper")   # like draw_graph(...)
    assert Path(out).read_bytes().startswith(b"<?xml")
    assert graphir.render(model, format="dot", example_inputs=x).startswith(b"digraph")
    assert graphir.to_dot(model, x).startswith("digraph")
    assert graphir.view(ONNX, depth=1).number_of_nodes() < graphir.load(ONNX).number_of_nodes()
    graphir.save(model, tmp_path / "m.json", x)
    assert graphir.load(str(tmp_path / "m.json")).graph["source"] == "trace"


def test_unknown_output_extension_is_refused_before_any_work(tmp_path):
    for name in ("fig.tex.bak", "fig.gif", "noextension"):
        with pytest.raises(InputError, match="extension"):
            graphir.render("does-not-exist.onnx", tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    done = subprocess.run([sys.executable, "cli.py", "render", "does-not-exist.onnx", "-o",
                           str(tmp_path / "fig.gif")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "extension '.gif'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run([sys.executable, "cli.py", "diff", ONNX, ONNX, "-o",
                           str(tmp_path / "d.gif")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and "extension" in done.stderr


def test_stats_with_fx_is_refused_before_capture_and_auto_never_names_fx():
    with pytest.raises(InputError, match="--source fx"):
        graphir.load("samples/gpt2.py:gpt2_tiny", source="fx", stats=True)
    G = graphir.load("samples/gpt2.py:gpt2_tiny", stats=True)
    assert any("stats" in d for _, d in G.nodes(data=True))


def test_render_draws_what_it_is_given_and_view_is_one_step():
    G = graphir.load(ONNX)
    shown = graphir.view(G, depth=1)
    drawn = graphir.draw(shown, format="json")
    assert graphir.load(ONNX).number_of_nodes() == G.number_of_nodes()  # not changed
    from graphir import serialize

    again = serialize.from_json(drawn.decode())
    assert again.number_of_nodes() == shown.number_of_nodes()


def test_graph_gives_graphviz_and_pydot_handles():
    G = graphir.load(ONNX)
    pytest.importorskip("graphviz")
    source = G.to_graphviz()
    assert source.source.startswith("digraph") and "_repr_mimebundle_" in dir(source)
    pydot = pytest.importorskip("pydot")
    dot = G.to_pydot()
    assert isinstance(dot, pydot.Dot) and len(dot.get_node_list()) > 0


def test_graph_methods_do_not_import_the_api_module():
    import ast

    tree = ast.parse((ROOT / "graphir" / "graph.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {f"{node.module}.{a.name}" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) for a in node.names}
    assert "graphir.api" not in imported


def test_the_door_reads_each_checkpoint_once(tmp_path, monkeypatch):
    from graphir.loaders import door, pickle_scan, torch_files

    old, new = _linear_files(tmp_path)
    scans, loads = [], []
    real_scan, real_load = pickle_scan.scan_torch_file, torch_files._torch_load
    monkeypatch.setattr(pickle_scan, "scan_torch_file", lambda p: scans.append(p) or real_scan(p))
    monkeypatch.setattr(torch_files, "_torch_load",
                        lambda p, weights_only: loads.append(p) or real_load(p, weights_only))
    (tmp_path / "arch.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),\n"
        "                               torch.nn.Linear(3, 2)), (torch.zeros(1, 4),)\n")
    result = graphir.diff(str(old), str(new), architecture=f"{tmp_path / 'arch.py'}:make")
    assert result.graph is not None and result.has_differences
    assert sorted(scans) == sorted([str(old), str(new)])
    assert sorted(loads) == sorted([str(old), str(new)])
    assert door.open_model(str(old)).is_weights
