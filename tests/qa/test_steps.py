"""qa.steps: what a scenario step may hold (SPEC §9), the canonical form, and messages that name the step
and the field."""

from __future__ import annotations

import pytest

from qa.steps import Problem, check_steps, clean_steps, in_order
from qodex.doors import Invalid

LOGIN = {
    "name": "Log in",
    "method": "post",
    "target": " ${API_BASE_URL}/login ",
    "headers": {"Content-Type": "application/json"},
    "body": {"email": "${authEmail}", "password": "${authPassword}"},
    "expected_status": 200,
    "captures": [{"as": "token", "from": "$.data.token"}],
    "expectations": [
        {"kind": "jsonpath", "path": "$.data.token", "exists": True},
        {"kind": "jsonpath", "path": "$.data.role", "equals": "admin"},
    ],
}


def messages(raw, scenario_type="api") -> list[str]:
    return [problem.sentence for problem in check_steps(raw, scenario_type)[1]]


def test_a_full_step_comes_back_in_canonical_form():
    (step,) = clean_steps([LOGIN])
    assert list(step) == [
        "name",
        "method",
        "target",
        "headers",
        "body",
        "expected_status",
        "captures",
        "expectations",
        "destructive",
        "security",
    ]
    assert step["method"] == "POST" and step["target"] == "${API_BASE_URL}/login"
    assert step["captures"] == [{"as": "token", "from": "$.data.token"}]
    assert (step["destructive"], step["security"]) == (False, False)


def test_normalising_is_idempotent_so_export_and_import_give_the_same_steps():
    once = clean_steps([LOGIN, {"method": "DELETE", "target": "https://api.test/users/1"}])
    assert clean_steps(once) == once
    assert clean_steps(in_order(once)) == once


def test_a_minimal_step_gets_defaults_and_a_name():
    (step,) = clean_steps([{"method": "GET", "target": "${API_BASE_URL}/health"}])
    assert step == {
        "name": "GET ${API_BASE_URL}/health",
        "method": "GET",
        "target": "${API_BASE_URL}/health",
        "headers": {},
        "body": None,
        "expected_status": None,
        "captures": [],
        "expectations": [],
        "destructive": False,
        "security": False,
    }


def test_a_delete_step_that_does_not_say_is_destructive_but_one_that_says_no_is_not():
    said_nothing, said_no = clean_steps(
        [
            {"method": "DELETE", "target": "${API_BASE_URL}/users/1"},
            {"method": "DELETE", "target": "${API_BASE_URL}/users/2", "destructive": False},
        ]
    )
    assert said_nothing["destructive"] is True
    assert said_no["destructive"] is False


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"method": "FETCH", "target": "https://a.test"},
            "Step 1: method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got “FETCH”).",
        ),
        ({"method": "GET"}, "Step 1: target is required"),
        (
            {"method": "GET", "target": "/users"},
            "Step 1: target must be an absolute http(s) URL or start with a variable",
        ),
        ({"method": "GET", "target": "https://a.test/a b"}, "Step 1: target can't contain spaces"),
        (
            {"method": "GET", "target": "https://a.test", "expected_status": 99},
            "Step 1: expected_status must be between 100 and 599",
        ),
        (
            {"method": "GET", "target": "https://a.test", "expected_status": "ok"},
            "Step 1: expected_status must be an HTTP status",
        ),
        (
            {"method": "GET", "target": "https://a.test", "headers": {"Bad Name": "x"}},
            "Step 1: header name “Bad Name” is not a valid HTTP header name.",
        ),
        (
            {"method": "GET", "target": "https://a.test", "headers": {"X": {"a": 1}}},
            "Step 1: header “X” must have a text value",
        ),
        (
            {"method": "GET", "target": "https://a.test", "headers": "X: y"},
            "Step 1: headers must be an object",
        ),
        (
            {"method": "GET", "target": "https://a.test", "captures": [{"as": "1abc", "from": "$.id"}]},
            "Step 1: capture 1: “as” must be a variable name",
        ),
        (
            {"method": "GET", "target": "https://a.test", "captures": [{"as": "id", "from": "id"}]},
            "Step 1: capture 1 (id): “from” must be a JSONPath starting with $, such as $.id",
        ),
        (
            {"method": "GET", "target": "https://a.test", "captures": [{"as": "id", "from": "$["}]},
            "Step 1: capture 1 (id): “from” “$[” is not a valid JSONPath",
        ),
        (
            {
                "method": "GET",
                "target": "https://a.test",
                "expectations": [{"kind": "jsonpath", "path": "$.id"}],
            },
            "Step 1: expectation 1 needs exactly one of exists, equals",
        ),
        (
            {
                "method": "GET",
                "target": "https://a.test",
                "expectations": [{"kind": "jsonpath", "path": "$.id", "exists": True, "equals": 1}],
            },
            "Step 1: expectation 1 needs exactly one of",
        ),
        (
            {
                "method": "GET",
                "target": "https://a.test",
                "expectations": [{"kind": "xpath", "path": "$.id", "exists": True}],
            },
            "Step 1: expectation 1: kind must be jsonpath",
        ),
        (
            {
                "method": "GET",
                "target": "https://a.test",
                "expectations": [{"path": "$.n", "greater_than": "3"}],
            },
            "Step 1: expectation 1: “greater_than” must be a number.",
        ),
        (
            {"method": "GET", "target": "https://a.test", "expectations": [{"path": "$.n", "matches": "("}]},
            "Step 1: expectation 1: “matches” is not a valid regular expression",
        ),
        (
            {"method": "GET", "target": "https://a.test", "expectations": [{"path": "$.n", "exists": "yes"}]},
            "Step 1: expectation 1: “exists” must be true or false.",
        ),
        (
            {"method": "GET", "target": "https://a.test", "destructive": "no"},
            "Step 1: destructive must be true or false",
        ),
        ({"method": "GET", "target": "https://a.test", "timeout": 3}, "Step 1: unknown field “timeout”"),
        ("GET /users", "Step 1: must be an object with a method and a target."),
    ],
)
def test_each_problem_names_the_step_and_the_field(step, message):
    found = messages([step])
    assert any(sentence.startswith(message) for sentence in found), found


def test_problems_are_numbered_by_step_and_all_reported_at_once():
    good = {"method": "GET", "target": "https://a.test"}
    found = messages([good, good, {"method": "TRACE", "target": "ftp://x"}])
    assert [sentence[:7] for sentence in found] == ["Step 3:", "Step 3:"]
    with pytest.raises(Invalid) as refused:
        clean_steps([good, good, {"method": "TRACE", "target": "ftp://x"}])
    assert refused.value.fields == {"steps": found}
    assert refused.value.message == "2 problems in the steps."


def test_steps_must_be_a_list_of_at_most_two_hundred():
    assert messages({"method": "GET"}) == ["Steps must be a list of step objects."]
    assert messages([{"method": "GET", "target": "https://a.test"}] * 201)[0].startswith(
        "A scenario holds at most 200"
    )
    assert check_steps(None) == ([], [])


def test_a_nul_character_anywhere_is_refused_before_the_database_sees_it():
    found = messages([{"method": "GET", "target": "https://a.test", "body": {"k": "a\x00b"}}])
    assert found == ["Step 1: contains a NUL character (\\u0000), which can't be stored."]


def test_shorthands_people_write_are_read():
    (step,) = clean_steps(
        [
            {
                "method": "GET",
                "target": "https://a.test",
                "headers": [{"key": "Accept", "value": "application/json"}],
                "captures": {"userId": "$.id"},
                "expected_status": "204",
                "expectations": [{"path": "$.id", "exists": True}],
            }
        ]
    )
    assert step["headers"] == {"Accept": "application/json"}
    assert step["captures"] == [{"as": "userId", "from": "$.id"}]
    assert step["expected_status"] == 204
    assert step["expectations"] == [{"kind": "jsonpath", "path": "$.id", "exists": True}]


def test_ui_steps_are_browser_actions():
    steps = clean_steps(
        [
            {"action": "goto", "url": "${baseUrl}/login"},
            {"action": "fill", "selector": "#email", "value": ""},
        ],
        "ui",
    )
    assert steps[0] == {"name": "goto ${baseUrl}/login", "action": "goto", "url": "${baseUrl}/login"}
    actions = "goto, fill, click, press, wait_for_url, wait_for_selector"
    expected = f"Step 1: action must be one of {actions} (got “hover”)."
    assert messages([{"action": "hover"}], "ui") == [expected]
    assert messages([{"action": "click"}], "ui") == ["Step 1: click needs a selector."]


def test_problems_keep_their_step_for_the_editor():
    _, problems = check_steps(
        [{"method": "GET", "target": "https://a.test"}, {"method": "X", "target": "https://a"}]
    )
    assert problems == [Problem(1, "method", problems[0].message)]
