"""The report and the explorer in headless Chromium: no console errors, clicks lead where they should, and the first
page's time to interactive with 50 000 images (recorded in test-artifacts/browser/, not asserted)."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from denoscope.data import open_source
from denoscope.reporting.explorer import ExplorerData, thumbnail_tile, write_explorer

CHROMIUM, DRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="no chromium/chromedriver on PATH (Debian: apt-get install chromium chromium-driver)")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "browser"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--window-size=1280,1000"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout: float = 60.0):
    """Poll a JS expression until it is truthy; its value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {script}")


def errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def click(driver, selector: str, view_prefix: str):
    from selenium.webdriver.common.by import By

    element = driver.find_elements(By.CSS_SELECTOR, selector)[0]
    element.click()
    return wait_for(driver, f"document.body.dataset.view && document.body.dataset.view.startsWith('{view_prefix}') && document.body.dataset.view")


def test_report_and_explorer_work_in_a_real_browser(demo_out, browser):
    from selenium.webdriver.common.by import By

    report = demo_out[0] / "report"
    browser.get((report / "index.html").as_uri())
    wait_for(browser, "document.readyState === 'complete'")
    images = browser.execute_script("return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])")
    assert images and all(ok for _, ok in images), images
    browser.save_screenshot(str(ARTIFACTS / "report.png"))
    assert errors(browser) == []

    browser.find_element(By.LINK_TEXT, "Explorer").click()
    wait_for(browser, "document.body.dataset.ready === '1'")
    browser.save_screenshot(str(ARTIFACTS / "explorer-home.png"))
    view = click(browser, "a.channel-link", "channel:")
    top = browser.find_elements(By.CSS_SELECTOR, "#channel-top a.image-link")
    assert top, "a channel shows its top images"
    meta = browser.execute_script("return window.DENOSCOPE_META")
    channel = int(view.split(":")[1])
    assert [int(a.get_attribute("data-image")) for a in top] == meta["channel"]["top"][channel]
    browser.save_screenshot(str(ARTIFACTS / "explorer-channel.png"))

    image = int(top[0].get_attribute("data-image"))
    assert click(browser, "#channel-top a.image-link", "image:") == f"image:{image}"
    shown = [int(a.get_attribute("data-image")) for a in browser.find_elements(By.CSS_SELECTOR, "#phi-neighbours a.image-link")]
    table = np.load(demo_out[0] / "analysis" / "neighbour_table.npz")
    assert shown == table["neighbours"][image].tolist()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pixel-neighbours a.image-link")) == meta["k"]
    assert browser.find_elements(By.CSS_SELECTOR, "canvas#phi-chart")
    browser.save_screenshot(str(ARTIFACTS / "explorer-image.png"))

    click(browser, "a.cluster-link", "cluster:")
    members = browser.find_elements(By.CSS_SELECTOR, "#cluster-members a.image-link")
    cluster = int(browser.execute_script("return document.body.dataset.view").split(":")[1])
    assert len(members) == meta["clusters"]["sizes"][cluster]
    browser.save_screenshot(str(ARTIFACTS / "explorer-cluster.png"))
    browser.back()
    assert wait_for(browser, "document.body.dataset.view") == f"image:{image}"
    assert errors(browser) == []


def test_explorer_with_50000_images_is_interactive_quickly(tmp_path, browser):
    from selenium.webdriver.common.by import By

    n, c, k = 50_000, 64, 8
    rng = np.random.default_rng(0)
    source = f"synthetic:shapes?n={n}&size=32&seed=7"
    images = open_source(source)
    phi = (rng.random((n, c)) ** 4).astype(np.float32)
    order = np.argsort(-phi, axis=0)[:16].T
    data = ExplorerData(
        phi=phi, title=f"{n} synthetic images", rep=tmp_path, source=source, sigma=0.5,
        channel_pr=rng.random(c), channel_mean=phi.mean(0), channel_top=order, channel_top_values=np.take_along_axis(phi.T, order, 1),
        selectivity_split=0.5, thumbnails=np.stack([thumbnail_tile(images[i]) for i in range(n)]),
        labels=images.labels.astype(np.int16), class_names=images.class_names, assignment=rng.integers(0, 10, n), cluster_k=10,
        neighbours={"neighbours": rng.integers(0, n, (n, k)).astype(np.int32), "cosine": rng.random((n, k), dtype=np.float32),
                    "pixel_neighbours": rng.integers(0, n, (n, k)).astype(np.int32), "pixel_cosine": rng.random((n, k), dtype=np.float32)})
    page = write_explorer(tmp_path / "big", data)
    start = time.perf_counter()
    browser.get(page.as_uri())
    ready_ms = wait_for(browser, "document.body.dataset.ready === '1' && window.DENOSCOPE_READY_MS")
    wall = time.perf_counter() - start
    browser.save_screenshot(str(ARTIFACTS / "explorer-50000-home.png"))
    click(browser, "a.channel-link", "channel:")
    click(browser, "#channel-top a.image-link", "image:")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#phi-neighbours a.image-link")) == k
    browser.get(page.as_uri() + f"#image/{n - 1}")
    assert wait_for(browser, f"document.body.dataset.view === 'image:{n - 1}'")
    assert errors(browser) == []
    record = {"images": n, "ready_ms_in_page": ready_ms, "navigation_to_ready_s": round(wall, 3),
              "data_bytes": sum(f.stat().st_size for f in (tmp_path / "big" / "data").rglob("*") if f.is_file())}
    (ARTIFACTS / "explorer-50000.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)
