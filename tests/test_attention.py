"""Attention overlay (graphir.overlay): capture, statistics, figures and report.

The three sample runs (vit_tiny on an image, hf_vit_tiny, gpt2_tiny) are
module-scoped fixtures: drawing is the slow part.
"""

import ast
import json
import math
import pathlib

import numpy as np
import pytest
torch = pytest.importorskip("torch")  # an ONNX-only install skips this module
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import nn

from graphir.errors import InputError
from graphir.overlay import (REPORT_SCHEMA, capture_attention, head_statistics,
                             infer_patch_grid, load_image, run_attention)
from graphir.overlay import report as report_module
from graphir.overlay.attention import sdpa_probabilities
from samples.gpt2 import gpt2_tiny
from samples.resnet import resnet_tiny
from samples.vit import hf_vit_tiny, vit_tiny

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "graphir" / "overlay"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _blob_png(path, size=(64, 48)):
    """An RGB image (width 64, height 48), dark with a bright square lower right."""
    pixels = np.full((size[1], size[0], 3), 20, dtype=np.uint8)
    pixels[30:44, 40:58] = (250, 240, 200)
    Image.fromarray(pixels).save(path)
    return path


def _statistics_rows(markdown):
    section = markdown.split("## Statistics", 1)[1]
    return [line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| layer")]


@pytest.fixture(scope="module")
def vit_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vit")
    image = _blob_png(folder / "blob.png")
    model, args = vit_tiny()
    result = run_attention(model, args, None, folder / "out", image_path=image, name="vit_tiny")
    return result, folder / "out"


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory):
    model, args = hf_vit_tiny()
    out = tmp_path_factory.mktemp("hf") / "out"
    return run_attention(model, args, None, out, name="hf_vit_tiny"), out


@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory):
    model, args = gpt2_tiny()
    out = tmp_path_factory.mktemp("gpt2") / "out"
    return run_attention(model, args, None, out, name="gpt2_tiny"), out


# --------------------------------------------------------------------------
# Capture
# --------------------------------------------------------------------------

def test_vit_tiny_gives_six_layers_of_four_heads_whose_rows_sum_to_one():
    model, args = vit_tiny()
    captures = capture_attention(model, args)
    assert [c.module_path for c in captures] == [f"blocks.{k}.attn" for k in range(6)]
    assert [c.layer_index for c in captures] == list(range(6))
    for capture in captures:
        assert capture.source == "mha"
        assert capture.probs.shape == (4, 17, 17)
        np.testing.assert_allclose(capture.probs.sum(axis=-1), 1.0, atol=1e-5)
        assert (capture.probs >= 0).all()


def test_hooks_are_removed_and_the_model_computes_the_same_afterwards():
    model, (x,) = vit_tiny()
    model.train()
    with torch.no_grad():
        model.eval()
        before = model(x)
        model.train()
    capture_attention(model, (x,))
    for sub in model.modules():
        assert not sub._forward_hooks and not sub._forward_pre_hooks
        assert not sub._forward_hooks_with_kwargs and not sub._forward_pre_hooks_with_kwargs
        assert sub.training, "training flags are restored"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), before)


class _MHACaller(nn.Module):
    """Calls one nn.MultiheadAttention the ways user code does."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.seen = {}

    def forward(self, x):
        self.seen["default"] = self.attn(x, x, x)
        self.seen["positional_no_weights"] = self.attn(x, x, x, None, False)
        self.seen["per_head"] = self.attn(x, x, x, average_attn_weights=False)
        self.seen["no_weights"] = self.attn(x, x, x, need_weights=False)
        return self.seen["default"][0]


def test_multihead_attention_still_returns_what_each_caller_asked_for():
    torch.manual_seed(0)
    caller, x = _MHACaller().eval(), torch.randn(1, 5, 16)
    with torch.no_grad():
        caller(x)
    expected = dict(caller.seen)
    captures = capture_attention(caller, (x,))
    assert len(captures) == 4 and {c.source for c in captures} == {"mha"}
    for key, (output, weights) in caller.seen.items():
        torch.testing.assert_close(output, expected[key][0])
        if expected[key][1] is None:
            assert weights is None, key
        else:
            assert weights.shape == expected[key][1].shape, key
            torch.testing.assert_close(weights, expected[key][1])
    assert caller.seen["default"][1].shape == (1, 5, 5)
    assert caller.seen["per_head"][1].shape == (1, 2, 5, 5)


def test_transformer_encoder_fast_path_is_bypassed_and_captured():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    captures = capture_attention(encoder, (torch.randn(1, 10, 32),))
    assert [c.module_path for c in captures] == ["layers.0.self_attn", "layers.1.self_attn"]
    assert captures[0].probs.shape == (4, 10, 10)


def test_hf_vit_softmax_and_sdpa_give_the_same_maps():
    eager = capture_attention(*hf_vit_tiny("eager"))
    sdpa = capture_attention(*hf_vit_tiny("sdpa"))
    assert [c.module_path for c in eager] == [f"encoder.layer.{k}.attention.attention"
                                              for k in range(3)]
    assert {c.source for c in eager} == {"softmax"} and {c.source for c in sdpa} == {"sdpa"}
    for a, b in zip(eager, sdpa):
        assert a.module_path == b.module_path and a.probs.shape == (4, 17, 17)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)


@pytest.mark.parametrize("case", ["plain", "causal", "bool_mask", "float_mask", "gqa", "scale"])
def test_sdpa_probabilities_reproduce_scaled_dot_product_attention(case):
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(2, 4, 6, 8, generator=generator)
    k = torch.randn(2, 2 if case == "gqa" else 4, 7, 8, generator=generator)
    v = torch.randn(2, k.size(1), 7, 5, generator=generator)
    kwargs = {}
    if case == "causal":
        k, v = k[:, :, :6], v[:, :, :6]
        kwargs["is_causal"] = True
    elif case == "bool_mask":
        kwargs["attn_mask"] = torch.rand(2, 1, 6, 7, generator=generator) > 0.3
        kwargs["attn_mask"][..., 0] = True
    elif case == "float_mask":
        kwargs["attn_mask"] = torch.randn(6, 7, generator=generator)
    elif case == "gqa":
        kwargs["enable_gqa"] = True
    elif case == "scale":
        kwargs["scale"] = 0.5
    expected = nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)[0]
    probs = sdpa_probabilities(torch, q, k, attn_mask=kwargs.get("attn_mask"),
                               is_causal=kwargs.get("is_causal", False),
                               scale=kwargs.get("scale"))
    heads_v = v[0].repeat_interleave(q.size(1) // v.size(1), dim=0)
    torch.testing.assert_close(probs @ heads_v, expected, atol=1e-5, rtol=1e-5)


def test_model_without_attention_is_refused_and_writes_nothing(tmp_path):
    model, args = resnet_tiny()
    existing, missing = tmp_path / "existing", tmp_path / "missing"
    existing.mkdir()
    for out in (existing, missing):
        with pytest.raises(InputError) as caught:
            run_attention(model, args, None, out, name="samples/resnet.py:resnet_tiny")
        message = str(caught.value)
        assert message.startswith("samples/resnet.py:resnet_tiny: found no attention "
                                  "probabilities")
        assert "attention needs a transformer model" in message and "\n" not in message
    assert list(existing.iterdir()) == [] and not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def test_vit_report_has_every_file_and_24_rows_of_bounded_entropy(vit_run):
    result, out = vit_run
    names = sorted(pathlib.Path(f).name for f in result.files)
    assert names == sorted([f"layer_{k}_heads.png" for k in range(6)]
                           + ["layers_evolution.png", "stats.png", "attention.json",
                              "report.md"])
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == PNG_MAGIC
            with Image.open(out / name) as image:
                assert image.size[0] > 600 and image.size[1] > 250
    rows = _statistics_rows((out / "report.md").read_text(encoding="utf-8"))
    assert len(rows) == 24 and result.layers == 6 and result.heads == [4] * 6
    bound = math.log(17)
    for row in result.stats:
        assert 0.0 <= row["entropy"] <= bound
        assert 1 / 17 - 1e-6 <= row["mean_row_max"] <= row["max"] <= 1.0
    cells = [float(r.split("|")[6]) for r in rows]
    assert all(0.0 <= value <= bound for value in cells)


def test_vit_report_json_and_markdown_say_what_was_drawn(vit_run):
    result, out = vit_run
    data = json.loads((out / "attention.json").read_text(encoding="utf-8"))
    assert data["schema"] == REPORT_SCHEMA and data["model"] == "vit_tiny"
    assert len(data["heads"]) == 24 and len(data["layers"]) == 6
    assert data["layers"][0]["patch_grid"] == {"prefix_tokens": 1, "rows": 4, "cols": 4}
    assert data["layers"][0]["entropy_bound"] == pytest.approx(math.log(17), abs=1e-6)
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "image blob.png, resized to 28 × 28, 1 channel" in markdown
    assert "4 × 4 patch grid" in markdown and "`blocks.5.attn`" in markdown
    assert result.layout == "patches"


def test_image_is_resized_converted_and_normalised(tmp_path):
    path = _blob_png(tmp_path / "blob.png")
    pixels, display = load_image(path, (28, 28), 1)
    assert pixels.shape == (1, 1, 28, 28) and display.shape == (28, 28)
    assert pixels.min() == pytest.approx((20 / 255 - 0.5) / 0.5, abs=0.02)
    assert pixels[0, 0, 22, 24] > 0.8, "the bright square is in the lower right"
    rgb, shown = load_image(path, (32, 40), 3)
    assert rgb.shape == (1, 3, 32, 40) and shown.shape == (32, 40, 3)
    white = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(rgb[0, :, 24, 30], (np.array([250, 240, 200]) / 255
                                                   - [0.485, 0.456, 0.406])
                               / [0.229, 0.224, 0.225], atol=0.05)
    assert rgb.max() <= white.max() + 1e-5


def test_image_changes_the_maps_the_model_computes(vit_run):
    result, _ = vit_run
    model, args = vit_tiny()
    on_example = capture_attention(model, args)
    assert not np.allclose(on_example[0].probs, result.captures[0].probs)


@pytest.mark.parametrize("content,fragment", [
    (None, "no such image file"),
    (b"not an image at all", "cannot be read as an image"),
])
def test_bad_image_file_is_one_line_input_error(tmp_path, content, fragment):
    path = tmp_path / "picture.png"
    if content is not None:
        path.write_bytes(content)
    model, args = vit_tiny()
    with pytest.raises(InputError, match=fragment) as caught:
        run_attention(model, args, None, tmp_path / "out", image_path=path)
    assert str(caught.value).startswith(str(path)) and not (tmp_path / "out").exists()


def test_image_for_a_text_model_is_refused(tmp_path):
    model, args = gpt2_tiny()
    with pytest.raises(InputError, match="no image input"):
        run_attention(model, args, None, tmp_path / "out",
                      image_path=_blob_png(tmp_path / "a.png"))


def test_hf_vit_report_draws_patch_maps(hf_run):
    result, out = hf_run
    assert result.layout == "patches" and result.layers == 3
    assert {c.source for c in result.captures} == {"softmax"}
    assert (out / "layer_2_heads.png").read_bytes()[:8] == PNG_MAGIC
    assert len(_statistics_rows((out / "report.md").read_text(encoding="utf-8"))) == 12


def test_gpt2_report_draws_causal_token_matrices(gpt2_run):
    result, out = gpt2_run
    assert result.layout == "tokens" and result.layers == 2 and result.heads == [4, 4]
    for capture in result.captures:
        assert capture.module_path.endswith(".attn") and capture.probs.shape == (4, 16, 16)
        assert np.allclose(np.triu(capture.probs, k=1), 0.0), "causal: no weight on the future"
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "query × key token matrix" in markdown and "int64 [1, 16]" in markdown
    data = json.loads((out / "attention.json").read_text(encoding="utf-8"))
    assert data["layers"][0]["layout"] == "tokens" and data["layers"][0]["patch_grid"] is None


def test_output_is_deterministic_and_other_files_are_kept(gpt2_run, tmp_path):
    _, first = gpt2_run
    second = tmp_path / "again"
    second.mkdir()
    (second / "notes.txt").write_text("mine", encoding="utf-8")
    model, args = gpt2_tiny()
    run_attention(model, args, None, second, name="gpt2_tiny")
    assert (second / "notes.txt").read_text(encoding="utf-8") == "mine"
    for path in first.iterdir():
        assert (second / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_failure_while_drawing_leaves_no_folder(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(report_module, "plot_statistics", broken)
    model, args = gpt2_tiny()
    with pytest.raises(RuntimeError, match="drawing failed"):
        run_attention(model, args, None, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [], "neither the folder nor the staging folder is left"


# --------------------------------------------------------------------------
# Pieces
# --------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.floats(0.01, 30.0),
       st.integers(0, 2 ** 31 - 1))
def test_head_statistics_stay_within_bounds(heads, queries, keys, temperature, seed):
    logits = np.random.default_rng(seed).normal(size=(heads, queries, keys)) * temperature
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    stats = head_statistics(probs)
    assert (stats["entropy"] >= -1e-9).all() and (stats["entropy"] <= math.log(keys) + 1e-9).all()
    assert (stats["max"] <= 1 + 1e-9).all() and (stats["mean_row_max"] >= 1 / keys - 1e-9).all()


@pytest.mark.parametrize("tokens,image_hw,expected", [
    (17, (28, 28), (1, 4, 4)), (197, (224, 224), (1, 14, 14)), (196, None, (0, 14, 14)),
    (198, (224, 224), (2, 14, 14)), (1 + 6 * 8, (96, 128), (1, 6, 8)), (16 + 3, None, None),
])
def test_patch_grid_is_inferred_from_the_token_count(tokens, image_hw, expected):
    assert infer_patch_grid(tokens, image_hw) == expected


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, id(node) in top_level) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, id(node) in top_level


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_overlay_imports_only_the_core_and_heavy_packages_lazily(path):
    allowed = {"ir", "serialize", "errors", "overlay", "util"}
    lazy = {"torch", "matplotlib", "PIL", "torchvision", "transformers"}
    for module, top_level in _imports(path):
        names = module.split(".")
        if names[0] == "graphir":
            assert len(names) > 1 and names[1] in allowed, f"{path.name} imports {module}"
        if names[0] in lazy:
            assert not top_level, f"{path.name} imports {module} at module level"
