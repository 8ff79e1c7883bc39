"""Events are one set of objects under both API groups, as in kube-apiserver: core/v1 and events.k8s.io/v1 are two
faces of the same stored Events. What a controller records shows under events.k8s.io, `kubectl events` and
`kubectl describe`; what a client writes through one group reads, patches and watches through the other."""

from __future__ import annotations

import json
import queue
import threading

from kubernetes import client, watch

from .test_kubectl_builtin import STORAGE, claim, described, eventually, kget


def test_a_controllers_event_shows_in_both_groups_and_in_kubectl(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=STORAGE % {"prefix": namespace})
    try:
        claim(sim, namespace, "data", f"{namespace}-now", "1Gi")

        def provisioned() -> dict:
            events = kget(sim, "events.v1.events.k8s.io", "-n", namespace, "--field-selector", "regarding.name=data,reason=ProvisioningSucceeded")
            assert len(events["items"]) == 1, events
            return events["items"][0]

        event = eventually(provisioned)
        pvc = kget(sim, "pvc", "data", "-n", namespace)
        assert event["apiVersion"] == "events.k8s.io/v1"
        assert event["regarding"]["kind"] == "PersistentVolumeClaim" and event["regarding"]["uid"] == pvc["metadata"]["uid"]
        assert event["note"].startswith("Successfully provisioned volume pvc-")
        assert event["reportingController"] == "persistentvolume-binder" == event["deprecatedSource"]["component"]
        assert event["deprecatedCount"] == 1 and event["deprecatedLastTimestamp"]
        assert not {"involvedObject", "message", "count", "source", "reportingComponent"} & set(event)

        core = kget(sim, "events", event["metadata"]["name"], "-n", namespace)
        assert core["apiVersion"] == "v1" and core["message"] == event["note"] and core["involvedObject"] == event["regarding"]
        assert core["metadata"]["uid"] == event["metadata"]["uid"] and core["metadata"]["resourceVersion"] == event["metadata"]["resourceVersion"]

        row = sim.kubectl("get", "events.v1.events.k8s.io", "-n", namespace, "--field-selector", "reportingController=persistentvolume-binder")
        assert "ProvisioningSucceeded" in row.stdout and "persistentvolumeclaim/data" in row.stdout
        listed = sim.kubectl("events", "-n", namespace).stdout
        assert "ProvisioningSucceeded" in listed and "PersistentVolumeClaim/data" in listed
        assert "Normal ProvisioningSucceeded" in described(sim, "pvc", "data", "-n", namespace)
    finally:
        sim.kubectl("delete", "pvc", "data", "-n", namespace, "--wait=false")
        sim.kubectl("delete", "sc", f"{namespace}-now", f"{namespace}-late")


def test_a_field_selector_names_fields_of_its_own_group(sim, namespace):
    core_only = sim.kubectl("get", "events.v1.events.k8s.io", "-n", namespace, "--field-selector", "involvedObject.name=x", check=False)
    assert core_only.returncode != 0 and "field label not supported: involvedObject.name" in core_only.stderr
    events_only = sim.kubectl("get", "events", "-n", namespace, "--field-selector", "regarding.name=x", check=False)
    assert events_only.returncode != 0 and "field label not supported: regarding.name" in events_only.stderr


def test_written_through_one_group_read_and_patched_through_the_other(sim, api, namespace):
    events_v1, core_v1 = client.EventsV1Api(api), client.CoreV1Api(api)
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "rebooted", "namespace": namespace},
        "eventTime": "2026-01-02T03:04:05.000000Z",
        "reportingController": "example.com/fencer",
        "reportingInstance": "fencer-0",
        "action": "Reboot",
        "reason": "Rebooted",
        "note": "node rebooted",
        "type": "Warning",
        "regarding": {"apiVersion": "v1", "kind": "Node", "name": "node-a"},
        "related": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": namespace},
        "series": {"count": 2, "lastObservedTime": "2026-01-02T03:05:05.000000Z"},
        "deprecatedCount": 4,
        "deprecatedSource": {"component": "fencer", "host": "node-a"},
    }
    events_v1.create_namespaced_event(namespace, body)

    core = core_v1.read_namespaced_event("rebooted", namespace, _preload_content=False)
    got = json.loads(core.data)
    assert got["apiVersion"] == "v1" and got["kind"] == "Event"
    assert got["message"] == "node rebooted" and got["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "node-a"}
    assert got["reportingComponent"] == "example.com/fencer" and got["reportingInstance"] == "fencer-0"
    assert got["count"] == 4 and got["source"] == {"component": "fencer", "host": "node-a"}
    # the client sends its datetimes as it formats them ("+00:00")
    assert got["action"] == "Reboot" and got["eventTime"].startswith("2026-01-02T03:04:05")
    assert got["series"]["count"] == 2 and got["series"]["lastObservedTime"].startswith("2026-01-02T03:05:05")
    assert got["related"] == body["related"]
    assert not {"note", "regarding", "reportingController", "deprecatedCount", "deprecatedSource"} & set(got)

    core_v1.patch_namespaced_event("rebooted", namespace, {"message": "node rebooted twice", "count": 5})
    back = events_v1.read_namespaced_event("rebooted", namespace)
    assert back.note == "node rebooted twice" and back.deprecated_count == 5 and back.regarding.name == "node-a"
    events_v1.patch_namespaced_event("rebooted", namespace, {"note": "node rebooted thrice"})
    assert core_v1.read_namespaced_event("rebooted", namespace).message == "node rebooted thrice"

    names = {e.metadata.name for e in core_v1.list_namespaced_event(namespace).items}
    assert names == {e.metadata.name for e in events_v1.list_namespaced_event(namespace).items} == {"rebooted"}
    events_v1.delete_namespaced_event("rebooted", namespace)
    assert core_v1.list_namespaced_event(namespace).items == []


def _watch_in_background(list_fn, namespace: str, resource_version: str) -> queue.Queue:
    """Events of a watch from resource_version, handed over as (type, object) pairs; ends after 10 s. Objects stay
    JSON: the client's EventsV1Event model refuses an Event without eventTime, which core/v1 writers may omit."""
    seen: queue.Queue = queue.Queue()

    def run() -> None:
        for e in watch.Watch(return_type="object").stream(list_fn, namespace, resource_version=resource_version, timeout_seconds=10):
            seen.put((e["type"], e["raw_object"]))

    threading.Thread(target=run, daemon=True).start()
    return seen


def test_watches_of_either_group_see_writes_through_the_other(sim, api, namespace):
    events_v1, core_v1 = client.EventsV1Api(api), client.CoreV1Api(api)
    rv = core_v1.list_namespaced_event(namespace).metadata.resource_version
    as_events_v1 = _watch_in_background(events_v1.list_namespaced_event, namespace, rv)
    as_core = _watch_in_background(core_v1.list_namespaced_event, namespace, rv)

    core_v1.create_namespaced_event(
        namespace, {"metadata": {"name": "from-core"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Started", "message": "by core"}
    )
    events_v1.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "from-events"},
            "eventTime": "2026-01-02T03:04:05.000000Z",
            "reportingController": "x",
            "reportingInstance": "x-0",
            "action": "Do",
            "reason": "Done",
            "note": "by events.k8s.io",
            "regarding": {"kind": "Pod", "name": "p"},
        },
    )
    first, second = as_events_v1.get(timeout=10), as_events_v1.get(timeout=10)
    assert first[0] == "ADDED" and first[1]["apiVersion"] == "events.k8s.io/v1" and first[1]["note"] == "by core"
    assert second[0] == "ADDED" and second[1]["metadata"]["name"] == "from-events"
    first, second = as_core.get(timeout=10), as_core.get(timeout=10)
    assert first[1]["metadata"]["name"] == "from-core"
    assert second[0] == "ADDED" and second[1]["apiVersion"] == "v1" and second[1]["message"] == "by events.k8s.io"


def test_similar_events_are_combined_as_client_go_combines_them(sim, namespace):
    """client-go's EventCorrelator, which every controller's recorder runs: a ReplicaSet making 12 pods records nine
    `Created pod: …` Events, then one `(combined from similar events): …` counted for the other three."""
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "many"},
        "spec": {
            "replicas": 12,
            "selector": {"matchLabels": {"app": "many"}},
            "template": {"metadata": {"labels": {"app": "many"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    sim.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(rs))

    def created() -> list[dict]:
        items = kget(sim, "events", "-n", namespace, "--field-selector", "involvedObject.name=many,reason=SuccessfulCreate")["items"]
        assert sum(e["count"] for e in items) == 12, items
        return items

    events = eventually(created)
    combined = [e for e in events if e["message"].startswith("(combined from similar events): Created pod: many-")]
    assert len(events) == 10 and len(combined) == 1 and combined[0]["count"] == 3, [(e["message"], e["count"]) for e in events]
    assert "(combined from similar events): Created pod: many-" in described(sim, "rs", "many", "-n", namespace)
