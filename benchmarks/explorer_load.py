"""How fast an explorer opens and answers, in headless Chromium: time to the first interactive page, to a channel's
top images, and to an image's φ and neighbours (its chunk loaded on demand). Cold = the first load in a fresh browser.

Usage: python benchmarks/explorer_load.py REPORT_DIR [--repeats 3]
Prints one JSON line per load: images, data bytes, ready_ms (in-page, performance.now() at first render),
navigation_s (driver.get → ready), channel_s and image_s (click → view rendered).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def until(driver, script: str, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(script)


def timed_click(driver, selector: str, prefix: str) -> float:
    start = time.perf_counter()
    driver.find_elements(By.CSS_SELECTOR, selector)[0].click()
    until(driver, f"(document.body.dataset.view || '').startsWith('{prefix}')")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    page = (args.report / "explorer.html").resolve()
    size = sum(f.stat().st_size for f in (args.report / "data").rglob("*") if f.is_file())
    driver = browser()
    try:
        for r in range(args.repeats):
            start = time.perf_counter()
            driver.get(page.as_uri() + "#")
            ready = until(driver, "document.body.dataset.ready === '1' && window.DENOSCOPE_READY_MS")
            navigation = time.perf_counter() - start
            channel = timed_click(driver, "a.channel-link", "channel:")
            image = timed_click(driver, "#channel-top a.image-link", "image:")
            errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
            n = driver.execute_script("return window.DENOSCOPE_META.n")
            print(json.dumps({"load": "cold" if r == 0 else "warm", "images": n, "data_MB": round(size / 2**20, 1), "ready_ms": round(ready, 1),
                              "navigation_s": round(navigation, 3), "channel_s": round(channel, 3), "image_s": round(image, 3),
                              "console_errors": len(errors)}))
            driver.get("about:blank")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
