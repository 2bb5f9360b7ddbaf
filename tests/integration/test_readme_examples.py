"""The docs' example outputs are what a real server answers now (tests/readme_examples.py)."""

from __future__ import annotations

import re

import pytest

from tests import readme_examples
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
PAGES = {page.name: page.read_text() for page in readme_examples.DOCS}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_output_the_docs_show_is_what_the_server_answers(live_server: Server,
                                                               name: str) -> None:
    _, stale = readme_examples.regenerate(PAGES[name], live_server.url)
    assert not stale, (f"{name} shows outputs the server no longer gives; run "
                       "`python -m tests.readme_examples --write`:\n" + "\n".join(stale))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_outputs_are_only_in_generated_blocks(name: str) -> None:
    page = PAGES[name]
    blocks = readme_examples.BLOCK.findall(page)
    assert len(blocks) >= 3
    assert sum(len(readme_examples.commands(block)) for block in blocks) >= 5
    # Every console block is generated, and no sh block shows a JSON answer by hand.
    assert page.count("```console") == len(blocks)
    for block in re.findall(r"```sh\n(.*?)```", page, re.DOTALL):
        assert not re.search(r"#\s*[{\[]", block), block


def test_a_changed_answer_is_caught(live_server: Server) -> None:
    first = readme_examples.BLOCK.search(PAGES["README.md"])
    assert first is not None
    drifted = first[0].replace('"confidence":0.', '"confidence":0.1', 1)
    fixed, stale = readme_examples.regenerate(drifted, live_server.url)
    assert len(stale) == 1 and "examples/digit.json" in stale[0]
    assert fixed == first[0]
