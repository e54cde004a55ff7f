"""The report and the explorer in headless Chromium: no console errors, clicks lead where they should (filters, the map
of φ, compare, a channel's histogram and maps, full-size figures), and with 50 000 images the time to interactive, a
page change, a filter and the map (recorded in test-artifacts/browser/explorer-50000.json, not asserted)."""

import base64
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from denoscope.analysis.embedding import pca_map
from denoscope.data import open_source
from denoscope.reporting.explorer import HIST_BINS, MAPS_PER_CHANNEL, ExplorerData, thumbnail_tile, write_explorer
from denoscope.representation import Representation

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


def shown(driver, selector: str) -> list[int]:
    from selenium.webdriver.common.by import By

    return [int(a.get_attribute("data-image")) for a in driver.find_elements(By.CSS_SELECTOR, selector)]


def meta_array(meta_b64: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(meta_b64), dtype=np.dtype(dtype).newbyteorder("<"))


def view_is(driver, view: str):
    return wait_for(driver, f"document.body.dataset.view === {json.dumps(view)}")


def choose(driver, select_id: str, value) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, select_id)).select_by_value(str(value))


def isolated_point(driver) -> tuple[int, float, float]:
    """An image whose map point has no other within 12 px, and its canvas position."""
    return driver.execute_script("""
        const n = window.DENOSCOPE_META.n, xy = [...Array(n).keys()].map(window.DENOSCOPE_MAP_POINT);
        for (let i = 0; i < n; i++) {
          if (xy.every(([x, y], j) => j === i || (x - xy[i][0]) ** 2 + (y - xy[i][1]) ** 2 > 144)) return [i, xy[i][0], xy[i][1]];
        }
        return null;""")


def click_at(driver, element, x: float, y: float) -> None:
    """Click `element` at (x, y) CSS pixels from its top-left corner (selenium offsets count from its centre)."""
    from selenium.webdriver.common.action_chains import ActionChains

    size = element.size
    ActionChains(driver).move_to_element_with_offset(element, int(round(x - size["width"] / 2)), int(round(y - size["height"] / 2))).click().perform()


def test_explorer_views_filter_map_compare_channel_and_full_size_figures(demo_out, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    folder = demo_out[0]
    report = folder / "report"
    browser.get((report / "explorer.html").as_uri())
    wait_for(browser, "document.body.dataset.ready === '1'")
    meta = browser.execute_script("return window.DENOSCOPE_META")
    labels, assignment = meta_array(meta["labels"], "i2"), meta_array(meta["clusters"]["assignment"], "i2")
    assert shown(browser, "#image-thumbs a.image-link") == list(range(min(meta["n"], 200)))
    label, cluster = int(labels[0]), int(assignment[0])
    choose(browser, "filter-label", label)
    assert shown(browser, "#image-thumbs a.image-link") == np.flatnonzero(labels == label).tolist()
    choose(browser, "filter-cluster", cluster)
    assert shown(browser, "#image-thumbs a.image-link") == np.flatnonzero((labels == label) & (assignment == cluster)).tolist()
    assert browser.execute_script("return location.hash") == f"#home/{label}/{cluster}/1"
    browser.save_screenshot(str(ARTIFACTS / "explorer-filter.png"))

    browser.get((report / "explorer.html").as_uri() + "#map/cluster")
    view_is(browser, "map:cluster")
    click(browser, "a.map-colour[data-by='label']", "map:label")
    wait_for(browser, "document.getElementById('map-legend').childElementCount > 0")
    assert "PCA of φ" in browser.find_element(By.ID, "map-legend").text
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#map-legend .dot")] == sorted(
        set(meta["class_names"][v] for v in labels), key=meta["class_names"].index)
    browser.save_screenshot(str(ARTIFACTS / "explorer-map.png"))
    i, x, y = isolated_point(browser)
    click_at(browser, browser.find_element(By.ID, "phi-map"), x, y)
    view_is(browser, f"image:{i}")
    assert "chunk" not in browser.find_element(By.ID, "app").text

    click(browser, "#compare-link", "compare:")
    wait_for(browser, "document.querySelectorAll('#compare-top a.channel-link').length > 0")
    j = int(browser.find_element(By.ID, "compare-b").get_attribute("value"))
    rep = Representation(folder / "rep")
    phi = np.asarray(rep.phi(meta["sigma"]), dtype=np.float32)
    cosine = float(phi[i] @ phi[j] / np.linalg.norm(phi[i]) / np.linalg.norm(phi[j]))
    assert f"cosine of φ {cosine:.4f}" in browser.find_element(By.ID, "compare-facts").text
    top = [int(a.get_attribute("data-channel")) for a in browser.find_elements(By.CSS_SELECTOR, "#compare-top a.channel-link")]
    assert top == np.argsort(-(phi[i] - phi[j]), kind="stable")[:10].tolist()
    assert len(browser.find_elements(By.CSS_SELECTOR, "canvas.phi-chart")) == 3
    browser.save_screenshot(str(ARTIFACTS / "explorer-compare.png"))

    channel = int(click(browser, "#compare-top a.channel-link", "channel:").split(":")[1])
    wait_for(browser, "document.querySelectorAll('#channel-histogram rect').length > 0")
    counts = [int(re.match(r"([\d,]+) images", t.get_attribute("textContent"))[1].replace(",", ""))
              for t in browser.find_elements(By.CSS_SELECTOR, "#channel-histogram title")]
    assert len(counts) == HIST_BINS and sum(counts) == meta["n"]
    with_maps = rep.manifest["maps"]["count"]
    strongest = [i for i in np.argsort(-phi[:with_maps, channel], kind="stable")[:MAPS_PER_CHANNEL] if phi[i, channel] > 0]
    assert shown(browser, "#channel-maps a.image-link") == strongest
    assert len(browser.find_elements(By.CSS_SELECTOR, "#channel-maps canvas.heat")) == len(strongest)
    browser.save_screenshot(str(ARTIFACTS / "explorer-channel-maps.png"))

    browser.get((report / "index.html").as_uri())
    wait_for(browser, "document.readyState === 'complete'")
    zoom = next(z for z in browser.find_elements(By.CSS_SELECTOR, "a.zoom") if z.is_displayed())  # the training PNG hides behind its chart
    inline = zoom.find_element(By.TAG_NAME, "img").size["width"]
    zoom.click()
    box = browser.find_element(By.CSS_SELECTOR, "a.lightbox:target")
    assert box.is_displayed() and box.find_element(By.TAG_NAME, "img").size["width"] >= inline
    browser.save_screenshot(str(ARTIFACTS / "report-full-size.png"))
    box.click()
    assert not browser.find_elements(By.CSS_SELECTOR, "a.lightbox:target") and not box.is_displayed()
    browser.execute_script("arguments[0].click()", zoom)
    assert box.is_displayed()
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    wait_for(browser, "!document.querySelector('a.lightbox:target')")
    assert not box.is_displayed()
    assert errors(browser) == []


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
    shown = [i for i in meta["channel"]["top"][channel] if i >= 0]  # −1 pads a channel that fires on fewer images than the list holds
    assert [int(a.get_attribute("data-image")) for a in top] == shown
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


def test_each_runs_explorer_in_a_several_run_report_opens_and_leads_back(demo_out, browser, tmp_path):
    from selenium.webdriver.common.by import By

    from denoscope.reporting.build import build_report

    out = demo_out[0]
    shutil.copytree(out / "rep", tmp_path / "rep2")
    shutil.copytree(out / "analysis", tmp_path / "analysis2")
    metrics = json.loads((tmp_path / "analysis2" / "metrics.json").read_text())
    (tmp_path / "analysis2" / "metrics.json").write_text(json.dumps({**metrics, "rep": str(tmp_path / "rep2")}))
    index = build_report([out / "run", out / "rep", out / "analysis", tmp_path / "rep2", tmp_path / "analysis2"], tmp_path / "r")
    for k in (0, 1):
        browser.get(index.as_uri())
        wait_for(browser, "document.readyState === 'complete'")
        browser.find_elements(By.CSS_SELECTOR, "nav a[href$='explorer.html']")[k].click()
        wait_for(browser, "document.body.dataset.ready === '1'")
        assert browser.current_url.split("#")[0].endswith(f"/r/runs/{k}/explorer.html")
        assert browser.execute_script("return document.querySelectorAll('a.image-link').length") > 0
        browser.find_element(By.ID, "nav-report").click()
        wait_for(browser, "document.readyState === 'complete' && document.getElementById('glance') !== null")
        assert browser.current_url == index.as_uri()
        assert errors(browser) == []


def explorer_50000(folder: Path, n: int = 50_000, c: int = 64, k: int = 8) -> tuple[Path, np.ndarray]:
    """An explorer of n synthetic images with random φ, clusters and neighbours, and a PCA map: its page and labels."""
    rng = np.random.default_rng(0)
    source = f"synthetic:shapes?n={n}&size=32&seed=7"
    images = open_source(source)
    phi = (rng.random((n, c)) ** 4).astype(np.float32)
    order = np.argsort(-phi, axis=0)[:16].T
    data = ExplorerData(
        phi=phi, title=f"{n} synthetic images", rep=folder, source=source, sigma=0.5,
        channel_pr=rng.random(c), channel_mean=phi.mean(0), channel_top=order, channel_top_values=np.take_along_axis(phi.T, order, 1),
        selectivity_split=0.5, thumbnails=np.stack([thumbnail_tile(images[i]) for i in range(n)]),
        labels=images.labels.astype(np.int16), class_names=images.class_names, assignment=rng.integers(0, 10, n), cluster_k=10,
        neighbours={"neighbours": rng.integers(0, n, (n, k)).astype(np.int32), "cosine": rng.random((n, k), dtype=np.float32),
                    "pixel_neighbours": rng.integers(0, n, (n, k)).astype(np.int32), "pixel_cosine": rng.random((n, k), dtype=np.float32)},
        phi_map=pca_map(phi))
    return write_explorer(folder, data), images.labels


def test_explorer_with_50000_images_is_interactive_quickly(tmp_path, browser):
    n, c, k = 50_000, 64, 8
    page, labels = explorer_50000(tmp_path / "big", n, c, k)
    record = {"images": n, "channels": c} | timings_50000(browser, page, labels, k)
    (ARTIFACTS / "explorer-50000.json").write_text(json.dumps(record, indent=2) + "\n")
    print(record)


def timings_50000(browser, page: Path, labels: np.ndarray, k: int) -> dict:
    """Open, page, filter, map, channel and image views of a large explorer, checking each; their timings and file sizes."""
    from selenium.webdriver.common.by import By

    n = len(labels)
    start = time.perf_counter()
    browser.get(page.as_uri())
    ready_ms = wait_for(browser, "document.body.dataset.ready === '1' && window.DENOSCOPE_READY_MS")
    wall = time.perf_counter() - start
    browser.save_screenshot(str(ARTIFACTS / "explorer-50000-home.png"))
    page_ms = in_page_ms(browser, "document.querySelector('a.page-link[data-page=\"2\"]').click()")
    assert shown(browser, "#image-thumbs a.image-link")[:3] == [200, 201, 202]
    filter_ms = in_page_ms(browser, "const s = document.getElementById('filter-label'); s.value = '2'; s.dispatchEvent(new Event('change'))")
    assert shown(browser, "#image-thumbs a.image-link") == np.flatnonzero(labels == 2)[:200].tolist()
    last_ms = in_page_ms(browser, "document.querySelectorAll('a.page-link')[document.querySelectorAll('a.page-link').length - 1].click()")
    assert shown(browser, "#image-thumbs a.image-link")[-1] == int(np.flatnonzero(labels == 2)[-1])
    start = time.perf_counter()
    browser.execute_script("location.hash = '#map'")
    wait_for(browser, "document.body.dataset.view === 'map:' && typeof window.DENOSCOPE_MAP_POINT === 'function'")
    map_s = time.perf_counter() - start
    browser.save_screenshot(str(ARTIFACTS / "explorer-50000-map.png"))
    click(browser, "#nav-home", "home:")
    click(browser, "a.channel-link", "channel:")
    click(browser, "#channel-top a.image-link", "image:")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#phi-neighbours a.image-link")) == k
    browser.get(page.as_uri() + f"#image/{n - 1}")
    assert wait_for(browser, f"document.body.dataset.view === 'image:{n - 1}'")
    assert errors(browser) == []
    files = {f.name: f.stat().st_size for f in (page.parent / "data").rglob("*") if f.is_file()}
    return {"ready_ms_in_page": ready_ms, "navigation_to_ready_s": round(wall, 3),
            "page_change_ms_in_page": page_ms, "label_filter_ms_in_page": filter_ms, "last_page_ms_in_page": last_ms,
            "map_open_s": round(map_s, 3), "data_bytes": sum(files.values()),
            "file_bytes": {"meta.js": files["meta.js"], "map.js": files["map.js"], "channels.js": files["channels.js"],
                           "chunks": sum(v for f, v in files.items() if f.startswith("chunk-")),
                           "sprites": sum(v for f, v in files.items() if f.startswith("sheet-"))}}


def in_page_ms(driver, action: str) -> float:
    """Milliseconds from a synchronous action to the end of the rendering it causes (the next animation frame), in page."""
    return driver.execute_async_script(f"""
        const done = arguments[arguments.length - 1], t = performance.now();
        {action};
        requestAnimationFrame(() => setTimeout(() => done(performance.now() - t)));""")
