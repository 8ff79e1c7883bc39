"""The fencing controller's pure parts. Which Lease events wake it: a renewal of a Lease that was still fresh cannot
change its verdict (its timer rechecks the node when that Lease would go stale); anything else can. And which fencings
delete the Node."""

from datetime import UTC, datetime

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from dvp_simulator.clock import Clock
from dvp_simulator.controllers import fencing
from dvp_simulator.store.store import Entry, Event


def lease(clock, renewed_ago):
    stamp = datetime.fromtimestamp(clock.time() - renewed_ago, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # a MicroTime
    return {"metadata": {"name": "worker-0", "namespace": v.NODE_LEASE_NAMESPACE}, "spec": {"renewTime": stamp}}


def entry(obj):
    return Entry(obj, b"{}", 1)


def test_only_a_renewal_of_a_stale_lease_wakes_the_controller():
    clock = Clock(scale=1.0)
    mapper = fencing.controller(None, None, clock).primary_mapper
    key = [(v.NODE_LEASE_NAMESPACE, "worker-0")]
    fresh, stale = lease(clock, 10), lease(clock, v.NODE_MONITOR_GRACE + 5)
    now = lease(clock, 0)
    assert mapper(Event("MODIFIED", entry(now), entry(fresh))) == [], "a renewal of a fresh Lease"
    assert mapper(Event("MODIFIED", entry(now), entry(stale))) == key, "a renewal after the Lease went stale"
    assert mapper(Event("ADDED", entry(now), None)) == key
    assert mapper(Event("DELETED", entry(now), None)) == key
    broken = {**fresh, "spec": {"renewTime": "yesterday"}}
    assert mapper(Event("MODIFIED", entry(now), entry(broken))) == key, "a Lease whose age cannot be read"


def test_a_watchdog_fencing_deletes_the_node_unless_node_manager_cannot_make_it_again():
    """BEHAVIOUR.md §7.7: the Node goes in Watchdog mode (the default) but for a Static or CloudStatic node; Notify
    keeps every Node."""
    watchdog = {v.FENCING_ENABLED_LABEL: "", v.FENCING_MODE_LABEL: v.FENCING_WATCHDOG}
    assert fencing.deletes_node(watchdog)
    assert fencing.deletes_node({**watchdog, v.NODE_TYPE_LABEL: "CloudEphemeral"})
    assert fencing.deletes_node({v.FENCING_ENABLED_LABEL: ""}), "no mode label: Watchdog"
    assert not fencing.deletes_node({**watchdog, v.NODE_TYPE_LABEL: "Static"})
    assert not fencing.deletes_node({**watchdog, v.NODE_TYPE_LABEL: "CloudStatic"})
    assert not fencing.deletes_node({v.FENCING_ENABLED_LABEL: "", v.FENCING_MODE_LABEL: v.FENCING_NOTIFY})
