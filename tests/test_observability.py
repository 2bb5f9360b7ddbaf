"""Metrics and request ids through the Flask test client (one process, its own registry)."""

from __future__ import annotations

import os

import pytest
from flask.testing import FlaskClient

from app.web.metrics import ForkAwarePid
from tests.support import sample_value

REQUESTS = "digitserve_http_requests_total"


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_requests_are_counted_by_endpoint_and_status(client: FlaskClient,
                                                     digit: tuple[list[float], int]) -> None:
    before = scrape(client)
    for _ in range(3):
        client.post("/predict", json={"data": digit[0]})
    client.post("/predict", json={"data": []})
    client.get("/no/such/path")
    after = scrape(client)

    def delta(**labels: str) -> float:
        return sample_value(after, REQUESTS, **labels) - sample_value(before, REQUESTS, **labels)

    assert delta(endpoint="/predict", method="POST", status="200") == 3
    assert delta(endpoint="/predict", method="POST", status="422") == 1
    assert delta(endpoint="<unmatched>", method="GET", status="404") == 1
    assert (sample_value(after, "digitserve_http_request_duration_seconds_count",
                         endpoint="/predict")
            - sample_value(before, "digitserve_http_request_duration_seconds_count",
                           endpoint="/predict")) == 4


def test_inference_and_batch_size_are_recorded(client: FlaskClient) -> None:
    before = scrape(client)
    client.post("/predict/batch", json={"instances": [[0.0] * 784] * 5})
    after = scrape(client)
    for name in ("digitserve_inference_duration_seconds_count",
                 "digitserve_inference_batch_size_count"):
        assert sample_value(after, name) - sample_value(before, name) == 1
    assert (sample_value(after, "digitserve_inference_batch_size_sum")
            - sample_value(before, "digitserve_inference_batch_size_sum")) == 5


def test_model_info_and_in_flight(client: FlaskClient) -> None:
    text = scrape(client)
    assert sample_value(text, "digitserve_model_info", name="digitserve-mnist-cnn") == 1
    # The scrape itself is the one request in flight.
    assert sample_value(text, "digitserve_http_requests_in_flight") == 1


def test_client_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/livez", headers={"X-Request-ID": "trace-0af7651916cd43dd"})
    assert response.headers["X-Request-ID"] == "trace-0af7651916cd43dd"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "<script>", "-leading-dash",
                                   "semi;colon"])
def test_bad_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    response = client.get("/livez", headers={"X-Request-ID": given})
    made = response.headers["X-Request-ID"]
    assert made != given and len(made) == 32 and int(made, 16) >= 0


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("get", "/nope", {}, 404),
    ("get", "/predict", {}, 405),
    ("post", "/predict", {"json": {"data": [2.0] * 784}}, 422),
    ("post", "/predict", {"data": b"x", "content_type": "text/plain"}, 415),
    ("post", "/predict", {"data": b"{", "content_type": "application/json"}, 400),
])
def test_errors_carry_request_ids(client: FlaskClient, method: str, path: str,
                                  kwargs: dict[str, object], status: int) -> None:
    response = getattr(client, method)(path, headers={"X-Request-ID": "abc-123"}, **kwargs)
    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "abc-123"


def test_generated_ids_differ(client: FlaskClient) -> None:
    ids = {client.get("/livez").headers["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20


def test_fork_aware_pid_is_the_childs_after_a_fork() -> None:
    remembered = ForkAwarePid()
    assert remembered() == os.getpid()
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what it remembers, and leave at once
        os.write(write_end, str(remembered()).encode())
        os._exit(0)
    os.close(write_end)
    reported = int(os.read(read_end, 32))
    os.close(read_end)
    os.waitpid(child, 0)
    assert reported == child
    assert remembered() == os.getpid()
