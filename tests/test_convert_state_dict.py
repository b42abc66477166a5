"""The parameter tree of a bare state_dict, and loading weights into an architecture."""

import pathlib

import pytest

torch = pytest.importorskip("torch")

from graphir import ir, serialize  # noqa: E402
from graphir.converters.state_dict import (  # noqa: E402
    from_module_weights,
    from_state_dict,
    load_weights_into,
)
from graphir.errors import ConversionError, InputError  # noqa: E402
from graphir.loaders import load_factory  # noqa: E402
from graphir.loaders.safetensors_file import load_safetensors  # noqa: E402
from graphir.loaders.torch_files import load_state_dict_file  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _sample(factory):
    module, args, _ = load_factory(f"{ROOT / 'samples' / factory}")
    return module, args


@pytest.fixture(scope="module")
def resnet():
    return _sample("resnet.py:resnet_tiny")


def _counts(model):
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return params, buffers


def test_tree_nodes_edges_and_totals(resnet):
    model, _ = resnet
    G = from_state_dict(model.state_dict(), name="resnet_tiny")
    ir.validate(G)
    assert G.graph["source"] == "state_dict"
    assert list(G.nodes)[:6] == ["module:", "module:conv1", "module:bn1", "module:layer1",
                                 "module:layer1.0", "module:layer1.0.conv1"]
    assert ("module:layer1", "module:layer1.0") in G.edges()
    assert ("module:layer2.0.downsample", "module:layer2.0.downsample.1") in G.edges()
    assert all(G.in_degree(n) == 1 for n in G if n != "module:")
    root = G.nodes["module:"]
    assert (root["subtree_params"], root["subtree_buffers"]) == _counts(model)
    assert root["child_modules"] == 5 and root["own_params"] == 0


def test_each_module_owns_its_direct_tensors(resnet):
    model, _ = resnet
    G = from_state_dict(model.state_dict(), name="m")
    bn = G.nodes["module:layer1.0.bn1"]
    assert list(bn["params"]) == [f"layer1.0.bn1.{k}" for k in
                                  ("weight", "bias", "running_mean", "running_var",
                                   "num_batches_tracked")]
    assert bn["params"]["layer1.0.bn1.running_mean"] == {"shape": [8], "dtype": "float32",
                                                         "kind": "buffer"}
    assert bn["params"]["layer1.0.bn1.num_batches_tracked"]["dtype"] == "int64"
    assert "kind" not in bn["params"]["layer1.0.bn1.weight"]
    assert (bn["own_params"], bn["own_buffers"]) == (16, 17)
    assert G.nodes["module:layer1.0"]["params"] == {}
    assert G.nodes["module:layer1.0.conv1"]["scope"] == [
        ["layer1", None], ["layer1.0", None], ["layer1.0.conv1", None]]


def test_summary_totals_count_parameters_and_buffers_apart(resnet):
    from graphir.table import summarize

    model, _ = resnet
    table = summarize(from_state_dict(model.state_dict(), name="m"))
    params, buffers = _counts(model)
    assert (table["total_params"], table["buffer_elements"]) == (params, buffers)
    assert ir.graph_param_count(from_state_dict(model.state_dict(), name="m")) \
        == params + buffers


def test_shapes_from_a_safetensors_header_give_the_same_tree(resnet, tmp_path):
    from safetensors.torch import save_file

    model, _ = resnet
    save_file(model.state_dict(), tmp_path / "w.safetensors")
    G = from_state_dict(load_safetensors(tmp_path / "w.safetensors", header_only=True),
                        name="m")
    ir.validate(G)
    expected = from_state_dict(model.state_dict(), name="m")
    assert set(G.nodes) == set(expected.nodes)
    for node in G:
        assert G.nodes[node]["params"] == expected.nodes[node]["params"]


def test_module_weights_know_kinds_types_and_frozen_parameters(resnet):
    model, _ = resnet
    model.fc.bias.requires_grad_(False)
    try:
        G = from_module_weights(model)
    finally:
        model.fc.bias.requires_grad_(True)
    ir.validate(G)
    assert G.nodes["module:"]["module_type"] == "ResNet"
    assert G.nodes["module:layer1.0"]["module_type"] == "BasicBlock"
    assert G.nodes["module:fc"]["params"]["fc.bias"]["trainable"] is False
    assert G.nodes["module:"]["subtree_params"] == _counts(model)[0]


def test_tied_weights_count_once():
    model, _ = _sample("gpt2.py:gpt2_tiny")
    state = model.state_dict()
    state["lm_head.weight"] = state["wte.weight"]
    G = from_state_dict(state, name="gpt2")
    ir.validate(G)
    assert G.nodes["module:lm_head"]["params"]["lm_head.weight"]["tied_to"] == "wte.weight"
    assert G.nodes["module:"]["subtree_params"] == sum(
        v.numel() for k, v in model.state_dict().items()
        if k.rpartition(".")[2] not in ("running_mean", "running_var", "num_batches_tracked"))


def test_tree_is_deterministic_and_json_safe(resnet):
    model, _ = resnet
    first = from_state_dict(model.state_dict(), name="m", metadata={"epoch": 3})
    second = from_state_dict(model.state_dict(), name="m", metadata={"epoch": 3})
    assert ir.graphs_equal(first, second)
    assert serialize.to_json(first) == serialize.to_json(second)
    assert ir.graphs_equal(serialize.from_json(serialize.to_json(first)), first)
    assert first.graph["metadata"] == {"epoch": 3}


def test_root_tensors_and_empty_state_dict():
    G = from_state_dict({"scale": ([], "float32"), "head.w": ([2, 2], None)}, name="m")
    ir.validate(G)
    assert list(G.nodes["module:"]["params"]) == ["scale"]
    assert G.nodes["module:head"]["params"]["head.w"] == {"shape": [2, 2], "dtype": None}
    assert list(from_state_dict({}, name="empty").nodes) == ["module:"]


@pytest.mark.parametrize("bad", [{"w": 3}, {"": torch.zeros(1)}, [("w", torch.zeros(1))]])
def test_bad_state_dicts_are_conversion_errors(bad):
    with pytest.raises(ConversionError):
        from_state_dict(bad, name="m")


def test_load_weights_into_the_architecture_then_convert(resnet, tmp_path):
    trained, args = resnet
    torch.save(trained.state_dict(), tmp_path / "w.pth")
    fresh, _ = _sample("resnet.py:resnet_tiny")
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    state, _ = load_state_dict_file(tmp_path / "w.pth")
    load_weights_into(fresh, state, path=tmp_path / "w.pth")
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(),
                                                 trained.state_dict().values()))
    fx = pytest.importorskip("graphir.converters.fx")
    G, _ = fx.from_module(fresh, args, name="resnet_tiny")
    ir.validate(G)
    assert ir.graph_param_count(G) > 0


def test_mismatches_name_the_keys(resnet):
    model, _ = resnet
    state = dict(model.state_dict())
    state["fc.weight"] = torch.zeros(5, 16)
    del state["fc.bias"]
    state["head.extra"] = torch.zeros(1)
    with pytest.raises(InputError) as info:
        load_weights_into(model, state, path="w.pth")
    text = str(info.value)
    assert text.startswith("w.pth: the weights do not fit ResNet: ")
    assert "1 missing key (fc.bias)" in text
    assert "1 unexpected key (head.extra)" in text
    assert "1 shape mismatch (fc.weight: [5, 16] in the file, [10, 16] in the model)" in text
    assert "--model" in text


def test_many_missing_keys_are_counted_and_a_prefix_is_spotted(resnet):
    model, _ = resnet
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    with pytest.raises(InputError) as info:
        load_weights_into(model, state)
    text = str(info.value)
    assert "missing keys (conv1.weight, bn1.weight" in text and "and " in text
    assert "the file's keys start with 'model.'" in text
