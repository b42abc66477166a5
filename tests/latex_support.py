"""Compile TikZ figures with pdflatex/lualatex in article and two-column layouts.

Shared by tests/test_tikz.py and tests/test_blocks.py. Missing TeX tools make
the tests fail (never skip): run scripts/setup_latex.sh.
"""

import re
import shutil
import subprocess

import pytest

ENGINES = ("pdflatex", "lualatex")
#: layout -> (document class line, the width the figure is fitted to)
LAYOUTS = {
    "article": (r"\documentclass{article}", r"\linewidth"),
    "twocolumn": (r"\documentclass[twocolumn]{article}", r"\columnwidth"),
}
_BAD = ("Overfull \\hbox", "Missing character", "LaTeX Font Warning", "Undefined control sequence")


def require_tools(*tools):
    """Fail loudly when a TeX tool is missing."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run scripts/setup_latex.sh "
                    "(TikZ output is tested by compiling it)")


def document(layout, figure_name="fig"):
    """A paper page that measures the figure and places it in a figure float."""
    head, _ = LAYOUTS[layout]
    return "\n".join([
        head,
        r"\usepackage{amssymb}",
        r"\usepackage{tikz}",
        r"\tracinglostchars=1",
        r"\begin{document}",
        r"\newsavebox{\testbox}",
        r"\sbox{\testbox}{\input{" + figure_name + "}}",
        r"\typeout{TESTWIDTH=\the\wd\testbox}",
        r"\typeout{TESTHEIGHT=\the\ht\testbox}",
        r"\typeout{TESTCOLUMN=\the\columnwidth}",
        r"\typeout{TESTTEXTHEIGHT=\the\textheight}",
        r"\begin{figure}[t]\centering\input{" + figure_name + r"}\caption{A figure.}\end{figure}",
        "Text of the paper.",
        r"\end{document}",
    ]) + "\n"


def _pt(log, key):
    match = re.search(key + r"=([0-9.]+)pt", log)
    assert match, f"{key} not in the log"
    return float(match.group(1))


def compile_tex(folder, source, engine, name="doc", timeout=60):
    """Run ``engine`` on ``source`` in ``folder``; return the log text (asserts success)."""
    require_tools(engine)
    (folder / f"{name}.tex").write_text(source, encoding="utf-8")
    done = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                          cwd=folder, capture_output=True, timeout=timeout, check=False)
    log = (folder / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert done.returncode == 0, f"{engine} failed: {errors[:3] or done.stdout[-800:]}"
    return log


def compile_figure(folder, figure_tex, engine, layout):
    """Compile a figure inside a paper layout and check it.

    Asserts: one page, no overfull hbox / missing character / font
    substitution / undefined macro, and the figure no wider than the column
    and no taller than the text block. Returns the log and measurements.
    """
    (folder / "fig.tex").write_text(figure_tex, encoding="utf-8")
    log = compile_tex(folder, document(layout), engine)
    pages = re.search(r"Output written on \S+ \((\d+) page", log)
    assert pages and pages.group(1) == "1", f"{engine}/{layout}: not one page"
    bad = [line for line in log.splitlines() if any(word in line for word in _BAD)]
    assert not bad, f"{engine}/{layout}: {bad[:3]}"
    width, column = _pt(log, "TESTWIDTH"), _pt(log, "TESTCOLUMN")
    height, text_height = _pt(log, "TESTHEIGHT"), _pt(log, "TESTTEXTHEIGHT")
    assert width <= column + 0.01, f"{engine}/{layout}: figure {width}pt > column {column}pt"
    assert height <= text_height, f"{engine}/{layout}: figure {height}pt taller than the page"
    scaled = "graphir: figure scaled" in log
    return {"log": log, "width": width, "column": column, "height": height, "scaled": scaled}
