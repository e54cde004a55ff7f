"""Every denoscope command once, on small inputs, on one device, in one process: which packages are missing first,
then each command's exit code and wall time in a table (benchmarks/gpu.sh runs it on CUDA, its --cpu form on the CPU).

Usage: python benchmarks/smoke.py --out DIR [--device cuda] [--data SOURCE] [--tiny] [--budget SECONDS]
Writes DIR/environment.json, DIR/smoke.json, DIR/smoke.md and DIR/logs/COMMAND.log; exits 1 when a command failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

REQUIRED = ("torch", "numpy", "safetensors", "PIL", "typer", "rich", "matplotlib", "scipy", "sklearn")
OPTIONAL = {"faiss": "scikit-learn's exact cosine search replaces it (analyse's neighbours)",
            "tomli_w": "denoscope.checkpoint.flat_toml writes the same TOML text"}


def environment() -> dict:
    """Which packages import (with versions), which do not, and the device's name."""
    found, missing = {}, []
    for name in (*REQUIRED, *OPTIONAL):
        try:
            found[name] = getattr(importlib.import_module(name), "__version__", "?")
        except ImportError:
            missing.append(name)
    env = {"python": sys.version.split()[0], "machine": platform.machine(), "found": found,
           "missing_required": [m for m in missing if m in REQUIRED],
           "missing_optional": {m: OPTIONAL[m] for m in missing if m in OPTIONAL}}
    if "torch" in found:
        import torch

        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return env


def commands(out: Path, data: str, device: str, tiny: bool) -> list[tuple[str, list[str]]]:
    """(name, arguments) of every command, each reading what the ones before it wrote."""
    run, rep, dev = out / "run", out / "rep", ["--device", device]
    steps, preset, batch, images = ("6", "tiny", "8", "32") if tiny else ("300", "paper-small", "128", "256")
    diffusion = ["--max-steps", "4" if tiny else "300"]
    return [
        ("train", ["train", "--data", data, "--preset", preset, "--out", str(run), "--steps", steps, "--batch-size", batch,
                   "--holdout", "16" if tiny else "256", "--log-every", "2" if tiny else "50", "--eval-every", steps,
                   "--checkpoint-every", steps, "--ema", "0.999", *dev]),
        ("denoise", ["denoise", "--model", str(run), "--data", data, "--out", str(out / "denoise"), "--max-images", images,
                     "--sigma", "0.1", "0.2", *dev]),
        ("represent", ["represent", "--model", str(run), "--data", data, "--out", str(rep), "--max-images", images,
                       "--sigma", "0.1", "0.3", "0.5", "--noise-draws", "2" if tiny else "8", "--maps", "16", "--chunk", "256", *dev]),
        ("analyse", ["analyse", "--rep", str(rep), "--images", data, "--max-images", images, "--out", str(out / "analysis"),
                     "--k", "4"]),
        ("sample", ["sample", "--model", str(run), "--out", str(out / "sample"), "--n", "4" if tiny else "16", "--chunk", "256", *diffusion,
                    *dev]),
        ("inverse", ["inverse", "--model", str(run), "--data", data, "--out", str(out / "inverse"), "--task", "superres",
                     "--n", "2" if tiny else "8", *diffusion, *dev]),
        ("reconstruct", ["reconstruct", "--model", str(run), "--data", data, "--index", "3", "--out", str(out / "reconstruct"),
                         "--n", "2" if tiny else "4", "--noise-draws", "2", *diffusion, *dev]),
        ("distance", ["distance", "--model", str(run), "--data", data, "--out", str(out / "distance"), "--pairs", "2",
                      "--n", "2", "--levels", "3", "--noise-draws", "2", *diffusion, *dev]),
        ("report", ["report", str(run), str(rep), str(out / "analysis"), str(out / "denoise"), str(out / "sample"),
                    str(out / "inverse"), str(out / "reconstruct"), str(out / "distance"), "--out", str(out / "report")]),
        ("draw", ["draw", str(out / "analysis"), str(out / "reconstruct"), str(out / "distance"), "--format", "pdf"]),
        ("jacobian", ["jacobian", "--model", str(run), "--data", data, "--index", "0", "--sigma", "0.1", "0.5", "--top", "4",
                      "--out", str(out / "jacobian"), *dev]),
        ("generalize", ["generalize", "--data", data, "--sizes", "1", "2" if tiny else "100", "--steps", steps, "--preset", preset,
                        "--batch-size", batch, "--holdout", "8" if tiny else "64", "--samples", "2" if tiny else "4",
                        *diffusion, "--out", str(out / "generalize"), *dev]),
    ]


class OutOfTime(Exception):
    pass


def alarm(signum, frame):
    raise OutOfTime()


def invoke(args: list[str], seconds: int) -> tuple[int, str, str]:
    """(exit code, status, log text) of one command run through the CLI in this process, stopped after `seconds`."""
    from typer.testing import CliRunner

    from denoscope.cli import app

    signal.signal(signal.SIGALRM, alarm)
    signal.alarm(max(1, seconds))
    try:
        result = CliRunner().invoke(app, args)
    finally:
        signal.alarm(0)
    text = result.output
    if isinstance(result.exception, OutOfTime):
        return 124, "timed out", text
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += "".join(traceback.format_exception(result.exception))
        return result.exit_code or 1, "crashed", text
    return result.exit_code, "ok" if result.exit_code == 0 else "refused", text


def table(rows: list[dict]) -> str:
    lines = ["| command | exit code | status | wall s |", "|---|---|---|---|"]
    return "\n".join(lines + [f"| {r['command']} | {r['exit_code']} | {r['status']} | {r['wall_s']} |" for r in rows]) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--data", default="synthetic:shapes?n=512&size=32&seed=0")
    p.add_argument("--tiny", action="store_true", help="the tiny preset and a few steps (the --cpu form)")
    p.add_argument("--budget", type=float, default=240, help="seconds for all commands; later ones are skipped past it")
    args = p.parse_args()
    shutil.rmtree(args.out / "stages", ignore_errors=True)  # a new run each time: train refuses an existing one
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    env = environment()
    (args.out / "environment.json").write_text(json.dumps(env, indent=1))
    print(f"python {env['python']}, " + ", ".join(f"{k} {v}" for k, v in env["found"].items()) + f"; GPU: {env.get('gpu')}", flush=True)
    for name, fallback in env["missing_optional"].items():
        print(f"missing (optional): {name}: {fallback}", flush=True)
    if env["missing_required"]:
        print(f"missing (required): {', '.join(env['missing_required'])}; the commands that import them will fail below", flush=True)
    deadline = time.monotonic() + args.budget
    rows = []
    for name, command in commands(args.out / "stages", args.data, args.device, args.tiny):
        left = int(deadline - time.monotonic())
        start = time.perf_counter()
        code, status, text = invoke(command, left) if left > 0 else (None, "skipped: out of time", "")
        rows.append({"command": name, "exit_code": code, "status": status, "wall_s": round(time.perf_counter() - start, 1),
                     "args": command})
        (args.out / "logs" / f"{name}.log").write_text("denoscope " + " ".join(command) + "\n\n" + text)
        print(f"{name:12s} exit {code}  {status:10s} {rows[-1]['wall_s']:7.1f} s", flush=True)
        (args.out / "smoke.json").write_text(json.dumps(rows, indent=1))
        (args.out / "smoke.md").write_text(table(rows))
    sys.exit(0 if all(r["exit_code"] == 0 for r in rows) else 1)


if __name__ == "__main__":
    main()
