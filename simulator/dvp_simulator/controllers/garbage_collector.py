"""Garbage collection by ownerReferences: dependents of a deleted owner are deleted (background), orphaned
(`orphan` finalizer) or deleted first (`foregroundDeletion` finalizer)."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils.vocabulary import FOREGROUND_FINALIZER, ORPHAN_FINALIZER

from ..api.service import WriteOptions
from ..store.store import DELETED, OWNER, Event
from .runtime import Context, Controller, Key, Requeue

Ref = tuple[str, str, str]  # (resource key, namespace, name)


class Graph:
    """Where each uid lives, fed by watch events (the key of this controller is an owner's uid). Dependents
    are not kept here: the store's OWNER index answers "who names this uid as owner" in every resource.

    A dependent's event wakes its owners only where there may be something to collect: an owner this graph does
    not know (gone, or not seen yet) or one being deleted. A live owner has nothing to collect, and each write of
    every pod, disk and claim woke its owner for a reconcile that found so (6 per VM on its way to Running)."""

    def __init__(self, resources: list[str]) -> None:
        self.resources = resources
        self.objects: dict[str, Ref] = {}
        self.deleting: set[str] = set()  # uids with a deletionTimestamp

    def observe(self, res: str, event: Event) -> list[Key]:
        meta = event.entry.obj["metadata"]
        uid = meta.get("uid", "")
        owners = [o["uid"] for o in meta.get("ownerReferences") or [] if o.get("uid")]
        if event.type == DELETED:
            self.objects.pop(uid, None)
            self.deleting.discard(uid)
            return [("", uid)] + [("", o) for o in owners]
        self.objects[uid] = (res, meta.get("namespace", ""), meta["name"])
        keys = [("", o) for o in owners if o not in self.objects or o in self.deleting]
        if meta.get("deletionTimestamp"):
            self.deleting.add(uid)
            keys.append(("", uid))
        return keys

    def dependents(self, store, uid: str) -> list[Ref]:
        return [(res, e.namespace, e.name) for res in self.resources for e in store.by_index(res, OWNER, uid)]


def controller(registry) -> Controller:
    resources = [rt.key for rt in registry.stored()]  # read-only kinds too: the simulator's own virt-handler DaemonSet owns pods
    graph = Graph(resources)

    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        uid = key[1]
        service = ctx.service
        owner_ref = graph.objects.get(uid)
        owner = service.store.get(*owner_ref) if owner_ref else None
        if owner is not None and not owner.obj["metadata"].get("deletionTimestamp"):
            return None  # alive: nothing to collect
        dependents = graph.dependents(service.store, uid)
        if owner is None:
            for res, ns, name in dependents:
                rt = service.registry.types[res]
                if service.store.get(res, ns, name) is not None:
                    service.delete(rt, ns, name, {"propagationPolicy": "Background"})
            return None
        finalizers = owner.obj["metadata"].get("finalizers") or []
        owner_rt = service.registry.types[owner_ref[0]]
        if ORPHAN_FINALIZER in finalizers:
            for res, ns, name in dependents:
                entry = service.store.get(res, ns, name)
                if entry is None:
                    continue
                rt = service.registry.types[res]
                obj = dict(entry.obj)
                obj["metadata"] = {**obj["metadata"], "ownerReferences": [r for r in obj["metadata"].get("ownerReferences", []) if r.get("uid") != uid]}
                service.update(rt, ns, name, obj, WriteOptions(version=rt.storage_version, manager="garbage-collector"))
            _drop_finalizer(service, owner_rt, owner.obj, ORPHAN_FINALIZER)
        elif FOREGROUND_FINALIZER in finalizers:
            alive = [d for d in dependents if service.store.get(*d) is not None]
            for res, ns, name in alive:
                entry = service.store.get(res, ns, name)
                if not entry.obj["metadata"].get("deletionTimestamp"):
                    service.delete(service.registry.types[res], ns, name, {"propagationPolicy": "Foreground"})
            if alive:
                return Requeue(after=1.0)
            _drop_finalizer(service, owner_rt, owner.obj, FOREGROUND_FINALIZER)
        return None

    def mapper_for(res: str):
        return lambda event: graph.observe(res, event)

    secondary = {res: mapper_for(res) for res in resources}
    return Controller("garbage-collector", "", reconcile, secondary)


def _drop_finalizer(service, rt, obj, finalizer: str) -> None:
    latest = service.find(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
    if latest is None:
        return
    meta = {**latest["metadata"], "finalizers": [f for f in latest["metadata"].get("finalizers", []) if f != finalizer]}
    service.update(
        rt, meta.get("namespace", ""), meta["name"], {**latest, "metadata": meta}, WriteOptions(version=rt.storage_version, manager="garbage-collector")
    )
