"""Fixtures of the byok tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from usage.models import ModelPrice


@pytest.fixture
def platform(platform):
    """tests/conftest.py's platform, with `priced-model` priced at round numbers."""
    ModelPrice.objects.create(
        provider="openai",
        model="priced-model",
        input_per_mtok=Decimal("2.00"),
        cached_input_per_mtok=Decimal("0.50"),
        output_per_mtok=Decimal("8.00"),
        effective_from=timezone.now() - timedelta(days=1),
    )
    return platform
