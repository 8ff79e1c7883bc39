"""Unmodified kubectl against the simulator: every verb the issue names."""

import json
import subprocess
import time

import yaml

from ..simulator_process import BIN

CVI = """
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: ClusterVirtualImage
metadata:
  name: {name}
spec:
  dataSource:
    type: HTTP
    http:
      url: {url}
"""


def cvi(name, url="https://example.com/image.qcow2"):
    return CVI.format(name=name, url=url)


def test_api_resources_lists_short_names(sim):
    out = sim.kubectl("api-resources").stdout
    for plural, short in [
        ("clustervirtualimages", "cvi"),
        ("virtualmachines", "vm"),
        ("virtualmachineoperations", "vmop"),
        ("virtualmachineclasses", "vmclass"),
        ("virtualdisks", "vd"),
    ]:
        line = next(x for x in out.splitlines() if x.startswith(plural + " "))
        assert short in line, line
    assert "moduleconfigs" in out and "leases" in out and "pods" in out


def test_apply_get_table_wide_and_outputs(sim):
    assert "created" in sim.kubectl("apply", "-f", "-", input=cvi("img-table")).stdout
    assert "unchanged" in sim.kubectl("apply", "-f", "-", input=cvi("img-table")).stdout
    table = sim.kubectl("get", "cvi", "img-table").stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "CDROM", "PROGRESS", "AGE"]
    wide = sim.kubectl("get", "cvi", "img-table", "-o", "wide").stdout.splitlines()[0]
    assert "STOREDSIZE" in wide and "REGISTRY URL" in wide
    obj = yaml.safe_load(sim.kubectl("get", "cvi", "img-table", "-o", "yaml").stdout)
    assert obj["spec"]["dataSource"]["type"] == "HTTP"
    assert json.loads(sim.kubectl("get", "cvi", "img-table", "-o", "json").stdout)["metadata"]["generation"] == 1
    assert sim.kubectl("get", "cvi", "img-table", "-o", "jsonpath={.spec.dataSource.http.url}").stdout == "https://example.com/image.qcow2"


def test_server_side_apply_and_conflict(sim):
    out = sim.kubectl("apply", "--server-side", "--field-manager=alice", "-f", "-", input=cvi("img-ssa"))
    assert "serverside-applied" in out.stdout
    clash = sim.kubectl("apply", "--server-side", "--field-manager=bob", "-f", "-", input=cvi("img-ssa", "https://example.com/other.qcow2"), check=False)
    assert clash.returncode != 0
    assert 'conflict with "alice"' in clash.stderr and ".spec.dataSource.http.url" in clash.stderr
    forced = sim.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=bob", "-f", "-", input=cvi("img-ssa", "https://example.com/other.qcow2")
    )
    assert "serverside-applied" in forced.stdout
    obj = json.loads(sim.kubectl("get", "cvi", "img-ssa", "-o", "json", "--show-managed-fields").stdout)
    managers = {m["manager"]: m for m in obj["metadata"]["managedFields"]}
    assert "f:url" in json.dumps(managers["bob"]["fieldsV1"])
    assert obj["spec"]["dataSource"]["http"]["url"] == "https://example.com/other.qcow2"


def test_create_generate_name_describe_label_annotate_patch(sim, namespace):
    op = """
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineOperation
metadata:
  generateName: start-
spec:
  type: Start
  virtualMachineName: vm1
"""
    created = sim.kubectl("-n", namespace, "create", "-f", "-", "-o", "name", input=op).stdout.strip()
    assert created.startswith("virtualmachineoperation.virtualization.deckhouse.io/start-") and len(created.split("/")[1]) == len("start-") + 5
    name = created.split("/")[1]
    sim.kubectl("-n", namespace, "label", "vmop", name, "team=blue")
    sim.kubectl("-n", namespace, "annotate", "vmop", name, "note=hello")
    described = sim.kubectl("-n", namespace, "describe", "vmop", name).stdout
    assert "team=blue" in described and "note: hello" in described and "Virtual Machine Name:  vm1" in described
    sim.kubectl("-n", namespace, "patch", "vmop", name, "--type=merge", "-p", '{"metadata":{"labels":{"team":"green"}}}')
    sim.kubectl("-n", namespace, "patch", "vmop", name, "--type=json", "-p", '[{"op":"add","path":"/metadata/labels/tier","value":"db"}]')
    labels = json.loads(sim.kubectl("-n", namespace, "get", "vmop", name, "-o", "jsonpath={.metadata.labels}").stdout)
    assert labels == {"team": "green", "tier": "db"}
    assert sim.kubectl("-n", namespace, "get", "vmop", "-l", "tier in (db,web),team!=blue", "-o", "name").stdout.strip() == created


def test_schema_violation_is_422_and_changes_nothing(sim):
    sim.kubectl("apply", "-f", "-", input=cvi("img-bad"))
    bad = sim.kubectl("patch", "cvi", "img-bad", "--type=merge", "-p", '{"spec":{"dataSource":{"http":{"url":"ftp://x"}}}}', check=False)
    assert bad.returncode != 0 and "is invalid" in bad.stderr and "spec.dataSource.http.url" in bad.stderr
    cel = sim.kubectl("patch", "cvi", "img-bad", "--type=merge", "-p", '{"spec":{"dataSource":{"type":"ContainerImage"}}}', check=False)
    assert "ContainerImage requires containerImage" in cel.stderr
    assert sim.kubectl("get", "cvi", "img-bad", "-o", "jsonpath={.spec.dataSource.type}/{.metadata.generation}").stdout == "HTTP/1"


def test_unknown_field_strict_by_default(sim):
    out = sim.kubectl("apply", "-f", "-", input=cvi("img-unknown") + "  bogus: 1\n", check=False)
    assert out.returncode != 0 and 'unknown field "spec.bogus"' in out.stderr
    warn = sim.kubectl("apply", "--validate=warn", "-f", "-", input=cvi("img-unknown") + "  bogus: 1\n")
    assert 'unknown field "spec.bogus"' in warn.stderr


def test_explain_reads_our_schema(sim):
    out = sim.kubectl("explain", "vm.spec.runPolicy").stdout
    assert "AlwaysOnUnlessStoppedManually" in out or "runPolicy" in out
    assert "dataSource" in sim.kubectl("explain", "cvi.spec").stdout


def test_watch_prints_changes(sim):
    sim.kubectl("apply", "-f", "-", input=cvi("img-watch"))
    watcher = subprocess.Popen(
        [str(BIN / "kubectl"), "--kubeconfig", str(sim.kubeconfig), "get", "cvi", "img-watch", "-w", "--request-timeout=20s"], stdout=subprocess.PIPE, text=True
    )
    try:
        first = watcher.stdout.readline()
        assert first.split()[0] == "NAME"
        assert watcher.stdout.readline().split()[0] == "img-watch"
        sim.kubectl("label", "cvi", "img-watch", "seen=yes")
        time.sleep(0.3)
        sim.kubectl("delete", "cvi", "img-watch")
        lines = [watcher.stdout.readline() for _unused in range(2)]
        assert all(line.startswith("img-watch") for line in lines), lines
    finally:
        watcher.kill()


def test_delete_wait_with_finalizer(sim):
    sim.kubectl("apply", "-f", "-", input=cvi("img-fin").replace("metadata:\n", "metadata:\n  finalizers: [example.com/hold]\n"))
    sim.kubectl("delete", "cvi", "img-fin", "--wait=false")
    obj = json.loads(sim.kubectl("get", "cvi", "img-fin", "-o", "json").stdout)
    assert obj["metadata"]["deletionTimestamp"]
    waiter = subprocess.Popen(
        [
            str(BIN / "kubectl"),
            "--kubeconfig",
            str(sim.kubeconfig),
            "delete",
            "cvi",
            "img-fin",
            "--wait",
            "--timeout=20s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    assert waiter.poll() is None, "delete --wait must wait for the finalizer"
    sim.kubectl("patch", "cvi", "img-fin", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    out, err = waiter.communicate(timeout=20)
    assert waiter.returncode == 0, err
    assert sim.kubectl("get", "cvi", "img-fin", check=False).returncode != 0


def test_cordon_uncordon_node(sim):
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "kubectl-node", "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    sim.kubectl("apply", "-f", "-", input=json.dumps(node))
    sim.kubectl("cordon", "kubectl-node")
    assert "SchedulingDisabled" in sim.kubectl("get", "node", "kubectl-node").stdout
    sim.kubectl("uncordon", "kubectl-node")
    line = sim.kubectl("get", "nodes", "kubectl-node", "--no-headers").stdout
    assert line.split()[1] == "Ready" and "worker" in line


def test_delete_cascade_orphan_and_foreground_as_the_garbage_collector_does(sim, namespace):
    """kubectl delete --cascade: orphan keeps the dependents (their reference to the owner removed), foreground
    deletes the dependents first (the owner stays, with its deletionTimestamp and finalizer, until they are gone),
    background (the default) deletes the owner at once and its dependents after it."""

    def owner_and_dependent(owner: str, dependent: str) -> None:
        sim.kubectl("create", "configmap", owner, "-n", namespace)
        uid = sim.kubectl("get", "configmap", owner, "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid}
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": dependent, "namespace": namespace, "ownerReferences": [ref]}}
        sim.kubectl("create", "-f", "-", input=json.dumps(body))
        sim.kubectl("label", "secret", dependent, "-n", namespace, "touched=yes")  # a dependent's write wakes nothing to do

    def exists(kind: str, name: str) -> bool:
        return sim.kubectl("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name").stdout.strip() != ""

    def deletion_started(kind: str, name: str) -> bool:
        return sim.kubectl("get", kind, name, "-n", namespace, "-o", "jsonpath={.metadata.deletionTimestamp}").stdout != ""

    def until(check, what: str) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, what
            time.sleep(0.1)

    owner_and_dependent("kept-owner", "kept")
    sim.kubectl("delete", "configmap", "kept-owner", "-n", namespace, "--cascade=orphan")
    until(lambda: not exists("configmap", "kept-owner"), "the orphaning owner is deleted")
    assert exists("secret", "kept")
    assert sim.kubectl("get", "secret", "kept", "-n", namespace, "-o", "jsonpath={.metadata.ownerReferences}").stdout == ""

    owner_and_dependent("first-owner", "first")
    sim.kubectl("patch", "secret", "first", "-n", namespace, "--type=merge", "-p", '{"metadata": {"finalizers": ["example.com/hold"]}}')
    sim.kubectl("delete", "configmap", "first-owner", "-n", namespace, "--cascade=foreground", "--wait=false")
    until(lambda: deletion_started("secret", "first"), "dependent deleted first")
    time.sleep(0.5)
    owner = json.loads(sim.kubectl("get", "configmap", "first-owner", "-n", namespace, "-o", "json").stdout)
    assert owner["metadata"]["deletionTimestamp"] and "foregroundDeletion" in owner["metadata"]["finalizers"]  # waits for its dependent
    sim.kubectl("patch", "secret", "first", "-n", namespace, "--type=merge", "-p", '{"metadata": {"finalizers": null}}')
    until(lambda: not exists("configmap", "first-owner"), "the owner goes once its dependent is gone")
    assert not exists("secret", "first")

    owner_and_dependent("gone-owner", "gone")
    sim.kubectl("delete", "configmap", "gone-owner", "-n", namespace)
    until(lambda: not exists("secret", "gone"), "background deletion collects the dependent")
