# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared body of every `_info` module: one object by name, or a list filtered by label selectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .client import DVPClient
from .kinds import Kind


def collect(client: DVPClient, kind: Kind, params: dict[str, Any], summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    namespace = params.get("namespace") if kind.namespaced else None
    selector = ",".join(params.get("label_selectors") or []) or None
    if params.get("name"):
        obj = client.get(kind, params["name"], namespace)
        items = [obj] if obj is not None else []
        if items and selector:
            items = client.list(kind, namespace, selector, f"metadata.name={params['name']}")["items"]
    else:
        items = client.list(kind, namespace, selector)["items"]
    result: dict[str, Any] = {"changed": False, "resources": items}
    if summarize is not None:
        result["summaries"] = [{"name": o["metadata"]["name"], **summarize(o)} for o in items]
    return result
