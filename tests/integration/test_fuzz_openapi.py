"""Fuzz every operation of the published OpenAPI document: no 5xx, and answers as documented."""

from __future__ import annotations

import itertools

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from schemathesis.checks import content_type_conformance
from schemathesis.checks import negative_data_rejection
from schemathesis.checks import not_a_server_error
from schemathesis.checks import response_headers_conformance
from schemathesis.checks import response_schema_conformance
from schemathesis.checks import status_code_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.integration.conftest import Server

pytestmark = pytest.mark.integration
# Not positive_data_acceptance: the published image schema is looser than the validator (any
# 28 to 784 items, each a number or a row), so some schema-valid bodies rightly get a 422.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, negative_data_rejection]


@pytest.fixture(scope="module")
def published_schema(live_server: Server) -> OpenApiSchema:
    """Load the OpenAPI document the running server publishes."""
    return schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")


def test_every_input_is_answered_as_documented(live_server: Server,
                                               published_schema: OpenApiSchema) -> None:
    log_start = len(live_server.log_text())
    operations = [result.ok() for result in published_schema.get_all_operations()]
    assert len(operations) == 17  # 8 of our own API, 9 of the Open Inference Protocol
    # Valid inputs (positive), and for the routes with a body, bodies that break the schema
    # on purpose (negative).
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):
        if mode is schemathesis.GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answer_without_5xx(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.as_curl_command(), response.text[:300])
            case.validate_response(response, checks=CHECKS)

        answer_without_5xx()

    # The server is still ready, and no worker died or was killed on the way.
    assert requests.get(f"{live_server.url}/readyz", timeout=5).status_code == 200
    log = live_server.log_text()[log_start:]
    assert "Worker (pid:" not in log and "Traceback" not in log, log[-3000:]
