"""A GPT-2 in the HuggingFace layout, written here so nothing is downloaded.

Module paths and classes match ``transformers``' GPT-2 (``wte``, ``wpe``,
``h.0.ln_1``, ``h.0.attn.c_attn`` as a ``Conv1D``, ``h.0.mlp.c_fc``, ``ln_f``),
and so do the calling conventions users bring: int64 token ids, an optional
attention mask, ``use_cache=False``, and a dataclass output.

Factories:

- :func:`gpt2_tiny` — 2 layers, width 64; returns the model and example
  inputs ``(input_ids, attention_mask)`` of shape 1×16.
- :func:`gpt2_model` — any size, ``GPT2Model`` (paths ``h.0.attn``).
- :func:`gpt2_lm` — ``GPT2LMHeadModel`` (paths ``transformer.h.0.attn``, ``lm_head``).
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn


@dataclass
class GPT2Config:
    vocab_size: int = 1000
    n_positions: int = 128
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    dropout: float = 0.1


@dataclass
class BaseModelOutput:
    last_hidden_state: torch.Tensor
    hidden_states: Optional[tuple] = None


@dataclass
class CausalLMOutput:
    logits: torch.Tensor
    loss: Optional[torch.Tensor] = None


class Conv1D(nn.Module):
    """HuggingFace's transposed linear layer (weight is in × out)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class GPT2Attention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        n = config.n_positions
        self.register_buffer("bias", torch.tril(torch.ones(n, n, dtype=torch.bool))
                             .view(1, 1, n, n), persistent=False)
        self.c_attn = Conv1D(3 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _split_heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None):
        q, k, v = self.c_attn(hidden_states).split(self.n_head * self.head_dim, dim=2)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        t = q.size(-2)
        causal = self.bias[:, :, :t, :t]
        scores = torch.where(causal, scores, torch.finfo(scores.dtype).min)
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = self.attn_dropout(nn.functional.softmax(scores, dim=-1))
        out = torch.matmul(probs, v).permute(0, 2, 1, 3)
        out = out.reshape(out.size(0), out.size(1), -1)
        return self.resid_dropout(self.c_proj(out))


class NewGELUActivation(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class GPT2MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = Conv1D(4 * config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, 4 * config.n_embd)
        self.act = NewGELUActivation()
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPT2Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = GPT2Attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = GPT2MLP(config)

    def forward(self, hidden_states, attention_mask=None):
        hidden_states = hidden_states + self.attn(self.ln_1(hidden_states), attention_mask)
        return hidden_states + self.mlp(self.ln_2(hidden_states))


class GPT2Model(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([GPT2Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)

    def forward(self, input_ids, attention_mask=None, use_cache=False, return_dict=True):
        if use_cache:
            raise ValueError("this sample has no KV cache; pass use_cache=False")
        positions = torch.arange(input_ids.size(-1), device=input_ids.device).unsqueeze(0)
        hidden = self.drop(self.wte(input_ids) + self.wpe(positions))
        mask = None
        if attention_mask is not None:
            mask = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype))
            mask = mask * torch.finfo(hidden.dtype).min
        for block in self.h:
            hidden = block(hidden, mask)
        hidden = self.ln_f(hidden)
        if not return_dict:
            return (hidden,)
        return BaseModelOutput(last_hidden_state=hidden)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transformer = GPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids, attention_mask=None, use_cache=False, return_dict=True):
        hidden = self.transformer(input_ids, attention_mask, use_cache=use_cache).last_hidden_state
        logits = self.lm_head(hidden)
        return CausalLMOutput(logits=logits) if return_dict else (logits,)


def _example_inputs(seq_len=16, vocab_size=1000):
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, vocab_size, (1, seq_len), dtype=torch.int64, generator=generator)
    attention_mask = torch.ones(1, seq_len, dtype=torch.int64)
    return input_ids, attention_mask


def gpt2_model(n_layer=2, n_embd=64, n_head=4, vocab_size=1000):
    """A ``GPT2Model`` of the given size, in eval mode."""
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head)
    return GPT2Model(config).eval()


def gpt2_lm(n_layer=2, n_embd=64, n_head=4, vocab_size=1000):
    """A ``GPT2LMHeadModel`` (tied embeddings) of the given size, in eval mode."""
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=vocab_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head)
    return GPT2LMHeadModel(config).eval()


def gpt2_tiny():
    """Two-layer GPT2Model and example inputs ``(input_ids, attention_mask)``."""
    return gpt2_model(n_layer=2), _example_inputs()


def gpt2_12():
    """Twelve-layer narrow GPT2Model and example inputs (for folding and diffs)."""
    return gpt2_model(n_layer=12), _example_inputs()
