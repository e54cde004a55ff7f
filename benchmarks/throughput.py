"""Training and inference images/s of each preset, and the process's peak memory.

Usage: python benchmarks/throughput.py [--preset small] [--size 32] [--batch 32] [--device cpu] [--bf16]
Without --preset every preset is measured, each in a fresh process so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from denoscope.config import PRESETS
from denoscope.model import BlindUNet, count_parameters

DEFAULT_SIZES = {"paper": 64, "small": 32, "tiny": 32}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, iters: int, device: torch.device) -> float:
    fn()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / iters


def measure(preset: str, size: int, batch: int, iters: int, device: torch.device, bf16: bool) -> dict:
    model = BlindUNet(PRESETS[preset]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator(device).manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=g, device=device)
    y = x + 0.2 * torch.randn(x.shape, generator=g, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def train_step():
        with autocast:
            loss = F.mse_loss(model(y).float(), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer():
        with autocast:
            model(y)

    model.train()
    t_train = timed(train_step, iters, device)
    model.eval()
    t_infer = timed(infer, iters, device)
    return {
        "preset": preset, "params_M": round(count_parameters(model) / 1e6, 3), "size": size, "batch": batch,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})",
        "precision": "bf16 autocast" if bf16 else "fp32",
        "train_images_per_s": round(batch / t_train, 1), "infer_images_per_s": round(batch / t_infer, 1),
        "peak_memory_MiB": round(peak_memory_mb(device)), "torch": torch.__version__,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--preset", choices=list(PRESETS))
    p.add_argument("--size", type=int)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    args = p.parse_args()
    if args.preset is None:
        for preset in PRESETS:
            cmd = [sys.executable, __file__, "--preset", preset, "--batch", str(args.batch), "--iters", str(args.iters), "--device", args.device]
            cmd += ["--size", str(args.size)] if args.size else []
            cmd += ["--bf16"] if args.bf16 else []
            subprocess.run(cmd, check=True)
        return
    size = args.size or DEFAULT_SIZES[args.preset]
    print(json.dumps(measure(args.preset, size, args.batch, args.iters, torch.device(args.device), args.bf16)), flush=True)


if __name__ == "__main__":
    main()
