"""The template history of DaemonSets and StatefulSets, as their controllers in kube-controller-manager keep it
(pkg/controller/history, and each controller's constructHistory / truncateHistory): ControllerRevisions, one per pod
template the workload has had, which `kubectl rollout history ds|sts` lists and `kubectl rollout undo` applies.

- A revision's `data` is the patch that puts its template back, `{"spec": {"template": {…, "$patch": "replace"}}}`;
  its name is `<owner>-<hash>`, the hash a digest of the template (and of status.collisionCount once a collision
  happened); its labels the template's with `controller-revision-hash: <hash>`, its annotations the owner's (so a
  `kubernetes.io/change-cause` goes with it), its controller the owner.
- `sync`: the revision whose data is the current template's is the current one; none → one is made with the next
  number; an older one (a rollback to it) → it gets the next number. A revision of the same data that no controller
  owns, at the name the controller would give it, is adopted (upstream adopts every orphan its selector matches: a
  workload made again after an orphaning delete gets its older history back there, not here). The name taken by a
  revision of other data is a collision: the owner's status.collisionCount goes up and the sync is retried, under
  another hash. A revision refused otherwise (a ResourceQuota) is retried with the queue's backoff, and the workload
  makes no pod meanwhile, as upstream's.
- `truncate`: beyond spec.revisionHistoryLimit, the oldest revisions that no pod runs (and that are not current) are
  deleted (the DaemonSet's counting the live ones towards the limit, the StatefulSet's not).

Costs: a sync reads the owner's revisions through the owner index (a handful) and writes only when the template
changed, a rollback renumbered one, or the history grew past its limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.errors import APIError
from ..api.service import WriteOptions
from ..store.store import DELETED, Event, Store
from .deployment import safe_hash
from .replicaset import controller_of, owned
from .runtime import Context, Key, Retry, controller_ref

REVISIONS = v.resource_key(v.CONTROLLER_REVISION)
HASH_LABEL = "controller-revision-hash"
APPS_V1 = f"{v.APPS_GROUP}/v1"
DEFAULT_LIMIT = 10
NAME_BASE_MAX = 223  # upstream cuts the owner's name so that `<name>-<hash>` stays within 253 characters


def patch_of(template: dict[str, Any]) -> dict[str, Any]:
    """A revision's data: the strategic merge patch that restores `template` (pure)."""
    return {"spec": {"template": {**template, "$patch": "replace"}}}


def template_of(revision: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template a revision restores (pure); None when its data holds none (a revision written by hand)."""
    data = revision.get("data")
    spec = data.get("spec") if isinstance(data, dict) else None
    template = spec.get("template") if isinstance(spec, dict) else None
    if not isinstance(template, dict):
        return None
    return {k: x for k, x in template.items() if k != "$patch"}


def hash_of(template: dict[str, Any], collision_count: int = 0) -> str:
    """The revision hash of a template: an FNV-32a of its canonical JSON, and of the collision count when there was
    one, safe-encoded (upstream: history.HashControllerRevision over Go's dump of the data; the values differ, the
    properties do not)."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return safe_hash((data + (str(collision_count) if collision_count else "")).encode())


@dataclass
class History:
    current: dict[str, Any]  # the revision of the owner's template
    revisions: list[dict[str, Any]]  # every revision of the owner, oldest number first (the current one included)

    @property
    def hash(self) -> str:
        meta = self.current["metadata"]
        return (meta.get("labels") or {}).get(HASH_LABEL) or meta["name"].rpartition("-")[2]

    @property
    def name(self) -> str:
        return self.current["metadata"]["name"]

    def named(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.revisions if r["metadata"]["name"] == name), None)


def sync(ctx: Context, store: Store, owner: dict[str, Any], kind: str, manager: str) -> History:
    """The owner's history with a revision of its current template (made, renumbered or adopted as needed). A name
    collision raises Retry after raising the owner's status.collisionCount."""
    meta, spec = owner["metadata"], owner.get("spec") or {}
    template = spec.get("template") or {}
    data = patch_of(template)
    rt = ctx.service.registry.types[REVISIONS]
    opts = WriteOptions(version="v1", manager=manager)
    revisions = sorted(owned(store, REVISIONS, owner, kind), key=_number)
    latest = _number(revisions[-1]) if revisions else 0
    equal = [r for r in revisions if r.get("data") == data]
    if equal:
        current = equal[-1]
        if _number(current) < latest:  # a rollback to it: it becomes the newest
            current = ctx.service.update(rt, meta["namespace"], current["metadata"]["name"], {**current, "revision": latest + 1}, opts).obj
            revisions = sorted([r for r in revisions if r["metadata"]["uid"] != current["metadata"]["uid"]] + [current], key=_number)
        return History(current, revisions)
    collisions = int((owner.get("status") or {}).get("collisionCount") or 0)
    digest = hash_of(template, collisions)
    name = f"{meta['name'][:NAME_BASE_MAX]}-{digest}"  # ControllerRevisionName: a name that stays a DNS subdomain
    body = {
        "apiVersion": APPS_V1,
        "kind": v.CONTROLLER_REVISION,
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {**((template.get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest},
            **({"annotations": dict(meta["annotations"])} if meta.get("annotations") else {}),
            "ownerReferences": [controller_ref(APPS_V1, kind, meta["name"], meta["uid"])],
        },
        "data": data,
        "revision": latest + 1,
    }
    try:
        current = ctx.service.create(rt, meta["namespace"], body, opts).obj
    except APIError as exc:
        if exc.code != 409:  # a ResourceQuota on revisions, say: upstream's sync fails and is retried with backoff
            raise Retry(f"the ControllerRevision {name} was refused: {exc.message}") from exc
        current = _adopted(ctx, store, owner, kind, name, data, opts)
    return History(current, [*revisions, current])


def _adopted(ctx: Context, store: Store, owner: dict[str, Any], kind: str, name: str, data: dict[str, Any], opts: WriteOptions) -> dict[str, Any]:
    """The revision already named `name`: the owner's once adopted when it has the same data and no controller;
    otherwise a collision (status.collisionCount raised, Retry)."""
    meta = owner["metadata"]
    entry = store.get(REVISIONS, meta["namespace"], name)
    existing = entry.obj if entry is not None else None
    if existing is not None and existing.get("data") == data and not any(r.get("controller") for r in existing["metadata"].get("ownerReferences") or ()):
        refs = [*(existing["metadata"].get("ownerReferences") or ()), controller_ref(APPS_V1, kind, meta["name"], meta["uid"])]
        rt = ctx.service.registry.types[REVISIONS]
        return ctx.service.update(rt, meta["namespace"], name, {**existing, "metadata": {**existing["metadata"], "ownerReferences": refs}}, opts).obj
    if existing is not None:
        owners_rt = ctx.service.registry.types[v.resource_key(kind)]
        status = {**(owner.get("status") or {}), "collisionCount": int((owner.get("status") or {}).get("collisionCount") or 0) + 1}
        status_opts = WriteOptions(version="v1", manager=opts.manager, subresource="status")
        ctx.service.update(owners_rt, meta["namespace"], meta["name"], {**owner, "status": status}, status_opts)
    raise Retry(f"a ControllerRevision named {name} exists with other data: hash collision")


def truncate(ctx: Context, history: History, live: set[str], limit: int | None, count_live: bool = False) -> None:
    """Delete the oldest revisions that are neither current nor `live` (names or hashes of the revisions pods run)
    while more than `limit` (spec.revisionHistoryLimit; 10 when unset) old ones are kept. `count_live`: the live ones
    count towards the limit (the DaemonSet controller's cleanupHistory); else only the others (the StatefulSet's
    truncateHistory)."""
    old = [r for r in history.revisions if r["metadata"]["name"] != history.name]
    dead = [r for r in old if r["metadata"]["name"] not in live and (r["metadata"].get("labels") or {}).get(HASH_LABEL) not in live]
    excess = len(old if count_live else dead) - (DEFAULT_LIMIT if limit is None else max(limit, 0))
    rt = ctx.service.registry.types[REVISIONS]
    for revision in dead[: max(excess, 0)]:
        meta = revision["metadata"]
        try:
            ctx.service.delete(rt, meta["namespace"], meta["name"], {"preconditions": {"uid": meta["uid"]}})
        except APIError as exc:
            if exc.code not in (404, 409):
                raise


def _number(revision: dict[str, Any]) -> int:
    value = revision.get("revision")
    return value if isinstance(value, int) else 0


def deleted_of(kind: str) -> Callable[[Event], list[Key]]:
    """The mapper of a revision's event to its controller of `kind`: only a deletion (the controller makes its
    current revision again; its own truncations wake it once more, to no effect); its creations and renumberings need
    no second look."""

    def revision_deleted(event: Event) -> list[Key]:
        if event.type != DELETED:
            return []
        ref = controller_of(event.entry.obj, kind)
        return [(event.entry.namespace, ref["name"])] if ref is not None else []

    return revision_deleted
