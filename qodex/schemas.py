"""The base of every API response schema.

Ninja's `Schema` wraps each object it validates in a `DjangoGetter` to run `resolve_*` methods; for a
page of model instances that costs several times the query (SPEC §12 throughput budget). `Out` lets
pydantic read the attributes itself (`from_attributes`). A field that is not a plain attribute names
where it comes from with `validation_alias` (an attribute or an `AliasPath` through a relation) or a
`mode="before"` validator (masking), so each schema still says in one place what it returns.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Out(BaseModel):
    # Every field is in every response, defaults included: the OpenAPI document says so.
    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)
