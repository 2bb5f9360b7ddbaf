"""The demo page and /docs in headless Chromium: draw digits, send pictures, read the docs;
nothing leaves 127.0.0.1 and the console stays clean."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page

from tests.browser import Watch
from tests.browser import chromium
from tests.browser import draw_and_read
from tests.integration.conftest import Server
from tests.integration.conftest import system_command
from tests.pictures import heldout_uint8
from tests.pictures import render

pytestmark = pytest.mark.integration
Browser = tuple[BrowserContext, Watch]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, with a fresh profile; requests off 127.0.0.1 are refused."""
    started = time.monotonic()
    with chromium(system_command("chromium")) as running:
        yield running
    print(f"\nbrowser tests: {time.monotonic() - started:.1f} s with Chromium running")


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    """A new page; at the end, nothing went off 127.0.0.1 and no console error was logged."""
    context, watch = browser
    page = context.new_page()
    yield page
    page.close()
    assert not watch.offsite, watch.offsite
    assert not watch.errors, watch.errors


def picture(index: int, style: str) -> tuple[bytes, int]:
    """A held-out digit rendered in a style, and its label."""
    digits, labels = heldout_uint8()
    return render(style, digits[index:index + 1])[0], int(labels[index])


def seen_ink(page: Page) -> float:
    """Return how much of the 28x28 'what the model saw' canvas is lit."""
    return float(page.evaluate("""() => {
        const data = document.querySelector('#input').getContext('2d')
            .getImageData(0, 0, 28, 28).data;
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) lit += data[i] > 128;
        return lit / 784; }"""))


def test_draw_a_1_a_0_and_a_7(live_server: Server, page: Page) -> None:
    page.goto(f"{live_server.url}/demo")
    assert page.locator("#prediction").inner_text() == "\u2013"
    for digit in (1, 0, 7):
        assert draw_and_read(page, digit) == str(digit)
        assert page.locator("#bars li.top .label").inner_text() == str(digit)
        assert seen_ink(page) > 0.02
        page.click("#clear")
        assert page.locator("#prediction").inner_text() == "\u2013"
        assert seen_ink(page) == 0.0


def test_pick_a_picture(live_server: Server, page: Page, tmp_path: Path) -> None:
    data, label = picture(1, "paper_jpeg")
    path = tmp_path / "digit.jpg"
    path.write_bytes(data)
    page.goto(f"{live_server.url}/demo")
    with page.expect_response(lambda r: "/predict/image" in r.url) as answer:
        page.set_input_files("input[type=file]", str(path))
    assert answer.value.status == 200
    assert answer.value.request.headers["content-type"].startswith("multipart/form-data")
    page.wait_for_function(f"document.querySelector('#prediction').textContent === '{label}'")
    assert seen_ink(page) > 0.05


def test_drop_a_picture(live_server: Server, page: Page) -> None:
    data, label = picture(2, "transparent_png")
    page.goto(f"{live_server.url}/demo")
    with page.expect_response(lambda r: "/predict/image" in r.url):
        page.evaluate("""(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const drop = new DataTransfer();
            drop.items.add(new File([bytes], 'digit.png', {type: 'image/png'}));
            document.querySelector('#pad').dispatchEvent(
                new DragEvent('drop', {dataTransfer: drop, bubbles: true, cancelable: true}));
        }""", base64.b64encode(data).decode())
    page.wait_for_function(f"document.querySelector('#prediction').textContent === '{label}'")


def test_a_blank_picture_says_why(live_server: Server, browser: Browser, page: Page,
                                  tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    path.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAWk1v8QAAAABJRU5ErkJggg=="))
    page.goto(f"{live_server.url}/demo")
    with page.expect_response(lambda r: "/predict/image" in r.url) as answer:
        page.set_input_files("input[type=file]", str(path))
    assert answer.value.status == 422
    page.wait_for_function("document.querySelector('#message').textContent !== ''")
    assert "no ink" in page.locator("#message").inner_text()
    assert page.locator("#prediction").inner_text() == "\u2013"
    # Chromium logs every 4xx response as a console error: this one was expected.
    watch = browser[1]
    expected = [error for error in watch.errors if "status of 422" in error]
    assert len(expected) == 1, watch.errors
    watch.errors.remove(expected[0])


def test_docs_render_the_routes_offline(live_server: Server, page: Page) -> None:
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".opblock-summary-path")
    shown = set(page.locator(".opblock-summary-path").all_inner_texts())
    assert {"/predict", "/predict/batch", "/predict/image", "/health", "/readyz"} <= {
        path.replace("\u200b", "") for path in shown}


def test_the_watch_catches_a_request_off_127_0_0_1(live_server: Server,
                                                     browser: Browser) -> None:
    # A name that never resolves (.invalid); the request is refused inside the browser anyway.
    # From a JSON answer: the pages' own policy would stop the request before the watch.
    context, watch = browser
    page = context.new_page()
    page.goto(f"{live_server.url}/livez")
    page.evaluate("fetch('http://offsite.invalid/x').catch(() => null)")
    page.close()
    assert watch.offsite == ["http://offsite.invalid/x"]
    watch.offsite.clear()
    watch.errors.clear()


@pytest.mark.parametrize("path", ["/demo", "/docs"])
def test_a_pages_policy_stops_a_request_to_another_site(live_server: Server, browser: Browser,
                                                        path: str) -> None:
    context, watch = browser
    page = context.new_page()
    page.goto(f"{live_server.url}{path}")
    page.evaluate("fetch('http://offsite.invalid/x').catch(() => null)")
    page.evaluate("new Promise(resolve => setTimeout(resolve, 100))")
    page.close()
    assert watch.offsite == []
    assert [error for error in watch.errors if "Content Security Policy" in error], watch.errors
    watch.errors.clear()
