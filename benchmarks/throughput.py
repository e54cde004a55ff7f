"""Training images/s: the plain loop of the authors' scripts against denoscope's training path, in one process,
on the same network, images and batch size; and the data path alone (decoding a tar, reading a 64×64 .npz).

Usage: python benchmarks/throughput.py [--preset small] [--size 32] [--batch 32] [--steps 30] [--device cpu]
                                       [--bf16] [--compile] [--data-only]
Prints one JSON line per measurement. The plain loop: fp32, eager, a DataLoader over float tensors, `.item()`
every step. denoscope: `denoscope.train.train` itself (uint8 set in memory, batches gathered on the device, keyed
noise, no host sync between log steps, channels_last; bf16 autocast on CUDA, or with --bf16), timed from its own metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from denoscope.config import RunOptions, TrainConfig, model_config
from denoscope.data import Transform, TrainingSet, open_source
from denoscope.nn.unet import BlindUNet
from denoscope.train import StepSampler, Schedule, train

CIFAR = Path(__file__).resolve().parents[1] / "../shared/data/cifar10/train.tar"


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(preset: str, images: np.ndarray, batch: int, steps: int, device: torch.device) -> float:
    """Images/s of the authors' loop: float tensors in a DataLoader, fp32 eager, loss.item() every step."""
    torch.manual_seed(0)
    model = BlindUNet(model_config(preset)).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = TensorDataset(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    done, start = 0, None
    while done < steps + 3:
        for (x,) in loader:
            if done == 3:  # warm-up steps left out
                sync(device)
                start = time.perf_counter()
            x = x.to(device)
            sigma = torch.rand(len(x), 1, 1, 1, device=device) ** 2
            loss = F.mse_loss(model(x + sigma * torch.randn_like(x)), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()
            done += 1
            if done == steps + 3:
                break
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def denoscope_path(preset: str, npz: Path, batch: int, steps: int, args) -> float:
    """Images/s that denoscope's own training loop logs over its second half (the first half warms up)."""
    with tempfile.TemporaryDirectory() as run:
        options = RunOptions(steps=2 * steps, log_every=steps, eval_every=2 * steps, checkpoint_every=2 * steps,
                             amp=True if args.bf16 else None, device=args.device, compile=args.compile, in_memory=True)
        train(model_config(preset), TrainConfig(data=str(npz), batch_size=batch, holdout=1, flip=False), options, run, progress=False)
        records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    return [r["images_per_s"] for r in records if "images_per_s" in r][-1]


def data_path(source: str, n: int) -> float:
    """Images/s of decoding and transforming through the DataLoader path, with no network."""
    images = open_source(source)
    trainset = TrainingSet(images, Transform(flip=True))
    loader = DataLoader(trainset, batch_sampler=StepSampler(Schedule(len(trainset), 256, 0), 0, n // 256, 0, 1))
    start = time.perf_counter()
    for _ in loader:
        pass
    return (n // 256) * 256 / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="small")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--data-only", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"
    common = {"device": where, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        n = max(4 * args.batch, 2048)
        npz = Path(tmp) / f"shapes{args.size}.npz"
        source = open_source(f"synthetic:shapes?n={n}&size={args.size}")
        np.savez(npz, images=np.stack([source[i] for i in range(n)]))
        if not args.data_only:
            images = np.load(npz)["images"]
            plain = plain_loop(args.preset, images, args.batch, args.steps, device)
            ours = denoscope_path(args.preset, npz, args.batch, args.steps, args)
            precision = ("bf16 autocast" if args.bf16 or device.type == "cuda" else "fp32") + (" + compile" if args.compile else "")
            print(json.dumps({**common, "preset": args.preset, "size": args.size, "batch": args.batch,
                              "plain_loop_images_per_s": round(plain, 1), "denoscope_images_per_s": round(ours, 1),
                              "denoscope_precision": precision, "ratio": round(ours / plain, 2),
                              "peak_memory_MiB": round(peak_memory_mib(device))}), flush=True)
        for name, spec, count in (("cifar10/train.tar", str(CIFAR), 4096), (f"{args.size}x{args.size} .npz", str(npz), n)):
            if name.endswith(".tar") and not CIFAR.exists():
                continue
            print(json.dumps({**common, "data_path": name, "images_per_s": round(data_path(spec, count), 1)}), flush=True)


if __name__ == "__main__":
    main()
