"""The API contract end to end over HTTP, against a real Gunicorn with 2 workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import Server
from tests.support import MODEL_PATH
from tests.support import Digits

pytestmark = pytest.mark.integration


def post(server: Server, path: str, body: Any) -> requests.Response:
    return requests.post(f"{server.url}{path}", json=body, timeout=10)


def test_old_clients_contract(live_server: Server, heldout: Digits) -> None:
    root = requests.get(f"{live_server.url}/", timeout=5)
    assert root.status_code == 200 and "message" in root.json()
    health = requests.get(f"{live_server.url}/health", timeout=5).json()
    assert health["status"] == "healthy" and health["model_loaded"] is True
    answer = post(live_server, "/predict", {"data": heldout[0][0].tolist()})
    assert answer.status_code == 200
    assert answer.json()["prediction"] == heldout[1][0]
    assert 0.0 <= answer.json()["confidence"] <= 1.0


def test_examples_in_readme_work(live_server: Server) -> None:
    examples = MODEL_PATH.parent / "examples"
    for name, path in (("digit.json", "/predict"), ("digit_28x28.json", "/predict"),
                       ("batch.json", "/predict/batch")):
        response = requests.post(f"{live_server.url}{path}", data=(examples / name).read_bytes(),
                                 headers={"Content-Type": "application/json"}, timeout=5)
        assert response.status_code == 200, name


@pytest.mark.parametrize(("path", "kwargs", "status"), [
    ("/predict", {"json": {"data": [0.5] * 100}}, 422),
    ("/predict", {"data": b"{nope", "headers": {"Content-Type": "application/json"}}, 400),
    ("/predict", {"data": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("/predict", {"data": b"[" + b"0.5," * 2_000_000 + b"0.5]",
                  "headers": {"Content-Type": "application/json"}}, 413),
    ("/nowhere", {"json": {}}, 404),
    ("/health", {"json": {}}, 405),
])
def test_errors_are_json_over_http(live_server: Server, path: str, kwargs: dict[str, Any],
                                   status: int) -> None:
    response = requests.post(f"{live_server.url}{path}", timeout=10, **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["code"] == status and response.json()["message"]


def test_each_worker_loads_its_own_session(live_server: Server) -> None:
    def health(_: int) -> dict[str, Any]:
        return requests.get(f"{live_server.url}/health", timeout=10).json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(health, range(200)))
    pids = {a["pid"] for a in answers}
    assert len(pids) == 2
    assert all(a["pid"] == a["session_pid"] for a in answers)
    assert len({a["model"]["sha256"] for a in answers}) == 1


def test_200_concurrent_predictions_are_right(live_server: Server, heldout: Digits) -> None:
    images, labels = heldout
    correct_ids = range(200)

    def classify(i: int) -> tuple[int, int]:
        response = post(live_server, "/predict", {"data": images[i].tolist()})
        return response.status_code, response.json()["prediction"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(classify, correct_ids))
    assert all(status == 200 for status, _ in results)
    predicted = [label for _, label in results]
    model_labels = [post(live_server, "/predict", {"data": images[i].tolist()}).json()
                    ["prediction"] for i in correct_ids]
    assert predicted == model_labels
    assert sum(p == y for p, y in zip(predicted, labels[:200], strict=True)) >= 190


def test_heldout_accuracy_over_http(live_server: Server, heldout: Digits) -> None:
    images, labels = heldout
    single = [post(live_server, "/predict", {"data": image}).json()["prediction"]
              for image in images[:300].tolist()]
    assert sum(p == y for p, y in zip(single, labels[:300], strict=True)) / 300 >= 0.95
    batched: list[int] = []
    for start in range(0, len(images), 250):
        body = post(live_server, "/predict/batch",
                    {"instances": images[start:start + 250].tolist()}).json()
        batched += [p["prediction"] for p in body["predictions"]]
    assert sum(p == y for p, y in zip(batched, labels, strict=True)) / len(labels) >= 0.95
    assert batched[:300] == single


def test_workers_log_model_load(live_server: Server) -> None:
    log = live_server.log_text()
    assert log.count("loaded model digitserve-mnist-cnn") >= 2
    assert log.count("ready: app imported and model loaded in") >= 2
    assert " ms" in log
