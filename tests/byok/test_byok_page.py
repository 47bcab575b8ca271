"""The BYOK page (`/p/<slug>/settings/byok/`, SPEC §7) and its doors, against the stand-in provider over
real HTTP: keys checked before they are saved, stored encrypted and never shown, replaced and removed
in sudo mode, the mode, the staff-only limits, the cap meters and the audit trail."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from byok.models import ProviderCredential
from byok.standin import StandIn
from projects.models import AuditEvent, Project
from tests.api.conftest import expire_sudo, set_sudo
from tests.factories import make_spend
from usage.models import LlmUsageLog

OWN_KEY = "sk-own-openai-key-aaaaaaaa1111"
NEW_KEY = "sk-own-openai-key-bbbbbbbb2222"
REJECTED = "sk-rejected-key-cccccccccc3333"
PROVIDERS = ("openai", "anthropic", "google")


@pytest.fixture
def provider(settings, llm_standin):
    """Every provider's public endpoint is the stand-in; the SDK does not retry."""
    settings.QODEX_PROVIDER_BASE_URLS = {name: llm_standin.url for name in PROVIDERS}
    settings.QODEX_LLM_MAX_RETRIES = 0
    return llm_standin


@pytest.fixture
def admin(cast, login):
    client = login(cast.admin)
    set_sudo(client, True)
    return client


def url(project) -> str:
    return f"/p/{project.slug}/settings/byok/"


def save(client, project, api_key=OWN_KEY, provider="openai", **extra):
    return client.post(
        url(project), {"action": "save_key", "provider": provider, "api_key": api_key, **extra}
    )


def saved(project, api_key=OWN_KEY, provider="openai", **extra) -> ProviderCredential:
    return ProviderCredential.objects.create(
        project=project, provider=provider, api_key=api_key, verified_at=timezone.now(), **extra
    )


def events(project, action) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(project=project, action=action))


def key_checks(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project, source="key_check").order_by("pk"))


def raw_column(credential) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM byok_providercredential WHERE id = %s", [credential.pk])
        return cursor.fetchone()[0]


# Saving -------------------------------------------------------------------------------------------------


def test_an_admin_saves_a_key_after_the_provider_accepts_it(cast, admin, provider):
    response = save(admin, cast.project, default_model="gpt-4o-mini")
    assert response.status_code == 302 and response["Location"] == url(cast.project)
    credential = ProviderCredential.objects.get(project=cast.project)
    assert credential.api_key == OWN_KEY and credential.last4 == "1111"
    assert credential.verified_at is not None and credential.created_by == cast.admin
    (check,) = provider.requests
    assert (check.method, check.path, check.api_key) == ("GET", "/v1/models", OWN_KEY)
    (row,) = key_checks(cast.project)
    assert (row.outcome, row.funding, row.provider, row.user) == ("ok", "byok", "openai", cast.admin)
    assert (row.input_tokens, row.output_tokens, row.cached_tokens) == (0, 0, 0)
    (event,) = events(cast.project, "byok.key_saved")
    assert event.target == "openai" and event.details["last4"] == "1111"


def test_the_key_is_encrypted_at_rest(cast, admin, provider):
    save(admin, cast.project)
    stored = raw_column(ProviderCredential.objects.get(project=cast.project))
    assert stored and OWN_KEY not in stored and "1111" not in stored


def test_a_key_the_provider_rejects_is_not_saved_and_the_page_says_why(cast, admin, provider):
    provider.behave(status=401)
    response = save(admin, cast.project)
    assert response.status_code == 400
    assert "The key was not saved: The provider refused the key (401)" in response.content.decode()
    assert not ProviderCredential.objects.exists()
    assert not events(cast.project, "byok.key_saved")
    (row,) = key_checks(cast.project)  # the check is a call like any other: one row, kept
    assert (row.outcome, row.error_code) == ("auth_failed", "provider_auth_failed")


def test_a_key_in_the_providers_rejected_list_is_refused(cast, admin, settings):
    with StandIn(rejected_keys=[REJECTED]) as server:
        settings.QODEX_PROVIDER_BASE_URLS = {name: server.url for name in PROVIDERS}
        settings.QODEX_LLM_MAX_RETRIES = 0
        assert save(admin, cast.project, api_key=REJECTED).status_code == 400
        assert save(admin, cast.project, api_key=OWN_KEY).status_code == 302
    assert ProviderCredential.objects.get(project=cast.project).api_key == OWN_KEY


def test_a_base_url_the_outbound_policy_refuses_receives_nothing(cast, admin, provider, settings):
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False
    response = save(admin, cast.project, base_url=provider.url)
    assert response.status_code == 400
    assert "base URL is refused" in response.content.decode()
    assert provider.requests == [] and not ProviderCredential.objects.exists()


def test_a_base_url_that_is_not_http_is_a_field_error(cast, admin, provider):
    response = save(admin, cast.project, base_url="file:///etc/passwd")
    assert response.status_code == 400
    assert "Use an http:// or https:// URL" in response.content.decode()
    assert provider.requests == [] and not ProviderCredential.objects.exists()


def test_a_first_key_must_be_pasted(cast, admin, provider):
    response = save(admin, cast.project, api_key="")
    assert response.status_code == 400 and "Paste your OpenAI API key." in response.content.decode()
    assert provider.requests == []


def test_the_key_never_appears_in_a_page_or_a_log(cast, admin, login, provider, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = [save(admin, cast.project).content]
    provider.behave(status=401)
    bodies.append(save(admin, cast.project, api_key=REJECTED, provider="anthropic").content)
    provider.reset()
    bodies.append(admin.get(url(cast.project)).content)
    bodies.append(admin.get(url(cast.project) + "?replace=openai").content)
    bodies.append(login(cast.viewer).get(url(cast.project)).content)
    page = admin.get(url(cast.project)).content.decode()
    assert "••••1111" in page
    for body in bodies:
        assert OWN_KEY.encode() not in body and REJECTED.encode() not in body
    assert OWN_KEY not in caplog.text and REJECTED not in caplog.text
    for event in AuditEvent.objects.filter(project=cast.project):
        assert OWN_KEY not in str(event.details) and REJECTED not in str(event.details)


# Replacing and removing -------------------------------------------------------------------------------


def test_replacing_a_key_needs_sudo_mode(cast, admin, provider):
    credential = saved(cast.project)
    expire_sudo(admin)
    response = save(admin, cast.project, api_key=NEW_KEY)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/confirm-password/")
    assert ProviderCredential.objects.get(pk=credential.pk).api_key == OWN_KEY
    assert provider.requests == []  # nothing is sent before sudo mode


def test_changing_the_base_url_counts_as_replacing_the_key(cast, admin, provider):
    credential = saved(cast.project)
    expire_sudo(admin)
    response = save(admin, cast.project, api_key="", base_url=provider.url)
    assert response["Location"].startswith("/accounts/confirm-password/")
    assert ProviderCredential.objects.get(pk=credential.pk).base_url == ""
    set_sudo(admin, True)
    assert save(admin, cast.project, api_key="", base_url=provider.url).status_code == 302
    credential.refresh_from_db()
    assert credential.base_url == provider.url and credential.api_key == OWN_KEY
    assert provider.requests[-1].api_key == OWN_KEY  # the stored key, checked at its new endpoint
    (event,) = events(cast.project, "byok.key_replaced")
    assert event.details["fields"] == ["base_url"]


def test_in_sudo_mode_a_replacement_is_checked_then_saved(cast, admin, provider):
    credential = saved(cast.project)
    response = save(admin, cast.project, api_key=NEW_KEY)
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.api_key == NEW_KEY and credential.last4 == "2222"
    assert provider.requests[-1].api_key == NEW_KEY
    (event,) = events(cast.project, "byok.key_replaced")
    assert event.details["fields"] == ["api_key"]


def test_a_rejected_replacement_keeps_the_old_key(cast, admin, provider):
    credential = saved(cast.project)
    provider.behave(status=401)
    assert save(admin, cast.project, api_key=NEW_KEY).status_code == 400
    assert ProviderCredential.objects.get(pk=credential.pk).api_key == OWN_KEY
    assert not events(cast.project, "byok.key_replaced")


def test_a_new_default_model_alone_needs_no_sudo_and_sends_nothing(cast, admin, provider):
    credential = saved(cast.project)
    expire_sudo(admin)
    assert save(admin, cast.project, api_key="", default_model="gpt-4.1").status_code == 302
    assert ProviderCredential.objects.get(pk=credential.pk).default_model == "gpt-4.1"
    assert provider.requests == []
    (event,) = events(cast.project, "byok.key_saved")
    assert event.details["fields"] == ["default_model"]


def test_removing_a_key_needs_sudo_mode(cast, admin):
    credential = saved(cast.project)
    expire_sudo(admin)
    response = admin.post(url(cast.project), {"action": "remove", "credential_id": credential.pk})
    assert response["Location"].startswith("/accounts/confirm-password/")
    assert ProviderCredential.objects.filter(pk=credential.pk).exists()
    assert not events(cast.project, "byok.key_removed")


def test_removing_the_key_byok_uses_falls_back_to_the_platform(cast, admin):
    credential = saved(cast.project)
    Project.objects.filter(pk=cast.project.pk).update(llm_mode="byok", llm_provider="openai")
    response = admin.post(url(cast.project), {"action": "remove", "credential_id": credential.pk})
    assert response.status_code == 302
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()
    assert Project.objects.get(pk=cast.project.pk).llm_mode == "platform"
    (event,) = events(cast.project, "byok.key_removed")
    assert event.details["mode"] == {"from": "byok", "to": "platform"}
    assert "back on the platform key" in admin.get(url(cast.project)).content.decode()


def test_a_key_of_another_project_cannot_be_removed_from_here(cast, admin):
    other = saved(cast.other_project)
    response = admin.post(url(cast.project), {"action": "remove", "credential_id": other.pk})
    assert response.status_code == 404
    assert ProviderCredential.objects.filter(pk=other.pk).exists()


# Verifying again ---------------------------------------------------------------------------------------


def test_verify_key_checks_a_saved_key_with_a_real_request(cast, admin, provider):
    credential = saved(cast.project)
    ProviderCredential.objects.filter(pk=credential.pk).update(verified_at=None)
    response = admin.post(url(cast.project), {"action": "verify", "credential_id": credential.pk})
    assert response.status_code == 302
    assert ProviderCredential.objects.get(pk=credential.pk).verified_at is not None
    assert provider.requests[-1].api_key == OWN_KEY
    assert len(key_checks(cast.project)) == 1 and events(cast.project, "byok.key_verified")
    assert "The OpenAI key works" in admin.get(url(cast.project)).content.decode()


def test_a_failed_verification_says_why_and_keeps_its_usage_row(cast, admin, provider):
    credential = saved(cast.project)
    provider.behave(status=401)
    admin.post(url(cast.project), {"action": "verify", "credential_id": credential.pk})
    assert "did not pass: The provider refused the key (401)" in admin.get(url(cast.project)).content.decode()
    (row,) = key_checks(cast.project)
    assert row.outcome == "auth_failed"
    assert not events(cast.project, "byok.key_verified")


# Mode ------------------------------------------------------------------------------------------------


def test_byok_mode_needs_a_saved_key_for_its_provider(cast, admin):
    response = admin.post(url(cast.project), {"action": "mode", "mode": "byok", "provider": "anthropic"})
    assert response.status_code == 400
    assert "Save your Anthropic key below first" in response.content.decode()
    assert Project.objects.get(pk=cast.project.pk).llm_mode == "platform"
    assert not events(cast.project, "byok.mode_changed")


def test_an_admin_switches_to_the_projects_own_key(cast, admin):
    saved(cast.project, provider="anthropic", api_key="sk-ant-own-key-dddddddd4444")
    response = admin.post(url(cast.project), {"action": "mode", "mode": "byok", "provider": "anthropic"})
    assert response.status_code == 302
    project = Project.objects.get(pk=cast.project.pk)
    assert (project.llm_mode, project.llm_provider) == ("byok", "anthropic")
    (event,) = events(cast.project, "byok.mode_changed")
    assert event.details["to"] == {"mode": "byok", "provider": "anthropic"}


def test_the_codex_pool_is_not_a_choice_for_admins(cast, admin):
    response = admin.post(url(cast.project), {"action": "mode", "mode": "codex_pool", "provider": "openai"})
    assert response.status_code == 400
    assert Project.objects.get(pk=cast.project.pk).llm_mode == "platform"


# Staff limits ----------------------------------------------------------------------------------------


LIMITS = {"action": "limits", "codex_pool": "on", "cap_5h_usd": "1.50", "cap_weekly_usd": "9"}


def test_a_project_owner_who_is_not_staff_cannot_change_the_limits(cast, login):
    client = login(cast.owner)
    set_sudo(client, True)
    assert "Staff: codex pool" not in client.get(url(cast.project)).content.decode()
    assert client.post(url(cast.project), LIMITS).status_code == 403
    project = Project.objects.get(pk=cast.project.pk)
    assert (project.llm_mode, project.cap_5h_usd, project.cap_weekly_usd) == ("platform", None, None)
    assert not events(cast.project, "byok.limits_changed")


def test_staff_set_the_codex_pool_and_caps_from_the_page(cast, login):
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    client = login(cast.owner)
    assert "Staff: codex pool" in client.get(url(cast.project)).content.decode()
    assert client.post(url(cast.project), LIMITS).status_code == 302
    project = Project.objects.get(pk=cast.project.pk)
    assert (project.llm_mode, project.cap_5h_usd, project.cap_weekly_usd) == (
        "codex_pool",
        Decimal("1.50"),
        Decimal("9.00"),
    )
    (event,) = events(cast.project, "byok.limits_changed")
    assert event.details["cap_5h_usd"] == {"from": None, "to": "1.50"}
    client.post(url(cast.project), {"action": "limits", "cap_5h_usd": "", "cap_weekly_usd": ""})
    project.refresh_from_db()
    assert (project.llm_mode, project.cap_5h_usd) == ("platform", None)


def test_a_negative_cap_is_a_field_error(cast, login):
    cast.owner.is_staff = True
    cast.owner.save(update_fields=["is_staff"])
    response = login(cast.owner).post(url(cast.project), {**LIMITS, "cap_5h_usd": "-1"})
    assert response.status_code == 400
    assert Project.objects.get(pk=cast.project.pk).cap_5h_usd is None


# Reading ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_read_the_page_masked_without_forms(cast, login, role):
    saved(cast.project)
    page = login(cast.user(role)).get(url(cast.project)).content.decode()
    assert "••••1111" in page and OWN_KEY not in page
    assert 'value="save_key"' not in page and 'value="mode"' not in page and 'value="remove"' not in page


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_cannot_save_a_key(cast, login, provider, role):
    assert save(login(cast.user(role)), cast.project).status_code == 403
    assert not ProviderCredential.objects.exists() and provider.requests == []


def test_platform_mode_shows_the_cap_meters_with_the_next_release(cast, admin):
    spent_at = timezone.now() - timedelta(hours=1)
    make_spend(cast.project, "1.20", ago=timezone.now() - spent_at)
    page = admin.get(url(cast.project)).content.decode()
    release = spent_at + timedelta(hours=5)
    when = (
        f"{release:%H:%M}" if release.date() == timezone.now().date() else f"{release.day} {release:%b %H:%M}"
    )
    assert f"$1.20 of $5.00 in the last 5 hours; next release {when}" in page
    assert "Times are in UTC" in page


def test_the_page_costs_the_same_queries_for_two_keys_or_three(cast, admin):
    saved(cast.project)
    saved(cast.project, provider="anthropic", api_key="sk-ant-own-key-dddddddd4444")
    admin.get(url(cast.project))  # warm the session and caches
    with CaptureQueriesContext(connection) as two:
        assert admin.get(url(cast.project)).status_code == 200
    saved(cast.project, provider="google", api_key="sk-goo-own-key-eeeeeeee5555")
    with CaptureQueriesContext(connection) as three:
        assert admin.get(url(cast.project)).status_code == 200
    assert len(three) == len(two)
