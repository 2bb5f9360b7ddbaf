"""The config the committed sample report recommends, started as the report names it, serves
real digits under load with no failure: the recommendation is something the suite has run."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_ready
from tests.integration.load import LoadClient
from tests.integration.load import count
from tests.integration.load import failures
from tests.integration.test_lifecycle import wait_until
from tests.integration.test_lifecycle import worker_pids
from tests.support import REPO_ROOT

pytestmark = pytest.mark.integration

SAMPLE = REPO_ROOT / "perf" / "sample" / "summary.json"
LABEL = re.compile(r"(?P<workers>\d+)w (?P<cls>sync|gthread)(?: x(?P<threads>\d+))?")


def recommended_environment() -> dict[str, str]:
    """Return the GUNICORN_* variables that start the sample's recommended config."""
    label = json.loads(SAMPLE.read_text())["recommendation"]["config"]
    found = LABEL.fullmatch(label)
    assert found, f"the sample recommends {label!r}, which this test cannot start"
    return {"GUNICORN_WORKERS": found["workers"], "GUNICORN_WORKER_CLASS": found["cls"],
            "GUNICORN_THREADS": found["threads"] or "1"}


def test_the_recommended_config_serves_under_load(gunicorn: StartServer) -> None:
    env = recommended_environment()
    server = gunicorn(**env)
    wait_ready(server)
    wait_until(lambda: len(worker_pids(server)) == int(env["GUNICORN_WORKERS"]), 15,
               "every worker to start")
    with LoadClient(server.url, threads=4, max_seconds=30) as load:
        load.wait_for_more(400)
    outcomes = load.outcomes
    print(f"\n{env}: {count(outcomes)}")
    assert not failures(outcomes)
    worker = {"sync": "app.web.worker.SyncWorker",
              "gthread": "app.web.thread_worker.ThreadWorker"}
    assert f"Using worker: {worker[env['GUNICORN_WORKER_CLASS']]}" in server.log_text()
