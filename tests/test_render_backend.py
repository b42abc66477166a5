"""The Graphviz backend: running dot, deterministic output, atomic writes.

Tests marked ``needs_dot`` run the real ``dot`` program (Graphviz); the
others stub the subprocess or never start one.
"""

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from graphir import ir
from graphir.errors import InputError, RenderError
from graphir.render import backend
from graphir.render.backend import (
    clean_pdf,
    clean_svg,
    find_dot,
    render_bytes,
    render_file,
    run_dot,
    write_atomic,
)
from graphir.render.dot import to_dot

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
    assert groups["node_blocks.0_Gemm_0"].find(f"{SVG_NS}title").text == "blocks.0/Gemm#0"
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
    titles = [t.text for t in root.iter(f"{SVG_NS}title")]
    assert 'in"put<&>' in titles
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
