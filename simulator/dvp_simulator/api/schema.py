"""Walking a structural schema alongside an object."""

from __future__ import annotations

from typing import Any


def child_schema(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The schema of field `key` of an object described by `schema` (a property or additionalProperties)."""
    if not schema:
        return None
    props = schema.get("properties")
    if props and key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None
