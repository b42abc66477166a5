"""A small U-Net (encoder–decoder with long skip connections), no download needed.

Module names follow the common PyTorch U-Net (``inc``, ``down1`` … ``up1`` …,
``outc``); each ``Up`` concatenates the upsampled tensor with the matching
encoder output, so the block view shows the long skips as arcs.

Factories: :func:`unet_tiny` (module and a 1×3×64×64 example input).
"""

import torch
from torch import nn

__all__ = ["DoubleConv", "Down", "Up", "UNet", "unet_tiny"]


class DoubleConv(nn.Module):
    """(conv 3×3 → BatchNorm → ReLU) × 2."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True))

    def forward(self, x):
        return self.net(x)


class Down(nn.Module):
    """Max-pool 2×2, then a DoubleConv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(c_in, c_out)

    def forward(self, x):
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Transposed conv ×2, concatenate the skip, then a DoubleConv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, 2, stride=2)
        self.conv = DoubleConv(c_in, c_out)

    def forward(self, x, skip):
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Three-level U-Net: 16-32-64-128 channels."""

    def __init__(self, in_channels=3, classes=2, width=16):
        super().__init__()
        w = width
        self.inc = DoubleConv(in_channels, w)
        self.down1 = Down(w, 2 * w)
        self.down2 = Down(2 * w, 4 * w)
        self.down3 = Down(4 * w, 8 * w)
        self.up1 = Up(8 * w, 4 * w)
        self.up2 = Up(4 * w, 2 * w)
        self.up3 = Up(2 * w, w)
        self.outc = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(x4, x3)
        x = self.up2(x, x2)
        x = self.up3(x, x1)
        return self.outc(x)


def unet_tiny():
    """A U-Net (width 16) in eval mode and a seeded 1×3×64×64 input."""
    torch.manual_seed(0)
    return UNet().eval(), torch.randn(1, 3, 64, 64)
