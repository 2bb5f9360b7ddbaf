"""Test hosts on one machine: network namespaces joined to this one by veth pairs."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.integration.conftest import system_command

# A private range for the test's own addresses: one /24 per test run, one /30 per host. A
# /24 with any address or route already on this machine is never used.
PREFIX = "10.213"


@dataclass(frozen=True)
class Netns:
    """One network namespace: its name, and the address of each end of its veth pair."""

    name: str
    address: str  # inside the namespace: where its server listens
    peer: str  # this namespace's end

    def argv(self, *command: str) -> list[str]:
        """Return the argv that runs command inside this namespace (same pid: ip execs it)."""
        return [ip_binary(), "netns", "exec", self.name, *command]


def ip_binary() -> str:
    """Return iproute2's `ip` (tests/system-packages.txt), also where /usr/sbin is not on PATH."""
    return str(system_command("ip"))


def require_root_tools() -> None:
    """Fail (not skip) unless this runs as root with iproute2's `ip`."""
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (CI runs as root)")
    ip_binary()  # fails the test, naming the package, if iproute2 is missing


def _ip(*args: str) -> str:
    done = subprocess.run([ip_binary(), *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _free_subnet() -> int:
    """Return x such that nothing on this machine is in PREFIX.x.0/24."""
    used = _ip("-4", "-o", "addr", "show") + _ip("-4", "route", "show", "table", "all")
    for third in random.sample(range(256), 256):
        if f"{PREFIX}.{third}." not in used:
            return third
    raise RuntimeError(f"every {PREFIX}.x.0/24 is in use")


@contextmanager
def namespaces(count: int) -> Iterator[list[Netns]]:
    """Create count namespaces, each with a veth pair and a /30; delete them all afterwards."""
    require_root_tools()
    subnet = ipaddress.ip_network(f"{PREFIX}.{_free_subnet()}.0/24")
    tag = f"ds{os.getpid() % 100000}"
    with ExitStack() as cleanup:
        hosts = []
        for n, block in zip(range(1, count + 1), subnet.subnets(new_prefix=30), strict=False):
            name, peer_if, inner_if = f"{tag}h{n}", f"{tag}v{n}", f"{tag}i{n}"
            peer, inner = (str(address) for address in list(block.hosts())[:2])
            _ip("netns", "add", name)
            # Deleting the namespace deletes the veth end inside it, and with it the pair.
            cleanup.callback(subprocess.run, [ip_binary(), "netns", "del", name], timeout=10)
            _ip("link", "add", peer_if, "type", "veth", "peer", "name", inner_if, "netns", name)
            _ip("addr", "add", f"{peer}/30", "dev", peer_if)
            _ip("link", "set", peer_if, "up")
            _ip("-n", name, "addr", "add", f"{inner}/30", "dev", inner_if)
            _ip("-n", name, "link", "set", inner_if, "up")
            _ip("-n", name, "link", "set", "lo", "up")
            hosts.append(Netns(name, inner, peer))
        yield hosts
