"""The Debian packages the test suite runs (tests/system-packages.txt): find, install or explain.

`make test` runs this file with the system's python3 before anything else (standard library
only); the tests call require() to find each command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

LIST = Path(__file__).with_name("system-packages.txt")
# Debian puts daemons such as nginx in sbin, which is not on every user's PATH.
SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class MissingPackageError(Exception):
    """A command the tests run is not installed; the message says how to install it."""


def read_list(path: Path = LIST) -> dict[str, str]:
    """Return {command: package} from a list of "package command" lines (# comments)."""
    parts = {}
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            package, command = fields
            parts[command] = package
    return parts


def find(command: str) -> Path | None:
    """Return the command's path: on PATH, else in the sbin directories."""
    found = shutil.which(command) or shutil.which(command, path=os.pathsep.join(SBIN_DIRS))
    return Path(found) if found else None


def missing(parts: dict[str, str]) -> list[str]:
    """Return the packages whose command is not installed, in list order."""
    return [package for command, package in parts.items() if find(command) is None]


def explain(packages: list[str]) -> str:
    """Say which packages are missing and the exact command that installs them."""
    names = " ".join(packages)
    return (f"The test suite runs programs from these Debian packages, not installed here: "
            f"{names}\nInstall them, then run `make test` again:\n\n"
            f"    sudo apt-get install -y {names}\n\n"
            f"(`make test` installs them itself when it runs as root where apt-get is.)")


def require(command: str) -> Path:
    """Return where an installed command is, for a test to run it.

    :raises MissingPackageError: if it is not installed.
    :raises LookupError: if its package is not in tests/system-packages.txt.
    """
    parts = read_list()
    if command not in parts:
        raise LookupError(f"{command!r} is not in {LIST}: add its Debian package there")
    found = find(command)
    if found is None:
        raise MissingPackageError(explain([parts[command]]))
    return found


def install(packages: list[str]) -> None:
    """Install packages with apt-get (as root), quietly and without questions."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"Installing what the test suite runs: {' '.join(packages)} (apt-get)", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   env=env, check=False)


def main(argv: list[str] | None = None) -> int:
    """Install the missing packages if root with apt-get; else explain. Return the status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", type=Path, default=LIST, help="the package list to check")
    parts = read_list(parser.parse_args(argv).list)
    absent = missing(parts)
    if absent and os.geteuid() == 0 and shutil.which("apt-get"):
        install(absent)
        absent = missing(parts)
    if absent:
        print(explain(absent), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
