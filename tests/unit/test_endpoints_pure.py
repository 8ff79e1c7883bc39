"""controllers/endpoints.py's pure parts: which selected pods are endpoints, with which ports, ready or not, and the
Endpoints subsets and EndpointSlice bodies made of them (kube-controller-manager's endpoints and endpointslice
controllers)."""

from __future__ import annotations

from dvp_simulator.controllers.endpoints import endpoint_groups, slice_body, subsets


def pod(name: str, ip: str | None, ready: bool = True, ports: dict[str, int] | None = None, **extra) -> dict:
    container = {"name": "c", "ports": [{"name": n, "containerPort": p} for n, p in (ports or {}).items()]}
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}], **({"podIP": ip} if ip else {})}
    meta = {"name": name, "namespace": "ns", "uid": f"uid-{name}", **extra}
    return {"metadata": meta, "spec": {"nodeName": "n1", "containers": [container]}, "status": status}


SVC = {"metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "web"}},
       "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}}  # fmt: skip


def test_ready_and_not_ready_pods_and_the_ones_left_out():
    pods = [
        pod("b", "10.0.0.10"),
        pod("a", "10.0.0.9"),
        pod("slow", "10.0.0.11", ready=False),
        pod("starting", None),  # no address yet
        pod("leaving", "10.0.0.12", deletionTimestamp="2026-01-01T00:00:00Z"),
    ]
    groups = endpoint_groups(SVC, pods)
    assert list(groups) == [(("http", 8080, "TCP"),)]
    (subset,) = subsets(groups)
    assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.9", "10.0.0.10"], "sorted by address, numerically"
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.11"]
    assert subset["addresses"][0] == {"ip": "10.0.0.9", "nodeName": "n1", "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    published = {**SVC, "spec": {**SVC["spec"], "publishNotReadyAddresses": True}}
    (subset,) = subsets(endpoint_groups(published, pods))
    assert "notReadyAddresses" not in subset and len(subset["addresses"]) == 3


def test_a_named_target_port_is_resolved_per_pod():
    svc = {**SVC, "spec": {**SVC["spec"], "ports": [{"name": "http", "port": 80, "targetPort": "web"}, {"port": 9000}]}}
    pods = [pod("a", "10.0.0.1", ports={"web": 8080}), pod("b", "10.0.0.2", ports={"web": 9090}), pod("c", "10.0.0.3")]
    groups = endpoint_groups(svc, pods)
    assert {ports: [p["metadata"]["name"] for p, _ready in members] for ports, members in groups.items()} == {
        (("", 9000, "TCP"),): ["c"],  # names no port "web": only the numbered one reaches it
        (("http", 8080, "TCP"), ("", 9000, "TCP")): ["a"],
        (("http", 9090, "TCP"), ("", 9000, "TCP")): ["b"],
    }
    bodies = [slice_body(svc, ports, members) for ports, members in groups.items()]
    assert len({b["metadata"]["name"] for b in bodies}) == 3
    first = bodies[1]
    managed = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert first["metadata"]["labels"] == {"app": "web", "kubernetes.io/service-name": "web", **managed}
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Service" and first["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert first["endpoints"] == [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": True, "terminating": False}, "nodeName": "n1",
         "targetRef": {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}
    ]  # fmt: skip
    assert first["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "", "port": 9000, "protocol": "TCP"}]
    assert slice_body(svc, (("http", 8080, "TCP"),), [])["metadata"]["name"] == slice_body(svc, (("http", 8080, "TCP"),), [])["metadata"]["name"]
