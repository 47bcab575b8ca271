"""Who pays for a call and where it goes (SPEC §7): the project's own key, the platform's, or the pool.

`funding_for(project)` decides; `client_for(funding)` is the one place an SDK client is made (byok.gateway
is its only caller). Clients are kept per (endpoint, key) for the life of the process: making one costs
more than the gateway's whole overhead budget, and the SDK's clients are safe to share between threads.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import openai
from django.conf import settings
from django.core.cache import cache

from byok.models import ProviderCredential, provider_base_url
from projects.models import Project
from qodex import outbound

# Used when neither the call nor the credential names a model.
DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "google": "gemini-1.5-flash",
}
POOL_REST_SECONDS = 60  # a pool key that answered 429 rests this long before it is used again


class NoFunding(Exception):
    """Nothing can pay for this call: `.code` is the LlmError code, `.message` says what to do."""

    def __init__(self, code: str, message: str, *, funding: str, provider: str):
        super().__init__(message)
        self.code, self.message, self.funding, self.provider = code, message, funding, provider


@dataclass(frozen=True)
class Funding:
    kind: str  # platform | byok | codex_pool (LlmUsageLog.Funding)
    provider: str
    endpoint: str
    default_model: str
    api_key: str = field(repr=False)
    checked: bool = False  # an endpoint a project member chose: every request passes qodex.outbound

    def model(self, asked: str | None) -> str:
        return asked or self.default_model or DEFAULT_MODELS.get(self.provider, "")


def funding_for(project: Project) -> Funding:
    """The funding of `project`'s next call, or NoFunding."""
    mode = project.llm_mode
    if mode == Project.LlmMode.BYOK:
        credential = (
            ProviderCredential.objects.for_project(project).filter(provider=project.llm_provider).first()
            if project.llm_provider
            else None
        )
        if credential is None:
            raise NoFunding(
                "byok_not_configured",
                "This project is set to use its own LLM key, but none is saved. Add one in Settings → BYOK, "
                "or switch the project back to the platform key.",
                funding="byok",
                provider=project.llm_provider,
            )
        return Funding(
            "byok",
            credential.provider,
            credential.endpoint,
            credential.default_model,
            credential.api_key,
            checked=True,
        )
    provider = settings.QODEX_PLATFORM_PROVIDER
    endpoint = (settings.QODEX_PLATFORM_BASE_URL or provider_base_url(provider)).rstrip("/")
    if mode == Project.LlmMode.CODEX_POOL:
        return Funding("codex_pool", provider, endpoint, "", next_pool_key())
    if not settings.QODEX_PLATFORM_API_KEY:
        raise NoFunding(
            "provider_auth_failed",
            "The platform has no LLM key configured (QODEX_PLATFORM_API_KEY). Add your own key in Settings → "
            "BYOK, or ask the operators to set one.",
            funding="platform",
            provider=provider,
        )
    return Funding("platform", provider, endpoint, "", settings.QODEX_PLATFORM_API_KEY)


def funding_for_credential(
    provider: str, api_key: str, base_url: str = "", default_model: str = ""
) -> Funding:
    """The funding a credential gives, saved or not: how a key is checked before it is saved. Its
    endpoint is one a project member chose, so client_for sends nothing there before qodex.outbound."""
    endpoint = (base_url or provider_base_url(provider)).rstrip("/")
    return Funding("byok", provider, endpoint, default_model, api_key, checked=True)


_pool_turn = itertools.count()
_pool_lock = threading.Lock()


def _resting_key(key: str) -> str:
    import hashlib

    return "byok:pool-rest:" + hashlib.sha256(key.encode()).hexdigest()[:24]


def next_pool_key() -> str:
    """The next codex-pool key in turn, skipping keys resting after a 429."""
    keys = settings.QODEX_CODEX_POOL_KEYS
    if not keys:
        raise NoFunding(
            "provider_auth_failed",
            "The codex pool has no keys (QODEX_CODEX_POOL_KEYS). Ask the operators, or use your own key.",
            funding="codex_pool",
            provider=settings.QODEX_PLATFORM_PROVIDER,
        )
    with _pool_lock:
        start = next(_pool_turn)
    for offset in range(len(keys)):
        key = keys[(start + offset) % len(keys)]
        if not cache.get(_resting_key(key)):
            return key
    raise NoFunding(
        "provider_rate_limited",
        "Every key of the codex pool is resting after the provider rate-limited it. Try again in a minute.",
        funding="codex_pool",
        provider=settings.QODEX_PLATFORM_PROVIDER,
    )


def rest_pool_key(key: str) -> None:
    cache.set(_resting_key(key), True, POOL_REST_SECONDS)


@lru_cache(maxsize=64)
def _client(endpoint: str, api_key: str, checked: bool, timeout: float, retries: int) -> openai.OpenAI:
    http_client = outbound.client(timeout=timeout) if checked else None
    return openai.OpenAI(
        api_key=api_key, base_url=endpoint, timeout=timeout, max_retries=retries, http_client=http_client
    )


def client_for(funding: Funding) -> openai.OpenAI:
    """The SDK client for `funding` (the only place one is made). A project member's own endpoint is an
    outbound target like any other: checked (scheme, port, private addresses per setting) before the
    key is sent, and on every redirect."""
    if funding.checked:
        outbound.check_url(funding.endpoint)
    return _client(
        funding.endpoint,
        funding.api_key,
        funding.checked,
        float(settings.QODEX_LLM_TIMEOUT_SECONDS),
        int(settings.QODEX_LLM_MAX_RETRIES),
    )
