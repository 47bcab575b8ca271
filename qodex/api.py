"""The JSON API root (SPEC §5): `/api/v1/`, OpenAPI at `/api/v1/openapi.json`, docs at `/api/v1/docs`.

Routes live next to their app (projects/api.py, environments/api.py…) and are mounted here. Every route
declares its `auth=` from qodex.api_auth; the default below only authenticates.
"""

from __future__ import annotations

import orjson
from ninja import NinjaAPI
from ninja.renderers import BaseRenderer
from ninja.responses import NinjaJSONEncoder

from qodex import api_errors
from qodex.api_auth import authenticate


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
    urls_namespace="api",
)
api_errors.install(api)


def _mount() -> None:
    from environments.api import router as environments_router
    from projects.api import router as projects_router
    from projects.api_memories import router as memories_router

    api.add_router("", projects_router)
    api.add_router("", memories_router)
    api.add_router("", environments_router)


_mount()
