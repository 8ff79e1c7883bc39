"""Built-in kinds: strategic merge patch, events in describe, pod eviction, leases (and their MicroTimes), nodes -o wide,
client-side apply updates, --crd-dir."""

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ..simulator_process import Simulator
from .test_kubectl import cvi

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{app: web}}}}
spec:
  nodeName: node-a
  containers: [{{name: c1, image: busybox}}, {{name: c2, image: busybox}}]
"""


def test_strategic_merge_patch_merges_containers_by_name(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=POD.format(name="smp", ns=namespace))
    sim.kubectl("-n", namespace, "patch", "pod", "smp", "--type=strategic", "-p", '{"spec":{"containers":[{"name":"c2","image":"alpine"}]}}')
    assert sim.kubectl("-n", namespace, "get", "pod", "smp", "-o", "jsonpath={.spec.containers[*].image}").stdout == "busybox alpine"
    # a client-side apply of a built-in kind sends a strategic merge patch too
    sim.kubectl("apply", "-f", "-", input=POD.format(name="smp", ns=namespace).replace("app: web", "app: api"))
    assert sim.kubectl("-n", namespace, "get", "pod", "smp", "-o", "jsonpath={.metadata.labels.app}").stdout == "api"


def test_strategic_merge_is_refused_for_custom_resources(sim):
    sim.kubectl("apply", "-f", "-", input=cvi("img-smp"))
    out = sim.kubectl("patch", "cvi", "img-smp", "--type=strategic", "-p", '{"metadata":{"labels":{"a":"b"}}}', check=False)
    assert out.returncode != 0 and "application/strategic-merge-patch+json is not supported by" in out.stderr, out.stderr
    accepted = "accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    assert accepted in out.stderr, out.stderr


def test_client_side_apply_updates_spec_and_generation(sim):
    sim.kubectl("apply", "-f", "-", input=cvi("img-csa"))
    out = sim.kubectl("apply", "-f", "-", input=cvi("img-csa", "https://example.com/v2.qcow2"))
    assert "configured" in out.stdout
    got = json.loads(sim.kubectl("get", "cvi", "img-csa", "-o", "json").stdout)
    assert got["spec"]["dataSource"]["http"]["url"] == "https://example.com/v2.qcow2" and got["metadata"]["generation"] == 2


def test_describe_shows_events_of_the_object(sim, api, namespace):
    sim.kubectl("apply", "-f", "-", input=POD.format(name="ev", ns=namespace))
    pod = client.CoreV1Api(api).read_namespaced_pod("ev", namespace)
    client.CoreV1Api(api).create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "ev.1"},
            "involvedObject": {"kind": "Pod", "name": "ev", "namespace": namespace, "uid": pod.metadata.uid, "apiVersion": "v1"},
            "reason": "Scheduled",
            "message": "assigned to node-a",
            "type": "Normal",
            "count": 1,
            "firstTimestamp": pod.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": pod.metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source": {"component": "test"},
        },
    )
    described = sim.kubectl("-n", namespace, "describe", "pod", "ev").stdout
    assert "Scheduled" in described and "assigned to node-a" in described
    assert "assigned to node-a" in sim.kubectl("-n", namespace, "get", "events").stdout


def test_pod_eviction_subresource(sim, api, namespace):
    sim.kubectl("apply", "-f", "-", input=POD.format(name="evict-me", ns=namespace))
    core = client.CoreV1Api(api)
    core.create_namespaced_pod_eviction(
        "evict-me", namespace, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evict-me", "namespace": namespace}}
    )
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("evict-me", namespace)
    assert err.value.status == 404


def test_leases_and_nodes_wide(sim, api):
    coord = client.CoordinationV1Api(api)
    coord.create_namespaced_lease("kube-node-lease", {"metadata": {"name": "node-w"}, "spec": {"holderIdentity": "node-w", "leaseDurationSeconds": 40}})
    coord.patch_namespaced_lease("node-w", "kube-node-lease", {"spec": {"renewTime": "2026-11-24T00:00:00.000000Z"}})
    assert coord.read_namespaced_lease("node-w", "kube-node-lease").spec.holder_identity == "node-w"
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-w"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(node))
    wide = sim.kubectl("get", "node", "node-w", "-o", "wide").stdout.splitlines()
    assert "INTERNAL-IP" in wide[0] and "10.0.0.5" in wide[1] and "v1.33.0" in wide[1]
    assert "node-w" in sim.kubectl("get", "leases", "-n", "kube-node-lease").stdout


LEASE = """
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {{name: {name}, namespace: kube-node-lease}}
spec: {{holderIdentity: {name}, renewTime: "{stamp}"}}
"""


def test_lease_times_decode_as_micro_time_or_400(sim, api):
    """renewTime is a metav1.MicroTime: kube-apiserver's decoder wants exactly six fraction digits, and anything it
    cannot parse writes nothing: a create's or an apply's 400 naming the kind, a patch's 422 on the field `patch` (the
    patch handlers decode the patched object themselves)."""
    out = sim.kubectl("create", "-f", "-", input=LEASE.format(name="lease-bad", stamp="2026-11-24T00:00:00Z"), check=False)
    assert out.returncode != 0
    assert 'cannot be handled as a Lease: parsing time "2026-11-24T00:00:00Z"' in out.stderr and 'cannot parse "Z" as ".000000"' in out.stderr
    assert "NotFound" in sim.kubectl("get", "lease", "-n", "kube-node-lease", "lease-bad", check=False).stderr
    sim.kubectl("create", "-f", "-", input=LEASE.format(name="lease-ok", stamp="2026-11-24T00:00:00.000000Z"))
    coord = client.CoordinationV1Api(api)
    for body in ({"spec": {"renewTime": "yesterday"}}, {"spec": {"acquireTime": "2026-02-30T00:00:00.000000Z"}}, {"spec": {"renewTime": 5}}):
        with pytest.raises(ApiException) as err:
            coord.patch_namespaced_lease("lease-ok", "kube-node-lease", body)
        status = json.loads(err.value.body)
        assert err.value.status == 422 and status["reason"] == "Invalid" and status["message"].startswith(' "" is invalid: patch: Invalid value: '), status
        assert status["details"]["causes"][0]["field"] == "patch" and "cannot be handled as" not in status["message"], status
    half = LEASE.format(name="lease-ok", stamp="2026-11-24T00:00:00.5Z")
    applied = sim.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=half, check=False)
    assert applied.returncode != 0 and 'cannot parse ".5Z" as ".000000"' in applied.stderr
    assert sim.kubectl("get", "lease", "-n", "kube-node-lease", "lease-ok", "-o", "jsonpath={.spec.renewTime}").stdout == "2026-11-24T00:00:00.000000Z"


def test_namespace_deletion_removes_its_content(sim, api):
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_secret("doomed", {"metadata": {"name": "s"}})
    sim.kubectl("delete", "namespace", "doomed", "--wait", "--timeout=30s")
    with pytest.raises(ApiException):
        core.read_namespace("doomed")
    assert core.list_namespaced_secret("doomed").items == []


def test_crd_dir_serves_upstream_crds_verbatim(tmp_path):
    from ..conformance.schema_diff import SHARED

    sim = Simulator.start(tmp_path / "state", "--crd-dir", str(SHARED / "crds"))
    try:
        import yaml

        served = json.loads(sim.kubectl("get", "crd", "virtualmachines.virtualization.deckhouse.io", "-o", "json").stdout)
        upstream = yaml.safe_load((SHARED / "crds" / "virtualmachines.yaml").read_text())
        assert served["spec"]["versions"][0]["schema"] == upstream["spec"]["versions"][0]["schema"]
        assert "Virtual machine" in sim.kubectl("explain", "vm.spec").stdout or "VirtualMachine" in sim.kubectl("explain", "vm").stdout
    finally:
        sim.stop()
