"""Peak memory of a model folder whose safetensors hold 4 GB: that of its config alone.

The weights file is sparse (a real header, then ``truncate``), so it costs no
disk; reading more than its header would show as gigabytes of RSS.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_RSS_SCRIPT = textwrap.dedent("""
    import gc, resource, sys, graphir
    from graphir.loaders.hf_folder import build_hf_model
    for folder in sys.argv[1:]:
        hf = build_hf_model(folder)
        G = graphir.convert(hf.module, hf.args, example_kwargs=hf.kwargs, name=hf.name)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              hf.facts.get("weights_bytes", 0), hf.facts["parameters"], len(G))
        del hf, G
        gc.collect()
""")


def _big_folder(base):
    """A ~1B-parameter Llama folder: a config and a sparse 4 GB safetensors file."""
    config = transformers.LlamaConfig(vocab_size=128256, hidden_size=2048,
                                      intermediate_size=8192, num_hidden_layers=8,
                                      num_attention_heads=16, num_key_value_heads=8)
    config.architectures = ["LlamaForCausalLM"]
    config_only = base / "config_only"
    config.save_pretrained(str(config_only))
    with torch.device("meta"):
        shapes = {n: list(t.shape) for n, t in
                  transformers.LlamaForCausalLM(config).state_dict().items()}
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = 4 * int(torch.Size(shape).numel())
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    full = shutil.copytree(config_only, base / "with_weights")
    with open(full / "model.safetensors", "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)) + raw)
        handle.truncate(8 + len(raw) + offset)  # sparse: the zeros take no disk
    return config_only, full, offset


def test_peak_rss_of_a_multi_gb_folder_is_that_of_its_config(tmp_path):
    """The folder with 4 GB of weights adds nothing to the peak of its config alone.

    One process converts the config-only folder, then the full one: the peak
    RSS after the second run minus after the first is what reading the
    weights' headers cost (a separate-process run measured 381 vs 383 MB).
    """
    config_only, full, nbytes = _big_folder(tmp_path)
    assert nbytes > 3 * 10 ** 9
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(config_only), str(full)],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    (rss_config, _, params, nodes), (rss_full, weights, params_full, _) = [
        tuple(map(int, line.split())) for line in out.stdout.strip().splitlines()[-2:]]
    print(f"\n{params / 1e9:.2f}B parameters, {weights / 1e9:.2f} GB of weights, {nodes} nodes: "
          f"peak RSS {rss_config} MB from the config alone, {rss_full} MB with the weights")
    assert weights == nbytes and params_full == params
    assert rss_full - rss_config < 100
