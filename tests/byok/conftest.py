"""Fixtures of the byok tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from usage.models import ModelPrice

PLATFORM_KEY = "sk-platform-test-key-00000000"


@pytest.fixture
def platform(settings, llm_standin):
    """The platform provider is the stand-in; its model is priced at round numbers."""
    settings.QODEX_PLATFORM_PROVIDER = "openai"
    settings.QODEX_PLATFORM_API_KEY = PLATFORM_KEY
    settings.QODEX_PLATFORM_BASE_URL = llm_standin.url
    settings.QODEX_LLM_MAX_RETRIES = 0
    ModelPrice.objects.create(
        provider="openai",
        model="priced-model",
        input_per_mtok=Decimal("2.00"),
        cached_input_per_mtok=Decimal("0.50"),
        output_per_mtok=Decimal("8.00"),
        effective_from=timezone.now() - timedelta(days=1),
    )
    return llm_standin
