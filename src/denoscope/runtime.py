"""Where the work runs: device choice, bf16 autocast, and torchrun's process group."""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist

from .errors import ConfigError


def resolve_device(name: str | None = None) -> torch.device:
    """`cpu`, `cuda`, `cuda:N`, or None for CUDA when present; refuse a device this machine does not have.
    CUDA comes back indexed (`cuda` is the current GPU), as torch.cuda.set_device and device comparisons need."""
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for, but this machine has no CUDA GPU; use cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r} is not supported; expected cpu, cuda or cuda:N")
    return device


def autocast(device: torch.device, amp: bool | None = None):
    """bf16 autocast where asked; None asks for it on CUDA only (a CPU without native bf16 would be slower)."""
    if amp or (amp is None and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def init_distributed(device: str | None = None) -> tuple[int, int, torch.device]:
    """(rank, world size, device) from torchrun's environment; one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda" and world > 1:
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return rank, world, chosen


def teardown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
