"""GET /demo through the test client: the page, its files and the hooks scripts rely on."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from flask.testing import FlaskClient


class Tags(HTMLParser):
    """Collect every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def page_tags(client: FlaskClient) -> list[tuple[str, dict[str, str | None]]]:
    with client.get("/demo") as response:
        assert response.status_code == 200 and response.mimetype == "text/html"
        parser = Tags()
        parser.feed(response.get_data(as_text=True))
    return parser.found


def test_the_stable_hooks_are_there(client: FlaskClient) -> None:
    tags = page_tags(client)
    ids = {attrs.get("id"): tag for tag, attrs in tags}
    assert ids["pad"] == "canvas" and ids["prediction"] and ids["clear"] == "button"
    assert [attrs for tag, attrs in tags if tag == "input" and attrs.get("type") == "file"]


def test_every_file_it_loads_is_served_here(client: FlaskClient) -> None:
    links = [attrs.get("src") or attrs.get("href") for _, attrs in page_tags(client)
             if attrs.get("src") or attrs.get("href")]
    assert all("//" not in str(link) for link in links), links
    for link in links:
        if link and not link.startswith("data:"):
            with client.get(f"/{link}") as response:  # relative to /demo
                assert response.status_code == 200, link


def test_the_script_calls_the_public_route_relative_to_the_page(client: FlaskClient) -> None:
    with client.get("/demo/static/demo.js") as response:
        script = response.get_data(as_text=True)
    assert re.search(r'"predict/image\?return_input=true"', script)
    assert not re.search(r"https?://", script)
