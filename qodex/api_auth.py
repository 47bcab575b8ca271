"""Who is calling the API (SPEC §5): an ApiKey (`Authorization: Bearer` or `X-API-Key`) or the session.

Each route's `auth=` is a list built by `authenticate(policy)`: ninja tries the bearer header, then
X-API-Key, then the session. A key that is present but unusable stops there with its own 401, so a bad
key never falls back to a cookie. After the caller is known, the route's `policy` (see
projects.resolution) decides which project it reaches and whether the caller's role allows the method.
Both run before ninja reads the body, so an outsider learns nothing from validation errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, APIKeyHeader, HttpBearer
from ninja.utils import check_csrf

from projects.models import ApiKey
from qodex.api_errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """The authenticated party: exactly one of `user` (session) or `api_key` is set."""

    user: object | None = None
    api_key: ApiKey | None = None

    @property
    def is_key(self) -> bool:
        return self.api_key is not None

    @property
    def locked_project(self):
        """The project a project-locked key is bound to; None for org-wide keys and sessions."""
        return self.api_key.project if self.api_key is not None and self.api_key.is_locked else None


Policy = Callable[[HttpRequest, Caller], None]


def key_caller(request: HttpRequest, raw: str) -> Caller:
    """The Caller for a raw key, or an ApiError saying exactly why the key does not work."""
    key = ApiKey.find(raw.strip())
    if key is None:
        raise ApiError(401, "invalid_api_key", "This API key is not valid. Check that you copied all of it.")
    status = key.status
    if status == "revoked":
        raise ApiError(401, "api_key_revoked", "This API key was revoked. Create a new one to continue.")
    if status == "expired":
        raise ApiError(401, "api_key_expired", "This API key has expired. Create a new one to continue.")
    if status == "project_deleted":
        raise ApiError(
            401, "api_key_revoked", "This API key’s project was deleted, so the key stopped working."
        )
    if request.method not in SAFE_METHODS and key.scope != ApiKey.Scope.WRITE:
        raise ApiError(
            403,
            "insufficient_scope",
            "This API key is read-only. Use a key with the write scope for changes.",
        )
    key.touch()
    request.api_key = key  # the audit log names the key that acted
    return Caller(api_key=key)


class _PolicyMixin:
    policy: Policy | None = None

    def _admit(self, request: HttpRequest, caller: Caller) -> Caller:
        request.auth = caller  # ninja sets it after we return; the policy needs it now
        if self.policy is not None:
            self.policy(request, caller)
        return caller


class BearerKey(_PolicyMixin, HttpBearer):
    """`Authorization: Bearer qdx_…`."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        super().__init__()

    def __call__(self, request: HttpRequest):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str):
        return self._admit(request, key_caller(request, token))


class HeaderKey(_PolicyMixin, APIKeyHeader):
    """`X-API-Key: qdx_…`."""

    param_name = "X-API-Key"

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        super().__init__()

    def authenticate(self, request: HttpRequest, key: str | None):
        if not key:
            return None
        return self._admit(request, key_caller(request, key))


class Session(_PolicyMixin, APIKeyCookie):
    """The browser session; unsafe methods need the CSRF token (`X-CSRFToken`)."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # no session: the generic 401, not a CSRF complaint
        if not user.is_verified:
            raise ApiError(403, "email_not_verified", "Verify your email address before using the API.")
        if check_csrf(request) is not None:
            raise ApiError(
                403,
                "csrf_failed",
                "The CSRF check failed. Send the csrftoken cookie’s value in the X-CSRFToken header.",
            )
        return self.authenticate(request, None)

    def authenticate(self, request: HttpRequest, key: str | None):
        return self._admit(request, Caller(user=request.user))


def authenticate(policy: Policy | None = None) -> list:
    """The `auth=` of a route: key (bearer or header) or session, then `policy`."""
    return [BearerKey(policy), HeaderKey(policy), Session(policy)]


def caller(request: HttpRequest) -> Caller:
    return request.auth
