"""Render the README gallery into samples/gallery/ (deterministic; rerun after changes).

Usage::

    .venv/bin/python scripts/gallery.py            # write samples/gallery/*.png
    .venv/bin/python scripts/gallery.py --check    # exit 1 if a committed image is stale

Each entry is a small function returning PNG bytes, so ``--check`` can
re-render into memory and compare with the committed files.
"""

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphir  # noqa: E402

GALLERY = ROOT / "samples" / "gallery"


def resnet_tiny_onnx():
    """An ONNX file (no torch imported): clusters per module, shapes and weights."""
    return graphir.render(graphir.load(ROOT / "samples" / "resnet_tiny.onnx"), format="png")


def gpt2_12_folded():
    """A 12-layer GPT-2 from a factory: identical blocks folded ×12."""
    G = graphir.load(f"{ROOT}/samples/gpt2.py:gpt2_12")
    return graphir.render(G, format="png", depth=2)


def gpt2_attention_focus():
    """One sub-layer of a big model: --focus h.3.attn."""
    G = graphir.load(f"{ROOT}/samples/gpt2.py:gpt2_12")
    return graphir.render(G, format="png", focus="h.3.attn", rankdir="LR")


def resnet_tiny_paper():
    """The paper theme, left to right, for a figure."""
    G = graphir.load(ROOT / "samples" / "resnet_tiny.onnx")
    return graphir.render(G, format="png", theme="paper", rankdir="LR", depth=2)


def resnet_tiny_dark_stats():
    """Activation statistics: nodes coloured by the fraction of zeros, dark theme."""
    G = graphir.load(f"{ROOT}/samples/resnet.py:resnet_tiny", stats=True)
    return graphir.render(G, format="png", theme="dark", color_by="zeros", fold=False)


def gpt2_diff():
    """What changed between a 2-layer and a 3-layer GPT-2 (one block added)."""
    factory = ("from samples.gpt2 import gpt2_model, _example_inputs\n"
               "def two():\n    return gpt2_model(n_layer=2), _example_inputs()\n"
               "def three():\n    return gpt2_model(n_layer=3), _example_inputs()\n")
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "versions.py"
        path.write_text(factory)
        result = graphir.diff(f"{path}:two", f"{path}:three")
    return graphir.diff_report(result, format="png", depth=2)


def resnet18_state_dict():
    """A bare state_dict: the parameter tree, each module with its tensors."""
    import torch

    from samples.resnet import resnet18

    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "resnet18.pth"
        torch.save(resnet18().state_dict(), path)
        G = graphir.load(path)
    return graphir.render(G, format="png", max_nodes=0)


ENTRIES = [resnet_tiny_onnx, gpt2_12_folded, gpt2_attention_focus, resnet_tiny_paper,
           resnet_tiny_dark_stats, gpt2_diff, resnet18_state_dict]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed images instead of writing")
    parser.add_argument("names", nargs="*", help="only these entries")
    args = parser.parse_args(argv)
    entries = [e for e in ENTRIES if not args.names or e.__name__ in args.names]
    stale = []
    GALLERY.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        target = GALLERY / f"{entry.__name__}.png"
        data = entry()
        if args.check:
            if not target.exists() or target.read_bytes() != data:
                stale.append(target.name)
        else:
            graphir.api.write(data, target)
            print(f"wrote {target.relative_to(ROOT)} ({len(data) // 1024} KB)")
    if stale:
        print(f"stale gallery images: {', '.join(stale)}; run scripts/gallery.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
