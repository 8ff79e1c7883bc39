# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module shares: the common argument spec and the run wrapper that turns errors into fail_json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .client import DVPClient
from .connection import HAS_KUBERNETES, KUBERNETES_IMPORT_ERROR, api_client, connection_arg_spec
from .ensure import Ensurer
from .errors import DVPError


def arg_spec(namespaced: bool, **specific: Any) -> dict[str, Any]:
    spec: dict[str, Any] = dict(connection_arg_spec())
    spec.update(
        name={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "int", "default": 300},
        labels={"type": "dict"},
        annotations={"type": "dict"},
    )
    if namespaced:
        spec["namespace"] = {"type": "str", "required": True}
    spec.update(specific)
    return spec


def info_arg_spec(namespaced: bool) -> dict[str, Any]:
    spec: dict[str, Any] = dict(connection_arg_spec())
    spec.update(name={"type": "str"}, label_selectors={"type": "list", "elements": "str", "default": []})
    if namespaced:
        spec["namespace"] = {"type": "str"}
    return spec


def metadata(params: dict[str, Any], namespaced: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": params["name"]}
    if namespaced:
        meta["namespace"] = params["namespace"]
    for key in ("labels", "annotations"):
        if params.get(key):
            meta[key] = params[key]
    return meta


def run(module: Any, body: Callable[[DVPClient, Ensurer], dict[str, Any]]) -> None:
    """Build the client, run the module's body, and report: exit_json with its result or fail_json with the
    error's message and details (the server's object among them when there is one)."""
    if not HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("kubernetes"), exception=str(KUBERNETES_IMPORT_ERROR))
    try:
        client = DVPClient(api_client(module.params))
        result = body(client, Ensurer(client, module.check_mode))
    except DVPError as err:
        module.fail_json(msg=err.message, **{k: v for k, v in err.details.items() if k not in ("msg", "changed")})
    module.exit_json(**result)
