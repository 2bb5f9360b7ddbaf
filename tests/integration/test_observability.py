"""Metrics across workers, request ids and the JSON log format, against a real Gunicorn."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.integration.conftest import Server
from tests.integration.conftest import StartServer
from tests.integration.conftest import wait_for_line
from tests.integration.conftest import wait_ready
from tests.support import Digits
from tests.support import sample_value

pytestmark = pytest.mark.integration
PREDICT_OK = {"endpoint": "/predict", "method": "POST", "status": "200"}


def scrape(server: Server) -> str:
    response = requests.get(f"{server.url}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


def test_counters_add_up_across_workers(live_server: Server, heldout: Digits) -> None:
    before = sample_value(scrape(live_server), "digitserve_http_requests_total", **PREDICT_OK)
    n = 120
    tag = "count-test"

    def classify(i: int) -> int:
        response = requests.post(f"{live_server.url}/predict", timeout=10,
                                 json={"data": heldout[0][i].tolist()},
                                 headers={"X-Request-ID": f"{tag}-{i}"})
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(classify, range(n))) == {200}
    served_by = set(re.findall(rf"<(\d+)> \"[^\"]*\" request_id={tag}-", live_server.log_text()))
    assert len(served_by) == 2, "both workers should have answered some of the requests"
    # Whichever worker answers the scrape, it reports every worker's samples.
    for _ in range(10):
        text = scrape(live_server)
        assert sample_value(text, "digitserve_http_requests_total", **PREDICT_OK) - before == n
        assert sample_value(text, "digitserve_model_info", name="digitserve-mnist-cnn") == 1


def test_request_id_round_trip_and_access_log(live_server: Server) -> None:
    response = requests.get(f"{live_server.url}/nope", headers={"X-Request-ID": "edge-42"},
                            timeout=5)
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "edge-42"
    line = wait_for_line(live_server, "request_id=edge-42")
    assert '"GET /nope HTTP/1.1" 404' in line
    assert re.search(r" \d+ms ", line)


def test_json_logs(gunicorn: StartServer) -> None:
    server = gunicorn(GUNICORN_LOG_FORMAT="json")
    wait_ready(server)
    response = requests.post(f"{server.url}/predict", json={"data": [0.0] * 784},
                             headers={"X-Request-ID": "json-7"}, timeout=5)
    assert response.status_code == 200
    access = json.loads(wait_for_line(server, '"request_id": "json-7"'))
    records = [json.loads(line) for line in server.log_text().splitlines() if line.strip()]
    assert access["logger"] == "gunicorn.access"
    assert (access["method"], access["path"], access["status"]) == ("POST", "/predict", "200")
    assert isinstance(access["duration_ms"], int)
    assert any("loaded model" in r["message"] for r in records)
