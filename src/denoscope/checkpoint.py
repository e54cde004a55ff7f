"""Checkpoints as safetensors with the model config as text: rebuilt with no other input, never unpickled."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ModelConfig, from_dict, to_dict
from .denoiser import CHUNK, Denoiser
from .errors import CheckpointError, ConfigError
from .io import WEIGHTS, atomic_file
from .nn.unet import BlindUNet
from .runtime import resolve_device


def config_text(config: Any) -> str:
    """A config dataclass as TOML text: the one form configs are written in, in files and in checkpoint metadata
    (tomli-w's text; the same text from flat_toml where tomli-w is not installed, e.g. a GPU machine's own Python)."""
    try:
        import tomli_w
    except ImportError:
        return flat_toml(to_dict(config))
    return tomli_w.dumps(to_dict(config))


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)  # inf, -inf and nan are TOML too
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # JSON's escapes are TOML's basic-string escapes
    if isinstance(v, list):
        return "[\n" + "".join(f"    {toml_value(x)},\n" for x in v) + "]" if v else "[]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def flat_toml(values: dict[str, Any]) -> str:
    """One table of scalars and lists of scalars as TOML, laid out as tomli-w lays it out."""
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    with atomic_file(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)


def save_weights(path: str | Path, model: BlindUNet, **metadata: Any) -> None:
    """Weights plus the model config (as TOML text) in one safetensors file."""
    save_tensors(Path(path), *weight_tensors(model, **metadata))


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
    except (tomllib.TOMLDecodeError, ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} has an invalid model_config ({e})") from e


def with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors stored under `prefix` (e.g. 'model.'), with the prefix taken off."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def load_network(
    path: str | Path, device: str | torch.device = "cpu", expect: ModelConfig | None = None, channels: int | None = None
) -> BlindUNet:
    """Rebuild the BlindUNet from a checkpoint alone; refuse one that does not fit `expect`/`channels`."""
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
    is_state = any(k.startswith("model.") for k in tensors)
    load_state(model, with_prefix(tensors, "model.") if is_state else tensors, file)
    return model.to(device)


def load_denoiser(path: str | Path, device: str | torch.device = "cpu", batch_size: int = CHUNK, **expect: Any) -> Denoiser:
    """The Denoiser of a checkpoint (a run directory, model.safetensors or checkpoint.safetensors), in eval mode."""
    return Denoiser(load_network(path, device, **expect), batch_size=batch_size, source=resolve(path))


def load(path: str | Path, device: str | torch.device | None = None, batch_size: int = CHUNK) -> Denoiser:
    """The Denoiser of a run folder or checkpoint on `device` (cpu, cuda, cuda:N; None: CUDA when present)."""
    return load_denoiser(path, device=resolve_device(device), batch_size=batch_size)


def file_hash(path: str | Path) -> str:
    """sha256 of a checkpoint file, so outputs can name the exact weights they were computed from."""
    h = hashlib.sha256()
    with open(resolve(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def cpu_copies(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copies on the CPU, so a file can be written from them while training changes the originals."""
    return {k: torch.as_tensor(v).detach().to("cpu", copy=True) for k, v in tensors.items()}


def weight_tensors(model: BlindUNet, **metadata: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """What save_weights writes, as CPU copies and metadata."""
    meta = {"model_config": config_text(model.config)}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    return cpu_copies(model.state_dict()), meta


def training_state(
    model: BlindUNet, optimizer: torch.optim.Optimizer, step: int, ema: BlindUNet | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Everything --resume needs, as CPU copies and metadata: weights, EMA weights, Adam moments and the step
    (the data order derives from it)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    opt = optimizer.state_dict()
    for i, state in opt["state"].items():
        tensors.update({f"optim.{i}.{k}": torch.as_tensor(v) for k, v in state.items()})
    meta = {"model_config": config_text(model.config), "step": str(step), "param_groups": json.dumps(opt["param_groups"])}
    return cpu_copies(tensors), meta


def save_training_state(
    path: str | Path,
    model: BlindUNet,
    optimizer: torch.optim.Optimizer,
    step: int,
    ema: BlindUNet | None = None,
) -> None:
    save_tensors(Path(path), *training_state(model, optimizer, step, ema))


def load_training_state(
    path: str | Path, model: BlindUNet, optimizer: torch.optim.Optimizer, ema: BlindUNet | None = None
) -> int:
    """Restore what save_training_state wrote, in place; returns the step to continue from."""
    file = Path(path)
    tensors, meta = read_tensors(file)
    if read_config(meta, file) != model.config:
        raise CheckpointError(f"checkpoint {file} holds architecture {read_config(meta, file)}, but the run asks for {model.config}")
    load_state(model, with_prefix(tensors, "model."), file)
    if ema is not None:
        if not any(k.startswith("ema.") for k in tensors):
            raise CheckpointError(f"checkpoint {file} has no EMA weights, but the run asks for an EMA")
        load_state(ema, with_prefix(tensors, "ema."), file)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in with_prefix(tensors, "optim.").items():
        i, name = k.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return int(meta["step"])
