"""The benchmark harness (benchmarks/run.py) runs end to end at toy sizes.

Only that it runs and reports every section is checked -- never a timing.
"""

import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.needs_dot


@pytest.fixture(scope="module")
def bench_run():
    sys.path.insert(0, str(ROOT))
    from benchmarks import run

    return run


def test_smoke_run_reports_every_section(bench_run, tmp_path, capsys):
    import torch
    out_json = tmp_path / "bench.json"
    threads = torch.get_num_threads()
    try:
        assert bench_run.main(["--smoke", "-q", "--json", str(out_json),
                               "--workdir", str(tmp_path / "work")]) == 0
    finally:
        torch.set_num_threads(threads)  # the harness pins 1 thread; give the rest back
    text = capsys.readouterr().out
    report = json.loads(out_json.read_text())

    assert report["mode"] == "smoke"
    for key in ("cpu", "nproc", "ram_gb", "torch", "dot", "date"):
        assert key in report["machine"]
    for section in ("startup", "onnx10k", "diff10k", "memory", "cli"):
        assert section in report, section
        assert f"{section}" in report["sections"]
    # Peer comparison: every tool ran (or says why it could not) on every toy model.
    if "skipped" not in report["peers"]:
        for name in bench_run.SMOKE_MODELS:
            tools = report["peers"]["models"][name]["tools"]
            assert set(tools) == {"graphir-full", "graphir-full-export", "graphir-default",
                                  "torchview", "torchviz"}
            full = tools["graphir-full"]
            assert "error" not in full, full
            assert full["drawn_nodes"] > 0 and full["total"] > 0
        assert "÷torchview" in text
    assert report["onnx10k"]["drawn_nodes"] > 0
    assert report["onnx10k"]["cli_error"] is None
    assert report["diff10k"]["summary"].startswith("old → new: 15 added")
    for side in ("onnx", "graphir"):
        assert report["memory"][side]["peak_mb"] > 0
    assert all(run["wall"] is not None for run in report["cli"]["runs"]), report["cli"]
    startup = report["startup"]["rows"]
    assert any(row.get("total") for row in startup), startup
    for title in ("Peer comparison", "10,000-node ONNX", "Diff of two", "Peak memory",
                  "CLI render"):
        assert title in text


def test_synthetic_onnx_has_module_paths_and_the_advertised_size(bench_run, tmp_path):
    pytest.importorskip("onnx")
    import graphir
    from benchmarks.models import OPS_PER_BLOCK, make_transformer_onnx, ten_k_variant

    path = make_transformer_onnx(str(tmp_path / "t.onnx"), n_blocks=3)
    G = graphir.load(path)
    ops = [n for n, d in G.nodes(data=True) if d["kind"] == "op"]
    assert len(ops) == 3 * OPS_PER_BLOCK + 14
    assert G.nodes["blocks.1.attn.q/MatMul#0"]["module"] == "blocks.1.attn.q"
    old = graphir.load(make_transformer_onnx(str(tmp_path / "t4.onnx"), n_blocks=4))
    new = graphir.load(ten_k_variant(str(tmp_path / "v.onnx"), n_blocks=4))
    result = graphir.diff(old, new)
    assert result.has_differences
    assert new.number_of_nodes() == old.number_of_nodes() + 15  # the inserted MLP block


def test_only_rejects_unknown_sections(bench_run):
    with pytest.raises(SystemExit):
        bench_run.main(["--smoke", "--only", "nope"])
