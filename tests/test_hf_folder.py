"""Hugging Face model folders: build on meta from config.json, check weights by headers.

Folders are made with ``save_pretrained`` from tiny configs (no download).
The end-to-end path through ``graphir.load(DIR)`` and the CLI is in
tests/test_hfload_e2e.py; here the loader's functions feed ``graphir.convert``.
"""

import json
import os
import struct
import sys

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import graphir  # noqa: E402
from graphir.errors import InputError, MissingDependencyError, UnsafeFileError  # noqa: E402
from graphir.loaders import detect_kind  # noqa: E402
from graphir.loaders.hf_folder import (  # noqa: E402
    build_hf_model,
    check_weights,
    read_weights_header,
)
from graphir.table import summarize  # noqa: E402

def _llama_config(**extra):
    fields = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2)
    return transformers.LlamaConfig(**{**fields, **extra})


CONFIGS = {
    "llama": _llama_config,
    "bert": lambda: transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=32),
    "vit": lambda: transformers.ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=32),
    "whisper": lambda: transformers.WhisperConfig(
        vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_mel_bins=8, max_source_positions=16, max_target_positions=16,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        begin_suppress_tokens=None, suppress_tokens=None),
    "t5": lambda: transformers.T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32,
                                        num_layers=1, num_heads=2, decoder_start_token_id=0),
    "clip": lambda: transformers.CLIPConfig(
        text_config=dict(vocab_size=64, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                         bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32,
                           num_hidden_layers=1, num_attention_heads=2), projection_dim=8),
    "wav2vec2": lambda: transformers.Wav2Vec2Config(
        vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3),
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2),
}
CLASSES = {"llama": "LlamaForCausalLM", "bert": "BertModel", "vit": "ViTModel",
           "whisper": "WhisperForConditionalGeneration", "t5": "T5ForConditionalGeneration",
           "clip": "CLIPModel", "wav2vec2": "Wav2Vec2Model"}
# parameters a forward in eval mode never reads, so no graph can show them
UNUSED = {"wav2vec2": {"masked_spec_embed"}}
# kind -> {input name: shape} that example_inputs must give
EXPECTED_INPUTS = {
    "llama": {"input_ids": [1, 16], "attention_mask": [1, 16]},
    "bert": {"input_ids": [1, 16], "attention_mask": [1, 16]},
    "vit": {"pixel_values": [1, 3, 32, 32]},
    "whisper": {"input_features": [1, 8, 32], "decoder_input_ids": [1, 8]},
    "t5": {"input_ids": [1, 16], "attention_mask": [1, 16], "decoder_input_ids": [1, 8]},
    "clip": {"input_ids": [1, 16], "attention_mask": [1, 16], "pixel_values": [1, 3, 32, 32]},
    "wav2vec2": {"input_values": [1, 16000]},
}


def _save(model, folder, **kwargs):
    model.save_pretrained(str(folder), **kwargs)
    return folder


@pytest.fixture(scope="module")
def models():
    """``kind -> the real (CPU, seeded) model`` built from the tiny config."""
    torch.manual_seed(0)
    built = {}
    for kind, make in CONFIGS.items():
        model = getattr(transformers, CLASSES[kind])(make()).eval()
        built[kind] = model
    return built


@pytest.fixture(scope="module")
def folders(models, tmp_path_factory):
    base = tmp_path_factory.mktemp("hf")
    return {kind: _save(model, base / kind) for kind, model in models.items()}


def _rewrite_header(path, edit):
    """Rewrite a safetensors header in place with ``edit(header)``; keep its length."""
    with open(path, "r+b") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
        edit(header)
        raw = json.dumps(header, separators=(",", ":")).encode()
        assert len(raw) <= length
        handle.seek(8)
        handle.write(raw + b" " * (length - len(raw)))


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


# ------------------------------------------------------------------ recognising a folder


def test_detect_kind_reports_hf_folder_and_refuses_a_folder_without_config(folders, tmp_path):
    assert detect_kind(str(folders["llama"])) == "hf_folder"
    with pytest.raises(InputError, match=r"without config\.json.*save_pretrained"):
        detect_kind(str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(InputError, match=r"without config\.json.*; pass the model file inside "
                                         r"it \(model\.safetensors\)$"):
        build_hf_model(tmp_path)
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(InputError, match=r"PEFT adapter.*base model's folder"):
        detect_kind(str(tmp_path))


def test_a_diffusers_pipeline_points_at_its_components(folders, tmp_path):
    import shutil

    (tmp_path / "model_index.json").write_text("{}")
    shutil.copytree(folders["vit"], tmp_path / "unet")
    with pytest.raises(InputError, match=r"diffusers pipeline.*such as .*unet$"):
        detect_kind(str(tmp_path))


# ------------------------------------------------------------------ building on meta


def test_llama_folder_builds_on_meta_with_header_facts(folders, models):
    hf = build_hf_model(folders["llama"])
    real = models["llama"]
    assert type(hf.module).__name__ == "LlamaForCausalLM"
    assert {p.device.type for p in hf.module.parameters()} == {"meta"}
    assert hf.facts["parameters"] == sum(p.numel() for p in real.parameters())
    state = real.state_dict()
    assert hf.facts["weights_tensors"] == len(state)
    assert hf.facts["weights_bytes"] == sum(t.numel() * t.element_size()
                                            for t in state.values())
    assert hf.facts["weights_dtypes"] == {"float32": len(state)}
    assert hf.facts["weights_files"] == ["model.safetensors"]
    assert hf.name == "llama"
    assert any("by their headers" in n for n in hf.notes)
    assert hf.kwargs["use_cache"] is False


def test_build_dtype_follows_the_weights(models, tmp_path):
    folder = _save(models["llama"].to(torch.bfloat16), tmp_path / "bf16")
    models["llama"].to(torch.float32)
    hf = build_hf_model(folder)
    assert hf.facts["dtype"] == "bfloat16"
    assert {p.dtype for p in hf.module.parameters()} == {torch.bfloat16}
    assert hf.facts["weights_dtypes"] == {"bfloat16": hf.facts["weights_tensors"]}


def test_sharded_safetensors_folder(models, tmp_path):
    folder = _save(models["llama"], tmp_path / "sharded", max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").exists()
    hf = build_hf_model(folder)
    assert len(hf.facts["weights_files"]) > 1
    assert hf.facts["weights_tensors"] == len(models["llama"].state_dict())
    assert any("shards of model.safetensors.index.json" in n for n in hf.notes)
    # a missing shard is named, with the index as the file
    missing = hf.facts["weights_files"][1]
    (folder / missing).unlink()
    with pytest.raises(InputError, match=rf"model\.safetensors\.index\.json: names shard "
                                         rf"{missing}, which is missing"):
        build_hf_model(folder)


def test_pytorch_bin_folders_single_and_sharded(models, folders, tmp_path):
    state = models["llama"].state_dict()
    single = _copy(folders["llama"], tmp_path / "bin")
    (single / "model.safetensors").unlink()
    torch.save(state, single / "pytorch_model.bin")
    hf = build_hf_model(single)
    assert hf.facts["weights_format"] == "pytorch_bin"
    assert hf.facts["weights_tensors"] == len(state)
    assert hf.facts["weights_bytes"] == sum(t.numel() * t.element_size() for t in state.values())

    sharded = _copy(single, tmp_path / "bin_sharded")
    (sharded / "pytorch_model.bin").unlink()
    names = list(state)
    halves = {"pytorch_model-00001-of-00002.bin": names[:10],
              "pytorch_model-00002-of-00002.bin": names[10:]}
    weight_map = {}
    for shard, part in halves.items():
        torch.save({n: state[n] for n in part}, sharded / shard)
        weight_map.update({n: shard for n in part})
    (sharded / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    hf = build_hf_model(sharded)
    assert hf.facts["weights_files"] == sorted(halves)
    assert hf.facts["weights_tensors"] == len(state)


def test_pytorch_bin_that_runs_code_is_refused(folders, models, tmp_path):
    import argparse

    folder = _copy(folders["llama"], tmp_path / "unsafe")
    (folder / "model.safetensors").unlink()
    state = dict(models["llama"].state_dict())
    state["args"] = argparse.Namespace(lr=1.0)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeFileError, match=r"pytorch_model\.bin: .*runs code.*--unsafe-load"):
        build_hf_model(folder)
    hf = build_hf_model(folder, unsafe_load=True)
    assert hf.facts["weights_tensors"] == len(state) - 1


def test_tied_lm_head_absent_from_the_weights_is_accepted(tmp_path):
    model = transformers.LlamaForCausalLM(_llama_config(tie_word_embeddings=True))
    folder = _save(model, tmp_path / "tied")
    header = read_weights_header(folder)
    assert "lm_head.weight" not in header.tensors
    hf = build_hf_model(folder)
    problems, _ = check_weights(hf.module, header)
    assert problems == {"missing": [], "unexpected": [], "shape": {}}
    assert hf.facts["parameters"] == sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------ header mismatches


def test_tampered_shape_is_reported_by_name(folders, tmp_path):
    folder = _copy(folders["llama"], tmp_path / "shape")

    def swap(header):
        entry = header["model.embed_tokens.weight"]
        entry["shape"] = entry["shape"][::-1]

    _rewrite_header(folder / "model.safetensors", swap)
    with pytest.raises(InputError, match=r"model\.safetensors: does not match the "
                                         r"LlamaForCausalLM .*model\.embed_tokens\.weight "
                                         r"\[32, 128\] in the weights vs \[128, 32\]"):
        build_hf_model(folder)
    hf = build_hf_model(folder, strict=False)
    assert any("of another shape" in n for n in hf.notes)


def test_renamed_tensor_is_missing_and_unexpected(folders, tmp_path):
    folder = _copy(folders["llama"], tmp_path / "renamed")

    def rename(header):
        header["model.norX.weight"] = header.pop("model.norm.weight")

    _rewrite_header(folder / "model.safetensors", rename)
    with pytest.raises(InputError, match=r"1 missing \(model\.norm\.weight\); 1 unexpected "
                                         r"\(model\.norX\.weight\)"):
        build_hf_model(folder)


def test_config_of_another_size_does_not_match(folders, tmp_path):
    folder = _copy(folders["llama"], tmp_path / "other")
    config = json.loads((folder / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"missing \(model\.layers\.2\..* and \d+ more\)"):
        build_hf_model(folder)


def test_base_model_weights_are_prefixed(models, tmp_path):
    folder = _save(models["bert"], tmp_path / "base")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertForMaskedLM"]
    (folder / "config.json").write_text(json.dumps(config))
    hf = build_hf_model(folder, strict=False)
    assert type(hf.module).__name__ == "BertForMaskedLM"
    assert any("prefixed them with 'bert.'" in n for n in hf.notes)


# ------------------------------------------------------------------ configs


def _write_config(folder, **fields):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(fields))
    return folder


def test_config_only_folder_gives_the_architecture_with_a_note(tmp_path):
    folder = tmp_path / "cfg"
    _llama_config().save_pretrained(str(folder))
    hf = build_hf_model(folder)
    assert "weights_tensors" not in hf.facts
    assert any("holds no PyTorch weights" in n and "not read" not in n for n in hf.notes)
    (folder / "tf_model.h5").write_bytes(b"")
    hf = build_hf_model(folder)
    assert any("(its tf_model.h5 is not read)" in n for n in hf.notes)


def test_remote_code_is_refused_unless_the_type_is_built_in(tmp_path):
    auto_map = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
    folder = _write_config(tmp_path / "remote", model_type="x-custom", auto_map=auto_map,
                           architectures=["XModel"])
    (folder / "modeling_x.py").write_text("raise SystemExit('this must never run')\n")
    with pytest.raises(UnsafeFileError, match=r"config\.json: needs the folder's own Python "
                                              r"code.*pass --unsafe-load"):
        build_hf_model(folder)
    # a built-in model_type is built with transformers' own classes, never the folder's
    folder = tmp_path / "builtin"
    _llama_config().save_pretrained(str(folder))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = auto_map
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_x.py").write_text("raise SystemExit('this must never run')\n")
    hf = build_hf_model(folder)
    assert type(hf.module).__module__.startswith("transformers.models.llama")
    assert any("auto_map" in n and "--unsafe-load" in n for n in hf.notes)


@pytest.mark.parametrize("fields, pattern", [
    ({"model_type": "no-such-model"}, r"has model_type 'no-such-model', which transformers .* "
                                      r"does not know; upgrade transformers"),
    ({"hidden_size": 8}, r"has no model_type"),
])
def test_bad_configs(tmp_path, fields, pattern):
    folder = _write_config(tmp_path / "bad", **fields)
    with pytest.raises(InputError, match=r"config\.json: " + pattern):
        build_hf_model(folder)


def test_config_that_is_not_json(tmp_path):
    folder = tmp_path / "notjson"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    with pytest.raises(InputError, match=r"config\.json: is not valid JSON"):
        build_hf_model(folder)


def test_missing_transformers_names_the_extra(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(MissingDependencyError, match=r"needs transformers.*graphir\[hf\]"):
        build_hf_model(folders["llama"])


# ------------------------------------------------------------------ inputs and conversion


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_example_inputs_and_conversion_per_kind(kind, folders, models):
    hf = build_hf_model(folders[kind])
    assert type(hf.module).__name__ == CLASSES[kind]
    shapes = {name: list(value.shape) for name, value in hf.kwargs.items()
              if isinstance(value, torch.Tensor)}
    assert shapes == EXPECTED_INPUTS[kind]
    assert {v.device.type for v in hf.kwargs.values() if isinstance(v, torch.Tensor)} == {"meta"}
    G = graphir.convert(hf.module, hf.args, example_kwargs=hf.kwargs, name=hf.name)
    assert len(graphir.ir.op_nodes(G)) > 10
    assert G.graph["name"] == kind
    # the architecture's total is the real model's; every parameter forward reads is drawn
    real = models[kind]
    assert hf.facts["parameters"] == sum(p.numel() for p in real.parameters())
    used = sum(p.numel() for n, p in real.named_parameters() if n not in UNUSED.get(kind, ()))
    assert summarize(G)["total_params"] == used


# ------------------------------------------------------------------ two folders


def test_diff_headers_of_two_folders(folders, tmp_path):
    from graphir.loaders.hf_folder import diff_headers, headers_diff_text

    model = transformers.LlamaForCausalLM(_llama_config(num_hidden_layers=3)).to(torch.bfloat16)
    other = _save(model, tmp_path / "three_layers")
    diff = diff_headers(read_weights_header(folders["llama"]), read_weights_header(other))
    assert diff["removed"] == [] and diff["shape"] == {}
    assert len(diff["added"]) == 9 and diff["added"][0].startswith("model.layers.2.")
    assert set(diff["dtype"].values()) == {("float32", "bfloat16")}
    assert diff["same"] == 0
    text = headers_diff_text(diff, limit=3)
    assert text.splitlines()[0].startswith("weights: 0 tensor(s) the same, 9 added, 0 removed")
    assert text.splitlines()[-1] == f"  ... and {9 + len(diff['dtype']) - 3} more"


def test_quantized_weights_are_not_a_mismatch(folders, tmp_path):
    folder = _copy(folders["llama"], tmp_path / "gptq")

    def quantize(header):
        header["model.layers.0.mlp.down_proj.qweight"] = header.pop(
            "model.layers.0.mlp.down_proj.weight")

    _rewrite_header(folder / "model.safetensors", quantize)
    with pytest.raises(InputError, match="does not match"):
        build_hf_model(folder)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (folder / "config.json").write_text(json.dumps(config))
    hf = build_hf_model(folder)
    assert any("declares gptq quantization" in n for n in hf.notes)


CUSTOM_CONFIG = '''
from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "hfl-tiny-custom"

    def __init__(self, width=4, **kwargs):
        self.width = width
        super().__init__(**kwargs)
'''
CUSTOM_MODEL = '''
import torch
from transformers import PreTrainedModel
from .configuration_tiny import TinyConfig


class TinyModel(PreTrainedModel):
    config_class = TinyConfig
    main_input_name = "input_values"

    def __init__(self, config):
        super().__init__(config)
        self.fc = torch.nn.Linear(config.width, 2)
        self.post_init()

    def forward(self, input_values):
        return self.fc(input_values[..., :4])
'''


def test_unsafe_load_runs_the_folders_own_code(tmp_path, monkeypatch):
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))  # transformers appends the cache
    folder = _write_config(tmp_path / "custom", model_type="hfl-tiny-custom", width=4,
                           architectures=["TinyModel"],
                           auto_map={"AutoConfig": "configuration_tiny.TinyConfig",
                                     "AutoModel": "modeling_tiny.TinyModel"})
    (folder / "configuration_tiny.py").write_text(CUSTOM_CONFIG)
    (folder / "modeling_tiny.py").write_text(CUSTOM_MODEL)
    with pytest.raises(UnsafeFileError, match="--unsafe-load"):
        build_hf_model(folder)
    assert not (tmp_path / "modules").exists()  # refused before transformers saw the code
    hf = build_hf_model(folder, unsafe_load=True)
    assert type(hf.module).__name__ == "TinyModel"
    assert any("ran the folder's own code" in n for n in hf.notes)
    G = graphir.convert(hf.module, hf.args, example_kwargs=hf.kwargs, name=hf.name)
    assert summarize(G)["total_params"] == 10


def test_user_inputs_move_to_the_meta_module_in_its_dtype(models, tmp_path):
    from graphir.loaders.hf_folder import to_module_device

    folder = _save(models["vit"].to(torch.bfloat16), tmp_path / "vit_bf16")
    models["vit"].to(torch.float32)
    hf = build_hf_model(folder)
    args, kwargs = to_module_device(hf.module, (torch.zeros(1, 3, 16, 16),),
                                    {"interpolate_pos_encoding": True,
                                     "ids": torch.ones(2, dtype=torch.long)})
    assert (args[0].device.type, args[0].dtype) == ("meta", torch.bfloat16)
    assert (kwargs["ids"].device.type, kwargs["ids"].dtype) == ("meta", torch.long)
    assert kwargs["interpolate_pos_encoding"] is True
    G = graphir.convert(hf.module, args, example_kwargs={"interpolate_pos_encoding": True})
    first = [G.nodes[n]["outputs"][0] for n in G.graph["inputs"]][0]
    assert first["shape"] == [1, 3, 16, 16] and first["dtype"] == "bfloat16"
