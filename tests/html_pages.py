"""Small models and pages shared by the HTML viewer tests (not a test module)."""

from graphir import ir

#: Markup that would run if any model string reached the page as HTML.
SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src=x onerror="window.__pwned = 2">'
CLOSE = "</script><script>window.__pwned = 3</script>"


def hostile_graph():
    """An IR whose graph name, doc string, node ids, names and attrs carry markup."""
    G = ir.new_graph("onnx", f"evil {CLOSE} model")
    G.graph["doc_string"] = f"doc {SCRIPT} {IMG} -->"
    x = ir.add_node(G, f"input:{IMG}", kind="input", op="input", name=f"x {IMG}",
                    outputs=[ir.tensor("float32", [1, 4])])
    a = ir.add_node(G, f"{SCRIPT}/Relu#0", kind="op", op="Relu", name=f"relu {SCRIPT}",
                    module="blk", module_type=f"T{IMG}",
                    outputs=[ir.tensor("float32", [1, 4])],
                    attrs={"note": CLOSE, "doc_string": SCRIPT},
                    tensor_names=[f"t{CLOSE}"])
    b = ir.add_node(G, "blk/Gemm#0", kind="op", op="Gemm", name=f"fc{IMG}", module="blk",
                    module_type="Linear", outputs=[ir.tensor("float32", [1, 2])],
                    params={f"blk.{IMG}.weight": ir.param_info([2, 4], "float32")})
    y = ir.add_node(G, "output:y", kind="output", op="output", name=f"y{CLOSE}",
                    outputs=[ir.tensor("float32", [1, 2])])
    ir.add_edge(G, x, a)
    ir.add_edge(G, a, b)
    ir.add_edge(G, b, y)
    G.graph["inputs"].append(x)
    G.graph["outputs"].append(y)
    ir.validate(G)
    return G


def gpt2_graph(n_layer):
    """A tiny traced GPT-2 with ``n_layer`` blocks."""
    import graphir
    from samples.gpt2 import _example_inputs, gpt2_model

    return graphir.convert(gpt2_model(n_layer=n_layer), _example_inputs())
