"""A model with two inputs of different dtypes and a dict of two outputs.

``two_tower`` takes an image (float32, 1×3×32×32) and a bag of category ids
(int64, 1×8), and returns ``{"logits": ..., "embedding": ...}``.
"""

import torch
from torch import nn


class ImageTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, image):
        return self.pool(torch.relu(self.bn(self.conv(image)))).flatten(1)


class TextTower(nn.Module):
    def __init__(self, vocab=100, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, 16)

    def forward(self, ids):
        return self.proj(self.embed(ids).mean(dim=1))


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = ImageTower()
        self.text = TextTower()
        self.head = nn.Linear(32, 5)

    def forward(self, image, ids):
        embedding = torch.cat([self.image(image), self.text(ids)], dim=1)
        return {"logits": self.head(embedding), "embedding": embedding}


def two_tower():
    """The model and example inputs ``(image, ids)``."""
    torch.manual_seed(0)
    model = TwoTower().eval()
    example = (torch.randn(1, 3, 32, 32), torch.randint(0, 100, (1, 8)))
    return model, example
