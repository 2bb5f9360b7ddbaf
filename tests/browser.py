"""Headless Chromium (Debian's, driven by Playwright) on the demo page, confined to 127.0.0.1.

`python -m tests.browser docs/demo.png` starts a server, draws a digit on /demo and saves a
screenshot: the one the README shows.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Page
from playwright.sync_api import Route
from playwright.sync_api import sync_playwright

# The flags every headless Chromium run here gets; Playwright adds a fresh user-data-dir.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
Point = tuple[float, float]  # on the pad, 0-1 from its top left corner
# One stroke per digit, as a person would draw it.
STROKES: dict[int, list[Point]] = {
    1: [(0.50, 0.15), (0.52, 0.50), (0.50, 0.86)],
    0: [(0.5 + 0.24 * math.sin(a / 24 * 2 * math.pi), 0.5 - 0.34 * math.cos(a / 24 * 2 * math.pi))
        for a in range(26)],
    7: [(0.25, 0.20), (0.75, 0.20), (0.62, 0.45), (0.45, 0.86)],
}


@dataclass
class Watch:
    """What a page did that a test must see: requests off 127.0.0.1 and console errors."""

    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def confine(self, route: Route) -> None:
        """Let requests to 127.0.0.1 through; record and abort any other."""
        address = urlsplit(route.request.url)
        if address.scheme in {"http", "https", "ws", "wss"} and address.hostname != "127.0.0.1":
            self.offsite.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location})")


@contextmanager
def chromium(chromium_path: Path) -> Iterator[tuple[BrowserContext, Watch]]:
    """Start headless Chromium with a fresh profile; every page in it is watched."""
    watch = Watch()
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(chromium_path), headless=True, args=FLAGS,
            viewport={"width": 720, "height": 480}, service_workers="block")
        context.route("**/*", watch.confine)
        context.on("page", lambda page: watch_page(page, watch))
        for page in context.pages:
            watch_page(page, watch)
        try:
            yield context, watch
        finally:
            context.close()


def watch_page(page: Page, watch: Watch) -> None:
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.errors.append(f"uncaught: {error}"))


def draw(page: Page, digit: int) -> None:
    """Draw a digit's stroke on canvas#pad with the mouse."""
    box = page.locator("canvas#pad").bounding_box()
    assert box is not None
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"])
              for x, y in STROKES[digit]]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=6)
    page.mouse.up()


def draw_and_read(page: Page, digit: int) -> str:
    """Draw a digit; return the #prediction text once its answer is shown."""
    with page.expect_response(lambda r: "/predict/image" in r.url) as answer:
        draw(page, digit)
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_function("document.querySelector('#prediction').textContent !== '\\u2013'")
    return page.locator("#prediction").inner_text()


def main(argv: list[str]) -> int:
    """Serve, draw a 7 on /demo and save the screenshot to argv[0]."""
    from tests.integration.conftest import start_gunicorn
    from tests.integration.conftest import stop
    from tests.integration.conftest import wait_ready
    from tests.system_packages import require

    with tempfile.TemporaryDirectory() as tmp:
        server = start_gunicorn(Path(tmp), GUNICORN_WORKERS="1")
        try:
            wait_ready(server)
            with chromium(require("chromium")) as (context, watch):
                page = context.new_page()
                page.goto(f"{server.url}/demo")
                print("predicted", draw_and_read(page, 7))
                page.screenshot(path=argv[0])
                assert not watch.offsite and not watch.errors, watch
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
