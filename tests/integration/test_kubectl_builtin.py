"""The built-in kinds through the exact commands an admin types with the real kubectl 1.37, which sends their
bodies as `application/vnd.kubernetes.protobuf`: namespaces, secrets (generic, docker-registry used by a
ContainerImage ClusterVirtualImage, tls), configmaps, services, storage classes and claims, disruption budgets
with `kubectl drain`, pod binding; and a body in any other media type refused with 415."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import ssl
import tarfile
import time
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

from ..image_sources import MiB, Registry, ca_bundle, oci_layout, qemu_image, tar_entry, tls_material


def kget(sim, *args: str) -> dict:
    return json.loads(sim.kubectl("get", *args, "-o", "json").stdout)


def eventually(check, timeout: float = 15.0):
    end = time.time() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.time() > end:
                raise
            time.sleep(0.1)


def gone(sim, *args: str) -> None:
    def check():
        result = sim.kubectl("get", *args, check=False)
        assert result.returncode != 0 and "NotFound" in result.stderr, result.stdout

    eventually(check)


def http(sim, method: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    """A raw HTTPS request to the simulator (the bearer token stays in this process)."""
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    request = urllib.request.Request(
        sim.server + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {sim.token}", "Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_kubectl_sends_protobuf_for_built_in_kinds(sim):
    name = "pb-probe"
    result = sim.kubectl("create", "namespace", name, "-v=8")
    assert "Content-Type: application/vnd.kubernetes.protobuf" in result.stderr or 'contentType="application/vnd.kubernetes.protobuf"' in result.stderr
    sim.kubectl("delete", "namespace", name)


def test_namespace_create_get_describe_delete(sim):
    sim.kubectl("create", "namespace", "admin-made")
    ns = kget(sim, "namespace", "admin-made")
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "admin-made"}
    assert (ns["status"]["phase"], ns["spec"]["finalizers"]) == ("Active", ["kubernetes"])
    described = sim.kubectl("describe", "namespace", "admin-made").stdout
    assert "Status:       Active" in described
    assert "admin-made   Active" in sim.kubectl("get", "namespace", "admin-made").stdout
    sim.kubectl("delete", "namespace", "admin-made")
    gone(sim, "namespace", "admin-made")


def test_generic_secret_from_literals(sim, namespace):
    sim.kubectl("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=user=admin", "--from-literal=password=s3cr3t!")
    secret = kget(sim, "secret", "creds", "-n", namespace)
    assert secret["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {"user": "admin", "password": "s3cr3t!"}
    row = sim.kubectl("get", "secret", "creds", "-n", namespace).stdout.splitlines()[1].split()
    assert row[:3] == ["creds", "Opaque", "2"]
    described = sim.kubectl("describe", "secret", "creds", "-n", namespace).stdout
    assert "password:  7 bytes" in described and "s3cr3t" not in described
    sim.kubectl("delete", "secret", "creds", "-n", namespace)
    gone(sim, "secret", "creds", "-n", namespace)


def self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("web.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_tls_secret(sim, namespace, tmp_path):
    cert, key = self_signed(tmp_path)
    sim.kubectl("create", "secret", "tls", "web-tls", "-n", namespace, f"--cert={cert}", f"--key={key}")
    secret = kget(sim, "secret", "web-tls", "-n", namespace)
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == open(cert, "rb").read()
    assert base64.b64decode(secret["data"]["tls.key"]) == open(key, "rb").read()
    assert "Type:  kubernetes.io/tls" in sim.kubectl("describe", "secret", "web-tls", "-n", namespace).stdout
    sim.kubectl("delete", "secret", "web-tls", "-n", namespace)
    gone(sim, "secret", "web-tls", "-n", namespace)


def test_configmap_from_literal_and_file(sim, namespace, tmp_path):
    (tmp_path / "app.conf").write_text("listen 8080\n")
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff\xfe binary")
    sim.kubectl(
        "create",
        "configmap",
        "settings",
        "-n",
        namespace,
        "--from-literal=mode=fast",
        f"--from-file={tmp_path / 'app.conf'}",
        f"--from-file={tmp_path / 'blob.bin'}",
    )
    cm = kget(sim, "configmap", "settings", "-n", namespace)
    assert cm["data"] == {"mode": "fast", "app.conf": "listen 8080\n"}
    assert base64.b64decode(cm["binaryData"]["blob.bin"]) == b"\x00\xff\xfe binary"
    row = sim.kubectl("get", "cm", "settings", "-n", namespace).stdout.splitlines()
    assert row[0].split() == ["NAME", "DATA", "AGE"] and row[1].split()[:2] == ["settings", "3"]
    described = sim.kubectl("describe", "configmap", "settings", "-n", namespace).stdout
    assert "listen 8080" in described and "blob.bin" in described
    sim.kubectl("delete", "configmap", "settings", "-n", namespace)
    gone(sim, "configmap", "settings", "-n", namespace)


def test_services_get_cluster_ips_and_node_ports(sim, namespace):
    sim.kubectl("create", "service", "clusterip", "web", "-n", namespace, "--tcp=80:8080")
    sim.kubectl("create", "service", "nodeport", "edge", "-n", namespace, "--tcp=443:8443")
    web, edge = kget(sim, "svc", "web", "-n", namespace), kget(sim, "svc", "edge", "-n", namespace)
    assert ipaddress.ip_address(web["spec"]["clusterIP"]) in ipaddress.ip_network("10.222.0.0/16")
    assert web["spec"]["clusterIPs"] == [web["spec"]["clusterIP"]] != edge["spec"]["clusterIPs"]
    assert web["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert 30000 <= edge["spec"]["ports"][0]["nodePort"] <= 32767
    taken = str(edge["spec"]["ports"][0]["nodePort"])
    clash = sim.kubectl("create", "service", "nodeport", "edge2", "-n", namespace, "--tcp=444:8443", f"--node-port={taken}", check=False)
    assert clash.returncode == 1 and f"spec.ports[0].nodePort: Invalid value: {taken}: provided port is already allocated" in clash.stderr
    lines = sim.kubectl("get", "svc", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert lines[2].split()[:5] == ["web", "ClusterIP", web["spec"]["clusterIP"], "<none>", "80/TCP"]
    assert lines[1].split()[4] == f"443:{edge['spec']['ports'][0]['nodePort']}/TCP"
    described = sim.kubectl("describe", "svc", "web", "-n", namespace).stdout
    assert f"IP:                       {web['spec']['clusterIP']}" in described and "TargetPort:               8080/TCP" in described
    sim.kubectl("delete", "svc", "web", "edge", "-n", namespace)
    gone(sim, "svc", "web", "-n", namespace)


STORAGE = """
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: %(prefix)s-now}
provisioner: sim.dvp/hostpath
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: %(prefix)s-late}
provisioner: sim.dvp/hostpath
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
"""


def claim(sim, namespace: str, name: str, sc: str, size: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"storageClassName": sc, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
    sim.kubectl("create", "-f", "-", input=json.dumps(body))


def test_claims_bind_immediately_or_at_first_consumer(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=STORAGE % {"prefix": namespace})
    lines = sim.kubectl("get", "sc", f"{namespace}-now", f"{namespace}-late").stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"]
    assert lines[2].split()[:5] == [f"{namespace}-late", "sim.dvp/hostpath", "Retain", "WaitForFirstConsumer", "false"]

    claim(sim, namespace, "now", f"{namespace}-now", "1Gi")
    bound = eventually(lambda: _phase(kget(sim, "pvc", "now", "-n", namespace), "Bound"))
    pv = kget(sim, "pv", bound["spec"]["volumeName"])
    assert pv["spec"]["claimRef"]["uid"] == bound["metadata"]["uid"] and pv["status"]["phase"] == "Bound"
    assert bound["status"]["capacity"] == {"storage": "1Gi"} == pv["spec"]["capacity"]
    row = sim.kubectl("get", "pvc", "now", "-n", namespace).stdout.splitlines()[1].split()
    assert row[:6] == ["now", "Bound", pv["metadata"]["name"], "1Gi", "RWO", f"{namespace}-now"]

    claim(sim, namespace, "late", f"{namespace}-late", "2Gi")
    waiting = eventually(lambda: _phase(kget(sim, "pvc", "late", "-n", namespace), "Pending"))
    assert "waiting for first consumer" in sim.kubectl("describe", "pvc", "late", "-n", namespace).stdout
    assert "volumeName" not in waiting["spec"]
    overrides = {"spec": {"nodeName": "node-a", "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "late"}}]}}
    sim.kubectl("run", "consumer", "-n", namespace, "--image=busybox", f"--overrides={json.dumps(overrides)}")
    late = eventually(lambda: _phase(kget(sim, "pvc", "late", "-n", namespace), "Bound"))
    late_pv = kget(sim, "pv", late["spec"]["volumeName"])
    assert "Status: Bound" in described(sim, "pvc", "late", "-n", namespace)
    assert f"Claim: {namespace}/late" in described(sim, "pv", late_pv["metadata"]["name"])
    assert "VolumeBindingMode: WaitForFirstConsumer" in described(sim, "sc", f"{namespace}-late")
    terms = late_pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-a"]}]}]

    # reclaim: Delete removes the volume with its claim, Retain leaves it Released (once the pod using `late` is gone:
    # kubernetes.io/pvc-protection holds a claim a scheduled pod names)
    sim.kubectl("delete", "pod", "consumer", "-n", namespace)
    sim.kubectl("delete", "pvc", "now", "late", "-n", namespace)
    gone(sim, "pv", pv["metadata"]["name"])
    eventually(lambda: _phase(kget(sim, "pv", late_pv["metadata"]["name"]), "Released"))
    sim.kubectl("delete", "pv", late_pv["metadata"]["name"])
    sim.kubectl("delete", "sc", f"{namespace}-now", f"{namespace}-late")


def described(sim, *args: str) -> str:
    """`kubectl describe` output with runs of spaces folded (alignment depends on the longest label)."""
    return re.sub(r"[ \t]+", " ", sim.kubectl("describe", *args).stdout)


def _phase(obj: dict, phase: str) -> dict:
    assert obj.get("status", {}).get("phase") == phase, obj.get("status")
    return obj


def ready_pod(sim, api, namespace: str, name: str, node: str) -> None:
    sim.kubectl("run", name, "-n", namespace, "--image=busybox", "--labels=app=worker", f"--overrides={json.dumps({'spec': {'nodeName': node}})}")
    status = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    client.CoreV1Api(api).patch_namespaced_pod_status(name, namespace, status)


def test_disruption_budget_refuses_then_allows_eviction(sim, api, namespace):
    node = f"drain-{namespace}"
    sim.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}}))
    for name in ("w1", "w2"):
        ready_pod(sim, api, namespace, name, node)
    sim.kubectl("create", "pdb", "workers", "-n", namespace, "--selector=app=worker", "--min-available=2")
    pdb = eventually(lambda: _allowed(kget(sim, "pdb", "workers", "-n", namespace), 0))
    assert {k: pdb["status"][k] for k in ("currentHealthy", "desiredHealthy", "expectedPods")} == {"currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2}
    lines = sim.kubectl("get", "pdb", "-n", namespace).stdout.splitlines()
    assert lines[0].split()[:6] == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED"] and lines[1].split()[:4] == ["workers", "2", "N/A", "0"]
    assert "Allowed disruptions:  0" in sim.kubectl("describe", "pdb", "workers", "-n", namespace).stdout

    # the real client's eviction (kubectl drain, protobuf Eviction bodies) is refused while the budget holds
    refused = sim.kubectl("drain", node, "--pod-selector=app=worker", "--force", "--timeout=2s", check=False)
    assert refused.returncode != 0 and "global timeout reached" in refused.stderr
    try:
        client.CoreV1Api(api).create_namespaced_pod_eviction("w1", namespace, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "w1"}})
        raise AssertionError("the eviction must be refused")
    except client.ApiException as exc:
        status = json.loads(exc.body)
        assert exc.status == 429 and status["reason"] == "TooManyRequests"
        assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        assert status["details"]["causes"] == [
            {"reason": "DisruptionBudget", "message": "The disruption budget workers needs 2 healthy pods and has 2 currently"}
        ]

    sim.kubectl("patch", "pdb", "workers", "-n", namespace, "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
    eventually(lambda: _allowed(kget(sim, "pdb", "workers", "-n", namespace), 1))
    # dry run: allowed, and nothing changes
    code, body = http(
        sim,
        "POST",
        f"/api/v1/namespaces/{namespace}/pods/w1/eviction?dryRun=All",
        json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "w1"}}).encode(),
        "application/json",
    )
    assert (code, body["status"]) == (201, "Success")
    assert kget(sim, "pod", "w1", "-n", namespace)["metadata"].get("deletionTimestamp") is None
    drained = sim.kubectl("drain", node, "--pod-selector=app=worker", "--force", "--timeout=4s", check=False)
    assert "evicted" in drained.stdout and drained.returncode != 0  # one pod goes; the budget keeps the other
    pods = kget(sim, "pods", "-n", namespace, "-l", "app=worker")["items"]
    assert len(pods) == 1
    eventually(lambda: _allowed(kget(sim, "pdb", "workers", "-n", namespace), 0))


def _allowed(pdb: dict, n: int) -> dict:
    assert pdb.get("status", {}).get("disruptionsAllowed") == n and pdb["status"]["observedGeneration"] == pdb["metadata"]["generation"], pdb.get("status")
    return pdb


def test_binding_assigns_a_pod_once(sim, api, namespace):
    # a scheduler of its own (as a manual binding needs on a cluster): the default scheduler would bind it first
    sim.kubectl("run", "unscheduled", "-n", namespace, "--image=busybox", "--overrides", json.dumps({"spec": {"schedulerName": "by-hand"}}))
    core = client.CoreV1Api(api)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "unscheduled"}, "target": {"apiVersion": "v1", "kind": "Node", "name": "node-b"}}
    core.create_namespaced_pod_binding("unscheduled", namespace, binding, _preload_content=False)
    assert kget(sim, "pod", "unscheduled", "-n", namespace)["spec"]["nodeName"] == "node-b"
    with pytest.raises(client.ApiException) as info:
        core.create_namespaced_pod_binding("unscheduled", namespace, binding, _preload_content=False)
    assert info.value.status == 409


def test_events_k8s_io(sim, namespace):
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "hello", "namespace": namespace},
        "eventTime": "2024-01-02T03:04:05.000000Z",
        "reportingController": "admin",
        "reportingInstance": "admin-1",
        "action": "Test",
        "reason": "Hello",
        "note": "an event of events.k8s.io/v1",
        "type": "Normal",
        "regarding": {"kind": "Namespace", "name": namespace},
    }
    sim.kubectl("create", "-f", "-", input=json.dumps(event))
    got = kget(sim, "events.v1.events.k8s.io", "hello", "-n", namespace)
    assert got["note"] == "an event of events.k8s.io/v1"
    row = sim.kubectl("get", "events.v1.events.k8s.io", "-n", namespace).stdout.splitlines()[1]
    assert "Hello" in row and f"namespace/{namespace}" in row


def test_unsupported_body_media_type_is_415(sim, namespace):
    code, status = http(sim, "POST", f"/api/v1/namespaces/{namespace}/configmaps", b"name=x", "text/plain")
    assert (code, status["reason"]) == (415, "UnsupportedMediaType")
    assert "application/json, application/yaml, application/vnd.kubernetes.protobuf" in status["message"]
    code, status = http(sim, "POST", f"/api/v1/namespaces/{namespace}/configmaps", b"k8s\x00garbage", "application/vnd.kubernetes.protobuf")
    assert (code, status["reason"]) == (400, "BadRequest")


# -- a docker-registry secret used by a ContainerImage ClusterVirtualImage ------------------------------------
@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    pki = tls_material(tmp_path_factory.mktemp("pki"))
    reg = Registry(tmp_path_factory.mktemp("registry"), pki)
    yield reg, pki
    reg.stop()


def test_docker_registry_secret_pulls_a_container_image(sim, api, registry, tmp_path):
    reg, pki = registry
    disk = qemu_image(tmp_path / "disk.qcow2", "qcow2", 8 * MiB).read_bytes()
    image = reg.push(oci_layout(tmp_path / "layout", [tar_entry("disk", kind=tarfile.DIRTYPE), tar_entry("disk/disk.qcow2", disk)]), "images/admin:1")
    sim.kubectl(
        "create", "secret", "docker-registry", "regcred", "-n", "default",
        f"--docker-server={reg.host}", f"--docker-username={reg.user}", f"--docker-password={reg.password}",
    )  # fmt: skip
    secret = kget(sim, "secret", "regcred", "-n", "default")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"][reg.host]["username"] == reg.user
    cvi = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "ClusterVirtualImage",
        "metadata": {"name": "from-regcred"},
        "spec": {
            "dataSource": {
                "type": "ContainerImage",
                "containerImage": {"image": image, "caBundle": ca_bundle(pki), "imagePullSecret": {"name": "regcred", "namespace": "default"}},
            }
        },
    }
    sim.kubectl("create", "-f", "-", input=json.dumps(cvi))
    ready = eventually(lambda: _phase(kget(sim, "cvi", "from-regcred"), "Ready"), timeout=60)
    assert ready["status"]["format"] == "qcow2"
    sim.kubectl("delete", "cvi", "from-regcred")
    sim.kubectl("delete", "secret", "regcred", "-n", "default")
    gone(sim, "secret", "regcred", "-n", "default")
