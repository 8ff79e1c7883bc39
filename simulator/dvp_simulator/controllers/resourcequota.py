"""The resource quota controller (upstream: pkg/controller/resourcequota/resource_quota_controller.go syncResourceQuota):
each quota's status.hard is its spec.hard, status.used the usage of every hard resource it tracks, written through
the status subresource when it differs.

The usage itself is api/quota.py's Ledger, which the store's writes keep current (the informers' role upstream) and
which the admission plugin reads; the ledger wakes this controller for the quotas whose usage a write moved, and the
quota's own events (created, spec changed, status overwritten by a client) bring it back too. A reconcile reads one
quota and the ledger's figures for it: never the namespace's objects."""

from __future__ import annotations

from ..api.quota import QUOTAS, Ledger
from ..api.service import WriteOptions
from .runtime import Context, Controller, Key, Requeue

MANAGER = "kube-controller-manager"


def controller(ledger: Ledger) -> Controller:
    async def reconcile(ctx: Context, key: Key) -> Requeue | None:
        service = ctx.service
        rt = service.registry.types[QUOTAS]
        quota = service.find(rt, *key)
        if quota is None or quota["metadata"].get("deletionTimestamp"):
            return None
        status = ledger.status(*key)
        if status is None or status == quota.get("status"):
            return None
        body = {**quota, "status": status}
        service.update(rt, *key, body, WriteOptions(version=rt.storage_version, manager=MANAGER, subresource="status"))
        return None

    return Controller("resourcequota", QUOTAS, reconcile)
