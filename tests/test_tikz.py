"""TikZ output (graphir.renderers.tikz): LaTeX text, Graphviz layout, compiles.

Every figure is compiled with pdflatex and lualatex, in a one-column article
(fitted to \\linewidth) and a two-column paper (fitted to \\columnwidth):
one page, inside the column, no overfull boxes or missing characters.
LaTeX missing is a failure (scripts/setup_latex.sh installs it).
"""

import importlib.util
import pathlib
import subprocess

import pytest

from graphir import ir
from graphir.errors import InputError
from graphir.renderers.dot import to_dot
from graphir.renderers.latex import escape_latex, params_math, shape_math
from graphir.renderers.tikz import to_tikz

_SPEC = importlib.util.spec_from_file_location(
    "latex_support", pathlib.Path(__file__).with_name("latex_support.py"))
latex_support = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(latex_support)
ENGINES, LAYOUTS = latex_support.ENGINES, latex_support.LAYOUTS
compile_figure, compile_tex = latex_support.compile_figure, latex_support.compile_tex
require_tools = latex_support.require_tools

SPECIAL = "enc_1#a%b&c$d"
SPECIAL2 = "dec~^{x}\\y"


@pytest.fixture(scope="module")
def resnet_ir():
    import graphir
    from samples.resnet import resnet_tiny

    model, example = resnet_tiny()
    return graphir.convert(model, example)


@pytest.fixture(scope="module")
def resnet_view(resnet_ir):
    import graphir

    return graphir.view(resnet_ir, depth=2)


def special_ir():
    """An IR whose module and op names hold every LaTeX special character."""
    G = ir.new_graph("onnx", "odd_names & $pecial")
    x = ir.add_node(G, "input:x_in", kind="input", op="input", name="x_in#1",
                    outputs=[ir.tensor("float32", ["batch", 3, 8, 8])])
    prev = x
    states = iter(["added", "removed", "changed", "same", "same", "same"])
    for k, (path, mtype) in enumerate([(SPECIAL, "Conv_2d%"), (SPECIAL + ".sub", "Re&Lu"),
                                       (SPECIAL2, "Odd$Type")]):
        scope = [[SPECIAL, "Conv_2d%"]] if k < 2 else [[SPECIAL2, "Odd$Type"]]
        if k == 1:
            scope.append([path, mtype])
        for j in range(2):
            node = ir.add_node(G, f"{path}/op_{j}#0", kind="op", op=f"my_op{j}#%&",
                               name=f"n{k}{j}", module=path, module_type=mtype, scope=scope,
                               outputs=[ir.tensor("float32", ["batch", 3, 8, 8])],
                               params={f"{path}.w_{j}$": {"shape": [3, 3], "dtype": "float32"}},
                               diff=next(states))
            ir.add_edge(G, prev, node)
            prev = node
    y = ir.add_node(G, "output:y", kind="output", op="output", name="y~^",
                    outputs=[ir.tensor("float32", ["batch", 3, 8, 8])])
    ir.add_edge(G, prev, y)
    G.graph["outputs"] = [y]
    G.graph["inputs"] = [x]
    ir.validate(G)
    return G


def test_escape_latex_makes_every_special_character_printable():
    text = escape_latex("a_b#c%d&e$f{g}h~i^j\\k<l>m|n")
    for raw in "_#%&${}":
        assert "\\" + raw in text
    assert r"\~{}" in text and r"\^{}" in text
    assert r"\textbackslash{}" in text and r"\ensuremath{<}" in text
    assert escape_latex("h.0 … h.11 ×2 é") == r"h.0 \ldots{} h.11 \ensuremath{\times}2 ?"
    assert escape_latex("a--b") == "a-{}-{}b"


def test_shapes_and_weights_are_maths():
    assert shape_math([1, 64, 56, 56]) == r"$1{\times}64{\times}56{\times}56$"
    assert shape_math(["batch", None, 3]) == r"$\mathrm{batch}{\times}?{\times}3$"
    assert shape_math(["s_0#"]) == r"$\mbox{s\_0\#}$"
    lines = params_math({"c.weight": {"shape": [64, 3, 7, 7]}, "c.bias": {"shape": [64]}})
    assert lines == [r"$W \in \graphirR^{64\times 3\times 7\times 7}$",
                     r"$b \in \graphirR^{64}$"]
    bn = params_math({f"bn.{n}": {"shape": [8]} for n in
                      ("weight", "bias", "running_mean", "running_var")})
    assert bn == [r"$W, b, \mu, \sigma^2 \in \graphirR^{8}$"]


def test_tikz_has_named_styles_graphviz_coordinates_and_is_deterministic(resnet_view):
    text = to_tikz(resnet_view)
    assert text == to_tikz(resnet_view)
    for style in ("graphir conv/.style", "graphir norm/.style", "graphir input/.style",
                  "graphir module/.style", "graphir edge/.style", "graphir cluster0/.style"):
        assert style in text
    assert r"\begin{tikzpicture}[x=1bp, y=1bp]" in text
    assert r"$1{\times}8{\times}16{\times}16$" in text          # conv1 output as maths
    assert r"$W \in \graphirR^{8\times 3\times 7\times 7}$" in text
    assert r"\textbf{$\times2$}" in text                           # folded layer1.0 … layer1.1
    assert ".. controls" in text                                   # Graphviz's Bézier edges
    assert "documentclass" not in text
    # the layout is Graphviz's: node centres equal dot -Tjson's positions
    from graphir.renderers.backend import layout_json
    from graphir.renderers.themes import with_font

    dot = to_dot(resnet_view, theme=with_font("paper", "Helvetica"), show="shapes,params",
                 title="")
    pos = {o["name"]: o["pos"] for o in layout_json(dot)["objects"] if "pos" in o}
    x, y = pos["conv1/conv2d#0"].split(",")
    assert f"at ({float(x):g},{float(y):g})" in text


def test_color_by_fills_and_readable_ink(resnet_view):
    text = to_tikz(resnet_view, color_by="params")
    assert "fill=graphir fill " in text
    # the darkest fill gets white ink, detail lines included
    assert "text=graphir ink FFFFFF" in text
    assert r"\graphirdetail\color{graphir ink FFFFFF}" in text


def test_tikz_width_and_errors(resnet_view):
    text = to_tikz(resnet_view, width=r"\columnwidth")
    assert r"\resizebox{\columnwidth}{!}" in text
    with pytest.raises(InputError, match="not a TeX length"):
        to_tikz(resnet_view, width="wide")


def test_to_dot_takes_font_and_size(resnet_view):
    dot = to_dot(resnet_view, theme="paper", font="Helvetica", font_size=8)
    assert 'fontname=Helvetica' in dot and "fontsize=8" in dot
    assert "fontname=Times" not in dot
    with pytest.raises(InputError, match="font size"):
        to_dot(resnet_view, font_size=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("figure", ["resnet_depth2", "special_names"])
def test_tikz_compiles_in_a_paper(figure, layout, engine, resnet_view, tmp_path):
    graph = resnet_view if figure == "resnet_depth2" else special_ir()
    width = LAYOUTS[layout][1]
    text = to_tikz(graph, width=width)
    if figure == "special_names":  # every node and cluster is drawn, escaped, diff-styled
        for state in ("added", "removed", "changed"):
            assert text.count(f", graphir {state}, ") == 1
        assert text.count(r"\textbf{my\_op0\#\%\&}") == 3
        assert r"\textbf{dec\~{}\^{}\{x\}\textbackslash{}y}" in text
        assert r"\textbf{enc\_1\#a\%b\&c\$d}: Conv\_2d\%" in text
    result = compile_figure(tmp_path, text, engine, layout)
    assert result["width"] > 50


@pytest.mark.parametrize("engine", ENGINES)
def test_parameter_tree_compiles(engine, tmp_path):
    import graphir
    import torch
    from samples.resnet import resnet_tiny

    torch.save(resnet_tiny()[0].state_dict(), tmp_path / "sd.pt")
    text = to_tikz(graphir.load(str(tmp_path / "sd.pt")), width=r"\columnwidth")
    assert r"\textbf{layer1}" in text
    assert r"$W \in \graphirR^{8\times 3\times 7\times 7}$" in text
    assert r"\mbox{num\_batches\_tracked} \in \graphirR$" in text      # a scalar
    compile_figure(tmp_path, text, engine, "twocolumn")


@pytest.mark.parametrize("engine", ENGINES)
def test_full_graph_is_fitted_to_one_column_page(engine, resnet_ir, tmp_path):
    """A long op-level graph in a narrow column is scaled to fit the page height."""
    result = compile_figure(tmp_path, to_tikz(resnet_ir, width=r"\columnwidth"), engine,
                            "twocolumn")
    assert result["scaled"]


@pytest.mark.parametrize("engine", ENGINES)
def test_standalone_document_compiles_and_renders(engine, tmp_path):
    require_tools("pdftoppm")
    log = compile_tex(tmp_path, to_tikz(special_ir(), standalone=True, title="odd_names"),
                      engine)
    assert "(1 page" in log and "Missing character" not in log
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-singlefile", "doc.pdf", "doc"],
                   cwd=tmp_path, check=True, capture_output=True, timeout=60)
    assert (tmp_path / "doc.png").stat().st_size > 1000
