"""The command line end to end: formats, entry points, errors, no torch for ONNX."""

import json
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from graphir.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLE_ONNX = ROOT / "samples" / "resnet_tiny.onnx"
PYTHON = sys.executable


def run_cli(*args, cwd=None):
    """Run ``python cli.py ARGS`` in a subprocess; return the CompletedProcess."""
    return subprocess.run([PYTHON, str(ROOT / "cli.py"), *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.needs_dot
@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("png", b"\x89PNG"),
                                       ("pdf", b"%PDF"), ("dot", b"digraph")])
def test_render_onnx_sample_each_format(tmp_path, fmt, magic):
    out = tmp_path / f"resnet.{fmt}"
    assert main(["-q", "render", str(SAMPLE_ONNX), "-o", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.needs_dot
def test_svg_parses_and_shows_shapes_and_weights(tmp_path):
    out = tmp_path / "resnet.svg"
    assert main(["-q", "render", str(SAMPLE_ONNX), "-o", str(out)]) == 0
    root = ET.fromstring(out.read_bytes())
    text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "Conv" in text and "×" in text


def test_convert_round_trip_is_byte_identical(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["-q", "convert", str(SAMPLE_ONNX), "-o", str(first)]) == 0
    assert main(["-q", "convert", str(first), "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["schema"] == "graphir/1"


@pytest.mark.needs_dot
def test_rendering_onnx_and_json_never_imports_torch(tmp_path):
    code = (
        "import sys, graphir\n"
        f"G = graphir.load({str(SAMPLE_ONNX)!r})\n"
        f"graphir.render(G, {str(tmp_path / 'x.svg')!r})\n"
        f"graphir.render(G, {str(tmp_path / 'x.json')!r})\n"
        f"graphir.render(graphir.load({str(tmp_path / 'x.json')!r}), {str(tmp_path / 'y.svg')!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.needs_dot
def test_three_entry_points_give_the_same_bytes(tmp_path):
    outs = [tmp_path / f"{i}.svg" for i in range(2)]
    first = run_cli("-q", "render", SAMPLE_ONNX, "-o", outs[0])
    second = subprocess.run([PYTHON, "-m", "graphir", "-q", "render", str(SAMPLE_ONNX),
                             "-o", str(outs[1])], cwd=ROOT, capture_output=True, text=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_file_is_one_line_exit_2(tmp_path):
    out = tmp_path / "x.svg"
    result = run_cli("render", tmp_path / "missing.onnx", "-o", out)
    _assert_one_line_error(result, "missing.onnx", "no such file")
    assert not out.exists()


@pytest.mark.parametrize("content,fragment", [
    (b"", "is empty"),
    (SAMPLE_ONNX.read_bytes()[:300] if SAMPLE_ONNX.exists() else b"\x08\x07", "bad.onnx"),
    (b'{"schema": "graphir/9", "nodes": [], "edges": []}', "not supported"),
    (b"\x00\x01\x02 random bytes", "not a model file"),
])
def test_bad_inputs_are_one_line_exit_2_and_no_output(tmp_path, content, fragment):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    out = tmp_path / "out.svg"
    result = run_cli("render", bad, "-o", out)
    _assert_one_line_error(result, str(bad), fragment)
    assert not out.exists()


def test_debug_shows_traceback(tmp_path):
    result = run_cli("--debug", "render", tmp_path / "missing.onnx")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_factory_without_inputs_says_to_pass_input_shape(tmp_path):
    result = run_cli("render", "samples/resnet.py:resnet18", "-o", tmp_path / "r.svg")
    _assert_one_line_error(result, "--input-shape")


def test_unknown_theme_is_refused(tmp_path):
    result = run_cli("render", SAMPLE_ONNX, "--theme", "neon", "-o", tmp_path / "r.svg")
    _assert_one_line_error(result, "neon")
    assert not (tmp_path / "r.svg").exists()


def test_wrong_source_for_file_kind(tmp_path):
    result = run_cli("render", SAMPLE_ONNX, "--source", "fx", "-o", tmp_path / "r.svg")
    _assert_one_line_error(result, "resnet_tiny.onnx", "--source fx")


@pytest.mark.needs_dot
def test_factory_with_input_shape_renders_and_says_which_capture(tmp_path):
    out = tmp_path / "gpt2.svg"
    result = run_cli("render", "samples/gpt2.py:gpt2_model", "--input-shape", "int64:1,16",
                     "-o", out)
    assert result.returncode == 0, result.stderr
    assert "via trace" in result.stderr
    assert b"h.0" in out.read_bytes()


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.needs_dot
def test_readme_demo_command_runs(tmp_path):
    """The README's first command, run as written (set-up is idempotent)."""
    result = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    svg = ROOT / "out" / "resnet_tiny.svg"
    png = ROOT / "out" / "resnet_tiny.png"
    assert svg.read_bytes().startswith(b"<?xml") and png.read_bytes().startswith(b"\x89PNG")


def test_attention_command_writes_maps_and_refuses_models_without_attention(tmp_path):
    out = tmp_path / "att"
    result = run_cli("attention", "samples/vit.py:vit_tiny", "-o", out)
    assert result.returncode == 0, result.stderr
    assert "6 layers × 4 heads" in result.stderr
    assert {"report.md", "stats.png", "layers_evolution.png", "layer_5_heads.png"} <= {
        p.name for p in out.iterdir()}
    none = tmp_path / "none"
    result = run_cli("attention", "samples/resnet.py:resnet_tiny", "-o", none)
    _assert_one_line_error(result, "found no attention")
    assert not none.exists()


@pytest.mark.needs_dot
def test_stats_colour_by_and_width(tmp_path):
    svg = tmp_path / "stats.svg"
    result = run_cli("render", "samples/resnet.py:resnet_tiny", "--stats", "--color-by", "zeros",
                     "--show", "+stats", "-o", svg)
    assert result.returncode == 0, result.stderr
    text = svg.read_text()
    assert "zeros" in text
    ET.fromstring(svg.read_bytes())
    pdf = tmp_path / "col.pdf"
    result = run_cli("render", SAMPLE_ONNX, "--theme", "paper", "--width", "3.3in", "-o", pdf)
    assert result.returncode == 0, result.stderr
    assert b"/MediaBox [ 0 0 238 " in pdf.read_bytes()  # 3.3 in = 237.6 pt
    bad = run_cli("render", SAMPLE_ONNX, "--color-by", "mean", "-o", tmp_path / "m.svg")
    _assert_one_line_error(bad, "mean")
    assert not (tmp_path / "m.svg").exists()
