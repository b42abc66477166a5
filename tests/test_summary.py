"""The summary table: totals, rows, formats, and activation statistics."""

import csv
import io
import json

import pytest

import graphir


@pytest.fixture(scope="module")
def resnet_with_stats():
    from samples.resnet import resnet_tiny

    model, example = resnet_tiny()
    G = graphir.convert(model, example, source="trace", stats=True)
    return model, G


def test_totals_equal_model_parameters(resnet_with_stats):
    model, G = resnet_with_stats
    table = graphir.summary(G)
    assert table["total_params"] == sum(p.numel() for p in model.parameters())
    assert table["trainable_params"] == table["total_params"]
    buffers = sum(b.numel() for name, b in model.named_buffers() if "num_batches" not in name)
    assert table["buffer_elements"] == buffers


def test_rows_to_depth_with_shapes_and_stats(resnet_with_stats):
    _, G = resnet_with_stats
    rows = {r["module"]: r for r in graphir.summary(G, depth=2)["rows"]}
    assert max(r["depth"] for r in rows.values()) == 2
    assert rows["layer2.0"]["output_shape"] == [[1, 16, 4, 4]]
    assert rows["fc"]["params"] == 16 * 10 + 10
    relu = rows["relu"]["output_stats"]
    assert relu["min"] >= 0 and 0 < relu["zeros"] < 1


@pytest.mark.parametrize("fmt", ["text", "markdown", "csv", "json"])
def test_every_format_carries_the_rows(resnet_with_stats, fmt):
    _, G = resnet_with_stats
    text = graphir.summary(G, format=fmt, depth=1)
    if fmt == "json":
        data = json.loads(text)
        assert {"rows", "total_params", "trainable_params"} <= set(data)
        assert set(data["rows"][0]) >= {"module", "type", "output_shape", "params", "trainable"}
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["module"] == "conv1" and "out_mean" in rows[0]
    else:
        assert "layer1" in text and "Zeros" in text and "Total params: 7,410" in text


def test_stats_survive_the_json_round_trip(resnet_with_stats, tmp_path):
    _, G = resnet_with_stats
    graphir.save(G, tmp_path / "g.json")
    again = graphir.load(tmp_path / "g.json")
    assert graphir.ir.graphs_equal(G, again)
    assert graphir.summary(again) == graphir.summary(G)
