"""Numbers the database or the renderer can't hold are refused by the API's body parser (docs/API.md).

An integer beyond 64 bits used to be stored and then break every memory list of its project (orjson
can't write it); NaN, Infinity and 1e999 reached the database. Now each is a 400 before any route runs.
"""

from __future__ import annotations

import pytest

from qa.models import Memory
from tests.api.conftest import ApiClient, error_code

URL = "/api/v1/memories"


@pytest.fixture
def api(cast, make_key):
    return ApiClient(make_key())


def post_raw(api: ApiClient, path: str, body: str, method: str = "post"):
    call = getattr(api.client, method)
    return call(path, body, content_type="application/json", headers=api.headers)


@pytest.mark.parametrize(
    "number",
    [
        "99999999999999999999999",
        "9223372036854775808",  # one past the largest signed 64-bit integer
        "-9223372036854775809",
        "18446744073709551615",  # fits in unsigned 64 bits, still not in the signed range
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-1e999",
    ],
)
def test_a_number_beyond_what_we_can_store_is_a_400_and_writes_nothing(cast, api, number):
    response = post_raw(api, URL, f'{{"content": "x", "metadata": {{"n": {number}}}}}')
    assert (response.status_code, error_code(response)) == (400, "invalid_number")
    assert "`metadata.n`" in response.json()["error"]["message"]
    assert not Memory.objects.exists()
    cast.project.refresh_from_db()
    assert cast.project.memory_count == 0
    assert api.get(URL).status_code == 200


def test_the_largest_and_smallest_64_bit_integers_are_stored_and_listed(api):
    body = '{"content": "x", "metadata": {"max": 9223372036854775807, "min": -9223372036854775808}}'
    assert post_raw(api, URL, body).status_code == 201
    listed = api.get(URL)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["metadata"] == {"max": 2**63 - 1, "min": -(2**63)}


def test_ordinary_floats_and_booleans_pass(api):
    body = '{"content": "x", "metadata": {"ratio": 0.25, "big": 1e308, "ok": true}}'
    response = post_raw(api, URL, body)
    assert response.status_code == 201
    assert response.json()["metadata"] == {"ratio": 0.25, "big": 1e308, "ok": True}


def test_the_message_names_the_place_deep_inside_lists_and_objects(api):
    body = '{"content": "x", "metadata": {"runs": [{"ms": 1}, {"ms": [2, NaN]}]}}'
    response = post_raw(api, URL, body)
    assert response.status_code == 400
    assert "`metadata.runs[1].ms[1]`" in response.json()["error"]["message"]


def test_updates_are_refused_the_same_way_and_keep_the_memory(cast, api):
    memory = Memory.objects.add(project=cast.project, content="keep", metadata={"k": 1})
    response = post_raw(api, f"{URL}/{memory.pk}", '{"metadata": {"k": 1e999}}', method="patch")
    assert (response.status_code, error_code(response)) == (400, "invalid_number")
    memory.refresh_from_db()
    assert memory.metadata == {"k": 1}


def test_every_route_gets_the_rule_not_only_memories(api):
    response = post_raw(api, "/api/v1/org/projects", '{"name": "P", "slug": 1e999}')
    assert (response.status_code, error_code(response)) == (400, "invalid_number")
    response = post_raw(api, "/api/v1/org/projects", "123456789012345678901234567890")
    assert (response.status_code, error_code(response)) == (400, "invalid_number")
    assert response.json()["error"]["message"].startswith("The body is a whole number")


def test_outsiders_still_get_401_first(db):
    response = ApiClient().client.post(URL, '{"metadata": {"n": NaN}}', content_type="application/json")
    assert (response.status_code, error_code(response)) == (401, "authentication_required")


def test_a_deeply_nested_body_is_a_400_not_a_500(api):
    response = post_raw(api, URL, '{"content": "x", "metadata": {"a": ' + "[" * 5000 + "]" * 5000 + "}}")
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"
