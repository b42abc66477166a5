"""Paper figures through the CLI and the API: -o fig.tex, --style blocks, --font."""

import subprocess
import sys
from pathlib import Path

import pytest

import graphir
from graphir.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
ONNX = str(ROOT / "samples" / "resnet_tiny.onnx")


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_cli_writes_tikz_blocks_and_standalone(tmp_path):
    done = _cli("render", ONNX, "-o", str(tmp_path / "fig.tex"), "--width", "\\columnwidth")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "fig.tex").read_text()
    assert "\\begin{tikzpicture}" in text and "\\columnwidth" in text
    assert "\\documentclass" not in text
    done = _cli("render", ONNX, "-o", str(tmp_path / "doc.tex"), "--standalone")
    assert done.returncode == 0 and "\\documentclass" in (tmp_path / "doc.tex").read_text()
    done = _cli("render", ONNX, "--style", "blocks", "-o", str(tmp_path / "blocks.svg"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "blocks.svg").read_bytes().startswith(b"<?xml")
    done = _cli("render", ONNX, "--style", "blocks", "-o", str(tmp_path / "blocks.tex"))
    assert done.returncode == 0 and "tikzpicture" in (tmp_path / "blocks.tex").read_text()


def test_tex_width_is_a_tex_length_and_svg_width_is_not(tmp_path):
    done = _cli("render", ONNX, "-o", str(tmp_path / "fig.svg"), "--width", "\\columnwidth")
    assert done.returncode == 2 and not (tmp_path / "fig.svg").exists()
    assert len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(InputError):
        graphir.render(ONNX, tmp_path / "x.tex", width="wide")
    assert not (tmp_path / "x.tex").exists()


def test_font_family_and_size_reach_the_dot_source():
    dot = graphir.render(ONNX, format="dot", font="Times", font_size=8).decode()
    assert 'fontname="Times"' in dot or "fontname=Times" in dot
    assert "fontsize=8" in dot
    with pytest.raises(InputError, match="font-size"):
        graphir.render(ONNX, format="dot", font_size=500)


def test_graph_render_to_tex():
    G = graphir.load(ONNX)
    assert b"tikzpicture" in G.render(None, format="tex")
