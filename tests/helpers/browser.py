"""Headless Chromium for tests that look at a web dashboard, driven by Playwright: the system's
Chromium (Debian's `chromium` package), not a browser Playwright downloads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager


def chromium() -> str | None:
    """The installed Chromium's path, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def page(width: int = 1400, height: int = 2200) -> Iterator:
    """A Playwright page in headless Chromium with a window of width x height."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
