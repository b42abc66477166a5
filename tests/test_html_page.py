"""The interactive HTML page without a browser: self-contained, escaped, consistent."""

import json
import re

import pytest

import graphir
from graphir import explore
from graphir.renderers.html import json_for_script, node_record, svg_for_script
from tests.html_pages import CLOSE, IMG, SCRIPT, hostile_graph


def _data(page):
    match = re.search(r'<script type="application/json" id="graphir-data">(.*?)</script>',
                      page, re.S)
    assert match, "no data element"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def resnet_page():
    return explore.model_page(graphir.load("samples/resnet_tiny.onnx"),
                              source_info="samples/resnet_tiny.onnx",
                              command_line="graphir render samples/resnet_tiny.onnx -o m.html")


def test_page_is_self_contained(resnet_page):
    assert resnet_page.startswith("<!DOCTYPE html>")
    refs = re.findall(r'(?:src|href|xlink:href|action)\s*=\s*["\']?([^"\' >]+)', resnet_page)
    assert not [r for r in refs if re.match(r"(?i)(https?:)?//", r)], refs
    assert "<script src" not in resnet_page and "<link" not in resnet_page
    assert "@import" not in resnet_page
    # the only http URLs allowed are XML namespaces inside the SVG payloads
    for url in re.findall(r"https?://[^\s\"'<>]+", resnet_page):
        assert url.startswith(("http://www.w3.org/", "http://www.w3.org")), url


def test_every_state_maps_svg_elements_to_ir_nodes(resnet_page):
    data = _data(resnet_page)
    assert data["kind"] == "model" and data["states"]
    for index, state in enumerate(data["states"]):
        pattern = r'<div id="canvas">(.*?)</div>' if index == 0 else \
            rf'id="graphir-svg-{index}">(.*?)</script>'
        svg = re.search(pattern, resnet_page, re.S).group(1)
        assert "<!--" not in svg and "<title>" not in svg
        ids = set(re.findall(r'<g id="(node_[^"]*)" class="node', svg))
        assert ids == set(state["dom"]), "every drawn node maps to an IR id"
        assert all(node in data["nodes"] for node in state["dom"].values())
        for src, dst in state["edges"].values():
            assert src in state["dom"] and dst in state["dom"]
    conv = next(r for r in data["nodes"].values() if r["op"] == "Conv")
    assert conv["params"][0]["shape"].count("×") == 3 and conv["outputs"]
    assert data["meta"]["command"].startswith("graphir render")


def test_hostile_strings_stay_inside_json():
    page = explore.model_page(hostile_graph(), source_info=f"m{CLOSE}.onnx")
    # the only </script> tags are the page's own: data, one SVG per state but the first
    # (inline), the viewer
    data = _data(page)
    assert page.count("</script>") == 1 + len(data["states"])
    assert SCRIPT not in page and CLOSE not in page and IMG not in page
    assert data["meta"]["name"] == f"evil {CLOSE} model"
    assert len(data["states"][0]["edges"]) == 3      # edge titles with markup still map
    names = {r.get("name") for r in data["nodes"].values()}
    assert f"relu {SCRIPT}" in names and f"fc{IMG}" in names
    assert ["doc_string", f"doc {SCRIPT} {IMG} -->"] in data["meta"]["about"]
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert "<" not in title and "&lt;/script&gt;" in title


def test_script_encodings_round_trip():
    text = '</script><!-- & "x" \u2028'
    assert json.loads(json_for_script({"a": text})) == {"a": text}
    assert "<" not in json_for_script({"a": text})
    svg = '<svg><text>a &lt;/script&gt;</text></svg>'
    assert "</" not in svg_for_script(svg)
    assert svg_for_script(svg).replace("<\\/", "</") == svg
    with pytest.raises(ValueError):
        svg_for_script("<\\x")


def test_node_record_counts_params_and_drops_nan():
    rec = node_record({"kind": "op", "op": "Conv", "params": {
        "conv.weight": {"shape": [8, 3, 3, 3], "dtype": "float32", "kind": "buffer"},
        "conv.bias": {"shape": ["c"], "dtype": "float16"}}, "stats": {"mean": float("nan"), "std": 1.0}})
    assert rec["params"][0]["count"] == "216" and rec["params"][0]["note"] == "kind=buffer"
    assert rec["params"][1]["count"] == "?"
    assert rec["stats"] == {"mean": None, "std": 1.0}


def test_folded_block_gets_an_inside_and_copies_point_to_it():
    from tests.html_pages import gpt2_graph

    G = gpt2_graph(3)
    data = _data(explore.model_page(G, depth=2))
    root = data["states"][0]
    box = "module:h.0"
    assert data["nodes"][box]["repeat"] == 3
    inside = root["opens"][box]
    assert data["states"][inside]["path"] == "h.0" and data["states"][inside]["parent"] == 0
    # a node of the third copy is shown as its twin in the first copy
    node = next(n for n in G if n.startswith("h.2.attn.c_attn/"))
    state, shown = data["where"][node]
    assert shown == "h.0" + node[len("h.2"):] and shown in data["states"][state]["dom"].values()


def test_budget_leaves_modules_out_and_says_how_to_draw_them():
    from tests.html_pages import gpt2_graph

    data = _data(explore.model_page(gpt2_graph(2), depth=1, source_info="gpt2.py:f",
                                    budget_bytes=0))
    assert len(data["states"]) == 1
    assert data["leftOut"] == [{"path": "h", "command": "graphir render gpt2.py:f --focus h "
                                                          "-o h.html"}]


def test_diff_page_carries_old_and_new_of_changed_nodes():
    old = graphir.load("samples/resnet_tiny.onnx")
    new = old.copy()
    node = next(n for n, d in new.nodes(data=True) if d["op"] == "Conv" and "layer2" in d["module"])
    data = new.nodes[node]
    data["params"] = {k: dict(v, shape=[v["shape"][0] * 2] + v["shape"][1:])
                      for k, v in data["params"].items()}
    page = explore.diff_page(graphir.diff(old, new), old_name="a.onnx", new_name="b.onnx")
    info = _data(page)
    record = info["nodes"][node]
    assert record["diff"] == "changed" and record["oldId"] == node
    assert record["old"]["params"][0]["shape"] != record["params"][0]["shape"]
    assert info["diff"]["counts"]["changed"] == 1
    group = info["diff"]["groups"][0]
    assert group["module"] == data["module"] and group["entries"][0]["id"] == node
    assert "params weight" in group["entries"][0]["text"]
    assert set(info["diff"]["context"]) == {"1", "2", "3"}


def test_unfolded_identical_blocks_share_one_drawing():
    from tests.html_pages import gpt2_graph

    data = _data(explore.model_page(gpt2_graph(3), depth=2, fold=False))
    root = data["states"][0]
    assert {box: root["opens"][box] for box in ("module:h.1", "module:h.2")} == \
        {"module:h.1": root["opens"]["module:h.0"], "module:h.2": root["opens"]["module:h.0"]}
    assert root["aliases"] == {"module:h.1": "h.0", "module:h.2": "h.0"}
    assert len(data["states"]) == 2
    assert data["where"]["h.2.mlp.c_fc/addmm#0"] == [1, "h.0.mlp.c_fc/addmm#0"]
