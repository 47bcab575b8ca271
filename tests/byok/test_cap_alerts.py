"""Cap alerts (byok.alerts): a platform-funded project passing 80% and then 100% of a cap emails its owners
and admins once per threshold while the cap's window lasts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from byok import gateway
from byok.models import CapAlert
from tests.factories import at_once, make_org, make_spend

HELLO = [{"role": "user", "content": "Hello"}]
ADMINS = ["admin@acme.test", "owner@acme.test"]


@pytest.fixture
def capped(cast, platform):
    """A $1.00 5-hour cap, and calls that cost $0.10 each (50,000 input tokens at $2/M)."""
    cast.project.cap_5h_usd = Decimal("1.00")
    cast.project.save()
    platform.behave(prompt_tokens=50_000, completion_tokens=0)
    return cast


def call(project):
    return gateway.complete(project, source="chat", messages=HELLO, model="priced-model")


def sent() -> list[tuple[str, str]]:
    return sorted((message.to[0], message.subject) for message in mail.outbox)


def test_passing_80_percent_emails_the_owners_and_admins_once(capped):
    make_spend(capped.project, "0.75")
    call(capped.project)  # 0.85: past 80%
    assert sent() == [(address, "Default used 80% of its 5-hour LLM limit") for address in ADMINS]
    assert "$0.85 of its $1.00 5-hour limit" in mail.outbox[0].body
    assert f"/p/{capped.project.slug}/settings/usage/" in mail.outbox[0].body
    call(capped.project)  # 0.95: still between 80% and 100%, nothing new
    assert len(mail.outbox) == len(ADMINS)


def test_passing_100_percent_sends_the_second_email_and_then_calls_are_refused(capped):
    make_spend(capped.project, "0.75")
    call(capped.project)
    call(capped.project)
    mail.outbox.clear()
    call(capped.project)  # 1.05: the cap is reached
    assert sent() == [(address, "Default reached its 5-hour LLM limit") for address in ADMINS]
    assert "new AI calls are refused" in mail.outbox[0].body
    with pytest.raises(gateway.LlmError):
        call(capped.project)
    assert len(mail.outbox) == len(ADMINS)


def test_a_jump_past_both_thresholds_sends_only_the_100_percent_email(capped):
    make_spend(capped.project, "0.95")
    call(capped.project)
    assert sent() == [(address, "Default reached its 5-hour LLM limit") for address in ADMINS]
    assert set(CapAlert.objects.values_list("cap", "threshold")) == {("5-hour", 80), ("5-hour", 100)}


def test_the_alert_is_sent_again_once_its_window_is_over(capped):
    make_spend(capped.project, "0.75")
    call(capped.project)
    CapAlert.objects.update(sent_at=timezone.now() - timedelta(hours=5, minutes=1))
    mail.outbox.clear()
    call(capped.project)
    assert len(mail.outbox) == len(ADMINS)


def test_the_weekly_cap_has_its_own_alerts(cast, platform):
    cast.project.cap_weekly_usd = Decimal("1.00")
    cast.project.save()
    platform.behave(prompt_tokens=50_000, completion_tokens=0)
    make_spend(cast.project, "0.75", ago=timedelta(days=2))  # outside the 5-hour window
    call(cast.project)
    assert sent() == [(address, "Default used 80% of its weekly LLM limit") for address in ADMINS]


def test_byok_projects_get_no_cap_alerts(cast, platform):
    from byok.models import ProviderCredential

    ProviderCredential.objects.create(
        project=cast.project, provider="openai", api_key="sk-own-key-0000000000000", base_url=platform.url
    )
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.cap_5h_usd = Decimal("0.01")
    cast.project.save()
    platform.behave(prompt_tokens=50_000, completion_tokens=0)
    call(cast.project)
    call(cast.project)
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_passing_a_threshold_send_one_email(platform, settings):
    from tests.factories import make_user

    owner = make_user("owner@globex.test")
    project = make_org("Globex", owner=owner).default_project
    project.cap_5h_usd, project.cap_weekly_usd = Decimal("100.00"), Decimal("1000.00")
    project.save()
    make_spend(project, "79.99")
    from usage.models import ModelPrice

    ModelPrice.objects.create(
        provider="openai",
        model="priced-model",
        input_per_mtok=Decimal("2.00"),
        output_per_mtok=Decimal("8.00"),
        effective_from=timezone.now() - timedelta(days=1),
    )
    platform.behave(prompt_tokens=50_000, completion_tokens=0)

    errors = []

    def one_call():
        try:
            call(project)
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    at_once(one_call, 8)
    assert errors == []
    assert [message.to for message in mail.outbox] == [["owner@globex.test"]]
