"""SPEC §11: bodies over the upload limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB) get 413 and write nothing.

Under /api/ the 413 has the SPEC error shape; pages get a plain 413 page.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from qa.models import Memory
from tests.api.conftest import ApiClient, error_code

OVER_THE_LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024


def big_memory() -> str:
    return json.dumps({"content": "x", "metadata": {"blob": "a" * OVER_THE_LIMIT}})


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key())


def test_an_api_body_over_the_limit_is_a_413_in_the_error_shape_and_writes_nothing(cast, api):
    response = api.client.post(
        "/api/v1/memories", big_memory(), content_type="application/json", headers=api.headers
    )
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")
    assert "2.5 MB" in response.json()["error"]["message"]
    assert response["X-Request-ID"]
    assert not Memory.objects.exists()
    cast.project.refresh_from_db()
    assert cast.project.memory_count == 0


def test_the_413_comes_before_authentication(db):
    response = Client().post("/api/v1/memories", big_memory(), content_type="application/json")
    assert (response.status_code, error_code(response)) == (413, "payload_too_large")


def test_a_body_just_under_the_limit_is_accepted(cast, api):
    content = "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 1024)
    response = api.post("/api/v1/memories", json={"content": "x", "metadata": {"blob": content}})
    assert response.status_code == 201


def test_a_page_form_over_the_limit_is_a_413_page_and_writes_nothing(cast):
    client = Client(enforce_csrf_checks=True)  # the limit answers before CSRF reads the form
    client.force_login(cast.member)
    response = client.post(
        f"/p/{cast.project.slug}/memory/", {"action": "add", "content": "a" * OVER_THE_LIMIT}
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "larger than 2.5 MB" in response.content.decode()
    assert not Memory.objects.exists()


def test_a_multipart_form_whose_fields_are_over_the_limit_is_a_413(cast):
    client = Client()
    client.force_login(cast.member)
    response = client.post(
        f"/p/{cast.project.slug}/settings/environments/import/", {"document": "a" * OVER_THE_LIMIT}
    )
    assert response.status_code == 413


def test_an_uploaded_file_does_not_count_towards_the_limit(cast):
    """Django's limit excludes file uploads; the import form refuses the big file itself, in words."""
    client = Client()
    client.force_login(cast.member)
    upload = SimpleUploadedFile("export.json", b"a" * OVER_THE_LIMIT, content_type="application/json")
    response = client.post(f"/p/{cast.project.slug}/settings/environments/import/", {"file": upload})
    assert response.status_code == 400
    assert "over 256 KB" in response.content.decode()


def test_the_live_server_answers_413_over_real_http(live_server, cast, make_key):
    response = httpx.post(
        f"{live_server.url}/api/v1/memories",
        content=big_memory(),
        headers={"Authorization": f"Bearer {make_key()}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not Memory.objects.exists()


def test_a_content_length_that_is_not_a_number_is_a_400_not_a_500(db):
    response = Client().post("/api/v1/memories", "{}", content_type="application/json", CONTENT_LENGTH="abc")
    assert (response.status_code, error_code(response)) == (400, "bad_request")
