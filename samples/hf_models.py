"""Hugging Face ``transformers`` models built from configs (nothing downloaded).

Each factory returns ``(model, example_args)`` or ``(model, example_args,
example_kwargs)`` for ``graphir`` (``FILE.py:CALLABLE``):

- :func:`llama3_8b` and :func:`llama3_70b` build Llama-3-8B/70B-sized
  ``LlamaForCausalLM`` on the ``meta`` device (no weights are allocated), with
  ``1×16`` token ids on ``meta``;
- the ``tiny_*`` factories build small random models on the CPU (a few
  layers, width 32-64) of many families: decoder LMs, an MoE, encoders,
  encoder-decoders, vision and audio models.

``python cli.py render samples/hf_models.py:llama3_8b -o llama.png`` draws the
8B-sized model in a few seconds. Requires ``transformers``.
"""

import torch

__all__ = ["llama3_8b", "llama3_70b", "TINY"]

SEQ = 16


def _ids(vocab, device=None, length=SEQ):
    if device == "meta":
        return torch.ones(1, length, dtype=torch.long, device="meta")
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, vocab, (1, length), generator=generator)


def _build(cls, config, device=None):
    torch.manual_seed(0)
    if device is None:
        model = cls(config)
    else:
        with torch.device(device):
            model = cls(config)
    return model.eval()


def _llama(layers, hidden, intermediate, heads, kv_heads, device="meta", use_cache=None):
    import transformers

    config = transformers.LlamaConfig(
        hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, vocab_size=128256,
        max_position_embeddings=8192, rope_theta=500000.0)
    model = _build(transformers.LlamaForCausalLM, config, device)
    kwargs = {} if use_cache is None else {"use_cache": use_cache}
    return model, (_ids(config.vocab_size, device),), kwargs


def llama3_8b():
    """Llama-3-8B-sized ``LlamaForCausalLM`` on ``meta`` (32 layers, 4096 wide, GQA 32/8)."""
    return _llama(32, 4096, 14336, 32, 8)


def llama3_70b():
    """Llama-3-70B-sized ``LlamaForCausalLM`` on ``meta`` (80 layers, 8192 wide, GQA 64/8)."""
    return _llama(80, 8192, 28672, 64, 8)


def llama3_8b_cache():
    """:func:`llama3_8b` called with ``use_cache=True`` (the KV cache is an output)."""
    return _llama(32, 4096, 14336, 32, 8, use_cache=True)


# --------------------------------------------------------------------------
# Tiny configs
# --------------------------------------------------------------------------

_SMALL = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=256, max_position_embeddings=64)


def tiny_llama(layers=4):
    import transformers
    return _build(transformers.LlamaForCausalLM,
                  transformers.LlamaConfig(num_hidden_layers=layers, **_SMALL)), (_ids(256),)


def tiny_mistral():
    import transformers
    return _build(transformers.MistralForCausalLM,
                  transformers.MistralConfig(num_hidden_layers=4, **_SMALL)), (_ids(256),)


def tiny_qwen2():
    import transformers
    return _build(transformers.Qwen2ForCausalLM,
                  transformers.Qwen2Config(num_hidden_layers=4, **_SMALL)), (_ids(256),)


def tiny_gemma():
    import transformers
    return _build(transformers.GemmaForCausalLM,
                  transformers.GemmaConfig(num_hidden_layers=4, head_dim=16, **_SMALL)), \
        (_ids(256),)


def tiny_gemma2():
    """Gemma-2: layers alternate sliding-window and global attention."""
    import transformers
    config = transformers.Gemma2Config(num_hidden_layers=6, head_dim=16, sliding_window=8,
                                       **_SMALL)
    return _build(transformers.Gemma2ForCausalLM, config), (_ids(256),)


def tiny_gemma3():
    """Gemma-3 text: 5 sliding-window layers then 1 global, twice."""
    import transformers
    config = transformers.Gemma3TextConfig(num_hidden_layers=12, head_dim=16, sliding_window=8,
                                           **_SMALL)
    return _build(transformers.Gemma3ForCausalLM, config), (_ids(256),)


def tiny_phi():
    import transformers
    config = transformers.PhiConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=128,
                                    num_attention_heads=4, vocab_size=256,
                                    max_position_embeddings=64)
    return _build(transformers.PhiForCausalLM, config), (_ids(256),)


def tiny_mixtral():
    """Mixtral: every layer's MLP is a sparse mixture of 4 experts (top-2)."""
    import transformers
    config = transformers.MixtralConfig(num_hidden_layers=4, num_local_experts=4,
                                        num_experts_per_tok=2, **_SMALL)
    return _build(transformers.MixtralForCausalLM, config), (_ids(256),)


def tiny_gpt2():
    import transformers
    config = transformers.GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=256,
                                     n_positions=64, bos_token_id=0, eos_token_id=0)
    return _build(transformers.GPT2LMHeadModel, config), (_ids(256),)


def tiny_gpt_neox():
    import transformers
    config = transformers.GPTNeoXConfig(num_hidden_layers=4, hidden_size=64,
                                        intermediate_size=128, num_attention_heads=4,
                                        vocab_size=256, max_position_embeddings=64)
    return _build(transformers.GPTNeoXForCausalLM, config), (_ids(256),)


def _bert_like(cls_name, config_name, **extra):
    import transformers
    config = getattr(transformers, config_name)(
        num_hidden_layers=4, hidden_size=64, intermediate_size=128, num_attention_heads=4,
        vocab_size=256, max_position_embeddings=64, **extra)
    return _build(getattr(transformers, cls_name), config), (_ids(256),)


def tiny_bert():
    return _bert_like("BertModel", "BertConfig")


def tiny_roberta():
    return _bert_like("RobertaModel", "RobertaConfig", pad_token_id=1)


def tiny_distilbert():
    import transformers
    config = transformers.DistilBertConfig(n_layers=4, dim=64, hidden_dim=128, n_heads=4,
                                           vocab_size=256, max_position_embeddings=64)
    return _build(transformers.DistilBertModel, config), (_ids(256),)


def tiny_t5():
    import transformers
    config = transformers.T5Config(num_layers=4, num_decoder_layers=4, d_model=64, d_ff=128,
                                   d_kv=16, num_heads=4, vocab_size=256)
    model = _build(transformers.T5Model, config)
    return model, (), {"input_ids": _ids(256), "decoder_input_ids": _ids(256, length=8)}


def tiny_bart():
    import transformers
    config = transformers.BartConfig(encoder_layers=4, decoder_layers=4, d_model=64,
                                     encoder_ffn_dim=128, decoder_ffn_dim=128,
                                     encoder_attention_heads=4, decoder_attention_heads=4,
                                     vocab_size=256, max_position_embeddings=64)
    model = _build(transformers.BartModel, config)
    return model, (), {"input_ids": _ids(256), "decoder_input_ids": _ids(256, length=8)}


def tiny_whisper():
    import transformers
    config = transformers.WhisperConfig(encoder_layers=4, decoder_layers=4, d_model=64,
                                        encoder_ffn_dim=128, decoder_ffn_dim=128,
                                        encoder_attention_heads=4, decoder_attention_heads=4,
                                        vocab_size=256, num_mel_bins=16,
                                        max_source_positions=32, max_target_positions=32,
                                        pad_token_id=0, bos_token_id=0, eos_token_id=0,
                                        decoder_start_token_id=1)
    model = _build(transformers.WhisperModel, config)
    features = torch.randn(1, 16, 64, generator=torch.Generator().manual_seed(0))
    return model, (), {"input_features": features, "decoder_input_ids": _ids(256, length=8)}


def _pixels(size, channels=3):
    return torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(0))


def tiny_vit():
    import transformers
    config = transformers.ViTConfig(num_hidden_layers=4, hidden_size=64, intermediate_size=128,
                                    num_attention_heads=4, image_size=32, patch_size=8)
    return _build(transformers.ViTModel, config), (_pixels(32),)


def tiny_swin():
    """Swin: in each stage, blocks alternate unshifted and shifted windows."""
    import transformers
    config = transformers.SwinConfig(image_size=64, patch_size=4, embed_dim=16,
                                     depths=[2, 2, 6, 2], num_heads=[2, 2, 4, 4], window_size=2)
    return _build(transformers.SwinModel, config), (_pixels(64),)


def tiny_clip_vision():
    import transformers
    config = transformers.CLIPVisionConfig(num_hidden_layers=4, hidden_size=64,
                                           intermediate_size=128, num_attention_heads=4,
                                           image_size=32, patch_size=8)
    return _build(transformers.CLIPVisionModel, config), (_pixels(32),)


#: name -> factory of every tiny model above.
TINY = {name[len("tiny_"):]: factory for name, factory in sorted(globals().items())
        if name.startswith("tiny_") and callable(factory)}
