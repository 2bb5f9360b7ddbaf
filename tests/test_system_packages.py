"""tests/system_packages.py: what `make test` does when a Debian package it needs is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import system_packages
from tests.support import REPO_ROOT

SCRIPT = REPO_ROOT / "tests" / "system_packages.py"
ABSENT = "digitserve-absent-package digitserve-absent-command\n"
# Stands in for apt-get: logs its arguments and "installs" the command on PATH.
FAKE_APT = """#!/bin/sh
echo "$@" >> "{log}"
if [ "$1" = install ]; then
    printf '#!/bin/sh\\n' > "{bin}/digitserve-absent-command"
    exec /bin/chmod +x "{bin}/digitserve-absent-command"
fi
"""


def run_script(package_list: Path, path: str) -> subprocess.CompletedProcess[str]:
    """Run the script, as make does, with a package list and a PATH of our choosing."""
    return subprocess.run([sys.executable, str(SCRIPT), "--list", str(package_list)],
                          env={**os.environ, "PATH": path}, capture_output=True, text=True,
                          timeout=30)


@pytest.fixture()
def absent_list(tmp_path: Path) -> Path:
    """Return a package list naming a package that is not installed."""
    path = tmp_path / "packages.txt"
    path.write_text("# a comment\n" + ABSENT)
    return path


def test_every_command_the_tests_run_is_listed() -> None:
    listed = system_packages.read_list()
    assert listed["nginx"] == "nginx"
    used = {name for path in (REPO_ROOT / "tests").rglob("*.py")
            for name in re.findall(r"system_command\(\"([^\"]+)\"\)", path.read_text())}
    assert used and used <= set(listed), used - set(listed)


def test_require_names_the_list_for_an_unlisted_command() -> None:
    with pytest.raises(LookupError, match="system-packages.txt"):
        system_packages.require("digitserve-unlisted")


def test_present_packages_pass_silently(tmp_path: Path) -> None:
    package_list = tmp_path / "packages.txt"
    package_list.write_text("coreutils ls\n")
    done = run_script(package_list, os.environ["PATH"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_without_apt_get_it_stops_with_the_command(absent_list: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_script(absent_list, str(empty))  # no apt-get on this PATH
    assert done.returncode == 1
    assert "    sudo apt-get install -y digitserve-absent-package\n" in done.stderr


def test_root_with_apt_get_installs_else_stops(absent_list: Path, tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "apt.log"
    apt = fake_bin / "apt-get"
    apt.write_text(FAKE_APT.format(log=log, bin=fake_bin))
    apt.chmod(0o755)
    done = run_script(absent_list, str(fake_bin))
    if os.geteuid() == 0:
        assert done.returncode == 0, done.stderr
        assert log.read_text().splitlines() == [
            "update -qq", "install -y -qq --no-install-recommends digitserve-absent-package"]
        assert "digitserve-absent-package" in done.stdout
    else:  # never sudo: it may ask for a password
        assert done.returncode == 1
        assert not log.exists()
        assert "sudo apt-get install -y digitserve-absent-package" in done.stderr


def test_failed_install_stops_with_the_command(absent_list: Path, tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    apt = fake_bin / "apt-get"
    apt.write_text("#!/bin/sh\nexit 100\n")  # apt-get's status when a package is unknown
    apt.chmod(0o755)
    done = run_script(absent_list, str(fake_bin))
    assert done.returncode == 1
    assert "sudo apt-get install -y digitserve-absent-package" in done.stderr
