"""Cursor pagination for every API list (SPEC §5): `?limit=` (default 50, max 200) and `?cursor=`.

Keyset on the primary key rather than OFFSET: a page costs the same however deep it is, and rows added
while someone pages through do not shift what they see. The cursor is opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.db.models import QuerySet
from ninja import Field
from pydantic import BaseModel

from qodex.api_errors import ApiError
from qodex.prepared import Prepared

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageParams(BaseModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1–200).")
    cursor: str | None = Field(None, max_length=64, description="`next_cursor` of the previous page.")


def encode_cursor(pk: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "pk" or not value.isdigit():
            raise ValueError(cursor)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            400, "invalid_cursor", "This cursor is not valid. Use the `next_cursor` of a previous page."
        ) from None


def paginate(
    source: QuerySet | Prepared, params: PageParams, *values: int | str, newest_first: bool = True
) -> dict[str, Any]:
    """One page of `source` ordered by pk: `{"items": [...], "next_cursor": "…" | None}`.

    `source` is a queryset: write new lists that way. It is a `qodex.prepared` query run with `values`
    only for the four lists the throughput budget measured needing it (see that module's docstring).
    Fetches limit + 1 rows to know whether another page exists without a COUNT.
    """
    after = decode_cursor(params.cursor) if params.cursor else None
    if isinstance(source, Prepared):
        rows = source.page(*values, after=after, limit=params.limit + 1, newest_first=newest_first)
    else:
        queryset = source.order_by("-pk" if newest_first else "pk")
        if after is not None:
            queryset = queryset.filter(pk__lt=after) if newest_first else queryset.filter(pk__gt=after)
        rows = list(queryset[: params.limit + 1])
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    return {"items": rows, "next_cursor": encode_cursor(rows[-1].pk) if more else None}
