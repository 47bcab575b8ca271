"""SPEC §11: the API is fuzzed from its own OpenAPI document (schemathesis) and never answers 5xx.

Bounded: a fixed number of examples per operation, in-process over WSGI, with an org-wide write key so
unsafe methods reach their validation; `/p/{slug}/` routes get the real slug so their bodies are fuzzed
too (a random slug would stop at the 404). Every error must also have the SPEC shape.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from projects.models import ApiKey

EXAMPLES_PER_OPERATION = 15


# Requests arrive "over HTTPS" (through the proxy header production trusts), so SECURE_SSL_REDIRECT
# can't turn every answer into a 301 and leave the test proving nothing.
HTTPS = {"X-Forwarded-Proto": "https"}
# The document the server publishes; calls go in-process over WSGI.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application(), headers=HTTPS)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the test's transaction-bound connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_key(cast) -> str:
    return ApiKey.issue(organization=cast.org, name="fuzz", scope="write", created_by=cast.owner)[1]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_never_answers_a_server_error(case, cast, fuzz_key):
    if case.path_parameters and "slug" in case.path_parameters:
        case.path_parameters["slug"] = cast.project.slug
    response = case.call(headers={"Authorization": f"Bearer {fuzz_key}", **HTTPS})
    assert response.status_code not in (301, 302), "redirected: the request never reached the API"
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"], response.text
