"""BlindUNet: the fully convolutional, bias-free blind denoiser of the paper's appendix A."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig


class ChannelScale(nn.Module):
    """Divide each channel by its std over batch and space, times a learned gain (no mean, no shift).

    `running=True` divides by the running std in training too, so training and eval compute the same function.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5, running: bool = False):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("running_std", torch.ones(1, channels, 1, 1))
        self.momentum = momentum
        self.eps = eps
        self.running = running

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = self.running_std
        if self.training:
            batch_std = torch.sqrt(x.float().var(dim=(0, 2, 3), keepdim=True, unbiased=False) + self.eps)
            with torch.no_grad():
                self.running_std.lerp_(batch_std, self.momentum)
            std = self.running_std.clone() if self.running else batch_std
        return x * (self.gain / std).to(x.dtype)


def conv_layer(c_in: int, c_out: int, bias: bool, norm: str | None = "batch", relu: bool = True) -> nn.Sequential:
    """3×3 zero-padded conv, then channel-std normalisation (batch or running std) and ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)]
    if norm:
        layers.append(ChannelScale(c_out, running=norm == "running"))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_block(c_in: int, c_out: int, depth: int, bias: bool, norm: str) -> nn.Sequential:
    return nn.Sequential(*(conv_layer(c_in if i == 0 else c_out, c_out, bias, norm) for i in range(depth)))


class BlindUNet(nn.Module):
    """Encoder, middle and decoder blocks with named outputs; never sees σ."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        n, w = c.num_blocks, c.widths
        blocks: dict[str, nn.Module] = {}
        ups: dict[str, nn.Module] = {}
        for i in range(n):
            blocks[f"enc{i + 1}"] = conv_block(c.channels if i == 0 else w[i - 1], w[i], c.enc_depth, c.bias, c.norm)
        blocks["enc1"][0] = conv_layer(c.channels, w[0], c.bias, norm=None)
        blocks["mid"] = conv_block(w[-1], c.mid_width, c.mid_depth, c.bias, c.norm)
        for i in reversed(range(n)):
            c_up = c.mid_width if i == n - 1 else w[i + 1]
            ups[f"dec{i + 1}"] = nn.ConvTranspose2d(c_up, w[i], 2, stride=2, bias=False)
            dec = conv_block(2 * w[i] if c.skip else w[i], w[i], c.dec_depth - 1 if i == 0 else c.dec_depth, c.bias, c.norm)
            if i == 0:
                dec.append(conv_layer(w[0], c.channels, c.bias, norm=None, relu=False))
            blocks[f"dec{i + 1}"] = dec
        self.blocks = nn.ModuleDict({name: blocks[name] for name in c.block_names})
        self.up = nn.ModuleDict(ups)

    @property
    def factor(self) -> int:
        """Image sides must be divisible by this (one 2× pooling per encoder block)."""
        return 2 ** self.config.num_blocks

    def check_input(self, y: torch.Tensor) -> None:
        c = self.config
        if y.ndim != 4 or y.shape[1] != c.channels:
            raise ValueError(f"expected a batch of shape N×{c.channels}×H×W, got {tuple(y.shape)}")
        if y.shape[-2] % self.factor or y.shape[-1] % self.factor:
            raise ValueError(
                f"image size {y.shape[-2]}×{y.shape[-1]} is not divisible by 2^{c.num_blocks} = {self.factor}; "
                "crop, resize or pad it first"
            )

    def forward_blocks(
        self, y: torch.Tensor, stop_after: str | None = None, inputs: bool = False
    ) -> dict[str, torch.Tensor]:
        """Outputs of every block (and with `inputs`, their inputs as `NAME.in`), running no block after `stop_after`."""
        c = self.config
        if stop_after is not None and stop_after not in c.block_names:
            raise ValueError(f"unknown block {stop_after!r}; expected one of {', '.join(c.block_names)}")
        self.check_input(y)
        out: dict[str, torch.Tensor] = {}
        skips: dict[str, torch.Tensor] = {}
        h = y
        for name in c.block_names:
            if name.startswith("enc") and name != "enc1":
                h = F.avg_pool2d(h, 2)
            elif name == "mid":
                h = F.avg_pool2d(h, 2)
            elif name.startswith("dec"):
                h = self.up[name](h)
                if c.skip:
                    h = torch.cat([skips["enc" + name[3:]], h], dim=1)
            if inputs:
                out[f"{name}.in"] = h
            h = self.blocks[name](h)
            out[name] = h
            if name.startswith("enc"):
                skips[name] = h
            if name == stop_after:
                break
        return out

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """D(y): the denoised image."""
        f = self.forward_blocks(y)["dec1"]
        return y - f if self.config.head == "residual" else f


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
