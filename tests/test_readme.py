"""The docs' claims about errors, request ids and metrics, checked against the app."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.inference.model import KEY
from app.web.errors import ModelUnavailableError
from tests.support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
API = (REPO_ROOT / "docs" / "api.md").read_text()
OPERATING = (REPO_ROOT / "deploy" / "README.md").read_text()
PERF = (REPO_ROOT / "perf" / "README.md").read_text()
REQUEST_ID_RULE = ("the client's, when it is 1 to 128 characters: a letter\nor digit, then up "
                   "to 127 letters, digits or `._:/+=-`; otherwise a new random one (32 hex\n"
                   "digits).")
KEPT = ["a", "Z", "7", "a" * 128, "0._:/+=-", "edge-42", "550e8400-e29b-41d4-a716-446655440000",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "Root=1-5759e988-bd862e3fe1be46a994272793", "dGVzdA=="]
REPLACED = ["-a", ".a", "_a", "/a", "+a", "=a", ":a", "a" * 129, "a b", "a;b", "a,b", "a*b",
            "a_b c", "a@b", "a\\b", "\"a\""]


def error_rows() -> dict[int, str]:
    """Return docs/api.md's error table: {status: the row's text}."""
    table = re.search(r"^\| status \| when \|\n\|---\|---\|\n((?:\|.*\n)+)",
                      API.split("## Errors", 1)[1], re.MULTILINE)
    assert table, "no error table under ## Errors"
    rows = {}
    for line in table[1].splitlines():
        statuses, text = line.strip("|").split("|", 1)
        for status in re.findall(r"\d{3}", statuses):
            rows[int(status)] = text
    return rows


@pytest.mark.parametrize("given", KEPT + REPLACED)
def test_request_id_rule(client: FlaskClient, given: str) -> None:
    assert REQUEST_ID_RULE in API
    answered = client.get("/livez", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    if given in KEPT:
        assert answered == given
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", answered), answered


def test_error_table_lists_every_status_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    declared = {(path, int(code)) for path, operations in spec["paths"].items()
                for operation in operations.values() if isinstance(operation, dict)
                for code in operation["responses"] if code.isdigit() and int(code) >= 400}
    rows = error_rows()
    assert {code for _, code in declared} <= set(rows), set(rows)
    for path, code in declared:
        if code == 503:  # the only row that names its paths
            assert f"`{path}`" in rows[503], path


def test_400_row_gives_the_apps_messages(client: FlaskClient) -> None:
    headers = {"Content-Type": "application/json"}
    empty = client.post("/predict", data=b"", headers=headers).get_json()
    invalid = client.post("/predict", data=b"{nope", headers=headers).get_json()
    assert empty["message"] == "The request body is empty; send a JSON object."
    assert invalid["message"].startswith("The request body is not valid JSON: ")
    assert f'`"{empty["message"]}"`' in error_rows()[400]
    assert '`"The request body is not valid JSON: ..."`' in error_rows()[400]


@pytest.mark.parametrize(("path", "body"), [
    ("/predict", {"data": [0.0] * 784}),
    ("/predict/batch", {"instances": [[0.0] * 784]}),
])
def test_failed_inference_is_503_as_the_table_says(app: Flask, client: FlaskClient,
                                                  monkeypatch: pytest.MonkeyPatch, path: str,
                                                  body: dict[str, object]) -> None:
    def fail(*_: object) -> None:
        raise ModelUnavailableError("inference failed: injected")

    monkeypatch.setattr(app.extensions[KEY], "predict", fail)
    response = client.post(path, json=body)
    assert response.status_code == 503
    assert response.get_json()["code"] == 503
    assert f"`{path}`" in error_rows()[503]


def test_requirements_say_linux() -> None:
    requirements = README.split("**Requirements.**", 1)[1].split("\n## ", 1)[0]
    assert requirements.startswith(" Linux")
    assert "tests/system-packages.txt" in requirements


def test_metrics_table_names_every_metric_with_its_help_text(client: FlaskClient) -> None:
    client.post("/predict", json={"data": [0.5] * 784})  # make the labelled series appear
    scraped = client.get("/metrics").get_data(as_text=True)
    helps = {name: text for name, text in re.findall(r"^# HELP (digitserve_\w+) (.*)$",
                                                       scraped, re.MULTILINE)
             if not name.endswith("_created")}  # creation times, outside multiprocess mode
    rows = dict(re.findall(r"^\| `(digitserve_\w+)` \|[^|]*\|[^|]*\| (.*) \|$", OPERATING,
                           re.MULTILINE))
    assert rows == helps


def test_middleware_cost_quotes_the_breakdown_row_that_measures_it() -> None:
    breakdown = (REPO_ROOT / "perf" / "breakdown.py").read_text()
    quoted = re.search(r"request id \+ metrics middleware, /predict", OPERATING)
    assert quoted and "request id + metrics middleware, /predict" in breakdown
    assert "python -m perf.breakdown" in OPERATING.split("request id + metrics middleware", 1)[0]
