"""byok.gateway.complete/stream (SPEC §7) against the stand-in provider over real HTTP, with the real
openai SDK: funding, caps, faults, streaming, and exactly one truthful usage row per call."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from byok import gateway
from byok.models import ProviderCredential
from tests.factories import PLATFORM_KEY, make_spend
from usage.models import LlmUsageLog
from usage.rollups import hour_of

OWN_KEY = "sk-own-project-key-11111111"
HELLO = [{"role": "user", "content": "Say hello"}]


def rows(project) -> list[LlmUsageLog]:
    return list(LlmUsageLog.objects.filter(project=project).order_by("pk"))


def test_a_platform_call_writes_one_row_with_tokens_and_cost(cast, platform):
    platform.behave(prompt_tokens=1000, cached_tokens=400, completion_tokens=250)
    result = gateway.complete(
        cast.project, source="playground", messages=HELLO, model="priced-model", user=cast.member
    )
    assert result.text == "Stand-in reply to: Say hello"
    (row,) = rows(cast.project)
    assert result.usage == row
    assert (row.funding, row.provider, row.model, row.source, row.outcome, row.user) == (
        "platform",
        "openai",
        "priced-model",
        "playground",
        "ok",
        cast.member,
    )
    assert (row.input_tokens, row.cached_tokens, row.output_tokens) == (1000, 400, 250)
    # 600 × $2 + 400 × $0.50 + 250 × $8, per million tokens
    assert row.cost_usd == Decimal("0.00340000")
    assert platform.requests[-1].api_key == PLATFORM_KEY


def test_a_call_logs_no_request_line(cast, platform, caplog):
    """The SDK's HTTP client (httpx2 since openai 3.5x, like httpx) logs each request's URL at INFO."""
    caplog.set_level(logging.INFO)
    gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model")
    assert platform.url.split("/v1")[0] not in caplog.text
    assert not [record for record in caplog.records if record.name.startswith("httpx")]


def test_an_unpriced_model_is_logged_with_no_cost_never_zero(cast, platform):
    gateway.complete(cast.project, source="chat", messages=HELLO, model="never-priced")
    (row,) = rows(cast.project)
    assert row.outcome == "ok" and row.cost_usd is None


def test_reasoning_tokens_count_as_output(cast, platform):
    platform.behave(prompt_tokens=100, completion_tokens=20, total_tokens=200)
    gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model")
    assert rows(cast.project)[0].output_tokens == 100  # total − prompt, not the 20 reported


def test_byok_uses_the_projects_own_key_and_is_never_capped(cast, platform):
    ProviderCredential.objects.create(
        project=cast.project, provider="openai", api_key=OWN_KEY, base_url=platform.url
    )
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.cap_5h_usd = Decimal("0")
    cast.project.save()
    make_spend(cast.project, "100")
    result = gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model")
    assert result.usage.funding == "byok"
    assert platform.requests[-1].api_key == OWN_KEY


def test_byok_without_a_key_is_refused_with_one_row(cast, platform):
    cast.project.llm_mode, cast.project.llm_provider = "byok", "anthropic"
    cast.project.save()
    with pytest.raises(gateway.LlmError) as refused:
        gateway.complete(cast.project, source="chat", messages=HELLO)
    assert refused.value.code == "byok_not_configured"
    assert "Settings → BYOK" in refused.value.message
    (row,) = rows(cast.project)
    assert (row.funding, row.outcome, row.error_code) == ("byok", "error", "byok_not_configured")
    assert platform.requests == []


def test_the_codex_pool_takes_turns_and_rests_a_key_that_was_rate_limited(cast, platform, settings):
    settings.QODEX_CODEX_POOL_KEYS = ["sk-pool-aaaaaaaaaaaaaaaa", "sk-pool-bbbbbbbbbbbbbbbb"]
    cast.project.llm_mode = "codex_pool"
    cast.project.cap_5h_usd = Decimal("0")  # the pool is exempt from caps
    cast.project.save()
    used = set()
    for _ in range(2):
        gateway.complete(cast.project, source="chat", messages=HELLO)
        used.add(platform.requests[-1].api_key)
    assert used == set(settings.QODEX_CODEX_POOL_KEYS)
    with pytest.raises(gateway.LlmError) as limited:
        gateway.complete(cast.project, source="chat", messages=HELLO, model="m?status=429")
    resting = platform.requests[-1].api_key
    assert limited.value.code == "provider_rate_limited"
    for _ in range(3):
        gateway.complete(cast.project, source="chat", messages=HELLO)
        assert platform.requests[-1].api_key != resting
    assert {row.funding for row in rows(cast.project)} == {"codex_pool"}


@pytest.mark.parametrize(
    ("window", "cap_field", "ago"), [("5-hour", "cap_5h_usd", 60), ("weekly", "cap_weekly_usd", 3 * 24 * 60)]
)
def test_each_cap_refuses_with_when_it_resets(cast, platform, window, cap_field, ago):
    setattr(cast.project, cap_field, Decimal("1.00"))
    cast.project.save()
    make_spend(cast.project, "0.60", ago=timedelta(minutes=ago))
    make_spend(cast.project, "0.50", ago=timedelta(minutes=10))
    with pytest.raises(gateway.LlmError) as refused:
        gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model")
    assert refused.value.code == "cap_exceeded"
    assert f"{window} platform limit ($1.00)" in refused.value.message
    # The older spend ages out first, and that is enough to be under the cap again. Spend ages out by
    # the hour (the rollups' grain): the whole hour bucket it fell in must leave the window.
    window_length = timedelta(hours=5) if window == "5-hour" else timedelta(days=7)
    older_hour = hour_of(timezone.now() - timedelta(minutes=ago))
    assert refused.value.retry_after == older_hour + timedelta(hours=1) + window_length
    assert rows(cast.project)[-1].outcome == "cap_exceeded"
    assert platform.requests == []


def test_spend_outside_the_window_and_other_funding_dont_count(cast, platform):
    cast.project.cap_5h_usd = Decimal("1.00")
    cast.project.save()
    make_spend(cast.project, "5.00", ago=timedelta(hours=6))
    make_spend(cast.project, "5.00", funding="byok")
    assert gateway.complete(cast.project, source="chat", messages=HELLO).usage.outcome == "ok"


@pytest.mark.parametrize(
    ("switch", "code", "outcome"),
    [
        ("status=401", "provider_auth_failed", "auth_failed"),
        ("status=429&retry_after=0.01", "provider_rate_limited", "rate_limited"),
        ("status=500", "provider_error", "error"),
        ("status=400", "invalid_request", "invalid_request"),
        ("malformed=not_json", "provider_error", "error"),
        ("malformed=html", "provider_error", "error"),
        ("malformed=no_choices", "provider_error", "error"),
    ],
)
def test_each_provider_fault_has_its_code_and_outcome(cast, platform, switch, code, outcome, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(gateway.LlmError) as failed:
        gateway.complete(cast.project, source="chat", messages=HELLO, model=f"priced-model?{switch}")
    assert failed.value.code == code
    (row,) = rows(cast.project)
    assert (row.outcome, row.error_code, row.cost_usd) == (outcome, code, None)
    assert PLATFORM_KEY not in failed.value.message and PLATFORM_KEY[-4:] not in failed.value.message
    assert PLATFORM_KEY not in caplog.text


def test_a_timeout_is_provider_timeout(cast, platform, settings):
    settings.QODEX_LLM_TIMEOUT_SECONDS = 0.3
    with pytest.raises(gateway.LlmError) as failed:
        gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model?hang=2")
    assert failed.value.code == "provider_timeout"
    assert rows(cast.project)[0].outcome == "timeout"


def test_an_unreachable_provider_is_a_provider_error(cast, platform):
    platform.stop()
    with pytest.raises(gateway.LlmError) as failed:
        gateway.complete(cast.project, source="chat", messages=HELLO)
    assert failed.value.code == "provider_error"
    assert rows(cast.project)[0].outcome == "error"


def test_a_stream_yields_the_text_then_writes_its_one_row(cast, platform):
    platform.behave(prompt_tokens=10, completion_tokens=5)
    reply = gateway.stream(cast.project, source="chat", messages=HELLO, model="priced-model")
    pieces = list(reply)
    assert len(pieces) > 1 and "".join(pieces) == "Stand-in reply to: Say hello"
    assert platform.requests[-1].body["stream_options"] == {"include_usage": True}
    (row,) = rows(cast.project)
    assert reply.result.usage == row
    assert (row.input_tokens, row.output_tokens, row.outcome) == (10, 5, "ok")


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("cut", "The connection to the provider dropped in the middle of the reply."),
        ("error", "The provider reported an error while it was streaming the reply."),
    ],
)
def test_a_stream_that_breaks_off_after_some_text_raises_and_writes_one_error_row(
    cast, platform, caplog, fault, says
):
    caplog.set_level(logging.DEBUG)
    platform.behave(stream_fault=fault, prompt_tokens=10, completion_tokens=5)
    reply = gateway.stream(cast.project, source="chat", messages=HELLO, model="priced-model")
    received = []
    with pytest.raises(gateway.LlmError) as failed:
        for piece in reply:
            received.append(piece)
    assert received and "Stand-in reply to: Say hello".startswith("".join(received))
    assert failed.value.code == "provider_error"
    assert failed.value.message.startswith(says) and "Try again" in failed.value.message
    assert reply.result is None and reply.error is failed.value
    # One row, an error: the provider never reported the tokens, so none are claimed and nothing is priced.
    (row,) = rows(cast.project)
    assert failed.value.usage == row
    assert (row.outcome, row.error_code, row.cost_usd) == ("error", "provider_error", None)
    assert (row.input_tokens, row.output_tokens) == (0, 0)
    assert PLATFORM_KEY not in failed.value.message and PLATFORM_KEY not in caplog.text


def test_a_stream_that_stalls_after_some_text_is_a_provider_timeout(cast, platform, settings):
    settings.QODEX_LLM_TIMEOUT_SECONDS = 0.3
    platform.behave(stream_fault="stall")  # two pieces of text, then nothing
    reply = gateway.stream(cast.project, source="chat", messages=HELLO, model="priced-model")
    started = time.monotonic()
    received = []
    with pytest.raises(gateway.LlmError) as failed:
        for piece in reply:
            received.append(piece)
    assert time.monotonic() - started < 3
    assert len(received) == 2
    assert failed.value.code == "provider_timeout"
    assert "stopped sending in the middle of the reply (nothing for 0.3 seconds)" in failed.value.message
    (row,) = rows(cast.project)
    assert (row.outcome, row.error_code) == ("timeout", "provider_timeout")


def test_a_stream_broken_before_any_text_says_so_plainly(cast, platform):
    platform.behave(stream_fault="error", fault_after=0)
    with pytest.raises(gateway.LlmError) as failed:
        list(gateway.stream(cast.project, source="chat", messages=HELLO))
    assert "reported an error while it was streaming" in failed.value.message
    assert [row.outcome for row in rows(cast.project)] == ["error"]


def test_a_stream_refused_by_a_cap_raises_before_any_text(cast, platform):
    cast.project.cap_5h_usd = Decimal("0.10")
    cast.project.save()
    make_spend(cast.project, "0.20")
    with pytest.raises(gateway.LlmError) as refused:
        gateway.stream(cast.project, source="chat", messages=HELLO)
    assert refused.value.code == "cap_exceeded"


def test_a_byok_base_url_is_an_outbound_target(cast, platform, settings):
    settings.QODEX_ALLOW_PRIVATE_TARGETS = False  # the stand-in lives on 127.0.0.1
    ProviderCredential.objects.create(
        project=cast.project, provider="openai", api_key=OWN_KEY, base_url=platform.url
    )
    cast.project.llm_mode, cast.project.llm_provider = "byok", "openai"
    cast.project.save()
    with pytest.raises(gateway.LlmError) as refused:
        gateway.complete(cast.project, source="chat", messages=HELLO)
    assert refused.value.code == "invalid_request"
    assert platform.requests == []  # the key was never sent


def test_no_reservation_outlives_its_call_whatever_the_outcome(cast, platform):
    from byok.models import CapReservation

    gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model")
    with pytest.raises(gateway.LlmError):
        gateway.complete(cast.project, source="chat", messages=HELLO, model="priced-model?status=500")
    reply = gateway.stream(cast.project, source="chat", messages=HELLO, model="priced-model")
    assert "".join(reply)
    assert CapReservation.objects.count() == 0
    assert [row.outcome for row in rows(cast.project)] == ["ok", "error", "ok"]
