"""Small Vision Transformers for the attention overlay, written here so nothing is downloaded.

Factories (for ``graphir attention samples/vit.py:vit_trained -o out/attention``):

- :func:`vit_tiny` — a ViT for 1×28×28 input, patch 7 (16 patches and a class
  token: 17 tokens), 4 heads, 6 layers, built from ``nn.MultiheadAttention``
  (``batch_first=True``) in pre-norm blocks ``blocks.0.attn`` … ``blocks.5.attn``.
  The blocks call it with ``need_weights=False``, as timm-style code does.
  Untrained (seeded init): its attention maps are close to uniform.
- :func:`vit_trained` — the same model after 120 Adam steps (5–10 seconds
  on CPU, seeded) on a synthetic task: which quadrant of a 28×28 image holds
  the bright blob. Its class token learns to look at the blob, so the maps
  of the deeper layers visibly focus on it. The example input has the blob
  in the lower-right quadrant.
- :func:`hf_vit_tiny` — a ViT in the HuggingFace ``ViTModel`` layout
  (``embeddings.patch_embeddings.projection``,
  ``encoder.layer.0.attention.attention.{query,key,value}`` with an explicit
  softmax over [batch, heads, tokens, tokens], ``attention.output.dense``,
  ``intermediate.dense``, ``output.dense``, ``layernorm_before/after``) for
  3×32×32 input, patch 8 (16 patches and a class token), 4 heads, 3 layers;
  ``attn_implementation="sdpa"`` uses ``F.scaled_dot_product_attention``
  instead, as ``transformers`` does by default.

Images are normalised as ``(pixel - 0.5) / 0.5`` for one channel, pixels in [0, 1].
"""

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

__all__ = ["ViT", "vit_tiny", "vit_trained", "blob_images", "HFViTConfig", "HFViTModel",
           "hf_vit_tiny"]


# --------------------------------------------------------------------------
# A plain ViT built from nn.MultiheadAttention
# --------------------------------------------------------------------------

class Block(nn.Module):
    """Pre-norm encoder block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim, heads, mlp_ratio=2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(),
                                 nn.Linear(dim * mlp_ratio, dim))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """A Vision Transformer: patch embedding, class token, encoder blocks, head."""

    def __init__(self, image_size=28, patch=7, in_channels=1, dim=32, heads=4, depth=6,
                 num_classes=4):
        super().__init__()
        patches = (image_size // patch) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        # Unit-scale position embeddings (not ViT's 0.02): the blob task then
        # trains in about 100 steps instead of stalling for 150.
        self.pos_embed = nn.Parameter(torch.randn(1, patches + 1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(tokens.size(0), -1, -1)
        x = torch.cat([cls, tokens], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def blob_images(quadrants, generator, size=28):
    """Dim noisy images with one bright Gaussian blob in the given quadrants.

    Parameters
    ----------
    quadrants : torch.Tensor
        int64 [n]: 0 upper-left, 1 upper-right, 2 lower-left, 3 lower-right.
    generator : torch.Generator
        Source of randomness (blob position and noise).
    size : int
        Image side in pixels.

    Returns
    -------
    torch.Tensor
        float32 [n, 1, size, size], normalised as ``(pixel - 0.5) / 0.5``.
    """
    n, half = quadrants.numel(), size // 2
    offset = torch.rand(n, 2, generator=generator) * (half - 6) + 3
    centre_y = offset[:, 0] + (quadrants // 2) * half
    centre_x = offset[:, 1] + (quadrants % 2) * half
    coords = torch.arange(size, dtype=torch.float32)
    dy = (coords[None, :] - centre_y[:, None]) ** 2
    dx = (coords[None, :] - centre_x[:, None]) ** 2
    blob = torch.exp(-(dy[:, :, None] + dx[:, None, :]) / (2 * 2.0 ** 2))
    noise = 0.15 * torch.rand(n, size, size, generator=generator)
    pixels = (0.1 + noise + 0.75 * blob).clamp(0, 1)
    return ((pixels - 0.5) / 0.5).unsqueeze(1)


def _example_image():
    generator = torch.Generator().manual_seed(1)
    return blob_images(torch.tensor([3]), generator)


def vit_tiny():
    """Untrained 6-layer, 4-head ViT (eval mode) and an example input 1×1×28×28."""
    torch.manual_seed(0)
    return ViT().eval(), (_example_image(),)


def vit_trained(steps=120, batch=32):
    """:func:`vit_tiny` trained on the blob-quadrant task; returns ``(model, (x,))``.

    Seeded and single-threaded while training, so every call gives the same
    weights; takes 5–10 seconds on CPU and classifies the quadrant correctly
    for about 99 % of fresh images.
    """
    torch.manual_seed(0)
    model = ViT()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(steps):
            labels = torch.randint(0, 4, (batch,), generator=generator)
            loss = nn.functional.cross_entropy(model(blob_images(labels, generator)), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), (_example_image(),)


# --------------------------------------------------------------------------
# The HuggingFace ViTModel layout
# --------------------------------------------------------------------------

@dataclass
class HFViTConfig:
    image_size: int = 32
    patch_size: int = 8
    num_channels: int = 3
    hidden_size: int = 32
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    intermediate_size: int = 64
    layer_norm_eps: float = 1e-12
    dropout: float = 0.0
    attn_implementation: str = "eager"


@dataclass
class BaseModelOutputWithPooling:
    last_hidden_state: torch.Tensor
    pooler_output: Optional[torch.Tensor] = None


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size,
                                    config.patch_size, stride=config.patch_size)

    def forward(self, pixel_values):
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        patches = (config.image_size // config.patch_size) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, config.hidden_size) * 0.02)
        self.patch_embeddings = ViTPatchEmbeddings(config)
        self.position_embeddings = nn.Parameter(
            torch.randn(1, patches + 1, config.hidden_size) * 0.02)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, pixel_values):
        embeddings = self.patch_embeddings(pixel_values)
        cls = self.cls_token.expand(embeddings.size(0), -1, -1)
        embeddings = torch.cat([cls, embeddings], dim=1) + self.position_embeddings
        return self.dropout(embeddings)


class ViTSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.attn_implementation = config.attn_implementation
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def _heads(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(self, hidden_states):
        query = self._heads(self.query(hidden_states))
        key = self._heads(self.key(hidden_states))
        value = self._heads(self.value(hidden_states))
        if self.attn_implementation == "sdpa":
            context = nn.functional.scaled_dot_product_attention(query, key, value)
        else:
            scores = torch.matmul(query, key.transpose(-1, -2))
            scores = scores / math.sqrt(self.attention_head_size)
            probs = self.dropout(nn.functional.softmax(scores, dim=-1))
            context = torch.matmul(probs, value)
        context = context.transpose(1, 2)
        return context.reshape(context.size(0), context.size(1), -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, input_tensor):
        return self.dropout(self.dense(hidden_states))


class ViTAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = ViTSelfAttention(config)
        self.output = ViTSelfOutput(config)

    def forward(self, hidden_states):
        return self.output(self.attention(hidden_states), hidden_states)


class ViTIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = nn.GELU()

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class ViTOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, input_tensor):
        return self.dropout(self.dense(hidden_states)) + input_tensor


class ViTLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = ViTAttention(config)
        self.intermediate = ViTIntermediate(config)
        self.output = ViTOutput(config)
        self.layernorm_before = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layernorm_after = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        hidden_states = self.attention(self.layernorm_before(hidden_states)) + hidden_states
        return self.output(self.intermediate(self.layernorm_after(hidden_states)), hidden_states)


class ViTEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states):
        for layer in self.layer:
            hidden_states = layer(hidden_states)
        return hidden_states


class ViTPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class HFViTModel(nn.Module):
    """``transformers.ViTModel``'s structure and output, without the library."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = ViTEmbeddings(config)
        self.encoder = ViTEncoder(config)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = ViTPooler(config)

    def forward(self, pixel_values, return_dict=True):
        hidden = self.layernorm(self.encoder(self.embeddings(pixel_values)))
        pooled = self.pooler(hidden)
        if not return_dict:
            return hidden, pooled
        return BaseModelOutputWithPooling(last_hidden_state=hidden, pooler_output=pooled)


def hf_vit_tiny(attn_implementation="eager"):
    """HuggingFace-layout ViT (3 layers, 4 heads, eval) and ``(pixel_values,)`` of 1×3×32×32."""
    torch.manual_seed(0)
    model = HFViTModel(HFViTConfig(attn_implementation=attn_implementation)).eval()
    generator = torch.Generator().manual_seed(0)
    return model, (torch.randn(1, 3, 32, 32, generator=generator),)
