"""What the Dockerfile's image holds and how it runs, read from the Dockerfile itself."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.support import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
SANDBOX = Path(__file__).resolve().parent / "sandbox.sh"


@dataclass
class Image:
    """The Dockerfile's instructions that decide how the container runs."""

    base: str = ""
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # sources, destination
    runs: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """Split a Dockerfile into (INSTRUCTION, arguments), joining continued lines."""
    joined = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def read_image(path: Path = DOCKERFILE) -> Image:
    """Read the instructions that shape the running container."""
    image = Image()
    for keyword, rest in instructions(path.read_text()):
        if keyword == "FROM":
            image.base = rest
        elif keyword == "WORKDIR":
            image.workdir = str(Path(image.workdir, rest))
        elif keyword == "ENV":
            image.env.update(part.split("=", 1) for part in shlex.split(rest))
        elif keyword == "USER":
            image.user = rest
        elif keyword == "COPY":
            *sources, destination = shlex.split(rest)
            image.copies.append((sources, str(Path(image.workdir, destination))))
        elif keyword == "RUN":
            image.runs.append(rest)
        elif keyword == "CMD":
            image.cmd = json.loads(rest)
    return image


def stage(image: Image, into: Path) -> Path:
    """Copy what the image COPYs into WORKDIR, compiled and read-only; return the directory."""
    for sources, destination in image.copies:
        relative = Path(destination).relative_to(image.workdir)
        for source in sources:
            origin = REPO_ROOT / source
            target = into / relative
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    # As the Dockerfile's `python -m compileall`: the code is read-only when it runs.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into)], check=True)
    for path in [into, *into.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return into


def interpreter_paths() -> list[str]:
    """Return the directories the test's Python needs: its installation and its venv."""
    return sorted({str(Path(sys.base_prefix).resolve()), str(Path(sys.prefix).resolve())})


def sandbox_argv(image: Image, staged: Path, root: Path, env: dict[str, str]) -> list[str]:
    """Return the argv that runs the image's CMD as its USER on a read-only root (sandbox.sh)."""
    user = image.user if ":" in image.user else f"{image.user}:{image.user}"
    assignments = [f"{key}={value}" for key, value in env.items()]
    return ["unshare", "--mount", "--propagation", "private", "bash", str(SANDBOX), str(root),
            str(staged), image.workdir, user, ":".join(interpreter_paths()), "--", *assignments,
            *image.cmd]
