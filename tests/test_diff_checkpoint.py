"""Checkpoint diff: per-tensor status, tolerances, reports, graph annotation, plot."""

import json

import numpy as np
import pytest

from graphir import ir
from graphir.diffing import (annotate_weight_change, checkpoint_to_json_dict, checkpoint_to_text,
                          diff_tensors, module_weight_change, plot_weight_change)
from graphir.errors import InputError


def checkpoint(n_layer=3, width=8, seed=0):
    rng = np.random.default_rng(seed)
    state = {}
    for i in range(n_layer):
        state[f"h.{i}.ln_1.weight"] = np.ones(width, dtype=np.float32)
        state[f"h.{i}.ln_1.bias"] = np.zeros(width, dtype=np.float32)
        state[f"h.{i}.attn.c_attn.weight"] = rng.standard_normal((width, 3 * width)).astype(np.float32)
        state[f"h.{i}.attn.c_attn.bias"] = np.zeros(3 * width, dtype=np.float32)
        state[f"h.{i}.mlp.c_fc.weight"] = rng.standard_normal((width, 4 * width)).astype(np.float32)
    state["ln_f.weight"] = np.ones(width, dtype=np.float32)
    state["step"] = np.array(100, dtype=np.int64)
    return state


def _copy(state):
    return {k: v.copy() for k, v in state.items()}


def test_identical_checkpoints_report_nothing():
    old = checkpoint()
    ck = diff_tensors(old, _copy(old))
    assert not ck.has_differences
    assert ck.summary["same"] == len(old)
    assert "no differences" in checkpoint_to_text(ck, "a", "b")
    assert all(t["status"] == "same" and t["max_abs_diff"] == 0.0
               for t in checkpoint_to_json_dict(ck)["tensors"])


def test_exactly_the_two_moved_tensors_are_reported():
    old = checkpoint()
    new = _copy(old)
    new["h.1.attn.c_attn.weight"][0, 0] += 0.25
    new["h.2.ln_1.bias"] += 0.01
    ck = diff_tensors(old, new)
    moved = {t.name: t for t in ck.differing()}
    assert set(moved) == {"h.1.attn.c_attn.weight", "h.2.ln_1.bias"}
    assert all(t.status == "value_changed" for t in moved.values())
    assert moved["h.1.attn.c_attn.weight"].max_abs_diff == pytest.approx(0.25)
    expected = 0.25 / np.linalg.norm(old["h.1.attn.c_attn.weight"].astype(np.float64))
    assert moved["h.1.attn.c_attn.weight"].rel_l2 == pytest.approx(expected, rel=1e-5)
    # A bias moving away from all-zeros is measured against its new norm.
    assert moved["h.2.ln_1.bias"].rel_l2 == pytest.approx(1.0)
    text = checkpoint_to_text(ck, "a.pt", "b.pt")
    assert text.splitlines()[0].startswith("a.pt → b.pt: 2 value_changed")
    assert "h.1.attn.c_attn" in text and "h.2.ln_1" in text and "h.0" not in text
    assert len(text.splitlines()) == 5


def test_tolerances_decide_equality():
    old = checkpoint()
    new = _copy(old)
    new["h.0.mlp.c_fc.weight"] = old["h.0.mlp.c_fc.weight"] + np.float32(1e-4)
    assert diff_tensors(old, new).summary["value_changed"] == 1
    assert diff_tensors(old, new, atol=1e-3).summary["value_changed"] == 0
    assert diff_tensors(old, new, atol=1e-6).summary["value_changed"] == 1
    # rtol scales with |old|: ln_1.weight is all ones.
    new2 = _copy(old)
    new2["h.0.ln_1.weight"] = old["h.0.ln_1.weight"] * np.float32(1.001)
    assert diff_tensors(old, new2, rtol=1e-2).summary["value_changed"] == 0
    assert diff_tensors(old, new2, rtol=1e-4).summary["value_changed"] == 1
    with pytest.raises(InputError):
        diff_tensors(old, new, atol=-1)


def test_shape_change_added_and_removed():
    old = checkpoint(n_layer=2)
    new = checkpoint(n_layer=3)
    new["h.0.mlp.c_fc.weight"] = np.zeros((8, 64), dtype=np.float32)
    del new["ln_f.weight"]
    ck = diff_tensors(old, new)
    by_name = {t.name: t for t in ck.tensors}
    assert by_name["h.0.mlp.c_fc.weight"].status == "shape_changed"
    assert (by_name["h.0.mlp.c_fc.weight"].old_shape, by_name["h.0.mlp.c_fc.weight"].new_shape) \
        == ([8, 32], [8, 64])
    assert by_name["ln_f.weight"].status == "removed"
    assert {t.name for t in ck.tensors if t.status == "added"} == {
        k for k in new if k.startswith("h.2.")}
    text = checkpoint_to_text(ck)
    assert "8×32 → 8×64" in text and "removed" in text and "added" in text


def test_json_format():
    old = checkpoint(n_layer=2)
    new = _copy(old)
    new["h.1.attn.c_attn.bias"][3] = 1.0
    new["extra.weight"] = np.ones((2, 2), dtype=np.float32)
    data = checkpoint_to_json_dict(diff_tensors(old, new))
    assert set(data) == {"summary", "tolerance", "tensors"}
    assert set(data["summary"]) == {"added", "removed", "shape_changed", "value_changed",
                                    "dtype_changed", "same"}
    for entry in data["tensors"]:
        assert set(entry) == {"name", "status", "old_shape", "new_shape", "max_abs_diff",
                              "rel_l2", "old_dtype", "new_dtype"}
    names = [t["name"] for t in data["tensors"]]
    assert names.index("h.1.attn.c_attn.bias") > names.index("h.0.mlp.c_fc.weight")
    changed = next(t for t in data["tensors"] if t["name"] == "h.1.attn.c_attn.bias")
    assert changed["status"] == "value_changed" and changed["max_abs_diff"] == 1.0
    added = next(t for t in data["tensors"] if t["name"] == "extra.weight")
    assert added["old_shape"] is None and added["new_shape"] == [2, 2]
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_ints_bools_nans_and_dtypes():
    old = {"count": np.array([1, 2, 3], dtype=np.int64), "mask": np.array([True, False]),
           "w": np.array([1.0, np.nan, np.inf], dtype=np.float32),
           "big": np.array([2 ** 62, 5], dtype=np.int64),
           "half": np.array([1.0, 2.0], dtype=np.float32), "empty": np.zeros((0, 3))}
    new = {"count": np.array([1, 2, 4], dtype=np.int64), "mask": np.array([True, True]),
           "w": np.array([1.0, np.nan, np.inf], dtype=np.float32),
           "big": np.array([2 ** 62 + 1, 5], dtype=np.int64),
           "half": np.array([1.0, 2.0], dtype=np.float16), "empty": np.zeros((0, 3))}
    by_name = {t.name: t for t in diff_tensors(old, new).tensors}
    assert by_name["count"].status == "value_changed" and by_name["count"].max_abs_diff == 1.0
    assert by_name["mask"].status == "value_changed"
    assert by_name["w"].status == "same"           # NaN matches NaN, inf matches inf
    assert by_name["big"].status == "value_changed"  # exact for ints beyond 2**53
    assert by_name["half"].status == "dtype_changed"
    assert by_name["empty"].status == "same"
    new["w"] = np.array([1.0, 2.0, np.inf], dtype=np.float32)
    moved = diff_tensors(old, new).tensors[2]
    assert moved.status == "value_changed" and moved.nonfinite_mismatch == 1
    entry = checkpoint_to_json_dict(diff_tensors(old, new))["tensors"]
    assert next(t for t in entry if t["name"] == "w")["nonfinite_mismatch"] == 1


def test_big_tensors_are_compared_in_chunks():
    rng = np.random.default_rng(1)
    old = {"w": rng.standard_normal(10_001)}
    new = {"w": old["w"].copy()}
    new["w"][9_999] += 3.0
    chunked = diff_tensors(old, new, chunk=1000).tensors[0]
    whole = diff_tensors(old, new).tensors[0]
    assert chunked.max_abs_diff == pytest.approx(3.0)
    assert chunked.rel_l2 == pytest.approx(whole.rel_l2)


def test_array_likes_with_shape_and_dtype():
    class Lazy:
        """Stands for a framework tensor: shape, dtype, __array__."""
        def __init__(self, array):
            self.array, self.shape, self.dtype = array, array.shape, f"torch.{array.dtype}"

        def __array__(self, dtype=None, copy=None):
            return self.array

    old = {"w": Lazy(np.ones(3, dtype=np.float32))}
    new = {"w": Lazy(np.array([1, 1, 2], dtype=np.float32))}
    t = diff_tensors(old, new).tensors[0]
    assert t.status == "value_changed" and t.old_dtype == "float32"


def _ir_for(state):
    G = ir.new_graph("state_dict", "m")
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x")
    ids = ir.IdAllocator()
    modules = {}
    for name, value in state.items():
        if "." in name:
            modules.setdefault(name.rsplit(".", 1)[0], {})[name] = ir.param_info(
                value.shape, "float32")
    for module, params in modules.items():
        node = ir.add_node(G, ids.allocate(module, "op"), kind="op", op="op", name=module,
                           module=module, params=params)
        ir.add_edge(G, prev, node)
        prev = node
    return G


def test_annotate_weight_change_colours_ops_by_how_far_they_moved():
    old = checkpoint()
    new = _copy(old)
    new["h.1.attn.c_attn.weight"] *= 1.5
    new["h.2.mlp.c_fc.weight"] = np.zeros((8, 64), dtype=np.float32)
    ck = diff_tensors(old, new)
    G = _ir_for(old)
    H = annotate_weight_change(G, ck)
    ir.validate(H)
    assert "diff" not in G.nodes["h.1.attn.c_attn/op#0"]      # G is left alone
    node = H.nodes["h.1.attn.c_attn/op#0"]
    assert node["diff"] == "changed" and node["weight_change"] == pytest.approx(0.5)
    assert node["changes"]["weights"]["weight"]["status"] == "value_changed"
    assert H.nodes["h.2.mlp.c_fc/op#0"]["changes"]["weights"]["weight"]["status"] == "shape_changed"
    assert H.nodes["h.0.attn.c_attn/op#0"]["diff"] == "same"
    assert H.nodes["h.0.attn.c_attn/op#0"]["weight_change"] == 0.0
    assert H.graph["weight_change_max"] == pytest.approx(0.5)
    assert H.graph["diff_summary"]["changed"] == 2
    # A DataParallel checkpoint ("module." prefix) still lines up.
    wrapped = diff_tensors({f"module.{k}": v for k, v in old.items()},
                           {f"module.{k}": v for k, v in new.items()})
    assert annotate_weight_change(G, wrapped).nodes["h.1.attn.c_attn/op#0"]["diff"] == "changed"


def test_module_weight_change_combines_a_modules_tensors():
    old = {"a.weight": np.ones(4), "a.bias": np.ones(4), "b.weight": np.ones(2)}
    new = {"a.weight": np.ones(4) * 2, "a.bias": np.ones(4), "b.weight": np.ones(2)}
    changes = module_weight_change(diff_tensors(old, new))
    assert changes == {"a": pytest.approx(2 / np.sqrt(8)), "b": 0.0}


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_plot_weight_change_is_deterministic(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    old = checkpoint()
    new = _copy(old)
    new["h.1.attn.c_attn.weight"] *= 1.1
    ck = diff_tensors(old, new)
    first = plot_weight_change(ck, tmp_path / f"a.{suffix}")
    second = plot_weight_change(ck, tmp_path / f"b.{suffix}")
    assert first.read_bytes() == second.read_bytes()
    assert first.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a.{suffix}", f"b.{suffix}"]
    if suffix == "svg":
        text = first.read_text()
        assert "<dc:date>" not in text and "<svg" in text


def test_plot_rejects_unknown_suffix(tmp_path):
    with pytest.raises(InputError):
        plot_weight_change(diff_tensors({}, {}), tmp_path / "plot.gif")
