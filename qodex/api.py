"""The JSON API root (SPEC §5): `/api/v1/`, OpenAPI at `/api/v1/openapi.json`, docs at `/api/v1/docs`.

Routes live next to their app (projects/api.py, environments/api.py…) and are mounted here. Every route
declares its `auth=` from qodex.api_auth; the default below only authenticates.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from django.urls import reverse
from ninja import NinjaAPI
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

from qodex import api_errors
from qodex.api_auth import authenticate
from qodex.api_errors import ApiError
from qodex.schemas import Out

# What orjson writes and the database keeps for a whole number: a signed 64-bit integer.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class JSONParser(Parser):
    """Request bodies: JSON that the database and the renderer can hold, else a 400 before any route runs.

    Python's json module reads integers of any size and `NaN`, `Infinity` and `1e999` (as infinity).
    PostgreSQL's jsonb refuses the non-finite ones, and orjson can't write an integer beyond 64 bits:
    stored once, such a number would break every later response that includes it.
    """

    def parse_body(self, request) -> Any:
        data = json.loads(request.body)
        problem = unrepresentable_number(data)
        if problem is not None:
            path, kind = problem
            where = f"`{path}`" if path else "The body"
            if kind == "integer":
                message = (
                    f"{where} is a whole number outside the signed 64-bit range "
                    f"({INT64_MIN} to {INT64_MAX}). Send it as a string."
                )
            else:
                message = (
                    f"{where} is not a finite number (NaN, Infinity and values beyond ±1.8e308 are not "
                    "accepted). Send it as a string or leave it out."
                )
            # ninja wraps what a parser raises in its own 400; api_errors answers with this one instead.
            raise ApiError(400, "invalid_number", message)
        return data


def unrepresentable_number(data: Any) -> tuple[str, str] | None:
    """The path (`metadata.sizes[2]`) and kind ("integer", "non_finite") of the first number in `data`
    that is beyond a signed 64-bit integer or not finite; None when every number fits."""
    # Iterative, so a deeply nested body can't exhaust the stack; paths are linked (parent, key)
    # pairs, turned into text only for the number that fails.
    stack: list[tuple[Any, tuple | None]] = [(data, None)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((item, (path, key)) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((value[index], (path, index)) for index in range(len(value) - 1, -1, -1))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            return _path_text(path), "integer"
        elif isinstance(value, float) and not math.isfinite(value):
            return _path_text(path), "non_finite"
    return None


def _path_text(path: tuple | None) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    text = "".join(reversed(parts)).lstrip(".")
    return text if len(text) <= 200 else text[:199] + "…"


class JSONRenderer(BaseRenderer):
    """orjson: several times faster than the json module on every response body (SPEC §12 budget).

    Datetimes come out as RFC 3339 in UTC with a `Z` and microseconds; anything orjson does not know
    (Decimal, lazy translation strings…) goes through ninja's own encoder.
    """

    media_type = "application/json"
    _fallback = NinjaJSONEncoder()

    def render(self, request, data, *, response_status: int) -> bytes:
        return orjson.dumps(data, default=self._fallback.default, option=orjson.OPT_UTC_Z)


api = NinjaAPI(
    title="Qodex API",
    version="1",
    description=(
        "Authenticate with `Authorization: Bearer qdx_…` or `X-API-Key: qdx_…` (or the browser session "
        "with the X-CSRFToken header on unsafe methods). Routes without a slug act on the project named "
        "by `X-Project-ID`, else the key's locked project. Errors are "
        '`{"error": {"code": "…", "message": "…"}}`.'
    ),
    auth=authenticate(),
    renderer=JSONRenderer(),
    parser=JSONParser(),
    urls_namespace="api",
)
api_errors.install(api)


class ApiLinks(Out):
    docs: str
    openapi: str


class ApiIndex(Out):
    name: str
    version: str
    links: ApiLinks


@api.get("/", response=ApiIndex, auth=None, tags=["api"], summary="What this API is and where its docs are")
def index(request):
    """Public on purpose: only what the docs page says anyway, nothing about the caller or the tenant."""
    return {
        "name": api.title,
        "version": api.version,
        "links": {"docs": reverse("api:openapi-view"), "openapi": reverse("api:openapi-json")},
    }


def _mount() -> None:
    from byok.api import router as llm_router
    from environments.api import router as environments_router
    from projects.api import router as projects_router
    from qa.api import router as chats_router
    from qa.api_memories import router as memories_router
    from qa.api_runs import router as runs_router
    from qa.api_scenarios import router as scenarios_router
    from usage.api import router as usage_router

    api.add_router("", projects_router)
    api.add_router("", memories_router)
    api.add_router("", environments_router)
    api.add_router("", chats_router)
    api.add_router("", usage_router)
    api.add_router("", scenarios_router)
    api.add_router("", runs_router)
    api.add_router("/llm/", llm_router)


_mount()
