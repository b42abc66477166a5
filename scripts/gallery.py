"""Render the README gallery into samples/gallery/ (deterministic; rerun after changes).

Usage::

    .venv/bin/python scripts/gallery.py                 # write samples/gallery/* (~30 s)
    .venv/bin/python scripts/gallery.py --check         # exit 1 if a committed file is stale
    .venv/bin/python scripts/gallery.py gpt2_diff       # only these entries

Each entry is a small function returning ``{file name: bytes}``, so
``--check`` re-renders into memory and compares with the committed files
byte for byte; running the script twice writes identical bytes.

PNGs larger than :data:`SHRINK_ABOVE` bytes are re-encoded as 256-colour
palette PNGs (Pillow's fast octree, alpha kept, no dithering): the drawings
have few colours, so they look the same at a third of the size. Everything
else is graphir's output unchanged.

``samples/gallery/MANIFEST.json`` lists every file with its size and SHA-256
and the versions that produced them (Graphviz, torch, matplotlib, Pillow):
another Graphviz or font set lays text out differently, so a byte
comparison only means something on the same versions (the test suite skips
it otherwise).
"""

import argparse
import functools
import hashlib
import io
import json
import pathlib
import platform
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphir  # noqa: E402

GALLERY = ROOT / "samples" / "gallery"
MANIFEST = "MANIFEST.json"
#: PNGs above this size are palette-quantized (see the module docstring).
SHRINK_ABOVE = 300_000
#: The themes shown side by side on the same sample.
THEMES = ("default", "paper", "mono", "colorblind", "dark")


def _shrink(png):
    """``png`` as a 256-colour palette PNG when it is large, else unchanged."""
    if len(png) <= SHRINK_ABOVE:
        return png
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    quantized = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE,
                               dither=Image.Dither.NONE)
    out = io.BytesIO()
    quantized.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png


@functools.lru_cache(maxsize=None)
def _load(spec, *input_shapes):
    return graphir.load(spec, input_shapes=list(input_shapes) or None)


def _tiny_onnx():
    return _load(str(ROOT / "samples" / "resnet_tiny.onnx"))


def _gpt2_12():
    return _load(f"{ROOT}/samples/gpt2.py:gpt2_12")


# ---- entries: each returns {file name: bytes} --------------------------------

def resnet_tiny_onnx():
    """An ONNX file (no torch imported): clusters per module, shapes and weights; PNG and SVG."""
    G = _tiny_onnx()
    return {"resnet_tiny_onnx.png": graphir.render(G, format="png"),
            "resnet_tiny_onnx.svg": graphir.render(G, format="svg")}


def resnet_tiny_themes():
    """The same ONNX sample in every other theme (default is resnet_tiny_onnx.png)."""
    G = _tiny_onnx()
    return {f"resnet_tiny_theme_{theme}.png": graphir.render(G, format="png", theme=theme)
            for theme in THEMES if theme != "default"}


def resnet_tiny_paper():
    """The paper theme, left to right, blocks as boxes: a figure for a paper."""
    return {"resnet_tiny_paper.png": graphir.render(_tiny_onnx(), format="png", theme="paper",
                                                    rankdir="LR", depth=2)}


def resnet18_folded():
    """ResNet-18 at 224×224, BasicBlocks as boxes (depth 2); layer1's two blocks fold ×2."""
    G = _load(f"{ROOT}/samples/resnet.py:resnet18", "1,3,224,224")
    return {"resnet18_folded.png": graphir.render(G, format="png", depth=2)}


def gpt2_12_folded():
    """A 12-layer GPT-2 from a factory, blocks as boxes: h.0 … h.11 ×12 (--depth 2)."""
    return {"gpt2_12_folded.png": graphir.render(_gpt2_12(), format="png", depth=2)}


def gpt2_12_block():
    """The default view of the 12-layer GPT-2: one block drawn in full, ×12."""
    return {"gpt2_12_block.png": graphir.render(_gpt2_12(), format="png")}


def gpt2_attention_focus():
    """One sub-layer of a big model: --focus h.3.attn."""
    return {"gpt2_attention_focus.png": graphir.render(_gpt2_12(), format="png",
                                                       focus="h.3.attn", rankdir="LR")}


def resnet_tiny_dark_stats():
    """Activation statistics: nodes coloured by the fraction of zeros, dark theme."""
    G = graphir.load(f"{ROOT}/samples/resnet.py:resnet_tiny", stats=True)
    return {"resnet_tiny_dark_stats.png": graphir.render(G, format="png", theme="dark",
                                                         color_by="zeros", fold=False)}


def gpt2_diff():
    """What changed between a 2-layer and a 3-layer GPT-2 (one block added)."""
    factory = ("from samples.gpt2 import gpt2_model, _example_inputs\n"
               "def two():\n    return gpt2_model(n_layer=2), _example_inputs()\n"
               "def three():\n    return gpt2_model(n_layer=3), _example_inputs()\n")
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "versions.py"
        path.write_text(factory)
        result = graphir.diff(f"{path}:two", f"{path}:three")
    return {"gpt2_diff.png": graphir.diff_report(result, format="png", depth=2)}


def resnet18_state_dict():
    """A bare state_dict: the parameter tree, each module with its tensors."""
    import torch

    from samples.resnet import resnet18

    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "resnet18.pth"
        torch.save(resnet18().state_dict(), path)
        G = graphir.load(path)
    return {"resnet18_state_dict.png": graphir.render(G, format="png", max_nodes=0)}


def vit_attention():
    """Attention of the bundled trained ViT on a white square in the lower right."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        image = Image.new("L", (28, 28), 0)
        image.paste(255, (17, 17, 24, 24))            # a 7×7 white square
        image.save(folder / "square.png")
        graphir.attention(f"{ROOT}/samples/vit.py:vit_trained", folder / "attention",
                          image=str(folder / "square.png"))
        return {"vit_attention_layers.png":
                (folder / "attention" / "layers_evolution.png").read_bytes(),
                "vit_attention_layer5_heads.png":
                (folder / "attention" / "layer_5_heads.png").read_bytes()}


ENTRIES = [resnet_tiny_onnx, resnet_tiny_themes, resnet_tiny_paper, resnet18_folded,
           gpt2_12_folded, gpt2_12_block, gpt2_attention_focus, resnet_tiny_dark_stats,
           gpt2_diff, resnet18_state_dict, vit_attention]


# ---- manifest, check, write ------------------------------------------------------

def environment():
    """Versions that decide the bytes of the images."""
    import matplotlib
    import PIL
    import torch

    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=False)
    return {"graphviz": (dot.stderr or dot.stdout).strip(), "torch": torch.__version__,
            "matplotlib": matplotlib.__version__, "pillow": PIL.__version__,
            "machine": platform.machine()}


def render(entries):
    """``{file name: bytes}`` of the given entries (large PNGs shrunk)."""
    files = {}
    for entry in entries:
        for name, data in entry().items():
            files[name] = _shrink(data) if name.endswith(".png") else data
    return files


def manifest_text(files, env):
    listing = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
               for name, data in sorted(files.items())}
    return json.dumps({"environment": env, "files": listing}, indent=1, sort_keys=True) + "\n"


def read_manifest(folder=GALLERY):
    path = folder / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def check(files, complete, folder=GALLERY):
    """Names of committed files that differ from ``files`` (and orphans when ``complete``)."""
    stale = sorted(name for name, data in files.items()
                   if not (folder / name).is_file() or (folder / name).read_bytes() != data)
    if complete:
        committed = {p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST}
        stale += sorted(f"{name} (not made by any entry)" for name in committed - set(files))
        manifest = read_manifest(folder)
        listing = json.loads(manifest_text(files, {}))["files"]
        if manifest is None or manifest.get("files") != listing:
            stale.append(MANIFEST)
    return stale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed files instead of writing (exit 1 if stale)")
    parser.add_argument("names", nargs="*", help="only these entries (default: all)")
    args = parser.parse_args(argv)
    known = {entry.__name__: entry for entry in ENTRIES}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown entries {', '.join(unknown)}; known: {', '.join(known)}")
    entries = [known[name] for name in args.names] or ENTRIES
    complete = not args.names
    files = render(entries)
    env = environment()
    if args.check:
        stale = check(files, complete)
        if stale:
            committed_env = (read_manifest() or {}).get("environment")
            note = ("" if committed_env in (None, env) else
                    f" (committed with {committed_env}, this machine has {env})")
            print(f"stale gallery files: {', '.join(stale)}{note}; "
                  "run .venv/bin/python scripts/gallery.py", file=sys.stderr)
            return 1
        print(f"gallery is current ({len(files)} files checked)")
        return 0
    GALLERY.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(files.items()):
        target = GALLERY / name
        if not target.is_file() or target.read_bytes() != data:
            graphir.api.write(data, target)
        print(f"{target.relative_to(ROOT)}  {len(data) // 1024} KB")
    listed = files
    if complete:
        for orphan in sorted(set(p.name for p in GALLERY.iterdir() if p.is_file())
                             - set(files) - {MANIFEST}):
            (GALLERY / orphan).unlink()
            print(f"removed {orphan} (no entry makes it)")
    else:  # keep the other entries' files in the manifest
        listed = {p.name: p.read_bytes() for p in GALLERY.iterdir()
                  if p.is_file() and p.name != MANIFEST}
    graphir.api.write(manifest_text(listed, env), GALLERY / MANIFEST)
    total = sum(p.stat().st_size for p in GALLERY.iterdir() if p.is_file())
    print(f"{len(files)} files, gallery total {total // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
