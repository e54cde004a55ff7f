"""The report page in headless Chromium: the training chart answers hover, wheel, drag and reset with the logged numbers,
a clicked at-a-glance row puts its figure below the sticky bar, and nothing is logged to the console."""

import json

from test_browser import ARTIFACTS, browser, errors, pytestmark, wait_for  # noqa: F401  (the fixture and the skip rules)


def domain(chart) -> list[float]:
    return [float(chart.get_attribute("data-x0")), float(chart.get_attribute("data-x1"))]


def test_training_chart_hovers_zooms_and_resets(demo_out, browser):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    report = demo_out[0] / "report"
    logged = [json.loads(line) for line in (demo_out[0] / "run/metrics.jsonl").read_text().splitlines() if line.strip()]
    loss = {r["step"]: r["loss"] for r in logged if "loss" in r}
    browser.get((report / "index.html").as_uri())
    wait_for(browser, "document.body.dataset.charts === 'ready'")
    chart = browser.find_element(By.CSS_SELECTOR, '.chart[data-chart="loss"]')
    svg = chart.find_element(By.TAG_NAME, "svg")
    full = domain(chart)
    assert full == [min(loss), max(loss)]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    ActionChains(browser).move_to_element(svg).perform()
    tip = chart.find_element(By.CSS_SELECTOR, ".tip")
    wait_for(browser, "!document.querySelector('.chart[data-chart=\"loss\"] .tip').hidden")
    head, value = tip.text.splitlines()[:2]
    step = int(head.split()[1])
    assert step in loss and abs(float(value.split(": ")[1]) - loss[step]) <= 1e-3 * loss[step], tip.text
    browser.save_screenshot(str(ARTIFACTS / "report-chart-hover.png"))

    browser.execute_script("const b = arguments[0].getBoundingClientRect(); arguments[0].dispatchEvent(new WheelEvent('wheel', "
                           "{deltaY: -100, clientX: b.left + b.width / 2, clientY: b.top + b.height / 2, bubbles: true, cancelable: true}))", svg)
    wheeled = domain(chart)
    assert full[0] <= wheeled[0] and wheeled[1] <= full[1] and wheeled[1] - wheeled[0] < 0.9 * (full[1] - full[0]), wheeled
    width = svg.size["width"]
    ActionChains(browser).move_to_element_with_offset(svg, -width // 4, 0).click_and_hold().move_by_offset(width // 6, 0).release().perform()
    dragged = domain(chart)
    assert wheeled[0] <= dragged[0] and dragged[1] <= wheeled[1] and dragged[1] - dragged[0] < 0.6 * (wheeled[1] - wheeled[0]), dragged
    browser.save_screenshot(str(ARTIFACTS / "report-chart-zoomed.png"))
    chart.find_element(By.CSS_SELECTOR, "button.reset").click()
    assert domain(chart) == full

    row = browser.find_elements(By.CSS_SELECTOR, "#glance table a")[-1]
    target = row.get_attribute("href").split("#")[1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    row.click()
    gap = browser.execute_script("return document.getElementById(arguments[0]).getBoundingClientRect().top - "
                                 "document.querySelector('nav').getBoundingClientRect().bottom", target)
    assert gap >= 0, f"figure {target} starts {-gap:.0f} px under the sticky bar"
    assert errors(browser) == []


def test_two_runs_side_by_side_fit_the_window_with_one_overlaid_chart(demo_out, browser, tmp_path):  # noqa: F811
    import shutil

    from selenium.webdriver.common.by import By

    from denoscope.reporting.build import build_report

    out = demo_out[0]
    shutil.copytree(out / "run", tmp_path / "other" / "run")
    index = build_report([out / "run", out / "denoise", tmp_path / "other" / "run", out / "rep", out / "analysis"], tmp_path / "r")
    browser.get(index.as_uri())
    wait_for(browser, "document.body.dataset.charts === 'ready'")
    legend = browser.find_element(By.CSS_SELECTOR, '.chart[data-chart="loss"] .legend').text
    assert "demo/run" in legend and "other/run" in legend
    width = browser.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page is {width[0] - width[1]} px wider than the window"
    browser.save_screenshot(str(ARTIFACTS / "report-two-runs.png"))
    assert errors(browser) == []
