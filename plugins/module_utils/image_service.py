# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image modules' flow over the shared ensure/wait pieces: the Upload source and deletion while in use."""

from __future__ import annotations

from typing import Any

from .client import DVPClient
from .ensure import Ensurer
from .errors import DVPError
from .images import desired_cluster_image, image_guard, summary, upload_url, url_secret, users
from .kinds import Kind
from .upload import upload_file
from .waiter import gone, phase_in, wait_for

READY = phase_in(("Ready",))
UPLOADABLE = phase_in(("WaitForUserUpload", "Ready"))


def ensure_image(module: Any, client: DVPClient, ensurer: Ensurer, kind: Kind, metadata: dict[str, Any]) -> dict[str, Any]:
    p = module.params
    namespace = metadata.get("namespace")
    if p["state"] == "absent":
        return _absent(module, client, ensurer, kind, p["name"], namespace)
    desired = desired_cluster_image(p, metadata)
    is_upload = p["data_source"]["type"] == "Upload"
    wait = None if is_upload or not p["wait"] else READY
    outcome = ensurer.present(kind, desired, guard=image_guard(kind.kind), recreate=p["recreate"], wait=wait, wait_timeout=p["wait_timeout"])
    obj = outcome.resource
    if is_upload and not module.check_mode:
        obj = wait_for(client, kind, p["name"], namespace, UPLOADABLE, p["wait_timeout"])
        if obj["status"]["phase"] == "WaitForUserUpload":
            url = upload_url(obj, p["upload_url"])
            module.no_log_values.add(url_secret(url))
            upload_file(client.api, url, p["upload_file"], p["wait_timeout"])
            outcome.changed = True
            obj = wait_for(client, kind, p["name"], namespace, READY, p["wait_timeout"]) if p["wait"] else client.get(kind, p["name"], namespace)
    for url in (summary(obj)["upload_urls"] or {}).values():
        if url:
            module.no_log_values.add(url_secret(url))
    result = outcome.result(module._diff)
    result["resource"] = obj or {}
    result["image"] = summary(obj)
    return result


def _absent(module: Any, client: DVPClient, ensurer: Ensurer, kind: Kind, name: str, namespace: str | None) -> dict[str, Any]:
    p = module.params
    outcome = ensurer.absent(kind, name, namespace, wait=False)
    if not outcome.changed or module.check_mode:
        return {**outcome.result(module._diff), "users": users(outcome.resource)}
    if not p["wait"]:
        current = client.get(kind, name, namespace)
        return {**outcome.result(module._diff), "resource": current or {}, "users": users(current)}
    try:
        wait_for(client, kind, name, namespace, gone, p["wait_timeout"])
    except DVPError as err:
        current = client.get(kind, name, namespace)
        in_use = users(current)
        if in_use:
            raise DVPError(
                f"{kind.describe(name, namespace)} is still in use by {', '.join(in_use)}; it stays Terminating until they release it",
                users=in_use,
                resource=current,
            ) from err
        raise
    return {**outcome.result(module._diff), "users": []}
