"""Verify of the `maintenance` scenario: worker-0 was drained and uncordoned by the node_maintenance role while its
VMs ran. The platform's own record says they never stopped: each VM's phase went Running → Migrating → Running
after it first started (no Stopped, Starting, Pending in between), its migration from worker-0 succeeded, and its
libvirt domain runs on exactly one node, the one the API binds it to. worker-0 is schedulable, Ready and serving."""

from __future__ import annotations

NAMESPACE = "maintenance"
VMS = ["app-0", "app-1"]
NODE = "worker-0"


def test_vms_kept_running_and_live_migrated_off_the_node(platform):
    for name in VMS:
        status = platform.get("vm", name, NAMESPACE)["status"]
        assert status["phase"] == "Running" and status["nodeName"] not in ("", NODE), (name, status.get("phase"), status.get("nodeName"))
        phases = [t["phase"] for t in status["stats"]["phasesTransitions"]]
        since_start = phases[phases.index("Running"):]
        assert "Migrating" in since_start and set(since_start) == {"Running", "Migrating"}, (name, phases)
        migration = status["migrationState"]
        assert migration["result"] == "Succeeded", (name, migration)
        assert migration["source"]["node"] == NODE and migration["target"]["node"] == status["nodeName"], (name, migration)


def test_each_vm_runs_once_where_the_api_says(platform):
    domains = platform.domains()
    assert not domains[NODE], f"{NODE} still runs {domains[NODE]}"
    for name in VMS:
        where = [node for node, names in domains.items() if f"{NAMESPACE}_{name}" in names]
        assert where == [platform.get("vm", name, NAMESPACE)["status"]["nodeName"]], (name, domains)


def test_the_drain_went_through_the_platforms_evacuations(platform):
    operations = platform.items("vmop", NAMESPACE)
    evacuated = {op["spec"]["virtualMachineName"] for op in operations if op["spec"]["type"] == "Evict" and op["status"]["phase"] == "Completed"}
    assert evacuated == set(VMS), [(op["metadata"]["name"], op["spec"], op["status"].get("phase")) for op in operations]


def test_the_node_is_back_in_service(platform):
    node = platform.get("node", NODE)
    assert not node["spec"].get("unschedulable"), f"{NODE} is still cordoned"
    assert platform.node_ready(NODE), node["status"].get("conditions")
    handlers = platform.items("pods", "d8-virtualization", "kubevirt.internal.virtualization.deckhouse.io=virt-handler")
    assert [p["status"]["phase"] for p in handlers if p["spec"].get("nodeName") == NODE] == ["Running"]
