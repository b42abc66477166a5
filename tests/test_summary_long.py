"""Summary tables stay readable when a module has many outputs (a KV cache)."""

import pytest

import graphir
from graphir import ir
from graphir.table import format_summary, summarize


def _many_outputs(n):
    """``model`` makes a hidden state and ``n`` cache tensors, all leaving the model."""
    G = ir.new_graph("fx", "m")
    x = ir.add_node(G, "input:x", kind="input", op="input", name="x",
                    outputs=[ir.tensor("float32", [1, 16, 4096])])
    hidden = ir.add_node(G, "model/linear#0", kind="op", op="linear", name="l", module="model",
                         module_type="Model", outputs=[ir.tensor("float32", [1, 16, 4096])],
                         params={"model.w": ir.param_info([4096, 4096], "float32")})
    ir.add_edge(G, x, hidden)
    for i in range(n):
        k = ir.add_node(G, f"model/view#{i}", kind="op", op="view", name="v", module="model",
                        module_type="Model", outputs=[ir.tensor("float32", [1, 8, 16, 128])])
        ir.add_edge(G, hidden, k)
        out = ir.add_node(G, f"output:cache.{i}", kind="output", op="output",
                          name=f"cache.{i}", outputs=[ir.tensor("float32", [1, 8, 16, 128])])
        ir.add_edge(G, k, out)
        G.graph["outputs"].append(out)
    out = ir.add_node(G, "output:logits", kind="output", op="output", name="logits",
                      outputs=[ir.tensor("float32", [1, 16, 4096])])
    ir.add_edge(G, hidden, out)
    G.graph["outputs"].append(out)
    return G


def test_long_output_lists_are_elided_in_text_and_markdown():
    table = summarize(_many_outputs(64))
    assert len(table["rows"][0]["output_shape"]) == 65  # the data keeps every shape
    text = format_summary(table, "text")
    assert "[1, 16, 4096] + 64 more" in text
    lines = text.splitlines()
    rule = lines[0]
    assert max(len(line) for line in lines) == len(rule) < 90
    assert "[1, 16, 4096] + 64 more" in format_summary(table, "markdown")
    assert format_summary(table, "csv").count("[1, 8, 16, 128]") == 64


def test_short_output_lists_are_kept_whole():
    text = format_summary(summarize(_many_outputs(2)), "text")
    assert "[1, 16, 4096], [1, 8, 16, 128], [1, 8, 16, 128]" in text
    assert "more" not in text


def test_grouped_cache_tensors_come_after_the_hidden_state():
    pytest.importorskip("transformers")
    from samples import hf_models

    model, args = hf_models.tiny_llama()
    G = graphir.convert(model, args, source="trace", kv_cache=True)
    text = format_summary(summarize(G, depth=1), "text")
    model_row = next(line for line in text.splitlines() if line.startswith("model "))
    assert "[1, 16, 64] + 8 more" in model_row
