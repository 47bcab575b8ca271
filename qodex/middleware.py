import re
import uuid

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig
from django.http import HttpResponse
from django.template.loader import render_to_string

from qodex.api_errors import API_PREFIX, error_response

# Everything is served from our own origin: htmx and the stylesheet live in static/.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    """CSP and a permissions policy on every response (SPEC §11)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Django's model admin and the API docs bring their own inline assets.
        if not request.path.startswith(("/admin/db/", "/api/v1/docs")):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


# What we echo back: an id a proxy or client made up, within reason (no header injection, no novels).
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """`X-Request-ID` on every response: the one the request sent, or a fresh one (SPEC §5)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request.request_id = sent if REQUEST_ID_RE.match(sent) else uuid.uuid4().hex
        response = self.get_response(request)
        response.headers["X-Request-ID"] = request.request_id
        return response


def body_limit_text() -> str:
    """DATA_UPLOAD_MAX_MEMORY_SIZE for people: "2.5 MB"."""
    return f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024):g} MB"


class RequestBodyLimitMiddleware:
    """Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get 413 before any view, form or parser sees them (SPEC §11).

    Django raises RequestDataTooBig wherever the body is first read: `request.body` (JSON, url-encoded
    forms) or the multipart parser behind `request.POST` (there only the fields count, not uploaded
    files). Reading it here, once, gives every route the same answer instead of a 400 or a 500 from
    whichever layer happened to read first; the views read the same parsed body afterwards.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            if request.content_type == "multipart/form-data":
                request.POST  # noqa: B018 - parsing is the point
            else:
                request.body  # noqa: B018
        except RequestDataTooBig:
            return self.too_large(request)
        except ValueError:  # Django's int(CONTENT_LENGTH); servers usually refuse such a request first
            raise BadRequest("The Content-Length header is not a number.") from None
        return self.get_response(request)

    @staticmethod
    def too_large(request) -> HttpResponse:
        limit = body_limit_text()
        if request.path.startswith(API_PREFIX):
            message = f"The request body is larger than {limit}. Send less in one request."
            return error_response(413, "payload_too_large", message)
        # Rendered without the request: sessions and users are not loaded yet at this point.
        return HttpResponse(render_to_string("413.html", {"limit": limit}), status=413)
