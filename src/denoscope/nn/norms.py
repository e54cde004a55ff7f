"""Normalisation layers of the blind UNet: divide by a standard deviation (never subtract a mean), times a learned gain.

- `layer`  (the 2025 paper): each image by its own std over channels and space. An image's output never depends
  on its batch, and train mode = eval mode.
- `batch`  (the authors' 2023 code): each channel by its std over batch and space in training, by the running
  std in eval mode, so that without biases D(αy) = αD(y) in eval mode.
- `running`: each channel by the running std in training too (train mode = eval mode).
"""

from __future__ import annotations


import torch
from torch import nn

GAIN_INITS = ("one", "authors")


def init_gain(gain: torch.Tensor, how: str) -> None:
    """'one', or the authors' small random gains: N(0, (2/9/64)²), clamped to ±0.025."""
    with torch.no_grad():
        if how == "one":
            gain.fill_(1.0)
        else:
            gain.normal_(0.0, 2.0 / 9 / 64).clamp_(-0.025, 0.025)


class LayerStd(nn.Module):
    """x / (std of the image over channels and space + eps) · gain."""

    def __init__(self, channels: int, gain_init: str = "one", eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.empty(1, channels, 1, 1))
        self.eps = eps
        init_gain(self.gain, gain_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.float().std(dim=(1, 2, 3), keepdim=True, correction=0)
        return x * (self.gain / (std + self.eps)).to(x.dtype)


class BatchStd(nn.Module):
    """x / (std of the channel over batch and space) · gain; the running std in eval mode (and with `running`, always)."""

    def __init__(self, channels: int, gain_init: str = "one", running: bool = False, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.empty(1, channels, 1, 1))
        self.register_buffer("running_std", torch.ones(1, channels, 1, 1))
        self.momentum, self.eps, self.running = momentum, eps, running
        init_gain(self.gain, gain_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = self.running_std
        if self.training:
            batch_std = torch.sqrt(x.float().var(dim=(0, 2, 3), keepdim=True, correction=0) + self.eps)
            with torch.no_grad():
                self.running_std.lerp_(batch_std, self.momentum)
            std = self.running_std.clone() if self.running else batch_std
        return x * (self.gain / std).to(x.dtype)


NORMS = {
    "layer": LayerStd,
    "batch": BatchStd,
    "running": lambda channels, gain_init="one": BatchStd(channels, gain_init, running=True),
}


def make_norm(name: str, channels: int, gain_init: str = "one") -> nn.Module:
    return NORMS[name](channels, gain_init=gain_init)
