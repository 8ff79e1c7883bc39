# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image modules' flow over the shared ensure/wait pieces: the Upload source and deletion while in use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import vocabulary as v
from .client import DVPClient
from .ensure import NOT_READ, Ensurer
from .errors import DVPError
from .images import (
    desired_cluster_image,
    hide_upload_urls,
    image_guard,
    mask_secrets,
    mask_upload_url,
    summary,
    upload_url,
    upload_url_secrets,
    url_secrets,
    users,
)
from .kinds import Kind
from .upload import upload_file
from .waiter import gone, phase_in, reporting, wait_for

READY = phase_in((v.READY,))
UPLOADABLE = phase_in((v.WAIT_FOR_USER_UPLOAD, v.READY))


def ensure_image(module: Any, client: DVPClient, ensurer: Ensurer, kind: Kind, metadata: dict[str, Any], desired: dict[str, Any] | None = None,
                 ready: Any = None, guard: Any = None, summarize: Callable[[Any], dict[str, Any]] | None = None,
                 known: Any = NOT_READ) -> dict[str, Any]:  # fmt: skip
    """Images and disks alike: `desired` (default: a ClusterVirtualImage's), the `ready` predicate waited for,
    the `guard` of in-place changes and the `summarize` of the result (under the key `image`); `known`: the object as
    the caller has just read it (None: it does not exist; not read again)."""
    p = module.params
    if p["state"] == "absent":
        return hiding_upload_urls(module, lambda: _absent(module, client, ensurer, kind, p["name"], metadata.get("namespace")))
    return hiding_upload_urls(module, lambda: _present(module, client, ensurer, kind, metadata, desired, ready or READY, guard, summarize or summary, known))


def hiding_upload_urls(module: Any, body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """body's result, or its DVPError. Upload URLs are credentials: unless reveal_upload_urls, every one in
    the result (resource, resources, diff, image, summaries) and in the error's resource is masked, and its
    secret parts are registered as no_log values (so no other output shows them either)."""
    reveal = bool(module.params.get("reveal_upload_urls"))
    try:
        result = body()
    except DVPError as err:
        if not reveal and err.details.get("resource"):
            module.no_log_values.update(upload_url_secrets(err.details["resource"]))
            err.details["resource"] = hide_upload_urls(err.details["resource"])
        raise
    return result if reveal else _hidden(module, result)


def _present(module: Any, client: DVPClient, ensurer: Ensurer, kind: Kind, metadata: dict[str, Any], desired: dict[str, Any] | None = None,
             ready: Any = READY, guard: Any = None, summarize: Callable[[Any], dict[str, Any]] = summary,
             known: Any = NOT_READ) -> dict[str, Any]:  # fmt: skip
    p = module.params
    namespace = metadata.get("namespace")
    desired = desired or desired_cluster_image(p, metadata)
    is_upload = ((p.get("data_source") or {}).get("type")) == "Upload"
    wait = None if is_upload or not p["wait"] else ready
    outcome = ensurer.present(
        kind,
        desired,
        guard=guard or image_guard(kind.kind),
        recreate=p["recreate"],
        wait=wait,
        wait_timeout=p["wait_timeout"],
        force_conflicts=p["force_conflicts"],
        known=known,
    )
    obj = outcome.resource
    what = kind.describe(p["name"], namespace)
    if is_upload and not module.check_mode and (p["upload_file"] or p["wait"]):
        # without upload_file someone else uploads (the admin guide's curl): the wait ends once the image takes it
        obj = wait_for(client, kind, p["name"], namespace, reporting(UPLOADABLE, ensurer.log, what), p["wait_timeout"])
        if p["upload_file"] and obj["status"]["phase"] == "WaitForUserUpload":
            url = upload_url(obj, p["upload_url"] or "external")
            if not p.get("reveal_upload_urls"):
                module.no_log_values.update(url_secrets(url))
            try:
                upload_file(client.api, url, p["upload_file"], p["wait_timeout"])
            except DVPError as err:  # transport errors quote the URL: never its secret part, even when revealing
                raise DVPError(mask_secrets(err.message, url_secrets(url)), **err.details) from None
            outcome.changed = True
            if p["wait"]:
                obj = wait_for(client, kind, p["name"], namespace, reporting(ready, ensurer.log, what), p["wait_timeout"])
            else:
                obj = client.get(kind, p["name"], namespace)
    result = outcome.result(module._diff)
    result["resource"] = obj or {}
    result["image"] = summarize(obj)
    if kind.kind == v.VIRTUAL_DISK:  # a disk's summary is `disk`; `image` stays as the name it had before
        result["disk"] = result["image"]
    return result


def _hidden(module: Any, result: dict[str, Any]) -> dict[str, Any]:
    objs = [result.get("resource"), *(result.get("diff") or {}).values(), *(result.get("resources") or [])]
    for obj in objs:
        module.no_log_values.update(upload_url_secrets(obj))
    out = dict(result)
    if "resource" in result:
        out["resource"] = hide_upload_urls(result["resource"])
    if "resources" in result:
        out["resources"] = [hide_upload_urls(o) for o in result["resources"]]
    if "diff" in result:
        out["diff"] = {k: hide_upload_urls(v) for k, v in result["diff"].items()}
    for key in ("image", "disk"):
        if key in result:
            out[key] = _hide_summary(result[key])
    if "summaries" in result:
        out["summaries"] = [_hide_summary(one) for one in result["summaries"]]
    return out


def _hide_summary(one: dict[str, Any]) -> dict[str, Any]:
    urls = one.get("upload_urls") or {}
    return {**one, "upload_urls": {k: mask_upload_url(v) if v else v for k, v in urls.items()}}


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
