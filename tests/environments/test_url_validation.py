"""Base URLs are validated with the outbound policy's syntax check (SPEC §6, §11): a malformed URL is a
clear field error on the model, the page and the API, never a 500, and nothing is created."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from environments.models import Environment, validate_http_url
from projects.models import ApiKey
from tests.api.conftest import ApiClient, error_code
from tests.environments.pages import form_data

MALFORMED = {
    "http://[::1/": "“http://[::1/” is not a valid URL: its IPv6 host is missing a bracket.",
    "http://[::1/x": "“http://[::1/x” is not a valid URL: its IPv6 host is missing a bracket.",
    "http://127.0.0.1:abc/": "“http://127.0.0.1:abc/” has a port that isn't a number from 1 to 65535.",
    "http://127.0.0.1:99999/": "“http://127.0.0.1:99999/” has a port that isn't a number from 1 to 65535.",
    "http://[zz::1]/": "“http://[zz::1]/” is not a valid URL: the host in brackets is not an IPv6 address.",
}


@pytest.mark.parametrize("url", MALFORMED)
def test_the_validator_raises_a_validation_error_with_a_sentence(url):
    with pytest.raises(ValidationError) as raised:
        validate_http_url(url)
    assert raised.value.messages == [MALFORMED[url]]


@pytest.mark.parametrize("url", ["http://api:8000", "https://staging.acme.test/app", "http://10.0.0.5:3000"])
def test_internal_names_and_private_addresses_are_valid_urls(url):
    validate_http_url(url)  # the address rules apply when a request is sent, not when a URL is saved


@pytest.mark.parametrize("field", ["base_url", "api_base_url"])
def test_full_clean_names_the_field(cast, field):
    environment = Environment(project=cast.project, name="Broken", base_url="https://ok.acme.test")
    setattr(environment, field, "http://[::1/")
    with pytest.raises(ValidationError) as raised:
        environment.full_clean()
    assert raised.value.message_dict[field] == [MALFORMED["http://[::1/"]]


@pytest.mark.parametrize("url", MALFORMED)
def test_the_new_environment_page_shows_the_error_and_creates_nothing(cast, login, url):
    response = login(cast.member).post(
        f"/p/{cast.project.slug}/settings/environments/new/", form_data(name="Broken", base_url=url)
    )
    assert response.status_code == 400
    assert MALFORMED[url].replace("'", "&#x27;") in response.content.decode()
    assert not Environment.objects.exists()


@pytest.mark.parametrize("url", MALFORMED)
def test_the_api_answers_the_error_shape_and_creates_nothing(cast, url):
    api = ApiClient(_write_key(cast))
    response = api.post(
        f"/api/v1/p/{cast.project.slug}/environments", json={"name": "Broken", "base_url": url}
    )
    assert response.status_code == 422, response.content
    assert error_code(response) == "validation_failed"
    assert response.json()["error"]["fields"]["base_url"] == [MALFORMED[url]]
    assert not Environment.objects.exists()


def _write_key(cast) -> str:
    _, raw = ApiKey.issue(
        organization=cast.org, project=cast.project, name="CI", scope="write", created_by=cast.owner
    )
    return raw
