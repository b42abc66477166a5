"""Block diagrams (graphir.passes.blocks + graphir.renderers.blocks).

The four architectures papers draw — a ResNet, a U-Net with long skips, a
ViT and a decoder-only LM — must come out as 5–25 blocks with the right
repeats, residual marks and skip arcs, and compile with pdflatex and
lualatex: LR at \\linewidth in an article, TB at \\columnwidth in a
two-column paper (there unscaled, so block text stays \\footnotesize = 8 pt).
"""

import importlib.util
import pathlib

import pytest
import torch
from torch import nn

import graphir
from graphir.errors import InputError
from graphir.passes.blocks import block_depth, block_view
from graphir.renderers.backend import render_bytes
from graphir.renderers.blocks import block_layout, blocks_to_dot, blocks_to_tikz

_SPEC = importlib.util.spec_from_file_location(
    "latex_support", pathlib.Path(__file__).with_name("latex_support.py"))
latex_support = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(latex_support)
ENGINES = latex_support.ENGINES


def _resnet():
    from samples.resnet import resnet_tiny

    return graphir.convert(*resnet_tiny())


def _unet():
    from samples.unet import unet_tiny

    return graphir.convert(*unet_tiny())


def _vit():
    from samples.vit import vit_tiny

    model, example = vit_tiny()
    return graphir.convert(model, example)


def _gpt2():
    from samples.gpt2 import _example_inputs, gpt2_lm

    ids, _ = _example_inputs()
    return graphir.convert(gpt2_lm(n_layer=3), (ids,))


class _Odd(nn.Module):
    """Module names holding _ # % & $ (legal for add_module)."""

    def __init__(self):
        super().__init__()
        for k, name in enumerate(["stem_1", "block#2", "mix%&", "head$"]):
            self.add_module(name, nn.Linear(4, 4))

    def forward(self, x):
        for module in self.children():
            x = torch.relu(module(x))
        return x


MODELS = {"resnet": _resnet, "unet": _unet, "vit": _vit, "gpt2": _gpt2}


@pytest.fixture(scope="module")
def irs():
    """IRs of the four architectures, made once."""
    return {name: make() for name, make in MODELS.items()}


@pytest.fixture(scope="module")
def blocks(irs):
    """Their block views."""
    return {name: block_view(G) for name, G in irs.items()}


def _by_title(B):
    return {b["title"]: b for _, b in B.nodes(data="block")}


def test_block_counts_are_in_range(blocks):
    for name, B in blocks.items():
        assert 5 <= B.graph["blocks"]["count"] <= 25, name
        assert list(B.nodes)[0].startswith("input:"), name


def test_resnet_stages_are_residual_and_repeated(blocks):
    B = blocks["resnet"]
    titles = _by_title(B)
    assert B.graph["blocks"]["depth"] == 1
    for stage in ("layer1", "layer2"):
        assert titles[stage]["residual"] and titles[stage]["role"] == "BasicBlock"
    assert titles["conv1"]["role"] == "Conv2d" and not titles["conv1"]["residual"]
    assert titles["layer1"]["shape"] == [1, 8, 8, 8]
    assert not any(b["symbol"] for _, b in B.nodes(data="block"))  # flatten dropped


def test_unet_long_skips_are_arcs(blocks):
    B = blocks["unet"]
    edges = {(B.nodes[u]["block"]["title"], B.nodes[v]["block"]["title"]) for u, v in B.edges()}
    assert {("inc", "up3"), ("down1", "up2"), ("down2", "up1")} <= edges
    layout = block_layout(B)
    assert len(layout["arcs"]) == 3
    levels = sorted(arc[4] for arc in layout["arcs"])
    assert levels[0] < levels[1] < levels[2]           # nested spans on separate levels


def test_vit_blocks_fold_and_ops_become_symbols(blocks):
    titles = _by_title(blocks["vit"])
    assert titles["blocks"]["repeat"] == 6 and titles["blocks"]["residual"]
    assert titles["cat"]["symbol"] == "C" and titles["add"]["symbol"] == "+"


def test_gpt2_embeddings_and_repeated_decoder_blocks(blocks):
    B = blocks["gpt2"]
    titles = _by_title(B)
    assert {"wte", "wpe", "h", "ln_f", "lm_head"} <= set(titles)
    assert titles["h"]["repeat"] == 3 and titles["h"]["role"] == "GPT2Block"
    assert titles["h"]["residual"]


def test_block_depth_picks_the_shallowest_depth_in_range(irs):
    G = irs["gpt2"]
    assert block_depth(G) == 2                        # depth 1: transformer + lm_head only
    assert block_depth(G, lo=1, hi=3) == 1
    with pytest.raises(InputError):
        block_view(G, depth=0)


def test_tikz_styles_3d_boxes_and_determinism(blocks, irs):
    B = blocks["unet"]
    text = blocks_to_tikz(B, boxes3d=True)
    assert text == blocks_to_tikz(B, boxes3d=True)
    assert "graphir block conv/.style" in text and "graphir block skip/.style" in text
    assert text.count(r"\filldraw[graphir block face") == 3 * 8   # 8 4-D blocks, 3 faces
    assert r"$16{\times}64{\times}64$" in text                   # batch dim dropped
    flat = blocks_to_tikz(B)
    assert "filldraw" not in flat and "rotate=90" in flat
    assert "rotate=-90" in blocks_to_tikz(B, rankdir="TB")
    with pytest.raises(InputError):
        blocks_to_tikz(B, rankdir="RL")
    with pytest.raises(InputError, match="block view"):
        block_layout(irs["resnet"])


def test_graphviz_outputs(blocks):
    B = blocks["resnet"]
    svg = render_bytes(blocks_to_dot(B), "svg").decode()
    assert "layer1" in svg and "BasicBlock ×2" in svg and "rotate(-90" in svg
    assert render_bytes(blocks_to_dot(B, rankdir="TB", boxes3d=True), "png")[:4] == b"\x89PNG"
    assert render_bytes(blocks_to_dot(B, font="Times", font_size=7), "pdf")[:5] == b"%PDF-"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_blocks_compile_in_a_paper(name, engine, blocks, tmp_path):
    B = blocks[name]
    wide = latex_support.compile_figure(
        tmp_path, blocks_to_tikz(B, width=r"\linewidth", boxes3d=name in ("resnet", "unet")),
        engine, "article")
    assert wide["width"] > 100
    column = latex_support.compile_figure(
        tmp_path, blocks_to_tikz(B, width=r"\columnwidth", rankdir="TB"), engine, "twocolumn")
    assert not column["scaled"], f"{name}: TB block diagram had to shrink below 8 pt"


@pytest.mark.parametrize("engine", ENGINES)
def test_special_module_names_compile(engine, tmp_path):
    G = graphir.convert(_Odd(), torch.randn(1, 4))
    B = block_view(G, depth=1)
    titles = _by_title(B)
    assert {"stem_1", "block#2", "mix%&", "head$"} <= set(titles)
    text = blocks_to_tikz(B, width=r"\columnwidth", rankdir="TB")
    assert r"\textbf{mix\%\&}" in text and r"\textbf{head\$}" in text
    latex_support.compile_figure(tmp_path, text, engine, "twocolumn")
