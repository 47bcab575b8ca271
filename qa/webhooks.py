"""Webhook callbacks (SPEC §5): when a run started with a `callback_url` ends, its summary is POSTed
there as JSON, signed with the project's webhook secret, and retried with backoff until it is taken.

    X-Qodex-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the project's secret>

A receiver recomputes the HMAC over the bytes it received with the secret from the API keys page and
compares in constant time (`verify` below is the reference). The request goes through the outbound
policy like every other (qodex.outbound); an attempt that fails (refused, no answer, a non-2xx status)
queues the next one after `settings.QODEX_WEBHOOK_RETRY_DELAYS[attempt - 1]` seconds, through the task
queue, until the delays run out.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import httpx
import orjson
from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from qa.models import StepResult, TestRun, WebhookSecret
from qodex import outbound

SIGNATURE_HEADER = "X-Qodex-Signature"
TIMEOUT = 10.0  # seconds per attempt


def sign(secret: str, body: bytes) -> str:
    """The `X-Qodex-Signature` value of `body`: `sha256=` and the hex HMAC-SHA256 keyed with `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiver does: True when `signature` is the one `sign` gives for these exact bytes."""
    return hmac.compare_digest(sign(secret, body), signature or "")


def summary(run: TestRun) -> dict[str, Any]:
    """The run as its callback reports it: what ran where, how it ended, and its step counts."""
    counts = dict(run.step_results.values_list("status").annotate(n=Count("pk")).order_by())
    return {
        "event": "test_run.finished",
        "test_run_id": run.pk,
        "project": run.project.slug,
        "status": run.status,
        "reason": run.reason,
        "environment": run.environment_name,
        "trigger": run.trigger,
        "scenario_ids": run.scenario_ids,
        "scenarios_total": len(run.scenario_ids),
        "steps_total": run.steps_total,
        "steps": {status: counts.get(status, 0) for status in StepResult.Status.values},
        "findings": list(run.findings.order_by("pk").values_list("pk", flat=True)),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def deliver(run_id: int, attempt: int) -> str:
    """One attempt at delivering run `run_id`'s callback: "delivered", "retrying" or "gave up"."""
    from qa import tasks

    run = TestRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None or not run.callback_url or run.callback_delivered_at is not None:
        return "nothing to do"
    body = orjson.dumps(summary(run), option=orjson.OPT_UTC_Z)
    secret = WebhookSecret.for_project(run.project).secret
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Qodex-Webhook",
        SIGNATURE_HEADER: sign(secret, body),
        "X-Qodex-Event": "test_run.finished",
        "X-Qodex-Delivery": f"{run.pk}-{attempt}",
    }
    error = ""
    try:
        with outbound.client(timeout=TIMEOUT, follow_redirects=False) as client:
            response = client.post(run.callback_url, content=body, headers=headers)
        if not response.is_success:
            error = f"The callback URL answered HTTP {response.status_code}."
    except outbound.OutboundRefused as refusal:
        error = refusal.message
    except httpx.TimeoutException:
        error = f"The callback URL sent no answer within {TIMEOUT:g} seconds."
    except httpx.HTTPError as exc:
        error = f"The callback could not be sent: {exc}."
    now = timezone.now()
    changes: dict[str, Any] = {"callback_attempts": attempt, "callback_error": error[:500]}
    if not error:
        changes["callback_delivered_at"] = now
    TestRun.objects.filter(pk=run.pk).update(**changes)
    if not error:
        return "delivered"
    delays = settings.QODEX_WEBHOOK_RETRY_DELAYS
    if attempt > len(delays):
        return "gave up"
    later = now + timedelta(seconds=delays[attempt - 1])
    tasks.deliver_callback.using(run_after=later).enqueue(run_id=run.pk, attempt=attempt + 1)
    return "retrying"
