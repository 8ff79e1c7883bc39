"""The server's Tables as kube-apiserver's printers make them (pkg/printers/internalversion/printers.go), read by kubectl
get and -o wide: ROLE (and USERS, GROUPS, SERVICEACCOUNTS) of role bindings, CREATED AT of roles (the default table),
the wide columns of pods (IP, NODE, NOMINATED NODE, READINESS GATES) and of events (SUBOBJECT, SOURCE, FIRST SEEN, COUNT,
NAME); and the field selectors of the built-in kinds with their upstream values (a node's spec.unschedulable is
"false" when unset, a pod's spec.hostNetwork too, an event's source falls back to its reporting controller, a
Service's spec.type and spec.clusterIP)."""

from __future__ import annotations

import json
import re
import ssl
import urllib.request

import pytest

from ..simulator_process import Simulator
from .conftest import TOPOLOGIES

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("printers"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"))
    yield s
    assert s.stop() == 0


def rows(sim, *args: str) -> list[list[str]]:
    """kubectl get's text output split into columns (two or more spaces apart), header first."""
    out = sim.kubectl("get", *args).stdout
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


def names(sim, *args: str) -> list[str]:
    return sim.kubectl("get", *args, "-o", "name").stdout.split()


def table(sim, path: str) -> dict:
    """The server's Table of a list, as kubectl asks for it."""
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    request = urllib.request.Request(f"{sim.server}{path}", headers={"Accept": TABLE, "Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(request, context=context, timeout=30) as answer:
        return json.loads(answer.read())


def columns(found: dict) -> list[tuple[str, str, int, str]]:
    return [(c["name"], c["type"], c["priority"], c["format"]) for c in found["columnDefinitions"]]


def test_role_bindings_show_their_role_and_subjects(sim):
    sim.kubectl("create", "role", "reader", "-n", "default", "--verb=get,list", "--resource=pods")
    sim.kubectl("create", "rolebinding", "readers", "-n", "default", "--role=reader", "--user=alice", "--user=bob", "--group=devs",
                "--serviceaccount=default:robot")  # fmt: skip
    sim.kubectl("create", "clusterrolebinding", "auditors", "--clusterrole=view", "--group=auditors")

    plain = rows(sim, "rolebindings", "-n", "default")
    assert plain[0] == ["NAME", "ROLE", "AGE"] and [r[:2] for r in plain[1:]] == [["readers", "Role/reader"]], plain
    wide = rows(sim, "rolebindings", "-n", "default", "-o", "wide")
    assert wide[0] == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert wide[1][:2] == ["readers", "Role/reader"] and wide[1][3:] == ["alice, bob", "devs", "default/robot"], wide
    cluster = {r[0]: r for r in rows(sim, "clusterrolebindings", "-o", "wide")[1:]}
    assert cluster["auditors"][1] == "ClusterRole/view" and cluster["auditors"][3] == "auditors", cluster["auditors"]

    expected = [("Name", "string", 0, "name"), ("Role", "string", 0, ""), ("Age", "string", 0, ""), ("Users", "string", 1, ""),
                ("Groups", "string", 1, ""), ("ServiceAccounts", "string", 1, "")]  # fmt: skip
    assert columns(table(sim, "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings")) == expected
    assert columns(table(sim, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")) == expected


def test_roles_show_when_they_were_created(sim):
    sim.kubectl("create", "role", "writer", "-n", "default", "--verb=create", "--resource=configmaps")
    listed = rows(sim, "roles", "-n", "default")
    assert listed[0] == ["NAME", "CREATED AT"]
    writer = next(r for r in listed if r[0] == "writer")
    stored = json.loads(sim.kubectl("get", "role", "writer", "-n", "default", "-o", "json").stdout)["metadata"]["creationTimestamp"]
    assert writer[1] == stored and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stored)
    assert rows(sim, "clusterroles")[0] == ["NAME", "CREATED AT"]
    assert columns(table(sim, "/apis/rbac.authorization.k8s.io/v1/clusterroles")) == [("Name", "string", 0, "name"), ("Created At", "date", 0, "")]


def test_pods_wide_columns(sim):
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gated", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "registry.example/app:1"}], "readinessGates": [{"conditionType": "example.com/ready"}]},
    }  # fmt: skip
    sim.kubectl("apply", "-f", "-", input=json.dumps(pod))
    wide = rows(sim, "pods", "-n", "default", "-o", "wide")
    assert wide[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    gated = next(r for r in wide if r[0] == "gated")
    assert gated[-2:] == ["<none>", "0/1"], gated
    handlers = rows(sim, "pods", "-n", "d8-virtualization", "-o", "wide")
    assert all(r[6] != "<none>" and r[7] == "<none>" and r[8] == "<none>" for r in handlers[1:]), handlers
    assert columns(table(sim, "/api/v1/namespaces/default/pods"))[3:] == [
        ("Restarts", "string", 0, ""), ("Age", "string", 0, ""), ("IP", "string", 1, ""), ("Node", "string", 1, ""),
        ("Nominated Node", "string", 1, ""), ("Readiness Gates", "string", 1, ""),
    ]  # fmt: skip


def test_events_wide_columns(sim):
    event = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": "  pulled the image  ", "type": "Normal", "count": 3,
        "source": {"component": "kubelet", "host": "blue-0"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z",
    }  # fmt: skip
    reported = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "vm.1", "namespace": "default"},
        "involvedObject": {"kind": "VirtualMachine", "name": "vm", "namespace": "default"}, "reason": "Started", "message": "started",
        "type": "Normal", "eventTime": "2026-01-01T00:00:00.000000Z", "reportingComponent": "virtualization-controller",
        "reportingInstance": "controller-0", "action": "Start",
    }  # fmt: skip
    for body in (event, reported):
        sim.kubectl("create", "-f", "-", input=json.dumps(body))
    assert rows(sim, "events", "-n", "default")[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    wide = rows(sim, "events", "-n", "default", "-o", "wide")
    assert wide[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]
    pulled = next(r for r in wide if r[-1] == "web.1")
    assert pulled[1:7] == ["Normal", "Pulled", "pod/web", "spec.containers{app}", "kubelet, blue-0", "pulled the image"], pulled
    assert pulled[8] == "3"
    started = next(r for r in wide if r[-1] == "vm.1")
    assert started[3] == "virtualmachine/vm" and "virtualization-controller, controller-0" in started and started[-2] == "1", started
    assert started[0] == started[-3], "no lastTimestamp: last seen is the first seen, from eventTime"
    new_api = rows(sim, "events.v1.events.k8s.io", "-n", "default", "-o", "wide")
    assert new_api[0] == wide[0] and any(r[-1] == "web.1" and "kubelet, blue-0" in r for r in new_api), new_api

    assert names(sim, "events", "-n", "default", "--field-selector", "source=virtualization-controller") == ["event/vm.1"]
    assert names(sim, "events", "-n", "default", "--field-selector", "source=kubelet,reason=Pulled") == ["event/web.1"]


def test_node_field_selectors_read_unschedulable_as_a_bool(sim):
    every = names(sim, "nodes")
    assert len(every) == 5
    assert names(sim, "nodes", "--field-selector", "spec.unschedulable=false") == every, "unset is false"
    assert names(sim, "nodes", "--field-selector", "spec.unschedulable=true") == []
    sim.kubectl("cordon", "green-0")
    try:
        assert names(sim, "nodes", "--field-selector", "spec.unschedulable=true") == ["node/green-0"]
        assert "node/green-0" not in names(sim, "nodes", "--field-selector", "spec.unschedulable!=true")
        assert names(sim, "nodes", "--field-selector", "spec.unschedulable=false,metadata.name=blue-0") == ["node/blue-0"]
    finally:
        sim.kubectl("uncordon", "green-0")
    refused = sim.kubectl("get", "nodes", "--field-selector", "spec.podCIDR=x", check=False)
    assert refused.returncode != 0 and "field label not supported: spec.podCIDR" in refused.stderr


def test_pod_service_secret_and_namespace_field_selectors(sim):
    handlers = names(sim, "pods", "-n", "d8-virtualization")
    assert names(sim, "pods", "-n", "d8-virtualization", "--field-selector", "spec.hostNetwork=false") == handlers, "unset is false"
    assert names(sim, "pods", "-n", "d8-virtualization", "--field-selector", "spec.host=blue-0") == ["pod/virt-handler-blue-0"]
    sim.kubectl("create", "service", "clusterip", "web", "-n", "default", "--tcp=80:8080")
    sim.kubectl("create", "service", "nodeport", "edge", "-n", "default", "--tcp=443:8443")
    assert names(sim, "services", "-n", "default", "--field-selector", "spec.type=NodePort") == ["service/edge"]
    assert "service/web" in names(sim, "services", "-n", "default", "--field-selector", "spec.type=ClusterIP")
    ip = json.loads(sim.kubectl("get", "service", "web", "-n", "default", "-o", "json").stdout)["spec"]["clusterIP"]
    assert names(sim, "services", "-n", "default", "--field-selector", f"spec.clusterIP={ip}") == ["service/web"]
    sim.kubectl("create", "secret", "generic", "plain", "-n", "default", "--from-literal=a=b")
    assert "secret/plain" in names(sim, "secrets", "-n", "default", "--field-selector", "type=Opaque")
    assert "namespace/default" in names(sim, "namespaces", "--field-selector", "status.phase=Active")
