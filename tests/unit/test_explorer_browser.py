"""The embedding explorer in a real headless browser (Debian's chromium through chromedriver).

The page loads without console errors, draws every cell, shows a clicked cell's thumbnail (decoded
by the browser) and its track, selects by click and by dragging a rectangle, and its download is a
table ``import_annotations`` accepts. Skipped where chromium, chromedriver or selenium is missing
(``make browser`` installs them); ``DYNACLR_REQUIRE_BROWSER=1`` (set by ``.ci/run`` once it has
installed them) turns the skip into a failure.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import screenshots
from test_explorer import _cells  # track k at x = k, frame t at y = t on the PCA axes

from dynaclr.classify.annotation_table import read_annotation_table, validate_annotation_table
from dynaclr.figures.explorer import explorer_data, explorer_html

console_errors, click_first_point = screenshots.console_errors, screenshots.click_first_point

#: Counts the canvas's arcs (points and selection rings) before the page's own script runs.
COUNT_ARCS = """
window.__arcs = 0;
const arc = CanvasRenderingContext2D.prototype.arc;
CanvasRenderingContext2D.prototype.arc = function (...args) {
  window.__arcs += 1;
  return arc.apply(this, args);
};
"""


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The session's chromium (tests/conftest.py): its downloads folder emptied and its console log
    drained before the test (another test's messages are not this one's)."""
    for path in chromium.downloads.iterdir():
        path.unlink()
    console_errors(chromium)
    return chromium


def _until(condition: Any, timeout_s: float = 10.0) -> Any:
    """``condition()`` once truthy (polled every 50 ms), else its last value."""
    deadline = time.monotonic() + timeout_s
    value = condition()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = condition()
    return value


def _thumbnails(rows: np.ndarray) -> np.ndarray:
    """A gradient per row, so every thumbnail differs."""
    ramp = np.linspace(0.0, 1.0, 16, dtype=np.float32)
    return np.stack([np.add.outer(ramp, ramp) * (1 + r) for r in rows])


def _canvas_point(driver: Any, data: dict[str, Any], i: int) -> tuple[float, float]:
    """Viewport coordinates of cell ``i``: the page's layout (margin 12, one scale for both axes, y up)
    mapped through the canvas's box."""
    points = np.asarray(data["projections"]["pca"], dtype=float)
    size, margin = 600, 12
    low, high = points.min(0), points.max(0)
    scale = (size - 2 * margin) / max(float((high - low).max()), 1e-12)
    x = margin + (points[i, 0] - low[0]) * scale
    y = size - margin - (points[i, 1] - low[1]) * scale
    box = driver.execute_script("return document.getElementById('scatter').getBoundingClientRect().toJSON();")
    return box["left"] + x * box["width"] / size, box["top"] + y * box["height"] / size


def _pointer(driver: Any, *steps: tuple[str, float, float]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    for kind, x, y in steps:
        actions.w3c_actions.pointer_action.move_to_location(round(x), round(y))
        if kind == "down":
            actions.w3c_actions.pointer_action.pointer_down()
        elif kind == "up":
            actions.w3c_actions.pointer_action.pointer_up()
    actions.perform()


def _downloaded(folder: Path, timeout_s: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.suffix == ".csv"]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no CSV downloaded into {folder} within {timeout_s} s: {list(folder.iterdir())}")


def test_the_explorer_works_in_a_real_browser(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    cells = _cells()
    data = explorer_data(cells, _thumbnails, title="model, dataset", download_name="annotations_m_d.csv")
    page = tmp_path / "explorer.html"
    page.write_text(explorer_html(data))
    counter = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_ARCS})
    try:
        browser.get(page.as_uri())
    finally:  # later pages of the session run without it
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", counter)

    # Loads without console errors and draws every cell once.
    assert console_errors(browser) == []
    assert browser.execute_script("return window.__arcs;") == len(cells)
    assert browser.find_element(By.ID, "counts").text == f"{len(cells)} cells shown, 0 selected, 0 annotated"
    painted = browser.execute_script(
        "const c = document.getElementById('scatter');"
        "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < px.length; i += 4) n += px[i] > 0; return n;"
    )
    assert painted > len(cells) * 10  # each point is a filled disc of radius 2.5 px

    # Clicking a cell shows its thumbnail, decoded by the browser, and its track's strip in frame order.
    clicked = int(np.flatnonzero((cells["track_id"] == 6).to_numpy() & (cells["t"] == 2).to_numpy())[0])
    x, y = _canvas_point(browser, data, clicked)
    _pointer(browser, ("move", x, y), ("down", x, y), ("up", x, y))
    current = browser.find_element(By.CSS_SELECTOR, "#cell img.thumb")
    assert current.get_attribute("src").startswith("data:image/webp;base64,")
    decoded = _until(
        lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth;", current)
    )
    assert decoded == 64
    assert "track 6, t = 2" in browser.find_element(By.CSS_SELECTOR, "#cell .facts").text
    strip = browser.find_elements(By.CSS_SELECTOR, "#track img.thumb")
    assert [s.get_attribute("title") for s in strip] == [f"t = {t}" for t in range(5)]
    assert "current" in strip[2].get_attribute("class")
    assert "1 selected" in browser.find_element(By.ID, "counts").text

    # Label the clicked cell, then drag a rectangle over track 1 (x = 0, every frame) and label it.
    labels = browser.find_element(By.ID, "label")
    first_label = labels.find_elements(By.TAG_NAME, "option")[0].get_attribute("value")
    browser.find_element(By.ID, "apply").click()
    (x0, y0), (x1, y1) = _canvas_point(browser, data, 0), _canvas_point(browser, data, 4)
    _pointer(
        browser,
        ("move", x0 - 5, y0 + 5),
        ("down", x0 - 5, y0 + 5),
        ("move", x1 + 5, y1 - 5),
        ("up", x1 + 5, y1 - 5),
    )
    assert "5 selected, 1 annotated" in browser.find_element(By.ID, "counts").text
    second_label = labels.find_elements(By.TAG_NAME, "option")[-1]
    second_label.click()
    browser.find_element(By.ID, "apply").click()
    assert "0 selected, 6 annotated" in browser.find_element(By.ID, "counts").text

    # The download is a valid annotation table with those six cells.
    browser.find_element(By.ID, "download").click()
    path = _downloaded(browser.downloads)
    assert path.name == "annotations_m_d.csv"
    task = browser.find_element(By.ID, "task").get_attribute("value")
    table = validate_annotation_table(read_annotation_table(path), [task], str(path))
    got = {(r.fov_name, int(r.track_id), int(r.t), r.label) for r in table.itertuples()}
    clicked_cell = cells.iloc[clicked]
    assert got == {(clicked_cell["fov_name"], 6, 2, first_label)} | {
        ("A/1/0", 1, t, second_label.get_attribute("value")) for t in range(5)
    }
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "explorer.png"))
    assert (tmp_path / "explorer.png").stat().st_size > 10_000


def test_make_screenshots_shows_the_report_and_a_clicked_explorer_cell(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    main = screenshots.main
    results = tmp_path / "results"
    page = results / "figures" / "d" / "m" / "explorer.html"
    page.parent.mkdir(parents=True)
    page.write_text(explorer_html(explorer_data(_cells(), _thumbnails, title="m, d", download_name="a.csv")))
    (results / "report.html").write_text("<html><body><h1>Report</h1></body></html>")
    assert main(["--results", str(results), "--out", str(tmp_path / "shots")]) == 0
    for name in ("report.png", "explorer.png"):
        assert (tmp_path / "shots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    browser.get(page.as_uri())
    assert click_first_point(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#cell img.thumb")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#track img.thumb")) == 5

    missing = tmp_path / "empty"
    with pytest.raises(FileNotFoundError, match="run `make demo` first"):
        main(["--results", str(missing), "--out", str(tmp_path / "none")])
