"""The model zoo's CI subset (benchmarks/zoo/models.json entries marked ``ci``)
meets the manifest: every fact passes, or fails only in the known way the
manifest writes down with its reason. A known failure that starts passing
fails this test too, so the marks stay true.

The subset runs in worker subprocesses with a per-model timeout, as
``benchmarks/zoo/run.py --subset ci`` does (a few minutes on 2 cores).
"""

import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.zoo import run as zoo  # noqa: E402

ENTRIES = zoo.load_manifest()
CI = zoo.select(ENTRIES, subset="ci")


@pytest.fixture(scope="module")
def ci_results(tmp_path_factory):
    jobs = [{"id": e["id"], "source": s} for e in CI for s in zoo.sources_of(e)]
    facts = zoo.run_workers(ENTRIES, jobs, tmp_path_factory.mktemp("zoo-cache"),
                            log=lambda *_: None)
    by_id = {e["id"]: e for e in ENTRIES}
    return {(f["id"], f["source"]): dict(f, **zoo.judge(by_id[f["id"]], f)) for f in facts}


def test_manifest_is_well_formed():
    kinds = {"hf_config", "onnx_file", "onnx_export", "pt2", "hf_folder"}
    ids = {e["id"] for e in ENTRIES}
    for e in ENTRIES:
        assert e["kind"] in kinds, e["id"]
        if e["kind"] in ("onnx_export", "pt2", "hf_folder"):
            assert e["of"] in ids, e["id"]
        for key, reason in (e.get("known") or {}).items():
            assert key.rpartition(":")[2] in zoo.CHECKS and reason.strip(), (e["id"], key)
        if e.get("expect") == "error":
            assert e.get("reason") and e.get("error"), e["id"]
    hf = {e["family"] for e in ENTRIES if e["kind"] == "hf_config"}
    assert len(hf) >= 25
    # every ONNX file the onnx package ships is in the zoo
    assert zoo.unlisted_onnx_files(ENTRIES) == []
    # the CI subset covers every kind (folders once graphir.load(DIR) exists: see
    # INTEGRATION-ZOO.md), every ONNX directory, a MoE, an encoder-decoder and meta
    ci_ids = {e["id"] for e in CI}
    assert {e["kind"] for e in CI} >= kinds - {"hf_folder"}
    assert {e["family"] for e in CI if e["kind"] == "onnx_file"} == {
        e["family"] for e in ENTRIES if e["kind"] == "onnx_file"}
    assert {"mixtral", "t5", "whisper", "llama-3-8b-meta", "clip", "vit"} <= ci_ids


def test_judge_flags_new_failures_and_stale_marks():
    entry = {"id": "x", "family": "f", "kind": "hf_config", "ops": [1, 10],
             "fold": "layers ×4", "known": {"fold": "cache outputs"}}
    facts = {"id": "x", "family": "f", "source": "auto", "ops": 5, "shapes": 1.0,
             "modules": 1.0, "params": 7, "expected_params": 7, "view_nodes": 20,
             "folds": []}
    assert zoo.judge(entry, facts)["status"] == "xfail"
    assert zoo.judge(entry, dict(facts, folds=["layers ×4"]))["status"] == "xpass"
    assert zoo.judge(entry, dict(facts, params=8))["status"] == "fail"
    error_entry = dict(entry, expect="error", error="pytree", reason="r")
    assert zoo.judge(error_entry, dict(facts, error="RuntimeError: pytree"))["status"] == "xfail"
    assert zoo.judge(error_entry, dict(facts, error="ValueError: other"))["status"] == "fail"
    assert zoo.judge(error_entry, facts)["status"] == "xpass"


def test_fold_matching():
    assert zoo.fold_matches("layers ×4", ["layers ×4"])
    assert not zoo.fold_matches("layers ×4", ["h ×4"])
    assert zoo.fold_matches("×3", ["blocks ×3"])
    assert zoo.fold_matches("layers ×N", ["layers ×5"])
    assert not zoo.fold_matches("layers ×N", ["layers ×2"])


@pytest.mark.slow
@pytest.mark.parametrize("entry", CI, ids=[e["id"] for e in CI])
def test_ci_entry_meets_its_expectation(ci_results, entry):
    for source in zoo.sources_of(entry):
        result = ci_results[(entry["id"], source)]
        assert result["status"] in ("pass", "xfail"), (
            f"{entry['id']} [{source}]: " + " | ".join(result["unexpected"]))
