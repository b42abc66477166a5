"""End to end: the HTML viewer through the public API and the CLI.

``render -o x.html``, ``diff -o x.html``, ``G.to_html()``, ``G.render("x.html")``
and ``graphir.diff_report(..., format="html")``; the page itself is tested in
tests/test_html_page.py and tests/test_html_browser.py.
"""

import json
import re
import subprocess
import sys

import graphir

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "resnet_tiny.onnx"


def _page_data(text):
    assert text.startswith("<!DOCTYPE html>"), text[:80]
    match = re.search(r'id="graphir-data">(.*?)</script>', text, re.S)
    assert match, "not an interactive graphir page"
    return json.loads(match.group(1))


def _changed_copy(tmp_path):
    G = graphir.load(str(SAMPLE))
    node = next(n for n, d in G.nodes(data=True) if d["op"] == "Conv")
    G.nodes[node]["attrs"] = dict(G.nodes[node]["attrs"], kernel_shape=[5, 5])
    path = tmp_path / "changed.json"
    graphir.save(G, str(path))
    return path


def test_cli_render_writes_an_interactive_page(tmp_path):
    out = tmp_path / "model.html"
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "render", str(SAMPLE),
                           "-o", str(out)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    data = _page_data(out.read_text(encoding="utf-8"))
    assert data["kind"] == "model" and "render" in data["meta"]["command"]
    assert data["meta"]["sourceInfo"].endswith("resnet_tiny.onnx")


def test_cli_diff_writes_an_interactive_diff_page(tmp_path):
    out = tmp_path / "diff.html"
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "diff", str(SAMPLE),
                           str(_changed_copy(tmp_path)), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 1, done.stderr          # like diff(1): 1 = differences found
    data = _page_data(out.read_text(encoding="utf-8"))
    assert data["kind"] == "diff" and data["diff"]["counts"]["changed"] == 1


def test_api_render_to_html_and_graph_methods(tmp_path):
    G = graphir.load(str(SAMPLE))
    out = tmp_path / "m.html"
    G.render(str(out))
    assert _page_data(out.read_text(encoding="utf-8"))["kind"] == "model"
    assert _page_data(G.to_html())["meta"]["name"] == "resnet_tiny"


def test_api_diff_report_html_is_the_interactive_page(tmp_path):
    result = graphir.diff(str(SAMPLE), str(_changed_copy(tmp_path)))
    page = graphir.diff_report(result, format="html", old_name="a", new_name="b")
    data = _page_data(page)
    assert data["kind"] == "diff" and data["diff"]["oldName"] == "a"
