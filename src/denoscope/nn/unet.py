"""BlindUNet: the fully convolutional backbone of the paper's appendix A; `Denoiser` owns its output head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import ConfigError
from .norms import make_norm


def conv_layer(c_in: int, c_out: int, bias: bool, norm: str | None, gain_init: str = "one", relu: bool = True) -> nn.Sequential:
    """3×3 zero-padded conv, then a std normalisation (layer, batch or running) and ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)]
    if norm:
        layers.append(make_norm(norm, c_out, gain_init))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def conv_block(c_in: int, c_out: int, depth: int, c: ModelConfig) -> nn.Sequential:
    return nn.Sequential(*(conv_layer(c_in if i == 0 else c_out, c_out, c.bias, c.norm, c.gain_init) for i in range(depth)))


class BlindUNet(nn.Module):
    """Encoder, middle and decoder blocks with named outputs; never sees σ. The backbone only: its output becomes
    D(y) through the head that `denoiser.apply_head` applies, as edm keeps its network apart from the wrapper.

    With `norm="layer"` and no biases f(αy) = f(y) (biases tell it the noise level); with `norm="batch"` and no
    biases f(αy) = αf(y) in eval mode.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        n, w = c.num_blocks, c.widths
        blocks: dict[str, nn.Module] = {}
        ups: dict[str, nn.Module] = {}
        for i in range(n):
            blocks[f"enc{i + 1}"] = conv_block(c.channels if i == 0 else w[i - 1], w[i], c.enc_depth, c)
        blocks["enc1"][0] = conv_layer(c.channels, w[0], c.bias, norm=None)
        blocks["mid"] = conv_block(w[-1], c.mid_width, c.mid_depth, c)
        for i in reversed(range(n)):
            c_up = c.mid_width if i == n - 1 else w[i + 1]
            ups[f"dec{i + 1}"] = nn.ConvTranspose2d(c_up, w[i], 2, stride=2, bias=False)
            dec = conv_block(2 * w[i] if c.skip else w[i], w[i], c.dec_depth - 1 if i == 0 else c.dec_depth, c)
            if i == 0:
                dec.append(conv_layer(w[0], c.channels, c.bias, norm=None, relu=False))
            blocks[f"dec{i + 1}"] = dec
        self.blocks = nn.ModuleDict({name: blocks[name] for name in c.block_names})
        self.up = nn.ModuleDict(ups)

    @property
    def factor(self) -> int:
        """Image sides must be divisible by this (one 2× pooling per encoder block)."""
        return 2 ** self.config.num_blocks

    def receptive_field(self, block: str = "mid") -> int:
        """Side in pixels of the input region that one output position of `block` (encoder or mid) sees."""
        names = self.config.block_names
        if block not in names[: names.index("mid") + 1]:
            raise ConfigError(f"receptive fields are defined for the encoder and middle blocks, not {block!r}")
        rf, jump = 1, 1
        for name in names[: names.index(block) + 1]:
            if name != "enc1":
                rf, jump = rf + jump, 2 * jump  # 2×2 average pooling
            for m in self.blocks[name].modules():
                if isinstance(m, nn.Conv2d):
                    rf += (m.kernel_size[0] - 1) * jump
        return rf

    def check_input(self, y: torch.Tensor) -> None:
        c = self.config
        if y.ndim != 4 or y.shape[1] != c.channels:
            raise ConfigError(f"expected a batch of shape N×{c.channels}×H×W, got {tuple(y.shape)}")
        if y.shape[-2] % self.factor or y.shape[-1] % self.factor:
            raise ConfigError(
                f"image size {y.shape[-2]}×{y.shape[-1]} is not divisible by 2^{c.num_blocks} = {self.factor}; "
                "crop, resize or pad it first"
            )

    def forward_blocks(
        self, y: torch.Tensor, stop_after: str | None = None, inputs: bool = False
    ) -> dict[str, torch.Tensor]:
        """Outputs of every block (and with `inputs`, their inputs as `NAME.in`), running no block after `stop_after`."""
        c = self.config
        if stop_after is not None and stop_after not in c.block_names:
            raise ConfigError(f"unknown block {stop_after!r}; expected one of {', '.join(c.block_names)}")
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
        """The last decoder block's output: the clean image or the noise, as `config.head` says (`denoiser.apply_head`)."""
        return self.forward_blocks(y)["dec1"]
