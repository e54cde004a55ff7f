"""Training images/s: the plain loop of the authors' scripts against denoscope's training path with each speed lever
alone and together, in one process, on the same network, images and batch; extraction (images × draws per second)
and reverse diffusion (network evaluations per second) at batches that fill the device; and the data path alone.

Usage: python benchmarks/throughput.py [--preset paper] [--sizes 32 64] [--batch 256] [--steps 30] [--device cuda]
           [--variants plain fp32 bf16 ...] [--data images.npz] [--extraction] [--sampling] [--data-only] [--out DIR]
Prints one JSON line per measurement; with --out also writes throughput.jsonl and throughput.md there (adding to
the rows of an earlier run into the same folder).

The plain loop: fp32, eager, a DataLoader over float tensors, `.item()` every step. denoscope: `denoscope.training.train`
itself (uint8 set in memory, batches gathered on the device, keyed noise, channels_last, no host sync between log
steps, foreach EMA, background checkpoint writes), timed from its own metrics.jsonl over the second half of the steps,
with the options of each variant (bf16 autocast, fused Adam, torch.compile of the whole loss, CUDA graphs, batch).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from denoscope.config import RunOptions, TrainConfig, model_config
from denoscope.data import Transform, TrainingSet, open_source
from denoscope.denoiser import Denoiser
from denoscope.nn.unet import BlindUNet
from denoscope.denoiser import noise_averaged_means
from denoscope.sampling.engine import DiffusionConfig, reverse_diffusion, start_from
from denoscope.training import StepSampler, Schedule, train

CIFAR = Path(__file__).resolve().parents[1] / "../shared/data/cifar10/train.tar"
OFF = dict(amp=False, compile=False, fused_adam=False)
VARIANTS = {  # name: (RunOptions overrides, TrainConfig overrides, batch multiple); "plain" is the authors' loop
    "plain": None,
    "fp32": (OFF, {}, 1),
    "fp32+fused-adam": ({**OFF, "fused_adam": True}, {}, 1),
    "fp32+ema": (OFF, {"ema": 0.999}, 1),
    "fp32+compile": ({**OFF, "compile": True}, {}, 1),
    "bf16": ({**OFF, "amp": True}, {}, 1),
    "bf16+fused-adam": ({**OFF, "amp": True, "fused_adam": True}, {}, 1),
    "bf16+ema": ({**OFF, "amp": True}, {"ema": 0.999}, 1),
    "bf16+compile": ({**OFF, "amp": True, "compile": True}, {}, 1),
    "bf16+compile+fused-adam": ({"amp": True, "compile": True, "fused_adam": True}, {}, 1),
    "bf16+cuda-graphs+fused-adam": ({"amp": True, "compile": True, "compile_mode": "reduce-overhead", "fused_adam": True}, {}, 1),
    "bf16+compile+fused-adam, 2x batch": ({"amp": True, "compile": True, "fused_adam": True}, {}, 2),
}
EVALUATIONS_PER_SAMPLE = 153  # unconditional samples of paper-small on CIFAR-10 (RESULTS, issue 13)
EXTRACTION_SIGMAS = (0.1, 0.5)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak so far, not per row


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def training_images(size: int, n: int, data: str | None) -> np.ndarray:
    """n uint8 size×size×3 images: from a uint8 .npz (tiled by pixel repetition or cropped to the size), else synthetic."""
    if data:
        images = np.load(data)["images"][:n]
        factor = -(-size // images.shape[1])
        return np.ascontiguousarray(images.repeat(factor, 1).repeat(factor, 2)[:, :size, :size])
    source = open_source(f"synthetic:shapes?n={n}&size={size}")
    return np.stack([source[i] for i in range(n)])


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


def denoscope_path(preset: str, npz: Path, batch: int, steps: int, device: str, options: dict, config: dict) -> dict:
    """Images/s that denoscope's own training loop logs over its second half (the first half warms up), and the
    compile time it records."""
    if options.get("compile"):
        torch._dynamo.reset()  # a fresh compile per variant, under the recompile limit (inductor's cache may serve it)
    with tempfile.TemporaryDirectory() as run:
        run_options = RunOptions(steps=2 * steps, log_every=steps, eval_every=2 * steps, checkpoint_every=2 * steps,
                                 device=device, in_memory=True, **options)
        train(model_config(preset), TrainConfig(data=str(npz), batch_size=batch, holdout=1, flip=False, **config),
              run_options, run, progress=False)
        records = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    compiled = [r["compile_seconds"] for r in records if "compile_seconds" in r]
    last = [r for r in records if "images_per_s" in r][-1]
    return {"images_per_s": last["images_per_s"], "loss": round(last["loss"], 6), "compile_seconds": compiled[0] if compiled else None}


def attempt(device: torch.device, measure) -> dict:
    """measure()'s row, or its error in the row: on a GPU lent for minutes, one lever that fails (out of memory, a
    compile error) must not cost the rows after it. The traceback still goes to stderr."""
    try:
        return measure()
    except Exception as e:  # noqa: BLE001 — recorded, printed, and the next row measured
        traceback.print_exc()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return {"error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}"}


def training_row(args, name: str, images: np.ndarray, npz: Path, device: torch.device) -> dict:
    if name == "plain":
        return {"images_per_s": plain_loop(args.preset, images, args.batch, args.steps, device), "loss": None,
                "compile_seconds": None, "batch": args.batch}
    options, config, multiple = VARIANTS[name]
    return {**denoscope_path(args.preset, npz, args.batch * multiple, args.steps, args.device, options, config),
            "batch": args.batch * multiple}


def training_rows(args, size: int, device: torch.device, tmp: Path):
    """One row per variant at this size: images/s, ratio to the plain loop, peak memory (or the variant's error)."""
    batches = [args.batch * VARIANTS[v][2] for v in args.variants if VARIANTS.get(v)]
    n = max(4 * max(batches, default=args.batch), 1024)
    images = training_images(size, n, args.data)
    npz = tmp / f"train{size}.npz"
    np.savez(npz, images=images)
    plain = None
    for name in args.variants:
        reset_peak(device)
        start = time.perf_counter()
        row = attempt(device, lambda: training_row(args, name, images, npz, device))
        rate = row.get("images_per_s")
        if name == "plain":
            plain = rate
        yield {"kind": "training", "preset": args.preset, "size": size, "variant": name, **row,
               "images_per_s": None if rate is None else round(rate, 1),
               "vs_plain": round(rate / plain, 2) if rate and plain else None,
               "peak_memory_MiB": round(peak_memory_mib(device)), "wall_s": round(time.perf_counter() - start, 1)}


@torch.no_grad()
def extraction_rate(net: BlindUNet, x: torch.Tensor, draws: int, chunk: int, device: torch.device) -> float:
    """Noisy images through encoder and middle block per second, at EXTRACTION_SIGMAS, in chunks of `chunk`."""
    denoiser, ids, sigmas = Denoiser(net, batch_size=chunk), torch.arange(len(x), device=device), EXTRACTION_SIGMAS
    noise_averaged_means(denoiser, x[:2], ids[:2], sigmas, draws, 0)  # warm-up
    sync(device)
    start = time.perf_counter()
    noise_averaged_means(denoiser, x, ids, sigmas, draws, 0)["mid"].cpu()
    return len(x) * draws * len(sigmas) / (time.perf_counter() - start)


def extraction_rows(args, size: int, device: torch.device):
    """φ extraction: images × draws × σ per second, by chunk size."""
    torch.manual_seed(0)
    net = BlindUNet(model_config(args.preset)).to(device)
    x = torch.rand(args.extract_images, 3, size, size, device=device)
    for chunk in args.chunks:
        reset_peak(device)
        row = attempt(device, lambda: {"images_x_draws_per_s": round(extraction_rate(net, x, args.draws, chunk, device), 1)})
        yield {"kind": "extraction", "preset": args.preset, "size": size, "chunk": chunk, "images": args.extract_images,
               "draws": args.draws, "sigmas": len(EXTRACTION_SIGMAS), **row, "peak_memory_MiB": round(peak_memory_mib(device))}


@torch.no_grad()
def sampling_rate(net: BlindUNet, n: int, size: int, steps: int, device: torch.device) -> float:
    """Network evaluations per second of `steps` steps of reverse diffusion of n samples (an untrained network never
    converges, so every image runs every step)."""
    denoiser, mean = Denoiser(net, batch_size=n), torch.full((3, size, size), 0.5, device=device)
    reverse_diffusion(denoiser, start_from(mean, n, 0), 0, DiffusionConfig(max_steps=1, sigma_final=1e-9, diverge=1e9))
    sync(device)
    start = time.perf_counter()
    result = reverse_diffusion(denoiser, start_from(mean, n, 0), 0, DiffusionConfig(max_steps=steps, sigma_final=1e-9, diverge=1e9))
    sync(device)
    return result.evaluations / (time.perf_counter() - start)


def sampling_rows(args, size: int, device: torch.device):
    """Reverse diffusion by batch: evaluations/s, and samples/s at 153 evaluations per sample."""
    torch.manual_seed(0)
    net = BlindUNet(model_config(args.preset)).to(device)
    for n in args.sample_batches:
        reset_peak(device)
        row = attempt(device, lambda: {"evaluations_per_s": sampling_rate(net, n, size, args.sample_steps, device)})
        rate = row.pop("evaluations_per_s", None)
        yield {"kind": "sampling", "preset": args.preset, "size": size, "batch": n, "steps": args.sample_steps, **row,
               "evaluations_per_s": None if rate is None else round(rate, 1),
               "samples_per_s_at_153_evaluations": None if rate is None else round(rate / EVALUATIONS_PER_SAMPLE, 2),
               "peak_memory_MiB": round(peak_memory_mib(device))}


def data_path(source: str, n: int) -> float:
    """Images/s of decoding and transforming through the DataLoader path, with no network."""
    images = open_source(source)
    trainset = TrainingSet(images, Transform(flip=True))
    loader = DataLoader(trainset, batch_sampler=StepSampler(Schedule(len(trainset), 256, 0), 0, n // 256, 0, 1))
    start = time.perf_counter()
    for _ in loader:
        pass
    return (n // 256) * 256 / (time.perf_counter() - start)


def data_rows(args, tmp: Path):
    npz = tmp / "data32.npz"
    np.savez(npz, images=training_images(32, 2048, args.data))
    for name, spec, count in (("cifar10/train.tar", str(CIFAR), 4096), ("32x32 .npz", str(npz), 2048)):
        if name.endswith(".tar") and not CIFAR.exists():
            continue
        yield {"kind": "data", "data_path": name, "images_per_s": round(data_path(spec, count), 1)}


def markdown(rows: list[dict]) -> str:
    """The rows as Markdown tables, one per kind."""
    columns = {
        "training": ["preset", "size", "variant", "batch", "images_per_s", "vs_plain", "loss", "compile_seconds", "peak_memory_MiB", "wall_s"],
        "extraction": ["preset", "size", "chunk", "images", "draws", "sigmas", "images_x_draws_per_s", "peak_memory_MiB"],
        "sampling": ["preset", "size", "batch", "steps", "evaluations_per_s", "samples_per_s_at_153_evaluations", "peak_memory_MiB"],
        "data": ["data_path", "images_per_s"],
    }
    out = []
    for kind, cols in columns.items():
        chosen = [r for r in rows if r["kind"] == kind]
        if chosen:
            cols = cols + ["error"] * any("error" in r for r in chosen)
            out += [f"### {kind}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            out += ["| " + " | ".join("–" if r.get(c) is None else str(r.get(c)) for c in cols) + " |" for r in chosen]
            out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="small")
    p.add_argument("--sizes", "--size", type=int, nargs="+", default=[32])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--device", default="cpu")
    p.add_argument("--variants", nargs="*", default=["plain", "fp32", "bf16"], help=f"of {', '.join(VARIANTS)}")
    p.add_argument("--data", help="a uint8 .npz (images N×H×W×C) to train on instead of synthetic shapes")
    p.add_argument("--extraction", action="store_true")
    p.add_argument("--extract-images", type=int, default=64)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--chunks", type=int, nargs="+", default=[64, 512])
    p.add_argument("--sampling", action="store_true")
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--sample-batches", type=int, nargs="+", default=[64, 512])
    p.add_argument("--data-only", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s) {unknown}; expected some of {list(VARIANTS)}")
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"
    common = {"device": where, "torch": torch.__version__}
    saved = args.out / "throughput.jsonl" if args.out else None
    rows = [json.loads(line) for line in saved.read_text().splitlines()] if saved and saved.exists() else []  # appended to
    with tempfile.TemporaryDirectory() as tmp:
        parts = [data_rows(args, Path(tmp))] if args.data_only else [
            *(training_rows(args, s, device, Path(tmp)) for s in args.sizes if args.variants),
            *(extraction_rows(args, s, device) for s in args.sizes if args.extraction),
            *(sampling_rows(args, s, device) for s in args.sizes if args.sampling)]
        for part in parts:
            for row in part:
                rows.append({**common, **row})
                print(json.dumps(rows[-1]), flush=True)
                if args.out:
                    args.out.mkdir(parents=True, exist_ok=True)
                    (args.out / "throughput.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
                    (args.out / "throughput.md").write_text(f"{where}, torch {torch.__version__}\n\n" + markdown(rows))


if __name__ == "__main__":
    main()
