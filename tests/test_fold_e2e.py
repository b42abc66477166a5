"""Issue 10 items 1 and 7 through the CLI: --kv-cache, --partial, a folded LLM by default."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("transformers")

BROKEN = """
import torch

class Block(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = torch.nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.relu(self.fc(x))

def broken():
    model = torch.nn.Sequential(Block(8, 16), Block(32, 4))   # 16 != 32: fails in 1.fc
    return model, (torch.zeros(2, 8),)
"""


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_failing_forward_names_the_module_and_partial_writes_the_graph(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)
    spec = f"{tmp_path / 'broken.py'}:broken"
    out = tmp_path / "g.json"
    done = _cli("convert", spec, "-o", str(out), "--source", "trace")
    assert done.returncode == 2 and not out.exists()
    assert len(done.stderr.strip().splitlines()) == 1 and "1.fc" in done.stderr
    assert "--partial" in done.stderr
    done = _cli("convert", spec, "-o", str(out), "--partial")
    assert done.returncode == 2 and out.exists(), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "1.fc" in done.stderr
    G = json.loads(out.read_text())
    errors = [n for n in G["nodes"] if n["op"] == "error"]
    assert len(errors) == 1 and errors[0]["module"] == "1.fc"
    assert errors[0]["attrs"]["input_shapes"][0] == [2, 16]
    png = tmp_path / "g.png"
    done = _cli("render", spec, "-o", str(png), "--partial")
    assert done.returncode == 2 and png.read_bytes()[:4] == b"\x89PNG"


def test_llm_runs_without_its_cache_by_default_and_folds(tmp_path):
    out = tmp_path / "llama.json"
    done = _cli("convert", "samples/hf_models.py:tiny_llama", "-o", str(out))
    assert done.returncode == 0, done.stderr
    G = json.loads(out.read_text())
    assert any("without the KV cache" in note for note in G["graph"].get("notes", []))
    assert not [n for n in G["nodes"] if n["kind"] == "output"
                and (n.get("attrs") or {}).get("group") == "kv_cache"]
    done = _cli("convert", "samples/hf_models.py:tiny_llama", "-o", str(out), "--kv-cache")
    assert done.returncode == 0, done.stderr
    G = json.loads(out.read_text())
    grouped = [n for n in G["nodes"] if n["kind"] == "output"
               and (n.get("attrs") or {}).get("group") == "kv_cache"]
    assert len(grouped) == 1 and grouped[0]["attrs"]["count"] == 8
    svg = tmp_path / "llama.svg"
    done = _cli("render", "samples/hf_models.py:tiny_llama", "-o", str(svg), "--kv-cache")
    assert done.returncode == 0, done.stderr
    assert "×4" in svg.read_text()
