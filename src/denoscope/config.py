"""Frozen configuration dataclasses and the named model presets."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .nn.norms import GAIN_INITS, NORMS


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a BlindUNet. The defaults are the 2025 paper's network: per-image std normalisation, conv biases,
    UNet skips, and a head that outputs the clean image."""

    channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256)
    mid_width: int = 512
    enc_depth: int = 2
    mid_depth: int = 3
    dec_depth: int = 6
    bias: bool = True
    skip: bool = True
    head: str = "image"
    norm: str = "layer"
    gain_init: str = "one"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")
        if not self.widths or min(self.widths) < 1 or self.mid_width < 1:
            raise ConfigError(f"widths must name at least one positive encoder block width, got {self.widths}")
        if min(self.enc_depth, self.mid_depth) < 1 or self.dec_depth < 2:
            raise ConfigError("enc_depth and mid_depth must be >= 1 and dec_depth >= 2")
        for field, allowed in (("norm", NORMS), ("head", HEADS), ("gain_init", GAIN_INITS)):
            if getattr(self, field) not in allowed:
                raise ConfigError(f"{field} must be one of {', '.join(allowed)}; got {getattr(self, field)!r}")

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    @property
    def block_names(self) -> tuple[str, ...]:
        """Blocks in execution order: enc1..encN, mid, decN..dec1."""
        n = self.num_blocks
        return (*(f"enc{i}" for i in range(1, n + 1)), "mid", *(f"dec{i}" for i in range(n, 0, -1)))


HEADS = ("image", "residual")
SIGMA_DISTS = ("inv-sqrt", "uniform")
RESIZE_MODES = ("resize", "center-crop", "random-patch")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SMALL = dict(widths=(32, 64, 128), mid_width=256)

PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "paper-2023": ModelConfig(norm="batch", bias=False),
    "bottleneck": ModelConfig(skip=False),
    "paper-small": ModelConfig(**SMALL),
    "small": ModelConfig(**SMALL, head="residual"),
    "tiny": ModelConfig(widths=(8, 16), mid_width=16, enc_depth=1, mid_depth=1, dec_depth=2),
}
PRESET_HELP = {
    "paper": "the 2025 paper's UNet: per-image std norm, biases, skips, clean-image head (13.1 M)",
    "paper-2023": "the authors' 2023 layer: batch std, no biases, D(αy) = αD(y) in eval mode",
    "bottleneck": "the paper's UNet without skips: everything passes through the middle block",
    "paper-small": "the paper's form at a quarter of its widths (32/64/128, mid 256), for CPUs",
    "small": "paper-small with a residual head (predicts the noise): the best CPU denoiser",
    "tiny": "a toy for tests",
}


def scaled(config: ModelConfig, width: int) -> ModelConfig:
    """The same network with its first block `width` wide and every other width in the same ratio."""
    if width < 1:
        raise ConfigError(f"width must be at least 1, got {width}")
    ratio = width / config.widths[0]
    return dataclasses.replace(config, widths=tuple(max(1, round(w * ratio)) for w in config.widths), mid_width=max(1, round(config.mid_width * ratio)))


def model_config(preset: str, **overrides: Any) -> ModelConfig:
    """A preset with some fields replaced (None values are ignored)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class TrainConfig:
    """What defines a training run besides the model shape: data, σ law, optimisation, seed.

    Stored in RUN/config.toml; a resumed run keeps it and refuses a changed field by name."""

    data: str
    val_data: str | None = None
    channels: int | None = None
    holdout: int = 512
    image_size: int | None = None
    resize: str = "resize"
    flip: bool = True
    batch_size: int = 128
    lr: float = 1e-3
    lr_halve_every: float = 100.0
    sigma_max: float = 1.0
    sigma_dist: str = "inv-sqrt"
    ema: float | None = None
    seed: int = 0
    eval_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_sigmas", tuple(float(s) for s in self.eval_sigmas))
        if self.sigma_dist not in SIGMA_DISTS:
            raise ConfigError(f"sigma_dist must be one of {', '.join(SIGMA_DISTS)}; got {self.sigma_dist!r}")
        for field in ("batch_size", "lr", "lr_halve_every", "sigma_max"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{field} must be a positive finite number, got {value}")
        if self.holdout < 1:
            raise ConfigError(f"holdout must be at least 1 image (the held-out PSNR check needs one), got {self.holdout}")
        if self.image_size is not None and self.image_size < 1:
            raise ConfigError(f"image_size must be positive, got {self.image_size}")
        if self.resize not in RESIZE_MODES:
            raise ConfigError(f"resize must be one of {', '.join(RESIZE_MODES)}; got {self.resize!r}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"channels must be 1 or 3 (or unset to keep the data's), got {self.channels}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ConfigError(f"ema decay must lie in (0, 1), got {self.ema}")
        if not self.eval_sigmas or not all(math.isfinite(s) and s > 0 for s in self.eval_sigmas):
            raise ConfigError(f"eval_sigmas must be positive finite numbers, got {list(self.eval_sigmas)}")


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out, not what it computes: length, logging, checkpoints, device. Free to change on resume.

    `in_memory` decodes the training set once into a uint8 array and assembles batches on the device (default: on
    CUDA); `cache_dir` keeps that array as a memory-mapped .npy for later runs. `compile` (torch.compile of the whole
    loss: keyed noise, network, MSE) and `fused_adam` default to on CUDA and off elsewhere; `compile_mode`
    reduce-overhead also captures the compiled step in CUDA graphs."""

    steps: int | None = None
    epochs: int | None = None
    log_every: int = 20
    eval_every: int = 500
    checkpoint_every: int = 500
    amp: bool | None = None
    workers: int | None = None
    device: str | None = None
    compile: bool | None = None
    compile_mode: str = "default"
    fused_adam: bool | None = None
    in_memory: bool | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ConfigError("give exactly one of steps or epochs")
        for field in ("steps", "epochs", "log_every", "eval_every", "checkpoint_every"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ConfigError(f"{field} must be at least 1, got {value}")
        if self.workers is not None and self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {self.workers}")
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"compile_mode must be one of {', '.join(COMPILE_MODES)}; got {self.compile_mode!r}")


def changed_fields(old: Any, new: Any) -> list[str]:
    """Names of the fields in which two configs of one class differ."""
    return [f.name for f in dataclasses.fields(old) if getattr(old, f.name) != getattr(new, f.name)]


def to_dict(config: Any) -> dict[str, Any]:
    """Plain TOML-ready fields: tuples become lists and unset (None) fields are left out."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items() if v is not None}


def from_dict(cls: type, values: dict[str, Any]):
    """Rebuild a config dataclass, refusing unknown keys by name."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    return cls(**values)
