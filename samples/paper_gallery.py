"""Make the paper gallery: TikZ figures and block diagrams of four architectures.

Writes ``samples/gallery/paper/*.png`` (pdflatex → ``pdftoppm -r 100``) and
the ``.tex`` sources next to them, and prints, per figure, the width it has
in a two-column paper and the size its text ends up at.

Run: ``PYTHONPATH=. python samples/paper_gallery.py`` (needs pdflatex and
pdftoppm: scripts/setup_latex.sh).
"""

import pathlib
import re
import subprocess
import sys
import tempfile

import torch

import graphir
from graphir.passes.blocks import block_view
from graphir.renderers.backend import render_bytes
from graphir.renderers.blocks import blocks_to_dot, blocks_to_tikz
from graphir.renderers.tikz import to_tikz

OUT = pathlib.Path(__file__).resolve().parent / "gallery" / "paper"
PAPER = r"""\documentclass[twocolumn]{article}
\usepackage{amssymb}
\usepackage{tikz}
\begin{document}
\newsavebox{\measure}
\sbox{\measure}{\input{fig}}
\typeout{FIG=\the\wd\measure}
\typeout{COL=\the\columnwidth}
\typeout{TEXT=\the\textwidth}
\end{document}
"""


def models():
    from samples.gpt2 import _example_inputs, gpt2_lm
    from samples.resnet import resnet18
    from samples.unet import unet_tiny
    from samples.vit import vit_tiny

    ids, _ = _example_inputs()
    return {
        "resnet18": graphir.convert(resnet18().eval(), torch.randn(1, 3, 224, 224),
                                    name="ResNet-18"),
        "unet": graphir.convert(*unet_tiny(), name="U-Net"),
        "vit": graphir.convert(*vit_tiny(), name="ViT"),
        "gpt2": graphir.convert(gpt2_lm(n_layer=12), (ids,), name="GPT-2 (12 layers)"),
    }


def compile_png(tex, name):
    """Compile a standalone figure to OUT/name.png; return its size in KB."""
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        (folder / "f.tex").write_text(tex, encoding="utf-8")
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                       cwd=folder, check=True, capture_output=True, timeout=120)
        subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", "f.pdf", "f"],
                       cwd=folder, check=True, capture_output=True, timeout=120)
        data = (folder / "f.png").read_bytes()
    (OUT / f"{name}.png").write_bytes(data)
    (OUT / f"{name}.tex").write_text(tex, encoding="utf-8")
    return len(data) // 1024


def measure(figure):
    """(natural width, column width, text width) in pt of a figure in a two-column paper."""
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        (folder / "fig.tex").write_text(figure, encoding="utf-8")
        (folder / "p.tex").write_text(PAPER, encoding="utf-8")
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "p.tex"], cwd=folder,
                       check=True, capture_output=True, timeout=120)
        log = (folder / "p.log").read_text(errors="replace")
    return [float(re.search(key + r"=([0-9.]+)pt", log).group(1)) for key in ("FIG", "COL", "TEXT")]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    depths = {"resnet18": 2, "unet": 2, "vit": 2, "gpt2": 3}
    for name, G in models().items():
        rows = []
        V = graphir.view(G, depth=depths[name])
        rows.append(("tikz", to_tikz(V), 9))
        B = block_view(G)
        boxes = name in ("resnet18", "unet")
        rows.append(("blocks", blocks_to_tikz(B), 8))
        rows.append(("blocks_tb", blocks_to_tikz(B, rankdir="TB"), 8))
        if boxes:
            rows.append(("blocks_3d", blocks_to_tikz(B, boxes3d=True), 8))
        for kind, figure, size in rows:
            natural, column, text = measure(figure)
            kb = compile_png(_standalone(figure), f"{name}_{kind}")
            at_col = size * min(1, column / natural)
            at_text = size * min(1, text / natural)
            print(f"{name}_{kind}: {natural:.0f}pt wide, {kb} KB; text {at_col:.1f}pt at "
                  f"\\columnwidth, {at_text:.1f}pt at \\textwidth")
        png = render_bytes(blocks_to_dot(B, theme="paper"), "png")
        (OUT / f"{name}_blocks_graphviz.png").write_bytes(png)
        print(f"{name}_blocks_graphviz: {len(png) // 1024} KB")
    return 0


def _standalone(figure):
    from graphir.renderers.latex import wrap_document

    return wrap_document(figure)


if __name__ == "__main__":
    sys.exit(main())
