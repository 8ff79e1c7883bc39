# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# Apache License 2.0 (see LICENSE)
"""The shared body of every `_info` module: one object by name, or a list filtered by label selectors."""

from __future__ import annotations

from typing import Any, Callable

from .client import DVPClient
from .kinds import Kind


def collect(client: DVPClient, kind: Kind, params: dict[str, Any], summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    namespace = params.get("namespace") if kind.namespaced else None
    selector = ",".join(params.get("label_selectors") or []) or None
    if params.get("name"):
        obj = client.get(kind, params["name"], namespace)
        items = [obj] if obj is not None else []
        if items and selector:
            items = [o for o in client.list(kind, namespace, selector, f"metadata.name={params['name']}")["items"]]
    else:
        items = client.list(kind, namespace, selector)["items"]
    result: dict[str, Any] = {"changed": False, "resources": items}
    if summarize is not None:
        result["summaries"] = [{"name": o["metadata"]["name"], **summarize(o)} for o in items]
    return result
