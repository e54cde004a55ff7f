"""Markdown rows of a reconstruct stage's metrics.json (issue 26): matching, cost, and each measure guided vs baselines."""

import json
import sys
from pathlib import Path

NAMES = {"phi_distance": "φ-distance to the target ‖φ − φ_t‖/‖φ_t‖ (σ = {sigma}) ↓",
         "blurred_psnr": "PSNR of 4×4 block averages (colour and layout), dB ↑",
         "colour_histogram_distance": "colour-histogram distance (total variation, 64 colours) ↓",
         "rms_to_target": "RMS pixel distance to the target ↓",
         "class_agreement": "probe's class = the target's class ↑"}


def rows(path: Path) -> str:
    m = json.loads((path / "metrics.json").read_text())
    a, g = m["assessment"], m["matching"]
    out = [f"matching: {g['image_calls']} image-calls, error before {g['error_before_median']:.3f} → after {g['error_after_median']:.3f} "
           f"(median; 90th pct after {g['error_after_p90']:.3f}), reached tolerance {g['tolerance']} in {g['reached_tolerance']:.0%}, "
           f"lowered in {g['lowered']:.1%}, {g['iterations_mean']:.1f} iterations per call",
           f"cost: {m['evaluations_per_sample']:.0f} network evaluations and {m['seconds_per_sample']:.1f} s per sample "
           f"({m['images']} samples, {m['converged']} converged, {m['seconds']:.0f} s); matching passes (encoder + middle, forward + backward) "
           f"{g['iterations_total'] / m['images']:.0f} per sample",
           f"φ of the target against a second estimate of itself: {a['phi_distance_target_to_itself_median']:.3f} (the floor)",
           "", "| measure (median over targets; mean) | guided | unguided | random images | targets where guided is closer than unguided / random / both |",
           "|---|---|---|---|---|"]
    for name, v in a["measures"].items():
        med = v["median"]
        mean = {k: sum(v[k]) / len(v[k]) for k in ("guided", "unguided", "random")}
        wins = " / ".join(f"{v[f'guided_closer_than_{k}'] * a['targets']:.0f}" for k in ("unguided", "random", "both"))
        out.append(f"| {NAMES[name].format(sigma=a['phi_sigma'])} | " + " | ".join(f"{med[k]:.3f}; {mean[k]:.3f}" for k in ("guided", "unguided", "random"))
                   + f" | {wins} of {a['targets']} |")
    s = a["spread"]
    out.append(f"| spread: mean pairwise RMS between samples | {s['samples_pairwise_rms_median']:.3f} | {s['unguided_pairwise_rms']:.3f} "
               f"| {s['random_pairwise_rms']:.3f} | |")
    if "rms_to_nearest_train" in s:
        import numpy as np
        out.append(f"| copying: RMS to the target vs to the nearest of the probe's training images | {np.median(s['rms_to_target']):.3f} vs "
                   f"{np.median(s['rms_to_nearest_train']):.3f} | | nearest-train {s['random_rms_to_nearest_train_median']:.3f} | |")
    if "probe_accuracy_on_targets" in a:
        out.append(f"\nprobe accuracy on the targets themselves {a['probe_accuracy_on_targets']:.2f}, on the random images "
                   f"{a['probe_accuracy_on_random']:.2f}")
    return "\n".join(out)


if __name__ == "__main__":
    print(rows(Path(sys.argv[1])))
