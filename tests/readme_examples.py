"""The README's example outputs, as a real server gives them: check them, or write them anew.

A ```console block right after the MARKER line holds `$ command` lines, each followed by
what it prints. `python -m tests.readme_examples --write` starts Gunicorn, runs every
command (`localhost:8000` in it means that server; `digitserve` finds it through
$DIGITSERVE_URL) and writes the outputs into README.md; `--check` only says which are
stale, as tests/integration/test_readme_examples.py does. A new model changes every
confidence: regenerate with the one command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tests.support import REPO_ROOT

README = REPO_ROOT / "README.md"
DOCS = (README, REPO_ROOT / "docs" / "api.md")  # the pages whose outputs are generated
MARKER = "<!-- example output: python -m tests.readme_examples --write -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```console\n(.*?)```", re.DOTALL)
SHOWN_URL = "http://127.0.0.1:8000"  # the address outputs show: `make serve`'s
LONG = 200  # JSON lines longer than this are shortened: each long list to its first item
_PIDS = re.compile(r'"(pid|session_pid)":\d+')


def commands(block: str) -> list[tuple[str, str]]:
    """Split a block's text into (command, output) pairs."""
    pairs: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], ""))
        elif pairs:
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]}{line}\n")
    return [(command, output.rstrip("\n")) for command, output in pairs]


def run(command: str, url: str) -> str:
    """Run a README command against the server at url; return what it prints, shortened."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "DIGITSERVE_URL": url, "PYTHONUNBUFFERED": "1",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", command.replace("localhost:8000", url[len("http://"):])],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    printed = (done.stdout + done.stderr).replace(url, SHOWN_URL).rstrip()
    return "\n".join(shorten(line.rstrip()) for line in printed.splitlines())


def shorten(line: str) -> str:
    """Shorten a long JSON line: every list of lists or objects, and every list of more than
    ten numbers, shows its first item and `...`."""
    if len(line) <= LONG or not line.startswith(("{", "[")):
        return line
    try:
        return brief(orjson.loads(line))
    except orjson.JSONDecodeError:
        return line


def brief(value: Any) -> str:
    """Write value as compact JSON, as the server does, with long lists cut to their head."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{orjson.dumps(k).decode()}:{brief(v)}"
                              for k, v in value.items()) + "}"
    if isinstance(value, list) and len(value) > 1 and (
            isinstance(value[0], dict | list) or len(value) > 10):
        return f"[{brief(value[0])},...]"
    if isinstance(value, list):
        return "[" + ",".join(brief(item) for item in value) + "]"
    return orjson.dumps(value).decode()


def same(shown: str, output: str) -> bool:
    """Compare outputs, ignoring process ids."""
    return _PIDS.sub(r'"\1":N', shown) == _PIDS.sub(r'"\1":N', output)


def regenerate(text: str, url: str) -> tuple[str, list[str]]:
    """Return the README with every stale output replaced, and the stale commands."""
    stale: list[str] = []

    def block(match: re.Match[str]) -> str:
        lines = []
        for command, shown in commands(match[1]):
            output = run(command, url)
            if not same(shown, output):
                stale.append(f"$ {command}\n  README: {shown}\n  server: {output}")
                shown = output
            lines.append(f"$ {command}\n{shown}\n" if shown else f"$ {command}\n")
        return f"{MARKER}\n```console\n{''.join(lines)}```"

    return BLOCK.sub(block, text), stale


def main(argv: list[str]) -> int:
    """Start a server; write the README's outputs (--write) or list the stale ones (--check)."""
    from tests.integration.conftest import start_gunicorn
    from tests.integration.conftest import stop
    from tests.integration.conftest import wait_ready

    if argv not in (["--write"], ["--check"]):
        print(f"usage: python -m tests.readme_examples --write | --check\n{__doc__}")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        server = start_gunicorn(Path(tmp))
        try:
            wait_ready(server)
            pages = {page: regenerate(page.read_text(), server.url) for page in DOCS}
        finally:
            stop(server)
    stale = [line for _, found in pages.values() for line in found]
    print("\n".join(stale) or "The example outputs are up to date.")
    if argv == ["--write"]:
        for page, (text, found) in pages.items():
            if found:
                page.write_text(text)
                print(f"wrote {len(found)} output(s) into {page}")
    return 1 if stale and argv == ["--check"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
