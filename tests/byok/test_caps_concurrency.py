"""SPEC §7: concurrent platform calls near a cap never overshoot it by more than one call's estimate."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from byok import gateway
from tests.factories import PLATFORM_KEY, at_once
from usage.models import LlmUsageLog, ModelPrice

HELLO = [{"role": "user", "content": "Say hello"}]

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_calls_never_overshoot_a_cap_by_more_than_one_estimate(cast, settings, llm_standin):
    settings.QODEX_PLATFORM_API_KEY = PLATFORM_KEY
    settings.QODEX_PLATFORM_BASE_URL = llm_standin.url
    settings.QODEX_LLM_MAX_RETRIES = 0
    ModelPrice.objects.create(
        provider="openai",
        model="priced-model",
        input_per_mtok=Decimal("0"),
        output_per_mtok=Decimal("1000"),  # $0.001 a token: 100 output tokens cost $0.10
        effective_from=timezone.now() - timedelta(days=1),
    )
    cast.project.cap_5h_usd = Decimal("1.00")
    cast.project.save()
    llm_standin.behave(prompt_tokens=1, completion_tokens=100, latency=0.05)
    one_call = Decimal("0.10")
    errors: list[str] = []

    def call() -> None:
        try:
            gateway.complete(
                cast.project, source="chat", messages=HELLO, model="priced-model", max_tokens=100
            )
        except gateway.LlmError as refused:
            errors.append(refused.code)

    at_once(call, 20)

    spent = LlmUsageLog.objects.filter(project=cast.project, outcome="ok").aggregate(t=Sum("cost_usd"))["t"]
    assert spent <= Decimal("1.00") + one_call
    assert set(errors) == {"cap_exceeded"}
    assert (
        LlmUsageLog.objects.filter(project=cast.project).count() == 20
    )  # one row per call, refused included
