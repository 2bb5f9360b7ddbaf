"""The README's example outputs are what a real server answers now (tests/readme_examples.py)."""

from __future__ import annotations

import re

import pytest

from tests import readme_examples
from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
README = readme_examples.README.read_text()


def test_every_output_the_readme_shows_is_what_the_server_answers(live_server: Server) -> None:
    _, stale = readme_examples.regenerate(README, live_server.url)
    assert not stale, ("README.md shows outputs the server no longer gives; run "
                       "`python -m tests.readme_examples --write`:\n" + "\n".join(stale))


def test_outputs_are_only_in_generated_blocks() -> None:
    blocks = readme_examples.BLOCK.findall(README)
    assert len(blocks) >= 5
    assert sum(len(readme_examples.commands(block)) for block in blocks) >= 15
    # Every console block is generated, and no sh block shows a JSON answer by hand.
    assert README.count("```console") == len(blocks)
    for block in re.findall(r"```sh\n(.*?)```", README, re.DOTALL):
        assert not re.search(r"#\s*[{\[]", block), block


def test_a_changed_answer_is_caught(live_server: Server) -> None:
    first = readme_examples.BLOCK.search(README)
    assert first is not None
    drifted = first[0].replace('"confidence":0.', '"confidence":0.1', 1)
    fixed, stale = readme_examples.regenerate(drifted, live_server.url)
    assert len(stale) == 1 and "examples/digit.json" in stale[0]
    assert fixed == first[0]
