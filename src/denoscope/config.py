"""Frozen configuration dataclasses and the named model presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a BlindUNet; with `bias=False` the network is homogeneous of degree 1."""

    channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256)
    mid_width: int = 512
    enc_depth: int = 2
    mid_depth: int = 3
    dec_depth: int = 6
    bias: bool = False
    skip: bool = False
    head: str = "image"
    norm: str = "batch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.channels < 1:
            raise ValueError(f"channels must be >= 1, got {self.channels}")
        if not self.widths:
            raise ValueError("widths must name at least one encoder block width")
        if min(self.enc_depth, self.mid_depth) < 1 or self.dec_depth < 2:
            raise ValueError("enc_depth and mid_depth must be >= 1 and dec_depth >= 2")
        if self.norm not in ("batch", "running"):
            raise ValueError(f"norm must be 'batch' (the authors') or 'running', got {self.norm!r}")
        if self.head not in ("image", "residual"):
            raise ValueError(f"head must be 'image' or 'residual', got {self.head!r}")

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    @property
    def block_names(self) -> tuple[str, ...]:
        """Blocks in execution order: enc1..encN, mid, decN..dec1."""
        n = self.num_blocks
        return (*(f"enc{i}" for i in range(1, n + 1)), "mid", *(f"dec{i}" for i in range(n, 0, -1)))


PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(),
    "small": ModelConfig(widths=(32, 64, 128), mid_width=256, skip=True, head="residual"),
    "tiny": ModelConfig(widths=(8, 16), mid_width=16, enc_depth=1, mid_depth=1, dec_depth=2),
}


def model_config(preset: str, **overrides: Any) -> ModelConfig:
    """A preset with some fields replaced (None values are ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run besides the model shape."""

    data: str
    val_data: str | None = None
    channels: int | None = None
    holdout: int = 512
    image_size: int | None = None
    resize: str = "resize"
    flip: bool = True
    batch_size: int = 128
    steps: int | None = None
    epochs: int | None = None
    lr: float = 1e-3
    lr_halve_every: float = 100.0
    sigma_max: float = 1.0
    sigma_dist: str = "inv-sqrt"
    ema: float | None = None
    seed: int = 0
    log_every: int = 20
    eval_every: int = 500
    checkpoint_every: int = 500
    eval_sigmas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    amp: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_sigmas", tuple(float(s) for s in self.eval_sigmas))
        if (self.steps is None) == (self.epochs is None):
            raise ValueError("give exactly one of steps or epochs")
        if self.sigma_dist not in ("inv-sqrt", "uniform"):
            raise ValueError(f"sigma_dist must be 'inv-sqrt' or 'uniform', got {self.sigma_dist!r}")
        if self.batch_size < 1 or self.sigma_max <= 0 or self.lr <= 0:
            raise ValueError("batch_size, sigma_max and lr must be positive")
        if self.channels not in (None, 1, 3):
            raise ValueError(f"channels must be 1 or 3 (or unset to keep the data's), got {self.channels}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema decay must lie in (0, 1), got {self.ema}")


def to_dict(config: ModelConfig | TrainConfig) -> dict[str, Any]:
    """Plain TOML-ready fields: tuples become lists and unset (None) fields are left out."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items() if v is not None}


def from_dict(cls: type, values: dict[str, Any]):
    """Rebuild a config dataclass, refusing unknown keys by name."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    return cls(**values)
