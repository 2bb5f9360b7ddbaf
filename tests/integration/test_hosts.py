"""Three hosts on one machine behind deploy/'s nginx: spread, lost hosts, rolling restarts."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ephemeral_port_reserve
import psutil
import pytest

from tests.integration.conftest import system_command
from tests.integration.fleet import Follower
from tests.integration.fleet import Front
from tests.integration.fleet import Host
from tests.integration.fleet import Logged
from tests.integration.fleet import Sent
from tests.integration.fleet import Traffic
from tests.integration.load import right_digits
from tests.integration.netns import namespaces
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration
HOSTS = 3
DRAIN_S = 1.0  # the preStop hook's sleep, scaled down: longer than the follower's reaction
SLACK_S = 0.01  # nginx logs times to the millisecond
WRK_S = 3


@dataclass
class Fleet:
    """The hosts and the nginx in front of them."""

    hosts: list[Host]
    front: Front

    def restore(self) -> None:
        """Start every host that is down, and have nginx send to all of them again."""
        for host in self.hosts:
            if host.proc is None or host.proc.poll() is not None:
                host.drain_file.unlink(missing_ok=True)
                host.start()
        for host in self.hosts:
            host.wait_ready()
        self.front.reload(down=())  # new nginx workers: no host marked failed
        self.front.wait_ready()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Start a Gunicorn (1 sync worker) in each of three namespaces, and nginx in front."""
    tmp = tmp_path_factory.mktemp("fleet")
    with namespaces(HOSTS) as spaces:
        hosts = [Host(ns, tmp) for ns in spaces]
        front: Front | None = None
        try:
            for host in hosts:
                host.start()
            for host in hosts:
                host.wait_ready()
            front = Front(tmp, hosts, ephemeral_port_reserve.reserve("127.0.0.1"))
            front.wait_ready()
            yield Fleet(hosts, front)
        finally:
            if front is not None:
                front.stop()
            for host in hosts:
                host.stop()


@pytest.fixture()
def steady(fleet: Fleet) -> Iterator[Fleet]:
    """Hand the fleet over with every host serving; put it back that way afterwards."""
    fleet.restore()
    yield fleet
    fleet.restore()


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll condition until it holds; return the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - started


def logged(front: Front, sent: list[Sent]) -> dict[str, Logged]:
    """Return nginx's log line of every request sent (each one must be there)."""
    time.sleep(0.2)  # nginx writes the line just after the response
    log = front.access_log()
    missing = [s.request_id for s in sent if s.request_id not in log]
    assert not missing, f"not in nginx's log: {[s for s in sent if s.request_id in missing]}"
    return log


def in_flight(log: dict[str, Logged], addr: str, since: float, until: float) -> list[Logged]:
    """Return the requests nginx had sent to addr that were unanswered between since and until."""
    return [line for line in log.values() if addr in line.upstreams
            and line.started <= until + SLACK_S and line.ended >= since - SLACK_S]


def test_requests_spread_over_all_hosts(steady: Fleet) -> None:
    with Traffic(steady.front.url) as traffic:
        traffic.wait_for_more(300)
    sent = traffic.sent
    log = logged(steady.front, sent)
    served = Counter(log[s.request_id].upstreams[-1] for s in sent if s.request_id in log)
    print(f"\n{len(sent)} requests over {HOSTS} hosts: "
          f"{ {addr: served[addr] for addr in sorted(served)} }")
    assert all(s.ok for s in sent), Counter(s.status for s in sent)
    for host in steady.hosts:
        assert served[host.addr] >= len(sent) / HOSTS / 2, served


def test_term_one_host_and_kill_another_lose_only_what_they_held(steady: Fleet) -> None:
    term_host, kill_host, survivor = steady.hosts
    with Traffic(steady.front.url) as traffic:
        traffic.wait_for_more(100)
        term_at = time.time()
        code = term_host.term()
        term_gone = time.time()
        traffic.wait_for_more(100)
        kill_at = time.time()
        kill_host.kill()
        kill_gone = time.time()
        traffic.wait_for_more(200)
    sent = traffic.sent
    log = logged(steady.front, sent)
    lost = [s for s in sent if not s.ok]
    held = {term_host.addr: in_flight(log, term_host.addr, term_at, term_gone),
            kill_host.addr: in_flight(log, kill_host.addr, kill_at, kill_gone)}
    held_ids = {line.request_id for lines in held.values() for line in lines}
    retried = [line for line in log.values() if len(line.upstreams) > 1 and line.status == 200]
    print(f"\nTERM to {term_host.addr} (exit {code} after {term_gone - term_at:.2f} s), KILL of "
          f"{kill_host.addr}: {len(lost)} of {len(sent)} lost "
          f"{Counter(s.status or s.error for s in lost)}; in flight on them then: "
          f"{ {addr: len(lines) for addr, lines in held.items()} }; "
          f"{len(retried)} refused connections passed on to the next host and answered")
    assert code == 0
    unheld = [(s, log.get(s.request_id)) for s in lost if s.request_id not in held_ids]
    assert not unheld, (f"lost requests no stopped host held: {unheld}; TERM {term_at:.3f}-"
                        f"{term_gone:.3f}, KILL {kill_at:.3f}-{kill_gone:.3f}")
    assert len(lost) <= len(held_ids)
    # Everything sent after the kill was answered, by the survivor, and the stopped hosts
    # cost those requests nothing but a refused connection each.
    after = [s for s in sent if s.started > kill_gone + SLACK_S]
    assert len(after) >= 100 and all(s.ok for s in after)
    assert {log[s.request_id].upstreams[-1] for s in after if s.request_id in log} == {
        survivor.addr}


@pytest.mark.parametrize("drain", [True, False], ids=["drain-then-term", "bare-term"])
def test_rolling_restart(steady: Fleet, drain: bool) -> None:
    windows: dict[str, tuple[float, float]] = {}
    out_after: list[float] = []
    with Follower(steady.front) as follower, Traffic(steady.front.url) as traffic:
        traffic.wait_for_more(100)
        for host in steady.hosts:
            began = time.time()
            if drain:
                # What the preStop hook does: create the drain file, wait, then the TERM.
                host.drain_file.touch()
                out_after.append(wait_until(lambda h=host: not follower.in_rotation(h),
                                            DRAIN_S, f"{host.addr} out of nginx"))
                time.sleep(DRAIN_S - out_after[-1])
            term_at = time.time()
            assert host.term() == 0
            windows[host.addr] = (term_at, time.time())
            host.start()
            host.wait_ready()
            wait_until(lambda h=host: follower.in_rotation(h), 5, f"{host.addr} back in nginx")
            print(f"\n  {host.addr}: out of service for {time.time() - began:.2f} s")
            traffic.wait_for_more(50)
    sent = traffic.sent
    log = logged(steady.front, sent)
    lost = [s for s in sent if not s.ok]
    held = {line.request_id for addr, (since, until) in windows.items()
            for line in in_flight(log, addr, since, until)}
    print(f"rolling restart, {'drain then TERM' if drain else 'bare TERM'}: {len(lost)} of "
          f"{len(sent)} lost {Counter(s.status or s.error for s in lost)}; requests in flight on "
          f"a host when it got TERM: {len(held)}; nginx reloads: {len(follower.changes)}"
          + (f"; out of nginx {min(out_after):.2f}-{max(out_after):.2f} s after the drain file"
             if drain else ""))
    unheld = [(s, log.get(s.request_id)) for s in lost if s.request_id not in held]
    assert not unheld, f"lost requests no stopped host held: {unheld}; TERMs: {windows}"
    if drain:
        assert not lost
        assert not held, "nginx still sent to a draining host when it got TERM"
    for host in steady.hosts:
        assert host.starts >= 2


def test_throughput_with_1_2_and_3_hosts(steady: Fleet, tmp_path: Path) -> None:
    wrk = str(system_command("wrk"))
    body = tmp_path / "digit.json"
    body.write_text(right_digits()[0][0])
    front, hosts = steady.front, steady.hosts
    rows = []
    for n in range(1, HOSTS + 1):
        front.reload(down=[host.addr for host in hosts[n:]])
        time.sleep(0.3)
        processes = {"nginx": [psutil.Process(front.proc.pid)],
                     "gunicorn": [psutil.Process(host.proc.pid) for host in hosts
                                  if host.proc is not None]}
        before = {name: cpu_seconds(procs) for name, procs in processes.items()}
        wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_before = psutil.cpu_times()
        done = subprocess.run(
            [wrk, "-t1", "-c12", f"-d{WRK_S}s", "--timeout", "5s", "-s",
             str(REPO_ROOT / "perf" / "wrk" / "report.lua"), f"{front.url}/predict"],
            env={"WRK_BODY": str(body), "PATH": "/usr/bin:/bin"}, capture_output=True,
            text=True, timeout=WRK_S + 30)
        assert done.returncode == 0, done.stderr
        result = json.loads([line for line in done.stdout.splitlines() if line[:1] == "{"][-1])
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine_after = psutil.cpu_times()
        cpu = {name: (cpu_seconds(procs) - before[name]) / WRK_S * 100
               for name, procs in processes.items()}
        cpu["wrk"] = (wrk_after.ru_utime - wrk_before.ru_utime + wrk_after.ru_stime
                      - wrk_before.ru_stime) / WRK_S * 100
        idle = ((machine_after.idle + machine_after.iowait)
                - (machine_before.idle + machine_before.iowait))
        spent = sum(machine_after) - sum(machine_before)
        cpu["machine"] = (1 - idle / spent) * psutil.cpu_count() * 100
        errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "status_errors", "timeouts"))
        rows.append((n, result["requests"] / (result["duration_us"] / 1e6),
                     result["p99_us"] / 1000, errors, cpu))
    print(f"\nwrk -c12 through nginx for {WRK_S} s, 1 sync worker a host; CPU % (100 = a core)"
          " and CPU us per request\nhosts | req/s | p99 ms | errors | gunicorn % | nginx % | "
          "wrk % | machine busy % | gunicorn us/req | nginx us/req")
    for n, rps, p99, errors, cpu in rows:
        print(f"{n} | {rps:.0f} | {p99:.1f} | {errors} | {cpu['gunicorn']:.0f} | "
              f"{cpu['nginx']:.0f} | {cpu['wrk']:.0f} | {cpu['machine']:.0f} of "
              f"{psutil.cpu_count() * 100} | {cpu['gunicorn'] * 1e4 / rps:.0f} | "
              f"{cpu['nginx'] * 1e4 / rps:.0f}")
    assert all(errors == 0 and rps > 0 for _, rps, _, errors, _ in rows)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """Return the CPU seconds used so far by these processes and their children."""
    total = 0.0
    for process in processes:
        for member in [process, *process.children(recursive=True)]:
            try:
                times = member.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total
