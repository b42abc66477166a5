"""End to end: Hugging Face model folders through the API and the CLI."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import graphir  # noqa: E402
from graphir.errors import InputError, UnsafeFileError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _llama(tmp_path, name="llama", layers=3, **extra):
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=layers, num_attention_heads=4,
                                      num_key_value_heads=2, **extra)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(str(tmp_path / name))
    return tmp_path / name, model


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "graphir", *map(str, args)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=120)


def test_load_a_folder(tmp_path):
    folder, model = _llama(tmp_path)
    G = graphir.load(str(folder))
    assert G.graph["name"] == "llama"
    assert G.graph["model_facts"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert any("by their headers" in n for n in G.graph["notes"])
    assert any("use_cache=False" in n for n in G.graph["notes"])
    assert not [n for n, d in G.nodes(data=True) if str(n).startswith("output:cache")]


def test_summary_of_a_folder_counts_every_parameter(tmp_path):
    from graphir.table import summarize

    folder, model = _llama(tmp_path)
    assert summarize(graphir.load(str(folder)))["total_params"] == \
        sum(p.numel() for p in model.parameters())


def test_input_shape_replaces_the_example_inputs(tmp_path):
    folder, _ = _llama(tmp_path)
    G = graphir.load(str(folder), input_shapes=["int64:1,5"])
    shapes = [G.nodes[n]["outputs"][0]["shape"] for n in G.graph["inputs"]]
    assert shapes == [[1, 5]]


def test_errors_through_load(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="without config.json"):
        graphir.load(str(tmp_path / "empty"))
    folder, _ = _llama(tmp_path, "remote")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="x-custom", auto_map={"AutoModel": "modeling_x.XModel"})
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeFileError, match="--unsafe-load"):
        graphir.load(str(folder))


def test_cli_render_and_diff(tmp_path):
    folder, _ = _llama(tmp_path)
    other, _ = _llama(tmp_path, "llama4", layers=4)
    out = tmp_path / "llama.svg"
    result = _cli("render", folder, "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text().count("<svg") == 1
    result = _cli("diff", folder, other)
    assert result.returncode == 1, result.stderr
    assert "9 added" in result.stdout
    (folder / "model.safetensors").rename(folder / "moved.bin")
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}}))
    result = _cli("render", folder, "-o", tmp_path / "bad.svg")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "names shard" in result.stderr
    assert not (tmp_path / "bad.svg").exists()
