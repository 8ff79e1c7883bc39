"""A pod a client creates reads back as on a real cluster: the API server's defaults and Pending status with its QoS
class (api/pod_defaults.py), started by the node's kubelet once bound to a Ready node (controllers/kubelet.py) —
through real kubectl, `kubectl debug --copy-to` included (it read spec.securityContext, nil here before, and
panicked)."""

from __future__ import annotations

import json
import uuid

from .polling import eventually


def pod(cluster, ns: str, name: str) -> dict:
    return json.loads(cluster.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)


def test_a_new_pod_has_the_api_servers_defaults_and_pending_status(cluster):
    ns = "pd-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    nowhere = {"spec": {"nodeSelector": {"dvp-sim.test/none": "x"}}}  # no node fits: it stays Pending, unscheduled
    got = json.loads(cluster.kubectl("run", "plain", "-n", ns, "--image=busybox", f"--overrides={json.dumps(nowhere)}", "-o", "json").stdout)
    spec, container = got["spec"], got["spec"]["containers"][0]
    assert got["status"] == {"phase": "Pending", "qosClass": "BestEffort"}, got["status"]
    assert spec["securityContext"] == {} and spec["schedulerName"] == "default-scheduler" and spec["terminationGracePeriodSeconds"] == 30
    assert spec["enableServiceLinks"] is True and spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert container["imagePullPolicy"] == "Always" and container["terminationMessagePath"] == "/dev/termination-log"
    assert {t["key"]: t["tolerationSeconds"] for t in spec["tolerations"]} == {"node.kubernetes.io/not-ready": 300, "node.kubernetes.io/unreachable": 300}
    listed = cluster.kubectl("get", "pods", "-n", ns, "--field-selector", "status.phase=Pending,spec.schedulerName=default-scheduler", "-o", "name")
    assert listed.stdout.split() == ["pod/plain"]
    limits = {"cpu": "500m", "memory": "64Mi"}
    overrides = {"spec": {"containers": [{"name": "g", "image": "nginx:1.27", "resources": {"limits": limits}, "ports": [{"containerPort": 80}]}]}}
    sized = json.loads(cluster.kubectl("run", "sized", "-n", ns, "--image=nginx:1.27", f"--overrides={json.dumps(overrides)}", "-o", "json").stdout)
    c = sized["spec"]["containers"][0]
    assert c["resources"]["requests"] == limits and c["imagePullPolicy"] == "IfNotPresent" and c["ports"][0]["protocol"] == "TCP"
    assert sized["status"]["qosClass"] == "Guaranteed"


def test_a_pod_bound_to_a_ready_node_is_started_and_kubectl_debug_copies_it(cluster):
    ns = "pk-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    overrides = {"spec": {"nodeName": "blue-0"}}
    cluster.kubectl("run", "bound", "-n", ns, "--image=busybox:1.36", f"--overrides={json.dumps(overrides)}")
    started = eventually(lambda: pod(cluster, ns, "bound"), lambda p: p["status"].get("phase") == "Running")
    status = started["status"]
    assert status["hostIP"] and status["startTime"] and status["qosClass"] == "BestEffort"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    (cs,) = status["containerStatuses"]
    assert cs["ready"] and cs["image"] == "busybox:1.36" and "running" in cs["state"] and cs["containerID"].startswith("containerd://")
    assert "1/1" in cluster.kubectl("get", "pod", "bound", "-n", ns).stdout
    copied = cluster.kubectl("debug", "bound", "-n", ns, "--image=busybox", "--copy-to=bound-debug", "--attach=false", check=False, timeout=30)
    assert copied.returncode == 0 and "panic" not in copied.stderr, copied.stderr
    debug = pod(cluster, ns, "bound-debug")
    assert [c["image"] for c in debug["spec"]["containers"]] == ["busybox:1.36", "busybox"]


def events_of(cluster, ns: str, name: str) -> list[tuple[str, str]]:
    out = json.loads(cluster.kubectl("get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}", "-o", "json").stdout)
    return [(e["reason"], e["message"]) for e in out["items"]]


def test_the_default_scheduler_places_a_pod_without_a_node(cluster):
    """`kubectl run` as on a cluster: the pod is scheduled (event Scheduled), bound and started; a pod no node fits
    stays Pending with FailedScheduling in kube-scheduler's words, and is placed once a node fits."""
    ns = "ps-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("run", "web", "-n", ns, "--image=nginx:1.27")
    running = eventually(lambda: pod(cluster, ns, "web"), lambda p: p["status"].get("phase") == "Running")
    node = running["spec"]["nodeName"]
    assert node and ("Scheduled", f"Successfully assigned {ns}/web to {node}") in events_of(cluster, ns, "web")
    overrides = {"spec": {"nodeSelector": {"dvp-sim.test/pool": "x"}}}
    cluster.kubectl("run", "picky", "-n", ns, "--image=nginx:1.27", f"--overrides={json.dumps(overrides)}")
    failed = eventually(lambda: events_of(cluster, ns, "picky"), lambda evs: any(reason == "FailedScheduling" for reason, _message in evs))
    message = next(m for r, m in failed if r == "FailedScheduling")
    assert message.startswith("0/") and "node(s) didn't match Pod's node affinity/selector" in message, message
    assert pod(cluster, ns, "picky")["status"]["phase"] == "Pending" and not pod(cluster, ns, "picky")["spec"].get("nodeName")
    cluster.kubectl("label", "node", "green-1", "dvp-sim.test/pool=x")
    try:
        placed = eventually(lambda: pod(cluster, ns, "picky"), lambda p: p["status"].get("phase") == "Running")
        assert placed["spec"]["nodeName"] == "green-1"
    finally:
        cluster.kubectl("label", "node", "green-1", "dvp-sim.test/pool-")


def test_priority_classes_and_the_priority_plugin(cluster):
    """kube-apiserver's two system PriorityClasses, as `kubectl get pc` prints them; a pod naming one gets its value
    and preemption policy, a pod naming none that exists or contradicting the class is refused (the Priority plugin)."""
    rows = [line.split() for line in cluster.kubectl("get", "priorityclasses").stdout.splitlines()]
    assert rows[0] == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    assert {(r[0], r[1], r[2], r[4]) for r in rows[1:]} >= {
        ("system-cluster-critical", "2000000000", "false", "PreemptLowerPriority"),
        ("system-node-critical", "2000001000", "false", "PreemptLowerPriority"),
    }
    ns = "pp-" + uuid.uuid4().hex[:6]
    cluster.kubectl("create", "namespace", ns)
    nowhere = {"nodeSelector": {"dvp-sim.test/none": "x"}}

    def run(name: str, **spec) -> object:
        return cluster.kubectl("run", name, "-n", ns, "--image=busybox", f"--overrides={json.dumps({'spec': {**nowhere, **spec}})}", "-o", "json", check=False)

    created = json.loads(run("critical", priorityClassName="system-node-critical").stdout)
    assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (2000001000, "PreemptLowerPriority")
    missing = run("nope", priorityClassName="nope")
    assert missing.returncode != 0 and 'pods "nope" is forbidden: no PriorityClass with name nope was found' in missing.stderr
    contradicting = run("odd", priorityClassName="system-node-critical", priority=5)
    assert contradicting.returncode != 0 and "the integer value of priority (5) must not be provided in pod spec" in contradicting.stderr
    refused = cluster.kubectl("delete", "priorityclass", "system-node-critical", check=False)
    assert refused.returncode != 0 and "this is a system priority class and cannot be deleted" in refused.stderr


def test_an_admins_priority_classes(cluster):
    """`kubectl create priorityclass` (a protobuf body) with kube-apiserver's rules: the user-definable maximum, the
    reserved `system-` prefix, value and preemptionPolicy immutable, one global default — which pods naming no class
    get, as they get a class's value and preemption policy by its name."""
    tag = uuid.uuid4().hex[:6]
    high, never, default = f"high-{tag}", f"never-{tag}", f"default-{tag}"
    ns = "pc-" + tag
    cluster.kubectl("create", "namespace", ns)
    nowhere = {"nodeSelector": {"dvp-sim.test/none": "x"}}

    def run(name: str, **spec) -> dict:
        out = cluster.kubectl("run", name, "-n", ns, "--image=busybox", f"--overrides={json.dumps({'spec': {**nowhere, **spec}})}", "-o", "json")
        created = json.loads(out.stdout)["spec"]
        return {k: created.get(k) for k in ("priorityClassName", "priority", "preemptionPolicy")}

    def refused(*args: str) -> str:
        result = cluster.kubectl(*args, check=False)
        assert result.returncode != 0, args
        return result.stderr

    cluster.kubectl("create", "priorityclass", high, "--value=1000", "--description=VMs first")
    cluster.kubectl("create", "priorityclass", never, "--value=10", "--preemption-policy=Never")
    got = json.loads(cluster.kubectl("get", "pc", high, "-o", "json").stdout)
    assert (got["value"], got["description"], got["preemptionPolicy"]) == (1000, "VMs first", "PreemptLowerPriority")
    assert run("by-name", priorityClassName=never) == {"priorityClassName": never, "priority": 10, "preemptionPolicy": "Never"}
    assert run("plain") == {"priorityClassName": None, "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}

    assert "maximum allowed value of a user defined priority is 1000000000" in refused("create", "pc", f"huge-{tag}", "--value=1000000001")
    assert (
        "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. "
        f"error: system-{tag} is not a known system priority class"
    ) in refused("create", "pc", f"system-{tag}", "--value=1")
    odd = refused("create", "pc", f"odd-{tag}", "--value=1", "--preemption-policy=Sometimes")
    assert 'Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"' in odd
    assert "value: Forbidden: may not be changed in an update." in refused("patch", "pc", high, "--type=merge", "-p", '{"value": 5}')
    assert 'preemptionPolicy: Invalid value: "Never": field is immutable' in refused("patch", "pc", high, "--type=merge", "-p", '{"preemptionPolicy": "Never"}')
    cluster.kubectl("patch", "pc", high, "--type=merge", "-p", '{"description": "changed"}')  # the rest may change

    cluster.kubectl("create", "priorityclass", default, "--value=5", "--global-default")
    try:
        assert f"PriorityClass {default} is already marked as default. Only one default can exist" in refused(
            "patch", "pc", high, "--type=merge", "-p", '{"globalDefault": true}'
        )
        assert run("defaulted") == {"priorityClassName": default, "priority": 5, "preemptionPolicy": "PreemptLowerPriority"}
        assert "the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 5" in refused(
            "run", "seven", "-n", ns, "--image=busybox", f"--overrides={json.dumps({'spec': {**nowhere, 'priority': 7}})}"
        )
    finally:
        cluster.kubectl("delete", "pc", default, high, never)
    assert run("after") == {"priorityClassName": None, "priority": 0, "preemptionPolicy": "PreemptLowerPriority"}
