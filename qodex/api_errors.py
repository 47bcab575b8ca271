"""The API's one error shape (SPEC §5): `{"error": {"code", "message"}}`, plus `fields` on validation,
and OpenAI's `type` under the OpenAI-compatible endpoint (/api/v1/llm/).

Three doors lead here, so that nothing under /api/ ever answers with an HTML page:
- routes and auth raise `ApiError` (or ninja's own errors), turned into JSON by the handlers that
  `install(api)` registers on the NinjaAPI;
- `not_found` answers every /api/ path that no route matches;
- `ApiErrorMiddleware` reshapes whatever else is not JSON (405 from ninja, Django's 500 page after an
  unexpected exception, which Django has already logged).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.responses import codes_4xx
from pydantic import ConfigDict, Field

from qodex.doors import Refused
from qodex.schemas import Out

API_PREFIX = "/api/"

DEFAULT_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("authentication_required", "Send an API key as `Authorization: Bearer qdx_…` or sign in."),
    403: ("permission_denied", "You don’t have permission to do this."),
    404: ("not_found", "Nothing lives at this address. Check the URL against /api/v1/docs."),
    405: ("method_not_allowed", "This address doesn’t accept that method."),
    409: ("conflict", "This conflicts with the current state of the resource."),
    413: ("payload_too_large", "The request body is too large."),
    422: ("validation_failed", "Some fields are not valid."),
    429: ("rate_limited", "Too many requests. Wait a moment and try again."),
    500: ("internal_error", "Something went wrong on our side. It has been logged; please try again."),
}


# The OpenAI-compatible endpoint (SPEC §5, byok/api.py): every error under it, whatever raised it (auth,
# validation, the route), also carries OpenAI's `type`, which the OpenAI SDKs read.
OPENAI_PREFIX = "/api/v1/llm/"
OPENAI_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    502: "api_error",
    504: "timeout_error",
}


def openai_type(status: int) -> str:
    return OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


class ErrorDetail(Out):
    code: str
    message: str
    type: str | None = Field(None, description="Under /api/v1/llm/ only: OpenAI's error type.")
    fields: dict[str, list[str]] | None = Field(
        None, description="On validation errors only: the messages for each field."
    )

    # `fields` is left out of other errors, so the document must not call it required.
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)


class ErrorOut(Out):
    error: ErrorDetail


# Routes declare `response={200: …, **ERRORS}` so the OpenAPI document shows the error shape.
ERRORS = {code: ErrorOut for code in codes_4xx}


class ApiError(Refused):
    """A refusal raised by the API's own plumbing (auth, resolution), in the order HTTP reads it."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message, code=code, status=status, fields=fields)
        self.headers = headers or {}


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None, error_type: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    if error_type is not None:
        error["type"] = error_type
    return {"error": error}


def error_response(
    status: int,
    code: str | None = None,
    message: str | None = None,
    fields=None,
    *,
    request: HttpRequest | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """The error shape; `request` adds OpenAI's `type` under OPENAI_PREFIX."""
    default_code, default_message = DEFAULT_CODES.get(status, DEFAULT_CODES[400 if status < 500 else 500])
    kind = openai_type(status) if request is not None and request.path.startswith(OPENAI_PREFIX) else None
    response = JsonResponse(
        error_body(code or default_code, message or default_message, fields, kind), status=status
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@csrf_exempt  # a POST to a missing path is a 404, not a CSRF refusal
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Every /api/ path no route matches."""
    return error_response(404, request=request)


def _field_name(loc: tuple | list) -> str:
    # ninja reports ("body", "<param>", "name") for body fields and ("query", "limit") for the rest.
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[2:] if len(parts) > 2 else ["body"]
    else:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


def validation_fields(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        message = str(error.get("msg", "Not valid.")).removeprefix("Value error, ")
        fields.setdefault(_field_name(error.get("loc", ())), []).append(message)
    return fields


def install(api) -> None:
    """Register the handlers that give every ninja-side error the SPEC shape."""

    def on_refused(request, exc: Refused):
        # A door's refusal (qodex.doors) or the plumbing's ApiError: the same shape.
        headers = getattr(exc, "headers", None)
        return error_response(exc.status, exc.code, exc.message, exc.fields, request=request, headers=headers)

    def on_validation(request, exc: NinjaValidationError):
        return error_response(422, fields=validation_fields(exc.errors), request=request)

    def on_django_validation(request, exc: DjangoValidationError):
        if hasattr(exc, "error_dict"):
            fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        else:
            fields = {"__all__": [str(m) for m in exc.messages]}
        return error_response(422, fields=fields, request=request)

    def on_authentication(request, exc: AuthenticationError):
        return error_response(401, request=request)

    def on_http_error(request, exc: HttpError):
        if isinstance(exc.__cause__, ApiError):  # the body parser's refusal, wrapped by ninja
            return on_refused(request, exc.__cause__)
        if exc.status_code == 400 and "parse" in exc.message.lower():
            return error_response(400, "invalid_json", "The request body is not valid JSON.", request=request)
        message = None if exc.status_code >= 500 else exc.message
        return error_response(exc.status_code, message=message, request=request)

    def on_404(request, exc: Http404):
        return error_response(404, request=request)

    def on_unstorable(request, exc: Exception):
        # Input the database refuses (a NUL character, a number beyond its range): the client's, not ours.
        return error_response(
            400,
            "invalid_input",
            "A value can’t be stored: it contains a NUL character or a number out of range.",
            request=request,
        )

    api.add_exception_handler(Refused, on_refused)
    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(DataError, on_unstorable)
    api.add_exception_handler(OverflowError, on_unstorable)  # SQLite's way of saying out of range


class ApiErrorMiddleware:
    """Under /api/, turn any error response that is not already JSON into the SPEC shape."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith(API_PREFIX)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            shaped = error_response(response.status_code, request=request)
            for header in ("Allow", "Retry-After", "X-Request-ID"):
                if header in response:
                    shaped[header] = response[header]
            return shaped
        return response
