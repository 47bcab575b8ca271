"""The one door for every LLM call in Qodex (SPEC §7).

    result = gateway.complete(project, source="playground", messages=[{"role": "user", "content": "Hi"}])
    result.text, result.usage            # the reply, and the llm_usage_log row it wrote

    for delta in (reply := gateway.stream(project, source="chat", messages=...)):
        send(delta)
    reply.result                         # the same Completion once the stream is over

Each call: choose the funding (the project's key, the platform's, or the pool: byok.providers), reserve
its estimated cost against the platform caps (byok.caps; platform funding only), call the provider
through the `openai` SDK, and write exactly one usage row — success, failure or refusal — with the
tokens the provider reported and the cost from usage.pricing. Failures raise `LlmError` with one of
the SPEC's codes and a sentence for people; the row is on `error.usage`. No message, row or log line
ever holds the key.

Call it outside an enclosing transaction: the usage row is the spend record and must outlive a caller
that rolls back.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openai
from django.conf import settings
from django.utils import timezone

from byok import alerts, caps, providers
from byok.providers import Funding, NoFunding
from qodex import outbound
from qodex.scrub import scrub
from usage import pricing
from usage.models import LlmUsageLog

Outcome = LlmUsageLog.Outcome
DEFAULT_MAX_TOKENS = 1024  # what a call without max_tokens is reserved for


class LlmError(Exception):
    """A call that failed or was refused. `code`: byok_not_configured, cap_exceeded,
    provider_auth_failed, provider_rate_limited, provider_timeout, provider_error or invalid_request."""

    def __init__(self, code: str, message: str, *, usage: LlmUsageLog | None = None, retry_after=None):
        super().__init__(message)
        self.code, self.message, self.usage, self.retry_after = code, message, usage, retry_after


@dataclass(frozen=True)
class Completion:
    text: str
    usage: LlmUsageLog
    model: str
    finish_reason: str | None = None


@dataclass
class _Call:
    """One logical call from the first decision to its one usage row."""

    project: Any
    source: str
    model: str
    user: Any
    api_key: Any
    funding: str
    provider: str
    started: float
    price: Any = None  # the model's price in force, looked up once (usage.pricing.price_for)
    reservation: Any = None  # what byok.caps holds for a platform-funded call until its row is written

    def record(self, outcome: str, *, error_code: str = "", usage: Any = None) -> LlmUsageLog:
        """Write the call's one usage row (and its rollups) and release its reservation, in one commit: a
        cap check sees the call's cost either as held or as spent, never both, never neither."""
        reservation, self.reservation = self.reservation, None
        row = self._insert(outcome, error_code, _tokens(usage), caps.release(reservation))
        if reservation is not None:
            alerts.note_spend(self.project, reservation.spent_before, row.cost_usd)
        return row

    def settle(self) -> None:
        caps.settle(self.reservation)
        self.reservation = None

    def _insert(self, outcome: str, error_code: str, tokens: dict, also=None) -> LlmUsageLog:
        return LlmUsageLog.objects.record(
            also=also,
            project=self.project,
            organization_id=self.project.organization_id,
            user=self.user if getattr(self.user, "is_authenticated", False) else None,
            api_key=self.api_key,
            source=self.source,
            funding=self.funding,
            provider=self.provider,
            model=self.model,
            outcome=outcome,
            error_code=error_code,
            latency_ms=max(0, round((time.monotonic() - self.started) * 1000)),
            cost_usd=pricing.cost_at_price(self.price, **tokens) if outcome == Outcome.OK else None,
            **tokens,
        )


def _tokens(usage: Any) -> dict[str, int]:
    """Tokens as the provider reported them; output = max(completion, total − prompt) for providers
    whose completion count leaves out reasoning tokens (SPEC §7)."""
    if usage is None:
        return {"input_tokens": 0, "cached_tokens": 0, "output_tokens": 0}
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    total = int(getattr(usage, "total_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    return {
        "input_tokens": prompt,
        "cached_tokens": min(cached, prompt),
        "output_tokens": max(completion, total - prompt),
    }


def _estimate(price, messages: list, params: dict) -> Decimal:
    """What a call may cost at most, roughly: its prompt (about 4 characters a token) and its max_tokens."""
    prompt = math.ceil(len(json.dumps(messages, ensure_ascii=False)) / 4)
    output = int(params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_MAX_TOKENS)
    cost = pricing.cost_at_price(price, input_tokens=prompt, cached_tokens=0, output_tokens=output)
    return cost or Decimal(0)


def _cap_message(meter: caps.Meter) -> str:
    when = f" It resets at {meter.resets_at:%H:%M} UTC" if meter.resets_at else ""
    if meter.resets_at and meter.resets_at.date() != timezone.now().date():
        when = f" It resets on {meter.resets_at:%d %b at %H:%M} UTC"
    return (
        f"This project reached its {meter.name} platform limit (${meter.cap:.2f}).{when}, "
        "or add your own key in Settings → BYOK."
    )


def _begin(project, source, messages, model, user, api_key, params) -> tuple[_Call, Funding]:
    """Choose the funding and reserve against the caps; a refusal writes its row and raises."""
    started = time.monotonic()
    try:
        funding = providers.funding_for(project)
    except NoFunding as refusal:
        call = _Call(project, source, model or "", user, api_key, refusal.funding, refusal.provider, started)
        row = call.record(
            Outcome.ERROR if refusal.code == "byok_not_configured" else Outcome.AUTH_FAILED,
            error_code=refusal.code,
        )
        raise LlmError(refusal.code, refusal.message, usage=row) from None
    call = _Call(
        project, source, funding.model(model), user, api_key, funding.kind, funding.provider, started
    )
    call.price = pricing.current_price(funding.provider, call.model)
    if funding.kind == LlmUsageLog.Funding.PLATFORM:
        try:
            call.reservation = caps.reserve(project, _estimate(call.price, messages, params))
        except caps.CapExceeded as refused:
            row = call.record(Outcome.CAP_EXCEEDED, error_code="cap_exceeded")
            raise LlmError(
                "cap_exceeded", _cap_message(refused.meter), usage=row, retry_after=refused.meter.resets_at
            ) from None
    return call, funding


# The SDK's errors → (our code, the usage outcome, a sentence). Provider messages are never shown as they
# are: some quote part of the key.
ERRORS: list[tuple[type[Exception], str, str, str]] = [
    (
        openai.AuthenticationError,
        "provider_auth_failed",
        Outcome.AUTH_FAILED,
        "The provider refused the key ({status}). Check or replace it in Settings → BYOK.",
    ),
    (
        openai.PermissionDeniedError,
        "provider_auth_failed",
        Outcome.AUTH_FAILED,
        "The provider says this key may not use this model ({status}).",
    ),
    (
        openai.RateLimitError,
        "provider_rate_limited",
        Outcome.RATE_LIMITED,
        "The provider is rate-limiting this key ({status}). Wait a moment and try again.",
    ),
    (
        openai.APITimeoutError,
        "provider_timeout",
        Outcome.TIMEOUT,
        "The provider did not answer within {timeout:g} seconds. Try again, or a shorter request.",
    ),
    (
        openai.BadRequestError,
        "invalid_request",
        Outcome.INVALID_REQUEST,
        "The provider refused the request ({status}): {detail}",
    ),
    (
        openai.NotFoundError,
        "invalid_request",
        Outcome.INVALID_REQUEST,
        "The provider doesn’t know this model or endpoint ({status}). Pick another model.",
    ),
    (
        openai.UnprocessableEntityError,
        "invalid_request",
        Outcome.INVALID_REQUEST,
        "The provider refused the request ({status}): {detail}",
    ),
    (
        openai.APIConnectionError,
        "provider_error",
        Outcome.ERROR,
        "Could not reach the provider at {host}. Check the base URL, or try again.",
    ),
    (
        openai.APIStatusError,
        "provider_error",
        Outcome.ERROR,
        "The provider failed ({status}). Try again in a moment.",
    ),
    (
        # Neither a status nor a connection: OpenAI's error event inside a stream that had started well.
        openai.APIError,
        "provider_error",
        Outcome.ERROR,
        "The provider reported an error while it was streaming the reply. Try again in a moment.",
    ),
]

# The same faults once part of the reply has arrived: the provider was reached, then the reply broke off.
MID_REPLY: list[tuple[type[Exception], str]] = [
    (
        openai.APITimeoutError,
        "The provider stopped sending in the middle of the reply (nothing for {timeout:g} seconds). "
        "Try again in a moment.",
    ),
    (
        openai.APIConnectionError,
        "The connection to the provider dropped in the middle of the reply. Try again in a moment.",
    ),
]


def _failure(error: Exception, funding: Funding, *, mid_reply: bool = False) -> tuple[str, str, str]:
    """(code, usage outcome, sentence) for a failed call; `mid_reply`: some of its text had arrived."""
    if isinstance(error, outbound.OutboundRefused):
        return (
            "invalid_request",
            Outcome.INVALID_REQUEST,
            f"The provider's base URL is refused: {error.message}",
        )
    errors = ERRORS
    if mid_reply:
        broken = {kind: template for kind, template in MID_REPLY}
        errors = [
            (kind, code, outcome, broken.get(kind, template)) for kind, code, outcome, template in ERRORS
        ]
    for kind, code, outcome, template in errors:
        if isinstance(error, kind):
            status = getattr(error, "status_code", "")
            detail = ""
            body = getattr(error, "body", None)
            if isinstance(body, dict):
                detail = str(body.get("message") or body.get("error", {}).get("message", "") or "")[:300]
            message = template.format(
                status=status,
                timeout=float(settings.QODEX_LLM_TIMEOUT_SECONDS),
                host=funding.endpoint,
                detail=detail,
            )
            return code, outcome, scrub(message, [funding.api_key])
    return "provider_error", Outcome.ERROR, "The provider answered something that isn’t a chat completion."


def _fail(
    call: _Call, funding: Funding, error: Exception, *, mid_reply: bool = False, usage: Any = None
) -> LlmError:
    code, outcome, message = _failure(error, funding, mid_reply=mid_reply)
    if code == "provider_rate_limited" and funding.kind == LlmUsageLog.Funding.CODEX_POOL:
        providers.rest_pool_key(funding.api_key)
    row = call.record(outcome, error_code=code, usage=usage)
    return LlmError(code, message, usage=row)


def complete(
    project, *, source: str, messages: list, model: str | None = None, user=None, api_key=None, **params
) -> Completion:
    """One chat completion for `project`, charged and logged as `source` (SPEC §7)."""
    call, funding = _begin(project, source, messages, model, user, api_key, params)
    try:
        try:
            response = providers.client_for(funding).chat.completions.create(
                model=call.model, messages=messages, **params
            )
            choice = response.choices[0]
            text = choice.message.content or ""
        except (openai.OpenAIError, ValueError, AttributeError, IndexError, TypeError) as error:
            # ValueError: a body that is not JSON, or OutboundRefused; the others: not a completion
            raise _fail(call, funding, error) from None
        row = call.record(Outcome.OK, usage=response.usage)
        return Completion(text=text, usage=row, model=call.model, finish_reason=choice.finish_reason)
    finally:
        call.settle()  # already done with the row, unless something unforeseen failed first


class Stream:
    """A streamed completion: iterate for the text as it arrives; `.result` once it is over.

    The usage row is written when the stream ends, fails or is closed early (a client that went away).
    """

    def __init__(self, call: _Call, funding: Funding, messages: list, params: dict):
        self._call, self._funding = call, funding
        self._messages, self._params = messages, params
        self.result: Completion | None = None
        self.error: LlmError | None = None

    @property
    def model(self) -> str:
        """The model the call asks for (the project's default when none was named)."""
        return self._call.model

    def __iter__(self) -> Iterator[str]:
        call, funding = self._call, self._funding
        parts: list[str] = []
        usage = finish = None
        recorded = False
        try:
            try:
                chunks = providers.client_for(funding).chat.completions.create(
                    model=call.model,
                    messages=self._messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    **self._params,
                )
                for chunk in chunks:
                    usage = chunk.usage or usage
                    for choice in chunk.choices or []:
                        finish = choice.finish_reason or finish
                        if choice.delta and choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
            except (openai.OpenAIError, ValueError, AttributeError, TypeError) as error:
                # A reply that breaks off is a failed call: its row says so, with the tokens only if the
                # provider had reported them, and the text so far is not a reply to keep.
                self.error = _fail(call, funding, error, mid_reply=bool(parts), usage=usage)
                recorded = True
                raise self.error from None
            row = call.record(Outcome.OK, usage=usage)
            recorded = True
            self.result = Completion(text="".join(parts), usage=row, model=call.model, finish_reason=finish)
        finally:
            if not recorded:  # closed early: what was used is still spent
                call.record(
                    Outcome.OK if usage is not None else Outcome.ERROR,
                    usage=usage,
                    error_code="" if usage is not None else "stream_closed",
                )
            call.settle()


def stream(
    project, *, source: str, messages: list, model: str | None = None, user=None, api_key=None, **params
) -> Stream:
    """Like complete(), streamed (asks the provider for usage in the last chunk). Refusals (no key,
    cap reached) raise LlmError here, before any text."""
    call, funding = _begin(project, source, messages, model, user, api_key, params)
    return Stream(call, funding, messages, params)


def verify_key(project, provider: str, api_key: str, base_url: str = "", *, user=None) -> None:
    """Check a key with a real request (the provider's model list) before it is saved, or again later.

    Writes one usage row either way (source `key_check`, no tokens, BYOK funding: never capped). A base
    URL override passes qodex.outbound before the key goes anywhere. Raises LlmError saying why the key
    or its endpoint was refused; the message never holds the key."""
    funding = providers.funding_for_credential(provider, api_key, base_url)
    call = _Call(
        project, LlmUsageLog.Source.KEY_CHECK, "", user, None, funding.kind, provider, time.monotonic()
    )
    try:
        listed = providers.client_for(funding).models.list()
        if not isinstance(listed.data, list):
            raise TypeError("not a model list")
    except (openai.OpenAIError, ValueError, AttributeError, TypeError) as error:
        # ValueError: a body that is not JSON, or OutboundRefused; the others: not a model list
        raise _fail(call, funding, error) from None
    call.record(Outcome.OK)


@dataclass(frozen=True)
class ModelInfo:
    id: str
    owned_by: str


def list_models(project) -> list[ModelInfo]:
    """The models `project`'s funding can use, as its provider lists them (`GET /models`). Costs nothing,
    so no usage row and no cap; refusals and faults raise LlmError as calls do."""
    try:
        funding = providers.funding_for(project)
    except NoFunding as refusal:
        raise LlmError(refusal.code, refusal.message) from None
    try:
        page = providers.client_for(funding).models.list()
        return [
            ModelInfo(id=str(model.id), owned_by=str(getattr(model, "owned_by", None) or funding.provider))
            for model in page
            if getattr(model, "id", None)
        ]
    except (openai.OpenAIError, ValueError, AttributeError, TypeError) as error:
        code, _, message = _failure(error, funding)
        raise LlmError(code, message) from None
