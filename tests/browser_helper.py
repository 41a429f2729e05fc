"""A headless Chromium for browser tests: Debian's `chromium` driven by Playwright, or a clean skip.

Why the system browser: `playwright install` downloads its own browsers (no network in CI); Debian's
package is installed by `.ci/run` when missing. Tests import the fixtures from here:
`from browser_helper import browser, page_errors  # noqa: F401`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("OPENRLB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIP = "browser tests need Debian's chromium (apt-get install chromium) and `pip install playwright`"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(SKIP)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(SKIP)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Page:
    """A page that records console errors, page errors, dialogs (an injected `alert`) and requests."""

    def __init__(self, browser: Any, width: int = 1300, height: int = 900):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type in ("error", "warning") and self.errors.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def canvas_pixels(self, index: int = 0) -> str:
        """What panel `index` has drawn, as a data URL of its canvas."""
        return self.page.evaluate("i => document.querySelectorAll('.or-panel canvas')[i].toDataURL()", index)

    def drag(self, selector: str, x0: float, x1: float, y: float) -> None:
        box = self.page.locator(selector).first.bounding_box()
        self.page.mouse.move(box["x"] + x0, box["y"] + y)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + (x0 + x1) / 2, box["y"] + y)
        self.page.mouse.move(box["x"] + x1, box["y"] + y)
        self.page.mouse.up()

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()
