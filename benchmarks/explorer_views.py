"""The explorer's views with 50 000 images, timed in headless Chromium: first page interactive, a page change, a label
filter, the last page of a filter, opening the map of φ, and the data files' sizes. The explorer is the browser
test's own (synthetic thumbnails, random φ of 64 channels, a PCA map), built once into OUT.

Usage: python benchmarks/explorer_views.py OUT [--repeats 3]   (prints one JSON line per load; the first is cold)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from explorer_load import browser  # noqa: E402
from test_browser import explorer_50000, timings_50000  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    page, labels = explorer_50000(args.out)
    driver = browser()
    try:
        for r in range(args.repeats):
            print(json.dumps({"load": "cold" if r == 0 else "warm", "images": len(labels)} | timings_50000(driver, page, labels, 8)))
            driver.get("about:blank")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
