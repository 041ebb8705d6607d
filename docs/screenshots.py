"""Headless chromium for the explorer's browser test and the documentation's screenshots.

A development tool, not part of the library (selenium is a development dependency):
``make screenshots`` (after ``make demo``) runs :func:`main`: it opens the report's first page and
one embedding explorer in Debian's chromium through chromedriver (selenium, a development
dependency), clicks a cell of the explorer so its thumbnail and track show, and writes
``docs/screenshots/report.png`` and ``docs/screenshots/explorer.png``.
``tests/unit/test_explorer_browser.py`` starts its browser with :func:`start_chromium`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

#: Browser window (CSS pixels) of the screenshots and the test.
WINDOW = (1400, 1000)
INSTALL_HINT = "make browser (apt-get install chromium chromium-driver) and make venv (selenium)"


class BrowserUnavailableError(RuntimeError):
    """Chromium, chromedriver or selenium is missing."""


def browser_missing() -> str | None:
    """Why no browser can start here (``None`` when one can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed; {INSTALL_HINT}"
    if (shutil.which("chromium") or shutil.which("chromium-browser")) is None:
        return f"chromium is not on PATH; {INSTALL_HINT}"
    if shutil.which("chromedriver") is None:
        return f"chromedriver is not on PATH; {INSTALL_HINT}"
    return None


def start_chromium(downloads: Path | None = None, window: tuple[int, int] = WINDOW) -> Any:
    """A headless chromium (selenium ``WebDriver``) that records console messages (``get_log("browser")``)
    and saves downloads into ``downloads`` without asking.

    Raises:
        BrowserUnavailableError: chromium, chromedriver or selenium is missing (the message says
            how to install them).
    """
    reason = browser_missing()
    if reason is not None:
        raise BrowserUnavailableError(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium") or shutil.which("chromium-browser"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={window[0]},{window[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    return webdriver.Chrome(options=options, service=Service(str(shutil.which("chromedriver"))))


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """Console messages of level SEVERE (errors) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def click_first_point(driver: Any) -> bool:
    """Click the first painted pixel of the explorer's scatter (a cell), so its thumbnail and track
    show; ``False`` when the canvas is blank."""
    found = driver.execute_script(
        "const c = document.getElementById('scatter');"
        "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "for (let i = 3; i < px.length; i += 4) if (px[i] > 200) {"
        "  const k = (i - 3) / 4, box = c.getBoundingClientRect();"
        "  return [box.left + ((k % c.width) + 1) * box.width / c.width,"
        "          box.top + (Math.floor(k / c.width) + 2) * box.height / c.height]; }"
        "return null;"
    )
    if found is None:
        return False
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver)
    pointer = actions.w3c_actions.pointer_action
    pointer.move_to_location(int(found[0]), int(found[1]))
    pointer.pointer_down()
    pointer.pointer_up()
    actions.perform()
    return True


def _wait_rendered(driver: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if driver.execute_script(
            "return document.readyState === 'complete' && document.body.innerText.length > 0;"
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{driver.current_url}: nothing rendered within {timeout_s} s")


def screenshot(page: Path, out: Path, *, explorer: bool, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Open ``page`` (an HTML file), wait until it renders, click a cell when it is an explorer, save
    a PNG to ``out``; return the page's console errors."""
    if not page.is_file():
        raise FileNotFoundError(f"{page}: no such page; run `make demo` first")
    driver = start_chromium()
    try:
        driver.get(page.resolve().as_uri())
        _wait_rendered(driver, timeout_s)
        time.sleep(1.0)  # the report renders its React views after the document is complete
        if explorer and not click_first_point(driver):
            raise RuntimeError(f"{page}: the explorer's scatter is blank")
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
        return console_errors(driver)
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the workflow's results folder")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"), help="where the PNGs go")
    parser.add_argument(
        "--explorer",
        type=Path,
        default=None,
        help="explorer page to show (default: the first results/figures/<dataset>/<model>/explorer.html)",
    )
    args = parser.parse_args(argv)
    explorers = sorted(args.results.glob("figures/*/*/explorer.html"))
    explorer = args.explorer or (
        explorers[0] if explorers else args.results / "figures/<dataset>/<model>/explorer.html"
    )
    failed = False
    for page, name, is_explorer in (
        (args.results / "report.html", "report.png", False),
        (explorer, "explorer.png", True),
    ):
        errors = screenshot(page, args.out / name, explorer=is_explorer)
        print(f"{args.out / name}: {page}" + (f"; console errors: {errors}" if errors else ""))
        failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
