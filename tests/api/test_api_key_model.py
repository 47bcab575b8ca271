"""ApiKey (SPEC §2): shown once, stored as SHA-256, found by prefix, last use written once a minute."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from django.utils import timezone

from projects import audit
from projects.access import Actor
from projects.models import ApiKey, AuditEvent


def test_a_new_key_looks_like_qdx_and_40_url_safe_characters(cast):
    key, raw = ApiKey.issue(organization=cast.org, name="CI", scope="write", created_by=cast.owner)
    assert re.fullmatch(r"qdx_[A-Za-z0-9_-]{40}", raw)
    assert key.prefix == raw[:12]
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiKey.objects.values().get(pk=key.pk)
    assert raw not in {str(v) for v in stored.values()}


def test_it_finds_the_key_by_its_raw_value_only(cast):
    key, raw = ApiKey.issue(organization=cast.org, name="CI")
    assert ApiKey.find(raw) == key
    assert ApiKey.find(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert ApiKey.find(key.prefix) is None
    assert ApiKey.find("") is None


def test_two_keys_sharing_a_prefix_are_told_apart_by_the_hash(cast):
    first, raw = ApiKey.issue(organization=cast.org, name="one")
    second, _ = ApiKey.issue(organization=cast.org, name="two")
    ApiKey.objects.filter(pk=second.pk).update(prefix=first.prefix)
    ApiKey.objects.filter(pk=first.pk).update(created_at=timezone.now() + timedelta(days=1))
    assert ApiKey.find(raw) == first


def test_status_follows_revocation_expiry_and_the_project(cast):
    key, _ = ApiKey.issue(organization=cast.org, name="CI", project=cast.project)
    assert key.status == "active"
    key.expires_at = timezone.now() - timedelta(seconds=1)
    assert key.status == "expired"
    key.revoke()
    assert key.status == "revoked"


def test_last_used_at_is_written_at_most_once_a_minute(cast, django_assert_num_queries):
    key, _ = ApiKey.issue(organization=cast.org, name="CI")
    with django_assert_num_queries(1):
        key.touch()
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        key.touch()
    # Another worker holding a stale copy: the conditional UPDATE leaves the recent value alone.
    stale_copy = ApiKey.objects.get(pk=key.pk)
    stale_copy.last_used_at = timezone.now() - timedelta(minutes=5)
    stale_copy.touch()
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    fresh = ApiKey.objects.get(pk=key.pk)
    fresh.touch()
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


def test_audit_events_name_the_key_that_acted(cast):
    key, _ = ApiKey.issue(organization=cast.org, name="Deploy bot")
    event = audit.record(Actor(api_key=key), "api_key.created", project=cast.project, target="x")
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor_api_key == key
    assert event.actor is None
    assert event.actor_label == f"API key Deploy bot ({key.prefix}…)"


def test_a_key_cannot_be_locked_to_another_organizations_project(cast):
    import pytest
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        ApiKey.issue(organization=cast.org, project=cast.other_project, name="x")
