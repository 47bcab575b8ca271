"""The OpenAI-compatible LLM endpoint (SPEC §5): any OpenAI SDK, pointed at `<host>/api/v1/llm` with a
`qdx_` key, talks to the project's LLM through the gateway, with its funding, caps and usage rows.

    client = openai.OpenAI(base_url="https://qodex.example/api/v1/llm", api_key="qdx_…")
    client.chat.completions.create(messages=[{"role": "user", "content": "Hi"}])  # model: the default

Calls spend money, so they need `project:write` (a write key, or a member's session); listing models
costs nothing and needs `project:read`. Errors keep our shape plus OpenAI's `type` (qodex.api_errors).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Router, Schema
from pydantic import BaseModel, ConfigDict

from byok import gateway
from byok.gateway import LlmError
from qodex.api_auth import project_route
from qodex.api_errors import ERRORS, ApiError, ErrorOut, error_body, openai_type
from usage.models import LlmUsageLog

router = Router(tags=["llm"])

# LlmError code → HTTP status (SPEC §5): 400s are the caller's to fix, 502/504 the provider's.
STATUS = {
    "cap_exceeded": 429,
    "byok_not_configured": 400,
    "invalid_request": 400,
    "provider_timeout": 504,
    "provider_auth_failed": 502,
    "provider_rate_limited": 502,
    "provider_error": 502,
}
LLM_ERRORS = {**ERRORS, 502: ErrorOut, 504: ErrorOut}

# Parameters whose answer the gateway can't carry back (it returns the reply's text only): refused
# rather than silently dropped.
UNSUPPORTED = ("tools", "functions", "tool_choice", "function_call", "logprobs", "top_logprobs", "audio")


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's Chat Completions request. Fields not listed go to the provider as they are."""

    # A plain pydantic model: ninja's Schema reads objects through a getter that drops the extra fields.

    model: str | None = Field(None, max_length=200, description="Leave out for the project's default.")
    messages: list[dict[str, Any]] = Field(..., min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    n: int | None = Field(None, description="1 only: one reply per call.")

    model_config = ConfigDict(extra="allow")


class Message(Schema):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(Schema):
    index: int = 0
    message: Message
    finish_reason: str | None


class Usage(Schema):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(Schema):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ModelOut(Schema):
    id: str
    object: Literal["model"] = "model"
    owned_by: str


class ModelList(Schema):
    object: Literal["list"] = "list"
    data: list[ModelOut]


def refusal(error: LlmError) -> ApiError:
    """The API's answer to a gateway refusal or fault."""
    status = STATUS.get(error.code, 502)
    headers = {}
    if error.code == "cap_exceeded":
        wait = (error.retry_after - timezone.now()).total_seconds() if error.retry_after else 60
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
        # An SDK's automatic retries would be refused again, each one a usage row: let the caller decide.
        headers["X-Should-Retry"] = "false"
    return ApiError(status, error.code, error.message, headers=headers)


def _parameters(body: ChatCompletionRequest) -> dict[str, Any]:
    """What goes to the provider besides model and messages: the known parameters as themselves, the
    rest in `extra_body` (the SDK sends them as they are)."""
    if body.n not in (None, 1):
        raise ApiError(400, "invalid_request", "Only n=1 is supported: one reply per call.")
    extra = dict(body.model_extra or {})
    for name in UNSUPPORTED:
        if extra.get(name) not in (None, False, []):
            raise ApiError(
                400,
                "invalid_request",
                f"`{name}` isn’t supported here: this endpoint answers with the reply’s text only.",
            )
    known = body.model_dump(
        exclude_none=True, exclude={"model", "messages", "stream", "stream_options", "n"} | set(extra)
    )
    extra = {name: value for name, value in extra.items() if value is not None and name not in UNSUPPORTED}
    return known | ({"extra_body": extra} if extra else {})


def _usage(row: LlmUsageLog) -> dict[str, int]:
    return {
        "prompt_tokens": row.input_tokens,
        "completion_tokens": row.output_tokens,
        "total_tokens": row.input_tokens + row.output_tokens,
    }


@router.post(
    "/chat/completions",
    response={200: ChatCompletion, **LLM_ERRORS},
    auth=project_route(),
    summary="A chat completion, in OpenAI's shape (`stream: true` answers server-sent events)",
)
def chat_completions(request: HttpRequest, body: ChatCompletionRequest):
    """A chat completion for the resolved project, through the gateway with `source=api`."""
    project = request.project_access.project
    actor = request.auth
    call = {
        "source": LlmUsageLog.Source.API,
        "messages": body.messages,
        "model": body.model or None,
        "user": actor.user if actor.api_key is None else None,
        "api_key": actor.api_key,
        **_parameters(body),
    }
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return _stream(project, call, include_usage)
    try:
        result = gateway.complete(project, **call)
    except LlmError as error:
        raise refusal(error) from None
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": result.model,
        "choices": [{"message": {"content": result.text}, "finish_reason": result.finish_reason or "stop"}],
        "usage": _usage(result.usage),
    }


def _event(data: dict) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def _stream(project, call: dict, include_usage: bool) -> StreamingHttpResponse:
    """Server-sent events in OpenAI's chunk format. The first text is awaited before answering, so a
    refusal or a provider fault on the way in is still a plain error with its status."""
    try:
        reply = gateway.stream(project, **call)
        deltas = iter(reply)
        first = next(deltas, None)
    except LlmError as error:
        raise refusal(error) from None
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict | None, finish_reason: str | None = None, **extra) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": reply.model,
            "choices": choices,
        }
        return _event(data | ({"usage": None} if include_usage else {}) | extra)

    def events() -> Iterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            if first is not None:
                yield chunk({"content": first})
                for delta in deltas:
                    yield chunk({"content": delta})
        except LlmError as error:
            # The status is sent: the OpenAI SDKs raise on an `error` event instead.
            status = STATUS.get(error.code, 502)
            yield _event(error_body(error.code, error.message, error_type=openai_type(status)))
            return
        finally:
            if hasattr(deltas, "close"):
                deltas.close()  # a client that went away: the gateway still writes the call's row
        result = reply.result
        yield chunk({}, result.finish_reason or "stop")
        if include_usage:
            yield chunk(None, usage=_usage(result.usage))
        yield b"data: [DONE]\n\n"

    response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold the chunks back
    return response


@router.get(
    "/models",
    response={200: ModelList, **LLM_ERRORS},
    auth=project_route(),
    summary="The models the project can use, as its provider lists them",
)
def models(request: HttpRequest):
    """The provider's model list for the resolved project's funding (its own key, or the platform's)."""
    try:
        found = gateway.list_models(request.project_access.project)
    except LlmError as error:
        raise refusal(error) from None
    return {"data": [{"id": model.id, "owned_by": model.owned_by} for model in found]}
