"""Scenario drafts by the project's model (issue 11 point 5) against the LLM stand-in over real HTTP:
the draft is shown for review and saved only on confirmation, as a draft; refusals keep the text."""

from __future__ import annotations

import json
from decimal import Decimal

from projects.models import AuditEvent, Project
from qa.models import Scenario
from tests.qa.html_forms import posted_form
from usage.models import LlmUsageLog

HTMX = {"HTTP_HX_REQUEST": "true"}
DESCRIPTION = "Sign up a user, log in with it, then delete it."
OPENAPI = '{"openapi": "3.0.0", "paths": {"/users": {"post": {}}, "/login": {"post": {}}}}'
DRAFT = {
    "name": "Sign up and clean up",
    "description": "Creates a user and removes it.",
    "priority": "high",
    "tags": ["users", "smoke"],
    "steps": [
        {
            "name": "Create the user",
            "method": "POST",
            "target": "${API_BASE_URL}/users",
            "body": {"email": "${authEmail}"},
            "expected_status": 201,
            "captures": [{"as": "userId", "from": "$.id"}],
            "expectations": [{"kind": "jsonpath", "path": "$.id", "exists": True}],
        },
        {
            "name": "Delete it",
            "method": "DELETE",
            "target": "/users/${userId}",
            "expected_status": 204,
            "destructive": True,
        },
    ],
}


def url(cast) -> str:
    return f"/p/{cast.project.slug}/scenarios/generate/"


def review_form(page: str) -> dict[str, str]:
    """The review form's fields as the page filled them in (name, tags, priority, description, steps)."""
    start = page.index('<input type="hidden" name="action" value="save">')
    form = page[page.rindex("<form", 0, start) : page.index("</form>", start) + 7]
    return posted_form(form.replace("<form", '<form id="review"', 1), "review")


def test_a_draft_is_shown_for_review_and_nothing_is_saved_yet(cast, login, platform):
    platform.behave(reply=json.dumps(DRAFT))
    response = login(cast.member).post(url(cast), {"description": DESCRIPTION, "openapi": OPENAPI}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Review the draft" in page and "Sign up and clean up" in page
    assert not Scenario.objects.exists()
    (row,) = LlmUsageLog.objects.filter(project=cast.project)
    assert (row.source, row.outcome, row.user) == ("scenario_generation", "ok", cast.member)
    sent = platform.requests[-1].body["messages"]
    assert sent[0]["role"] == "system" and "ONE JSON object" in sent[0]["content"]
    assert DESCRIPTION in sent[1]["content"] and OPENAPI in sent[1]["content"]
    fields = review_form(page)
    # A relative target is read against the API base URL.
    assert json.loads(fields["draft-steps"])[1]["target"] == "${API_BASE_URL}/users/${userId}"


def test_saving_the_reviewed_draft_creates_a_draft_scenario(cast, login, platform):
    platform.behave(reply=json.dumps(DRAFT))
    client = login(cast.member)
    fields = review_form(client.post(url(cast), {"description": DESCRIPTION}).content.decode())
    fields["draft-name"] = "Sign up, reviewed"
    response = client.post(url(cast), {**fields, "action": "save"})
    scenario = Scenario.objects.get(project=cast.project)
    assert response["Location"] == f"/p/{cast.project.slug}/scenarios/{scenario.pk}/"
    assert (scenario.name, scenario.status, scenario.priority, scenario.tags) == (
        "Sign up, reviewed",
        "draft",
        "high",
        ["users", "smoke"],
    )
    assert [step["name"] for step in scenario.steps] == ["Create the user", "Delete it"]
    assert scenario.steps[1]["destructive"] is True
    event = AuditEvent.objects.get(action="scenario.created")
    assert event.details["origin"] == "generated" and event.actor == cast.member
    assert LlmUsageLog.objects.count() == 1  # saving calls no model


def test_a_draft_with_problems_lists_them_and_cannot_be_saved_until_fixed(cast, login, platform):
    bad = {**DRAFT, "steps": [{"name": "Fetch", "method": "FETCH", "target": "${API_BASE_URL}/x"}]}
    platform.behave(reply="Here you go:\n```json\n" + json.dumps(bad) + "\n```")
    client = login(cast.member)
    page = client.post(url(cast), {"description": DESCRIPTION}).content.decode()
    assert "Fix these before saving:" in page
    assert "Step 1: method must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS (got “FETCH”)." in page
    fields = review_form(page)
    response = client.post(url(cast), {**fields, "action": "save"})
    assert response.status_code == 400 and "Step 1: method must be one of" in response.content.decode()
    assert not Scenario.objects.exists()
    fields["draft-steps"] = fields["draft-steps"].replace("FETCH", "GET")
    assert client.post(url(cast), {**fields, "action": "save"}).status_code == 302
    assert Scenario.objects.get().steps[0]["method"] == "GET"


def test_a_cap_refusal_says_why_and_keeps_the_text(cast, login, platform):
    Project.objects.filter(pk=cast.project.pk).update(cap_5h_usd=Decimal("0"))
    response = login(cast.member).post(url(cast), {"description": DESCRIPTION, "openapi": OPENAPI}, **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-result="refused"' in page and "5-hour" in page
    assert DESCRIPTION in page and "&quot;openapi&quot;: &quot;3.0.0&quot;" in page
    assert platform.requests == []  # refused before any call
    assert LlmUsageLog.objects.get().outcome == "cap_exceeded"
    assert not Scenario.objects.exists()


def test_byok_without_a_key_says_what_to_do(cast, login, platform):
    Project.objects.filter(pk=cast.project.pk).update(llm_mode=Project.LlmMode.BYOK, llm_provider="openai")
    page = login(cast.member).post(url(cast), {"description": DESCRIPTION}).content.decode()
    assert "none is saved. Add one in Settings → BYOK" in page and DESCRIPTION in page


def test_an_answer_without_a_scenario_shows_what_the_model_said(cast, login, platform):
    platform.behave(reply="I cannot help with that.")
    page = login(cast.member).post(url(cast), {"description": DESCRIPTION}).content.decode()
    assert "The model’s answer wasn’t a scenario" in page and "I cannot help with that." in page
    assert "Review the draft" not in page and not Scenario.objects.exists()


def test_a_provider_fault_is_a_clear_message(cast, login, platform):
    platform.behave(status=500)
    page = login(cast.member).post(url(cast), {"description": DESCRIPTION}).content.decode()
    assert 'data-result="refused"' in page and DESCRIPTION in page
    assert LlmUsageLog.objects.get().outcome == "error"


def test_an_empty_description_is_asked_for_without_calling_the_model(cast, login, platform):
    response = login(cast.member).post(url(cast), {"description": "  "}, **HTMX)
    assert (
        response.status_code == 200 and "Describe what the scenario should test." in response.content.decode()
    )
    assert platform.requests == [] and not LlmUsageLog.objects.exists()


def test_viewers_cannot_generate(cast, login, platform):
    client = login(cast.viewer)
    assert client.get(url(cast)).status_code == 403
    assert client.post(url(cast), {"description": DESCRIPTION}).status_code == 403
    assert platform.requests == []
