"""φ's of two groups of images lie on two subspaces sharing common channels (paper §2.5, fig. 5)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .clusters import check_features, check_labels
from .sparsity import participation_ratio


def largest_two(assignment: np.ndarray) -> tuple[int, int]:
    """The two most populous groups (the smaller id first on a tie)."""
    groups, counts = np.unique(assignment, return_counts=True)
    order = np.lexsort((groups, -counts))
    return int(groups[order[0]]), int(groups[order[1]])


def common_channel(phi_ab: np.ndarray) -> int:
    """The channel of highest participation ratio across both groups' images, among those of at least median mean.

    PR across images near 1 means the channel responds to most images of both groups; the mean floor
    keeps out faint channels whose PR is high only because they are uniformly tiny.
    """
    mean = phi_ab.mean(axis=0)
    pr = np.nan_to_num(participation_ratio(phi_ab, axis=0))
    candidates = (mean > 0) & (mean >= np.median(mean))
    return int(np.flatnonzero(candidates)[np.argmax(pr[candidates])])


def selective_channel(mean_own: np.ndarray, mean_both: np.ndarray, exclude: list[int]) -> int:
    """The channel of highest ratio own-group mean / mean over both groups, among those of at least median own mean.

    The ratio reaches (n_a + n_b)/n_a for a channel silent in the other group; ties go to the larger own mean.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(mean_both > 0, mean_own / mean_both, 0.0)
    candidates = (mean_own > 0) & (mean_own >= np.median(mean_own))
    candidates[exclude] = False
    if not candidates.any():
        raise ConfigError("phi must have an active channel for each of the two groups besides the common one")
    idx = np.flatnonzero(candidates)
    return int(idx[np.lexsort((-mean_own[idx], -ratio[idx]))[0]])


def subspaces(
    phi: np.ndarray, assignment: np.ndarray, groups: tuple[int, int] | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """Three channels that show two groups of φ's on two planes: (selective a, selective b, common).

    Channels: the common one has the highest PR across both groups' images; the selective one of a
    group has the highest ratio of its mean over the group to its mean over both groups. `groups` picks
    two ids of `assignment` (cluster or class ids); by default the two largest groups.

    Metrics:
        groups: [a, b]; channels: [selective_a, selective_b, common].
        own_energy_fraction: per group, Σφ[own]² / (Σφ[own]² + Σφ[other]²) over its members, for the two
        selective channels (1 when a group never uses the other's channel, 0.5 if both equally).
        common_pr: PR of the common channel across both groups; selective_pr: PR of each selective channel.
    Arrays:
        channels (3,); members_a, members_b: image indices; coords_a, coords_b (n_a×3, n_b×3): φ on the
        three channels in the order of `channels`; channel_pr (C,): PR of every channel across both groups.
    """
    phi = check_features(phi)
    assignment = check_labels(assignment, phi.shape[0], "assignment")
    if phi.shape[1] < 3:
        raise ConfigError(f"phi must have at least three channels to pick three, got {phi.shape[1]}")
    present = set(np.unique(assignment).tolist())
    if groups is None:
        if len(present) < 2:
            raise ConfigError(f"assignment must name at least two groups, got {len(present)}")
        groups = largest_two(assignment)
    if len(groups) != 2 or groups[0] == groups[1] or not set(groups) <= present:
        raise ConfigError(f"groups must be two different ids present in assignment, got {groups!r}")
    a, b = (int(g) for g in groups)
    members_a, members_b = np.flatnonzero(assignment == a), np.flatnonzero(assignment == b)
    phi_ab = phi[np.concatenate([members_a, members_b])].astype(np.float64)
    mean_a, mean_b, mean_ab = phi[members_a].mean(0), phi[members_b].mean(0), phi_ab.mean(0)
    if not (mean_ab > 0).any():
        raise ConfigError(f"phi must not be zero on every image of groups {a} and {b}")
    common = common_channel(phi_ab)
    sel_a = selective_channel(mean_a, mean_ab, [common])
    sel_b = selective_channel(mean_b, mean_ab, [common, sel_a])
    channels = np.array([sel_a, sel_b, common], dtype=np.int64)
    coords_a, coords_b = phi[members_a][:, channels].astype(np.float64), phi[members_b][:, channels].astype(np.float64)
    energy_a, energy_b = (coords_a[:, :2] ** 2).sum(0), (coords_b[:, :2] ** 2).sum(0)
    pr = participation_ratio(phi_ab, axis=0)
    metrics = {
        "groups": [a, b],
        "channels": channels.tolist(),
        "own_energy_fraction": [own_fraction(energy_a[0], energy_a[1]), own_fraction(energy_b[1], energy_b[0])],
        "common_pr": float(pr[common]),
        "selective_pr": [float(pr[sel_a]), float(pr[sel_b])],
    }
    arrays = {"channels": channels, "members_a": members_a, "members_b": members_b,
              "coords_a": coords_a, "coords_b": coords_b, "channel_pr": pr}
    return metrics, arrays


def own_fraction(own: float, other: float) -> float:
    """own / (own + other), NaN when both are zero."""
    total = own + other
    return float(own / total) if total > 0 else float("nan")
