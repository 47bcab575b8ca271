"""The JSON API root (SPEC §5): `/api/v1/`, OpenAPI at `/api/v1/openapi.json`, docs at `/api/v1/docs`.

Routes live next to their app (projects/api.py, environments/api.py…) and are mounted here. Every route
declares its `auth=` from projects.api_access; the default below only authenticates.
"""

from __future__ import annotations

from ninja import NinjaAPI

from qodex import api_errors
from qodex.api_auth import authenticate

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
