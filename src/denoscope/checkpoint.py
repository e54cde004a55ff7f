"""Checkpoints as safetensors with the model config as text: rebuilt with no other input, never unpickled."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig, from_dict, to_dict
from .model import BlindUNet

WEIGHTS = "model.safetensors"
STATE = "checkpoint.safetensors"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or does not fit what it is asked to be."""


def atomic_path(path: Path) -> Path:
    """A temporary sibling to write first and then rename over `path`, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_text(path: Path, text: str) -> None:
    tmp = atomic_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    tmp = atomic_path(path)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def save_weights(path: str | Path, model: BlindUNet, **metadata: Any) -> None:
    """Weights plus the model config (as TOML text) in one safetensors file."""
    meta = {"model_config": tomli_w.dumps(to_dict(model.config))}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    save_tensors(Path(path), model.state_dict(), meta)


def read_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; expected a safetensors file or a run directory")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({e})") from e


def resolve(path: str | Path) -> Path:
    """A run directory means its model.safetensors."""
    p = Path(path)
    return p / WEIGHTS if p.is_dir() else p


def read_config(meta: dict[str, str], path: Path) -> ModelConfig:
    if "model_config" not in meta:
        raise CheckpointError(f"checkpoint {path} carries no model_config; expected one written by denoscope")
    try:
        return from_dict(ModelConfig, tomllib.loads(meta["model_config"]))
    except (tomllib.TOMLDecodeError, ValueError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config ({e})") from e


def load_denoiser(
    path: str | Path,
    device: str | torch.device = "cpu",
    expect: ModelConfig | None = None,
    channels: int | None = None,
) -> BlindUNet:
    """Rebuild the denoiser from a checkpoint alone, in eval mode; refuse one that does not fit `expect`/`channels`."""
    file = resolve(path)
    tensors, meta = read_tensors(file)
    config = read_config(meta, file)
    if expect is not None and expect != config:
        raise CheckpointError(f"checkpoint {file} holds architecture {config}, but {expect} was requested")
    if channels is not None and channels != config.channels:
        raise CheckpointError(
            f"checkpoint {file} denoises {config.channels}-channel images, but the data has {channels} channel(s)"
        )
    model = BlindUNet(config)
    load_state(model, {k.removeprefix("model."): v for k, v in tensors.items() if not k.startswith(("ema.", "optim."))}, file)
    return model.to(device).eval()


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], file: Path) -> None:
    """load_state_dict, with a mismatch reported as one sentence naming the file."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
            if keys
        )
        raise CheckpointError(f"checkpoint {file} does not match the model architecture ({detail})")
    model.load_state_dict(state)


def save_training_state(
    path: str | Path,
    model: BlindUNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    ema: BlindUNet | None = None,
) -> None:
    """Everything --resume needs: weights, EMA weights, Adam moments and the step (the data order derives from it)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt = optimizer.state_dict()
    for i, state in opt["state"].items():
        tensors.update({f"optim.{i}.{k}": torch.as_tensor(v) for k, v in state.items()})
    meta = {
        "model_config": tomli_w.dumps(to_dict(model.config)),
        "step": str(step),
        "param_groups": json.dumps(opt["param_groups"]),
    }
    save_tensors(Path(path), tensors, meta)


def load_training_state(
    path: str | Path, model: BlindUNet, optimizer: torch.optim.Optimizer, ema: BlindUNet | None = None
) -> int:
    """Restore what save_training_state wrote, in place; returns the step to continue from."""
    file = Path(path)
    tensors, meta = read_tensors(file)
    if read_config(meta, file) != model.config:
        raise CheckpointError(f"checkpoint {file} holds architecture {read_config(meta, file)}, but the run asks for {model.config}")
    load_state(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, file)
    if ema is not None:
        if not any(k.startswith("ema.") for k in tensors):
            raise CheckpointError(f"checkpoint {file} has no EMA weights, but the run asks for an EMA")
        load_state(ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, file)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, i, name = k.split(".", 2)
            state.setdefault(int(i), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return int(meta["step"])
