"""ProviderCredential and the project's LLM settings (SPEC §7)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection

from byok.models import ProviderCredential
from projects.models import Project

KEY = "sk-proj-abcdefghijklmnop-7f3a"


def test_a_key_is_encrypted_at_rest_and_read_back_as_plaintext(cast):
    credential = ProviderCredential.objects.create(project=cast.project, provider="openai", api_key=KEY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM byok_providercredential WHERE id = %s", [credential.pk])
        (stored,) = cursor.fetchone()
    assert KEY not in stored
    assert ProviderCredential.objects.get(pk=credential.pk).api_key == KEY


def test_last4_is_kept_only_for_long_keys(cast):
    long = ProviderCredential.objects.create(project=cast.project, provider="openai", api_key=KEY)
    short = ProviderCredential.objects.create(project=cast.project, provider="google", api_key="short-key")
    assert (long.last4, short.last4) == ("7f3a", "")


def test_one_credential_per_provider_per_project(cast):
    ProviderCredential.objects.create(project=cast.project, provider="openai", api_key=KEY)
    with pytest.raises(IntegrityError):
        ProviderCredential.objects.create(project=cast.project, provider="openai", api_key=KEY)


def test_the_endpoint_is_the_override_or_the_providers_own(cast, settings):
    settings.QODEX_PROVIDER_BASE_URLS = {
        **settings.QODEX_PROVIDER_BASE_URLS,
        "anthropic": "https://a.example/v1/",
    }
    plain = ProviderCredential(project=cast.project, provider="anthropic", api_key=KEY)
    moved = ProviderCredential(
        project=cast.project, provider="anthropic", api_key=KEY, base_url="https://proxy.example/v1"
    )
    assert (plain.endpoint, moved.endpoint) == ("https://a.example/v1", "https://proxy.example/v1")


def test_projects_start_on_the_platform_with_the_default_caps(cast):
    project = Project.objects.get(pk=cast.project.pk)
    assert (project.llm_mode, project.llm_provider, project.cap_5h_usd, project.cap_weekly_usd) == (
        "platform",
        "",
        None,
        None,
    )
