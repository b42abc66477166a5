"""The Graphviz backend: running dot, deterministic output, atomic writes.

Tests marked ``needs_dot`` run the real ``dot`` program (Graphviz); the
others stub the subprocess or never start one.
"""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from graphir import ir
from graphir.errors import InputError, RenderError
from graphir.renderers import backend
from graphir.renderers.backend import (
    clean_pdf,
    clean_svg,
    find_dot,
    render_bytes,
    run_dot,
    write_atomic,
)
from graphir.renderers.dot import to_dot

needs_dot = pytest.mark.needs_dot
skip_without_dot = pytest.mark.skipif(shutil.which("dot") is None,
                                      reason="Graphviz dot is not installed")
SVG_NS = "{http://www.w3.org/2000/svg}"


def block_graph(blocks=2, name="Blocks"):
    """A chain of residual blocks, one cluster per block, with weights."""
    G = ir.new_graph("onnx", name)
    ids = ir.IdAllocator()
    prev = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                       outputs=[ir.tensor("float32", ["batch", 8])])
    G.graph["inputs"].append(prev)
    for b in range(blocks):
        module = f"blocks.{b}"
        start = prev
        for op in ("Gemm", "Relu", "Add"):
            node = ids.allocate(module, op)
            params = {f"{module}.weight": ir.param_info([8, 8], "float32")} if op == "Gemm" else {}
            ir.add_node(G, node, kind="op", op=op, name=node, module=module,
                        module_type="Block", outputs=[ir.tensor("float32", ["batch", 8])],
                        params=params)
            ir.add_edge(G, prev, node)
            prev = node
        ir.add_edge(G, start, prev, dst_port=1)
    out = ir.add_node(G, "output:y", kind="output", op="output", name="y",
                      outputs=[ir.tensor("float32", ["batch", 8])])
    ir.add_edge(G, prev, out)
    G.graph["outputs"].append(out)
    return G


def leftovers(folder, keep=()):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --- without Graphviz -----------------------------------------------------------

def test_find_dot_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend.shutil, "which", lambda name: None)
    with pytest.raises(RenderError, match=r"apt-get install -y graphviz") as caught:
        find_dot()
    assert "`dot`" in str(caught.value)
    with pytest.raises(RenderError, match="missing"):
        run_dot("digraph {}", "svg")


def test_timeout_is_a_render_error_suggesting_depth_or_focus(monkeypatch):
    def too_slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(backend.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(backend.subprocess, "run", too_slow)
    with pytest.raises(RenderError, match=r"--depth.*--focus"):
        run_dot("digraph {}", "svg", timeout=3)


def test_run_dot_passes_source_on_stdin_with_fixed_date(monkeypatch):
    seen = {}

    def fake_run(command, **kwargs):
        seen.update(command=command, **kwargs)
        return subprocess.CompletedProcess(command, 0, b"out", b"")

    monkeypatch.setattr(backend.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(backend.subprocess, "run", fake_run)
    assert run_dot("digraph { é }", "png", timeout=7) == b"out"
    assert seen["command"] == ["/usr/bin/dot", "-Tpng", f"-Gdpi={backend.PNG_DPI}"]
    assert seen["input"] == "digraph { é }".encode("utf-8")
    assert seen["timeout"] == 7
    assert seen["env"]["SOURCE_DATE_EPOCH"] == "0"


def test_dot_format_is_written_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(backend.subprocess, "run", None)
    source = to_dot(block_graph())
    render_file(source, tmp_path / "g.dot", "dot")
    assert (tmp_path / "g.dot").read_text(encoding="utf-8") == source
    assert leftovers(tmp_path) == ["g.dot"]


def test_unknown_format_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="svg, png, pdf, dot"):
        render_file("digraph {}", tmp_path / "g.gif", "gif")
    assert leftovers(tmp_path) == []


def test_write_atomic_replaces_and_keeps_usual_permissions(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert leftovers(tmp_path) == ["out.bin"]


def test_write_atomic_failure_leaves_target_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.svg"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backend.os, "replace", broken_replace)
    with pytest.raises(RenderError, match="No space left on device") as caught:
        write_atomic(target, b"new")
    assert str(target) in str(caught.value)
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["out.svg"]


def test_write_atomic_interrupted_leaves_no_temp(tmp_path, monkeypatch):
    monkeypatch.setattr(backend.os, "replace", lambda src, dst: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "out.svg", b"new")
    assert leftovers(tmp_path) == []


def test_write_atomic_missing_folder_is_a_render_error(tmp_path):
    with pytest.raises(RenderError, match="folder exists"):
        write_atomic(tmp_path / "missing" / "out.svg", b"x")


def test_clean_svg_removes_banners_only():
    svg = (b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
           b'<!-- Generated by graphviz version 2.43.0 (0)\n -->\n'
           b'<!-- Title: g Pages: 1 -->\n'
           b'<svg xmlns="http://www.w3.org/2000/svg"><g id="node_a"><title>a</title>'
           b'<!-- a --></g></svg>\n')
    cleaned = clean_svg(svg)
    assert b"Generated by" not in cleaned and b"Title:" not in cleaned
    assert b"<!-- a -->" in cleaned and b"<title>a</title>" in cleaned
    ET.fromstring(cleaned)


def test_clean_pdf_keeps_length_and_zeroes_dates():
    pdf = (b"%PDF-1.5\n<< /Producer (cairo 1.16.0 (https://cairographics.org))\n"
           b"   /CreationDate (D:20261121231944Z)\n"
           b"   /ModDate (D:20261121231944+01'00)\n>>\n")
    cleaned = clean_pdf(pdf)
    assert len(cleaned) == len(pdf)
    assert b"/CreationDate (D:19700101000000Z)" in cleaned
    assert b"/ModDate (D:19700101000000+00'00)" in cleaned


# --- with Graphviz -------------------------------------------------------------

@needs_dot
@skip_without_dot
def test_svg_is_clean_valid_and_stable(tmp_path):
    source = to_dot(block_graph())
    render_file(source, tmp_path / "a.svg", "svg")
    render_file(source, tmp_path / "b.svg", "svg")
    data = (tmp_path / "a.svg").read_bytes()
    assert data == (tmp_path / "b.svg").read_bytes()
    assert b"Generated by" not in data and b"<!-- Title" not in data
    root = ET.fromstring(data)
    assert root.tag == f"{SVG_NS}svg" and root.get("viewBox")
    groups = {g.get("id"): g for g in root.iter(f"{SVG_NS}g")}
    assert "cluster_blocks.0" in groups and "node_input_x" in groups
    assert groups["node_blocks.0_Gemm_0"].get("class") == "node op linear"
    title = groups["node_blocks.0_Gemm_0"].find(f"{SVG_NS}title").text
    assert title.splitlines()[:2] == ["blocks.0/Gemm#0", "op: Gemm (op)"]
    assert leftovers(tmp_path) == ["a.svg", "b.svg"]


@needs_dot
@skip_without_dot
def test_png_and_pdf_have_magic_and_are_byte_identical():
    source = to_dot(block_graph())
    png = render_bytes(source, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert render_bytes(source, "png") == png
    pdf = render_bytes(source, "pdf")
    assert pdf.startswith(b"%PDF")
    assert b"/CreationDate (D:19700101000000" in pdf
    assert render_bytes(source, "pdf") == pdf


@needs_dot
@skip_without_dot
def test_escaped_names_survive_graphviz():
    G = ir.new_graph("onnx", 'a<b> & "c"')
    a = ir.add_node(G, 'in"put<&>', kind="input", op="input", name='x<&>"',
                    outputs=[ir.tensor("float32", [1])])
    b = ir.add_node(G, "onnx::Add_1\\", kind="op", op="Add", name="onnx::Add_1",
                    label='a<b>&"c"', module="m<1>", outputs=[ir.tensor("float32", [1])])
    ir.add_edge(G, a, b)
    root = ET.fromstring(render_bytes(to_dot(G), "svg"))
    titles = [t.text.splitlines()[0] for t in root.iter(f"{SVG_NS}title")]
    assert 'in"put<&>' in titles and "onnx::Add_1\\" in titles
    texts = "".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))
    assert 'a<b>&"c"' in texts and 'x<&>"' in texts


@needs_dot
@skip_without_dot
def test_invalid_dot_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(RenderError, match=r"Graphviz failed.*syntax error"):
        render_file("digraph { a -> }", tmp_path / "bad.svg", "svg")
    assert leftovers(tmp_path) == []


@needs_dot
@skip_without_dot
def test_failed_render_keeps_previous_output(tmp_path):
    target = tmp_path / "g.png"
    target.write_bytes(b"previous")
    with pytest.raises(RenderError):
        render_file("digraph { a -> }", target, "png")
    assert target.read_bytes() == b"previous"
    assert leftovers(tmp_path) == ["g.png"]


@needs_dot
@skip_without_dot
def test_real_timeout_kills_dot_and_leaves_nothing(tmp_path):
    source = to_dot(block_graph(blocks=300))
    with pytest.raises(RenderError, match="--depth"):
        render_file(source, tmp_path / "big.svg", "svg", timeout=0.05)
    assert leftovers(tmp_path) == []


# --- lengths and widths (no Graphviz) ---------------------------------------------

@pytest.mark.parametrize("text, inches", [
    ("3.3in", 3.3), ("8.5cm", 8.5 / 2.54), ("85 mm", 85 / 25.4), ("240pt", 240 / 72),
    ("240bp", 240 / 72), ("20pc", 20 / 6), ("317px", 317 / 96), ("1e1in", 10.0),
    ("3.3IN", 3.3), (" .5in ", 0.5), (2, 2.0), (3.3, 3.3),
])
def test_parse_length(text, inches):
    assert backend.parse_length(text) == pytest.approx(inches)


@pytest.mark.parametrize("text, message", [
    ("3.3", "has no unit"), ("3.3 furlongs", "is not a length"), ("wide", "is not a length"),
    ("0in", "out of range"), ("-2cm", "is not a length"), ("5000in", "out of range"),
    ("", "is not a length"), (0, "out of range"),
])
def test_parse_length_rejects(text, message):
    with pytest.raises(InputError, match=message) as caught:
        backend.parse_length(text)
    assert "3.3in" in str(caught.value)


def test_fit_svg_width_gives_exact_points_and_scales_down_only():
    svg = b'<svg width="503pt" height="1373pt"\n viewBox="0.00 0.00 503.00 1372.88" xmlns="x">'
    fitted = backend.fit_svg_width(svg, 3.3)
    assert fitted == (b'<svg width="237.60pt" height="648.50pt"\n'
                      b' viewBox="0.00 0.00 503.00 1372.88" xmlns="x">')
    exact = b'<svg width="503.00pt" height="1372.88pt"\n viewBox="0.00 0.00 503.00 1372.88"'
    assert backend.fit_svg_width(svg, 10).startswith(exact)
    assert backend.fit_svg_width(svg).startswith(exact)
    assert backend.fit_svg_width(b"<svg/>") == b"<svg/>"


def test_dot_output_with_width_carries_a_size_line():
    source = to_dot(block_graph())
    data = render_bytes(source, "dot", width="3.3in").decode("utf-8")
    lines = data.splitlines()
    assert lines[0] == source.splitlines()[0]
    assert lines[1] == '  graph [size="3.3000,1000"];'
    assert lines[2:] == source.splitlines()[1:]


def test_width_is_passed_to_graphviz_for_pdf_and_png(monkeypatch):
    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, b"%PDF", b"")

    monkeypatch.setattr(backend.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(backend.subprocess, "run", fake_run)
    render_bytes("digraph {}", "pdf", width="8.5cm")
    assert seen[-1][-1] == "-Gsize=3.3465,1000"
    render_bytes("digraph {}", "svg", width="8.5cm")
    assert not any(arg.startswith("-Gsize") for arg in seen[-1])


def test_clean_svg_moves_tooltips_into_titles():
    svg = (b'<g id="graph0" class="graph">\n<title>g</title>\n'
           b'<g id="a_graph0"><a xlink:title="My &quot;net&quot;">\n<text>g</text>\n</a>\n</g>\n'
           b'<g id="node_a" class="node op relu">\n<title>a</title>\n'
           b'<g id="a_node_a"><a xlink:title="a&#10;op: Relu (op)">\n<path d="M0,0"/>\n'
           b'</a>\n</g>\n</g>\n'
           b'<g id="edge1" class="edge">\n<title>a&#45;&gt;b</title>\n<path d="M1,1"/>\n</g>\n')
    cleaned = clean_svg(svg)
    assert b'<title>My &quot;net&quot;</title>\n<text>g</text>\n<g id="node_a"' in cleaned
    assert b"<title>a&#10;op: Relu (op)</title>\n<path" in cleaned
    assert b"<title>a&#45;&gt;b</title>" in cleaned
    assert b"<a " not in cleaned and b"</a>" not in cleaned


# --- paper figures with Graphviz ------------------------------------------------------

def render_file(dot_source, out, fmt, *, timeout=120, width=None):
    """Render to a file the way graphir.api.write does: bytes, then an atomic write."""
    write_atomic(out, render_bytes(dot_source, fmt, timeout=timeout, width=width))


def _pdf_media_box(pdf):
    import re
    box = re.search(rb"/MediaBox \[\s*([-0-9. ]+)\]", pdf).group(1).split()
    return [float(v) for v in box]


@needs_dot
@skip_without_dot
def test_svg_for_papers_ids_classes_titles_and_size():
    G = block_graph()
    for index, node in enumerate(ir.op_nodes(G)[:-1]):
        G.nodes[node]["stats"] = {"mean": 0.5, "std": 0.1 * (index + 1), "zeros": 0.0}
    source = to_dot(G, color_by="std", theme="paper")
    first, second = render_bytes(source, "svg"), render_bytes(source, "svg")
    assert first == second
    root = ET.fromstring(first)
    assert root.get("width").endswith("pt") and root.get("height").endswith("pt")
    box = [float(v) for v in root.get("viewBox").split()]
    assert box[:2] == [0, 0]
    assert (root.get("width"), root.get("height")) == (f"{box[2]:.2f}pt", f"{box[3]:.2f}pt")
    assert not list(root.iter(f"{SVG_NS}a"))
    groups = {g.get("id"): g for g in root.iter(f"{SVG_NS}g") if g.get("id")}
    gemm = groups["node_blocks.1_Gemm_0"]
    assert gemm.get("class") == "node op linear"
    title = gemm.find(f"{SVG_NS}title").text.splitlines()
    assert title[0] == "blocks.1/Gemm#0"
    assert "stats: mean=0.5, std=0.4, zeros=0.0" in title
    assert "param blocks.1.weight: 8×8 float32" in title
    cluster = groups["cluster_blocks.1"]
    assert cluster.get("class") == "cluster module depth1 block"
    assert cluster.find(f"{SVG_NS}title").text == "blocks.1 : Block"
    assert groups["graphir-legend"].get("class") == "node legend"
    assert groups["node_blocks.1_Add_0"].get("class") == "node op elementwise no-value"
    fitted = ET.fromstring(render_bytes(source, "svg", width="3in"))
    assert fitted.get("viewBox") == root.get("viewBox")
    assert fitted.get("width") == "216.00pt"


@needs_dot
@skip_without_dot
def test_pdf_fonts_are_embedded_and_width_fits():
    source = to_dot(block_graph(blocks=3), theme="paper")
    pdf = render_bytes(source, "pdf")
    descriptors = pdf.count(b"/Type /FontDescriptor")
    assert descriptors >= 1 and pdf.count(b"/FontFile") == descriptors  # every font embedded
    assert b"/Type3" not in pdf or b"/FontFile" in pdf
    narrow = render_bytes(source, "pdf", width="1.5in")
    assert _pdf_media_box(narrow)[2] <= 1.5 * 72 + 1 < _pdf_media_box(pdf)[2]
    assert narrow == render_bytes(source, "pdf", width="1.5in")


@needs_dot
@skip_without_dot
def test_every_golden_renders_with_graphviz():
    golden = sorted((Path(__file__).parent / "goldens" / "dot").glob("*.dot"))
    assert golden
    for path in golden:
        svg = render_bytes(path.read_text(encoding="utf-8"), "svg")
        ET.fromstring(svg)
