"""SPEC §5 errors, request ids, pagination and the OpenAPI document."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import ApiClient, error_code
from tests.factories import make_project


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key())


def test_unknown_api_paths_answer_the_json_404(api):
    for path in ("/api/v1/nope", "/api/v2/org/projects", "/api/", "/api/v1/org/api-keys/not-a-number"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert error_code(response) == "not_found"


def test_unsafe_methods_on_unknown_paths_are_404_too(cast):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast.owner)
    for path in ("/api/v1/nope", "/api/v1/org/api-keys/-5"):
        response = client.delete(path)
        assert (response.status_code, error_code(response)) == (404, "not_found"), path


def test_a_wrong_method_answers_the_json_405(api):
    response = api.client.put("/api/v1/org/projects", headers=api.headers)
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.client.post(
        "/api/v1/org/projects", "{nope", content_type="application/json", headers=api.headers
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"


def test_validation_errors_name_their_fields(api):
    response = api.post("/api/v1/org/projects", json={"name": "", "slug": "Not A Slug"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"name", "slug"}


def test_every_response_carries_a_request_id(api):
    generated = api.get("/api/v1/org/projects")["X-Request-ID"]
    assert len(generated) == 32
    assert api.get("/api/v1/nope")["X-Request-ID"]
    echoed = api.get("/api/v1/org/projects", headers={"X-Request-ID": "ci-run-42"})
    assert echoed["X-Request-ID"] == "ci-run-42"
    junk = api.get("/api/v1/org/projects", headers={"X-Request-ID": "x" * 500})
    assert junk["X-Request-ID"] != "x" * 500
    assert ApiClient().client.get("/healthz")["X-Request-ID"]


def test_lists_paginate_with_a_cursor(cast, api):
    for n in range(4):
        make_project(cast.org, f"P{n}")
    first = api.get("/api/v1/org/projects", limit=2).json()
    assert len(first["items"]) == 2
    second = api.get("/api/v1/org/projects", limit=2, cursor=first["next_cursor"]).json()
    third = api.get("/api/v1/org/projects", limit=2, cursor=second["next_cursor"]).json()
    assert third["next_cursor"] is None
    slugs = [p["slug"] for page in (first, second, third) for p in page["items"]]
    assert len(slugs) == len(set(slugs)) == 5


@pytest.mark.parametrize(
    ("query", "code"), [({"limit": 0}, 422), ({"limit": 201}, 422), ({"cursor": "%%%"}, 400)]
)
def test_bad_paging_parameters_are_refused(api, query, code):
    response = api.get("/api/v1/org/projects", **query)
    assert response.status_code == code
    assert "error" in response.json()


def test_the_openapi_document_and_docs_are_served(api):
    schema = ApiClient().get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/org/projects" in schema.json()["paths"]
    docs = ApiClient().get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"/static/ninja/swagger-ui-bundle.js" in docs.content  # our own static files, no CDN


def test_the_openapi_document_lists_every_response_field_as_present(db):
    schemas = ApiClient().get("/api/v1/openapi.json").json()["components"]["schemas"]
    for name in ("ProjectOut", "ApiKeyOut", "MemberOut", "MemoryOut", "EnvironmentOut"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert schemas["ErrorDetail"]["required"] == ["code", "message"]  # `fields` only on validation


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("post", "/api/v1/memories", {"content": "a\u0000b"}),
        ("post", "/api/v1/memories", {"content": "ok", "metadata": {"k": "\u0000"}}),
        ("post", "/api/v1/org/projects", {"name": "a\u0000b"}),
        ("post", "/api/v1/org/api-keys", {"name": "a\u0000b"}),
        ("get", "/api/v1/org/projects/proj_%00", None),
        ("get", "/api/v1/memories/99999999999999999999999", None),
    ],
)
def test_input_the_database_cannot_store_is_never_a_500(api, method, path, payload):
    """PostgreSQL refuses NUL characters and numbers beyond bigint (SQLite stores the NULs)."""
    response = getattr(api, method)(path, json=payload) if payload else getattr(api, method)(path)
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response.json()["error"]["code"] in (
            "invalid_input",
            "not_found",
            "project_not_found",
            "memory_not_found",
        )


def test_a_nul_in_a_search_is_not_a_500(api):
    response = api.get("/api/v1/memories", q="a\u0000b")
    assert response.status_code < 500


def test_the_api_root_names_the_api_and_links_its_docs_without_a_key(db):
    response = ApiClient().get("/api/v1/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "Qodex API",
        "version": "1",
        "links": {"docs": "/api/v1/docs", "openapi": "/api/v1/openapi.json"},
    }
    assert response["X-Request-ID"]


def test_the_api_root_says_the_same_to_everyone(cast, make_key):
    anonymous = ApiClient().get("/api/v1/").content
    assert ApiClient(make_key()).get("/api/v1/").content == anonymous
    assert ApiClient("qdx_" + "x" * 40).get("/api/v1/").content == anonymous  # even a bad key: no 401
    response = ApiClient().client.post("/api/v1/", {}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (405, "method_not_allowed")
