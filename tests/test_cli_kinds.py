"""Every file kind a user has, end to end through the CLI (issue 3), and diff exit codes (issue 4).

One sample model (samples/resnet.py:resnet_tiny) is saved as each kind;
each renders with ``python cli.py render FILE`` (with ``--model`` where
needed) and ``summary`` gives ``sum(p.numel() for p in model.parameters())``.
"""

import json
import os
import pathlib
import pickle
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def run_cli(*args):
    return subprocess.run([PYTHON, str(ROOT / "cli.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


class _Marker:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    import torch
    from safetensors.torch import save_file

    from samples.resnet import resnet_tiny

    folder = tmp_path_factory.mktemp("kinds")
    model, example = resnet_tiny()
    state = model.state_dict()
    torch.save(state, folder / "weights.pth")
    torch.save({"model": state, "optimizer": {"lr": 0.1}, "epoch": 3}, folder / "train.ckpt")
    save_file(state, str(folder / "weights.safetensors"))
    torch.jit.save(torch.jit.trace(model, example), folder / "traced.pt")
    torch.export.save(torch.export.export(model, example), folder / "program.pt2")
    torch.save(model, folder / "whole.pt")
    marker = folder / "pwned"
    torch.save({"model": state, "payload": _Marker(str(marker))}, folder / "evil.pt")
    with open(folder / "evil.pkl", "wb") as handle:
        pickle.dump(_Marker(str(marker)), handle, protocol=2)
    total = sum(p.numel() for p in model.parameters())
    return folder, total, marker


@pytest.mark.parametrize("name,extra", [
    ("weights.pth", []),
    ("train.ckpt", []),
    ("weights.safetensors", []),
    ("weights.pth", ["--model", "samples/resnet.py:resnet_tiny"]),
    ("weights.safetensors", ["--model", "samples/resnet.py:resnet_tiny"]),
    ("traced.pt", []),
    ("program.pt2", []),
    ("whole.pt", ["--unsafe-load"]),
])
def test_each_kind_renders_and_summary_totals_match(kinds, name, extra, tmp_path):
    folder, total, _ = kinds
    out = tmp_path / "out.svg"
    result = run_cli("render", folder / name, *extra, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"<?xml")
    result = run_cli("-q", "summary", folder / name, *extra, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_params"] == total


def test_model_builds_the_architecture_for_a_state_dict(kinds):
    folder, _, _ = kinds
    result = run_cli("-q", "convert", folder / "weights.pth", "--model",
                     "samples/resnet.py:resnet_tiny", "-o", folder / "ir.json")
    assert result.returncode == 0, result.stderr
    graph = json.loads((folder / "ir.json").read_text())
    assert graph["graph"]["source"] == "trace"
    assert any(n.get("module") == "layer1.0.conv1" for n in graph["nodes"])


def test_mismatched_weights_name_the_keys(kinds, tmp_path):
    folder, _, _ = kinds
    out = tmp_path / "x.svg"
    result = run_cli("render", folder / "weights.pth", "--model", "samples/gpt2.py:gpt2_tiny",
                     "-o", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "weights.pth" in result.stderr and "conv1.weight" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("name,extra", [
    ("whole.pt", []),
    ("evil.pt", []),
    ("evil.pt", ["--model", "samples/resnet.py:resnet_tiny"]),
    ("evil.pkl", []),
])
def test_code_in_a_pickle_never_runs_without_the_opt_in(kinds, name, extra, tmp_path):
    folder, _, marker = kinds
    out = tmp_path / "x.svg"
    for command in (["render", folder / name, "-o", out], ["summary", folder / name]):
        result = run_cli(*command, *extra)
        assert result.returncode == 2, result.stderr
        assert not marker.exists(), "code from the file ran"
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    if name != "evil.pkl":
        assert "--unsafe-load" in result.stderr


def test_autograd_source_clusters_backward_ops(tmp_path):
    out = tmp_path / "ag.json"
    result = run_cli("-q", "convert", "samples/resnet.py:resnet_tiny", "--source", "autograd",
                     "-o", out)
    assert result.returncode == 0, result.stderr
    nodes = json.loads(out.read_text())["nodes"]
    assert any(n["op"].startswith("ConvolutionBackward") and n["module"] == "layer1.0.conv1"
               for n in nodes)
    assert any("layer1.0.conv1.weight" in n["params"] for n in nodes)


def test_diff_against_itself_is_exit_0_and_empty(tmp_path):
    result = run_cli("diff", "samples/resnet_tiny.onnx", "samples/resnet_tiny.onnx",
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == report["removed"] == report["changed"] == []


def test_diff_one_more_block_is_exit_1_and_exactly_that_block(tmp_path):
    code = ("from samples.gpt2 import gpt2_model, _example_inputs\n"
            "def two():\n    return gpt2_model(n_layer=2), _example_inputs()\n"
            "def three():\n    return gpt2_model(n_layer=3), _example_inputs()\n")
    factory = tmp_path / "versions.py"
    factory.write_text(code)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [PYTHON, str(ROOT / "cli.py"), "diff", f"{factory}:two", f"{factory}:three",
            "--format", "json"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] and all(n["module"].startswith("h.2") for n in report["added"])
    assert report["removed"] == [] and report["changed"] == []


@pytest.mark.needs_dot
def test_diff_html_and_svg_are_written(tmp_path):
    html = tmp_path / "d.html"
    result = run_cli("diff", "samples/resnet_tiny.onnx", "samples/resnet_tiny.onnx", "-o", html)
    assert result.returncode == 0, result.stderr
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text and "src=\"http" not in text


def test_checkpoint_diff_reports_exactly_the_moved_tensors(tmp_path):
    import torch

    from samples.resnet import resnet_tiny

    model, _ = resnet_tiny()
    old = model.state_dict()
    new = {k: v.clone() for k, v in old.items()}
    new["layer1.0.conv1.weight"] += 0.5
    new["fc.bias"] += 1.0
    torch.save(old, tmp_path / "old.pt")
    torch.save(new, tmp_path / "new.pt")
    plot = tmp_path / "change.png"
    result = run_cli("diff", tmp_path / "old.pt", tmp_path / "new.pt", "--format", "json",
                     "--plot", plot)
    assert result.returncode == 1, result.stderr
    moved = [t["name"] for t in json.loads(result.stdout)["tensors"] if t["status"] != "same"]
    assert sorted(moved) == ["fc.bias", "layer1.0.conv1.weight"]
    assert plot.read_bytes().startswith(b"\x89PNG")
    same = run_cli("diff", tmp_path / "old.pt", tmp_path / "old.pt")
    assert same.returncode == 0, same.stderr
