"""One progress bar per long stage, on stderr; off where nobody watches (tests, ranks other than 0)."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text


def labelled(label: str, text: str, style: str = "yellow") -> Text:
    """A styled label before text printed verbatim: user values (paths, "[1, 2]", "[/]") are never read as markup."""
    return Text.assemble((label, style), f" {text}")


@contextmanager
def stage_bar(name: str, total: float, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yields update(advance=…, completed=…, status=…) for a bar of `total` units titled `name`."""
    with Progress(TextColumn(f"[bold]{name}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[status]}"),
                  TimeElapsedColumn(), disable=not enabled) as bar:
        task = bar.add_task(name, total=total, status="")
        yield lambda **kw: bar.update(task, **kw)


def sigma_descent(update: Callable[..., None], sigma_start: float, sigma_final: float) -> Callable:
    """A reverse-diffusion callback that shows how far the slowest live image has come from σ_start down to σ_final, in %."""
    span = math.log(sigma_start / sigma_final)

    def callback(t, ids, y, sigma) -> None:
        worst = float(sigma.max())
        update(completed=100 * min(1.0, max(0.0, math.log(sigma_start / max(worst, 1e-12)) / span)), status=f"step {t}, σ̂ ≤ {worst:.3f}")

    return callback
