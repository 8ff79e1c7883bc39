"""Fake nodes with libvirt CPU models, and VirtualMachineClasses served by the simulator (kubectl only)."""

import json
import time

import pytest

MODEL = "cpu-model.node.virtualization.deckhouse.io/"
FEATURE = "cpu-feature.node.virtualization.deckhouse.io/"


def get(sim, *args):
    return json.loads(sim.kubectl("get", *args, "-o", "json").stdout)


def wait_status(sim, name, predicate, timeout=20):
    end = time.time() + timeout
    while True:
        obj = get(sim, "vmclass", name)
        if predicate(obj.get("status") or {}):
            return obj
        if time.time() > end:
            raise AssertionError(f"vmclass {name}: status never matched: {obj.get('status')}")
        time.sleep(0.2)


def apply(sim, doc, check=True):
    return sim.kubectl("apply", "-f", "-", input=doc, check=check)


def test_nodes_carry_libvirt_cpu_labels(cluster):
    nodes = {n["metadata"]["name"]: n for n in get(cluster, "nodes")["items"]}
    assert sorted(nodes) == ["blue-0", "blue-1", "green-0", "green-1", "master-0"]
    blue = nodes["blue-0"]["metadata"]["labels"]
    green = nodes["green-0"]["metadata"]["labels"]
    blue_models = {k[len(MODEL) :] for k in blue if k.startswith(MODEL)}
    green_models = {k[len(MODEL) :] for k in green if k.startswith(MODEL)}
    assert {"Broadwell-noTSX", "Haswell-noTSX", "IvyBridge", "Nehalem", "Westmere"} <= blue_models
    assert "Skylake-Client-noTSX-IBRS" in green_models and "Skylake-Client-noTSX-IBRS" not in blue_models
    assert blue_models < green_models, "the newer CPU runs every model the older one runs"
    assert blue[FEATURE + "avx2"] == "true" and FEATURE + "avx512f" not in blue and green[FEATURE + "avx512f"] == "true"
    assert blue["cpu-vendor.node.virtualization.deckhouse.io/Intel"] == "true"
    status = nodes["green-0"]["status"]
    assert status["capacity"]["cpu"] == "32" and status["allocatable"]["memory"] == "128Gi"
    assert next(c for c in status["conditions"] if c["type"] == "Ready")["status"] == "True"


def test_admin_guide_jq_command_prints_the_model_list(cluster):
    import subprocess

    node = cluster.kubectl("get", "nodes", "blue-0", "-o", "json").stdout
    jq = subprocess.run(
        ["jq", "-r", '.metadata.labels | to_entries[] | select(.key | test("cpu-model.node.virtualization.deckhouse.io")) | .key | split("/")[1]'],
        input=node, capture_output=True, text=True, check=True,
    )  # fmt: skip
    models = jq.stdout.split()
    assert "IvyBridge" in models and "Nehalem-IBRS" in models and "Broadwell-noTSX" in models


def test_each_node_has_virt_handler_and_a_renewed_lease(cluster):
    pods = {p["spec"]["nodeName"] for p in get(cluster, "pods", "-n", "d8-virtualization")["items"] if p["metadata"]["name"].startswith("virt-handler")}
    assert pods == {"blue-0", "blue-1", "green-0", "green-1", "master-0"}
    first = get(cluster, "lease", "-n", "kube-node-lease", "green-0")["spec"]["renewTime"]
    time.sleep(1.2)  # 24 simulated seconds at time scale 20: at least two renewals
    later = get(cluster, "lease", "-n", "kube-node-lease", "green-0")
    assert later["spec"]["renewTime"] > first and later["spec"]["holderIdentity"] == "green-0"


def test_generic_class_exists_at_start_up(cluster):
    generic = wait_status(cluster, "generic", lambda s: s.get("phase") == "Ready")
    assert generic["spec"]["cpu"] == {"type": "Model", "model": "Nehalem"}
    assert [p["cores"] for p in generic["spec"]["sizingPolicies"]] == [
        {"min": 1, "max": 4},
        {"min": 5, "max": 8},
        {"min": 9, "max": 16},
        {"min": 17, "max": 1024},
    ]
    assert generic["status"]["availableNodes"] == ["blue-0", "blue-1", "green-0", "green-1", "master-0"]
    assert "virtualmachineclass.virtualization.deckhouse.io/is-default-class" not in (generic["metadata"].get("annotations") or {})


DISCOVERY = """
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachineClass
metadata:
  name: {name}
spec:
  cpu:
    type: Discovery
    discovery: {discovery}
"""


def test_admin_guide_discovery_classes(cluster):
    apply(cluster, DISCOVERY.format(name="universal", discovery="{}"))
    apply(cluster, DISCOVERY.format(name="cpux", discovery='{nodeSelector: {matchExpressions: [{key: group, operator: In, values: ["blue"]}]}}'))
    apply(cluster, DISCOVERY.format(name="cpuy", discovery='{nodeSelector: {matchExpressions: [{key: group, operator: In, values: ["green"]}]}}'))
    universal = wait_status(cluster, "universal", lambda s: s.get("phase") == "Ready")["status"]
    cpux = wait_status(cluster, "cpux", lambda s: s.get("phase") == "Ready")["status"]
    cpuy = wait_status(cluster, "cpuy", lambda s: s.get("phase") == "Ready")["status"]
    # universal: the lowest common CPU, every node; cpuX: CPU X's features, so blue and the newer green nodes;
    # cpuY: CPU Y's features, only green.
    assert universal["availableNodes"] == ["blue-0", "blue-1", "green-0", "green-1", "master-0"]
    assert cpux["availableNodes"] == ["blue-0", "blue-1", "green-0", "green-1"]
    assert cpuy["availableNodes"] == ["green-0", "green-1"]
    u, x, y = (set(s["cpuFeatures"]["enabled"]) for s in (universal, cpux, cpuy))
    assert u < x < y and "avx512f" in y and "avx512f" not in x
    discovered = next(c for c in cpux["conditions"] if c["type"] == "Discovered")
    assert discovered["status"] == "True" and discovered["reason"] == "DiscoverySucceeded"


def test_discovery_features_are_frozen_and_nodes_follow_labels(cluster):
    apply(
        cluster,
        DISCOVERY.format(name="frozen", discovery="{nodeSelector: {matchLabels: {group: green}}}").replace(
            "spec:\n", "spec:\n  nodeSelector: {matchLabels: {group: green}}\n"
        ),
    )
    before = wait_status(cluster, "frozen", lambda s: s.get("phase") == "Ready")["status"]
    assert before["availableNodes"] == ["green-0", "green-1"]
    cluster.kubectl("label", "node", "green-1", "group=retired", "--overwrite")
    try:
        after = wait_status(cluster, "frozen", lambda s: s.get("availableNodes") == ["green-0"])["status"]
        assert after["cpuFeatures"]["enabled"] == before["cpuFeatures"]["enabled"], "discovered features never change"
    finally:
        cluster.kubectl("label", "node", "green-1", "group=green", "--overwrite")
    wait_status(cluster, "frozen", lambda s: s.get("availableNodes") == ["green-0", "green-1"])
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=frozen", "-o", "json").stdout
    assert "VMClassNodesWereUpdated" in events


def test_the_guides_features_class_example_is_ready_on_every_virtualization_host(cluster):
    """The admin guide's `type: Features` example asks for `vmx` (VT-x), which no libvirt CPU model lists: a host's
    node labeller reports it as a feature of its own. Every node of the guide's topology has it."""
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: guide-vmx}, "
        "spec: {cpu: {features: [vmx], type: Features}}}",
    )
    status = wait_status(cluster, "guide-vmx", lambda s: s.get("phase") == "Ready")["status"]
    assert status["availableNodes"] == ["blue-0", "blue-1", "green-0", "green-1", "master-0"]
    assert status["cpuFeatures"]["enabled"] == ["vmx"]
    for node in status["availableNodes"]:
        labels = json.loads(cluster.kubectl("get", "node", node, "-o", "json").stdout)["metadata"]["labels"]
        assert labels.get(FEATURE + "vmx") == "true", node


def test_model_and_features_classes_and_phase_rules(cluster):
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: skylake}, "
        "spec: {cpu: {type: Model, model: Skylake-Client-noTSX-IBRS}}}",
    )
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: avx512}, "
        "spec: {cpu: {type: Features, features: [avx512f]}}}",
    )
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: epyc}, spec: {cpu: {type: Model, model: EPYC}}}",
    )
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: host-nowhere}, "
        "spec: {cpu: {type: Host}, nodeSelector: {matchLabels: {group: nowhere}}}}",
    )
    assert wait_status(cluster, "skylake", lambda s: s.get("phase") == "Ready")["status"]["availableNodes"] == ["green-0", "green-1"]
    avx = wait_status(cluster, "avx512", lambda s: s.get("phase") == "Ready")["status"]
    assert avx["availableNodes"] == ["green-0", "green-1"] and avx["cpuFeatures"]["enabled"] == ["avx512f"] and "avx2" in avx["cpuFeatures"]["notEnabledCommon"]
    epyc = wait_status(cluster, "epyc", lambda s: s.get("phase") == "Pending")["status"]
    ready = next(c for c in epyc["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "NoSuitableNodesFound"
    host = wait_status(cluster, "host-nowhere", lambda s: s.get("phase") == "Ready")["status"]
    assert host["availableNodes"] == [], "Host classes are Ready even without nodes"


def test_webhook_overlap_exactly_as_the_platform(cluster):
    def policy_class(name, ranges):
        policies = ", ".join(f"{{cores: {{min: {a}, max: {b}}}}}" for a, b in ranges)
        return (
            f"{{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {{name: {name}}}, "
            f"spec: {{cpu: {{type: Host}}, sizingPolicies: [{policies}]}}}}"
        )

    touching = apply(cluster, policy_class("touching", [(1, 4), (4, 8)]), check=False)
    assert touching.returncode != 0 and "overlaps" in touching.stderr and "denied the request" in touching.stderr
    later_nested_in_earlier = apply(cluster, policy_class("blind-spot", [(1, 10), (3, 5)]), check=False)
    assert later_nested_in_earlier.returncode == 0, "the platform misses a later range inside an earlier one"
    earlier_nested_in_later = apply(cluster, policy_class("caught", [(3, 5), (1, 10)]), check=False)
    assert earlier_nested_in_later.returncode != 0
    assert apply(cluster, policy_class("gap", [(1, 4), (8, 16)]), check=False).returncode == 0
    assert apply(cluster, policy_class("sequential", [(1, 4), (5, 8)]), check=False).returncode == 0


def test_webhook_default_class_and_core_fractions(cluster):
    # The cluster is the session's: a default class left behind would change what later tests see (a second one is
    # refused, a VM without a class gets it), so every class made here is deleted.
    try:
        base = (
            "{{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, "
            "metadata: {{name: {name}, annotations: {{virtualmachineclass.virtualization.deckhouse.io/is-default-class: '{value}'}}}}, "
            "spec: {{cpu: {{type: Host}}}}}}"
        )
        assert apply(cluster, base.format(name="def-yes", value="yes"), check=False).returncode != 0
        assert apply(cluster, base.format(name="def-one", value="true"), check=False).returncode == 0
        second = apply(cluster, base.format(name="def-two", value="true"), check=False)
        assert second.returncode != 0 and "def-one" in second.stderr
        fractions = (
            "{{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {{name: {name}}}, "
            "spec: {{cpu: {{type: Host}}, sizingPolicies: [{{cores: {{min: 1, max: 4}}, coreFractions: {fractions}, defaultCoreFraction: '{default}'}}]}}}}"
        )
        assert apply(cluster, fractions.format(name="cf-bad", fractions='["5%", "50%"]', default="20%"), check=False).returncode != 0
        assert apply(cluster, fractions.format(name="cf-ok", fractions='["5%", "20%"]', default="20%"), check=False).returncode == 0
        assert apply(cluster, fractions.format(name="cf-any", fractions="[]", default="30%"), check=False).returncode == 0
        assert apply(cluster, fractions.format(name="cf-auto", fractions='["5%", "20%"]', default="Auto"), check=False).returncode != 0
    finally:
        cluster.kubectl("delete", "vmclass", "def-one", "cf-ok", "cf-any", "--ignore-not-found", "--wait=false", check=False)


def test_cpu_is_immutable_and_other_fields_change(cluster):
    apply(
        cluster,
        "{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {name: mutable}, spec: {cpu: {type: Model, model: Nehalem}}}",
    )
    bad = cluster.kubectl("patch", "vmclass", "mutable", "--type=merge", "-p", '{"spec":{"cpu":{"model":"Westmere"}}}', check=False)
    assert bad.returncode != 0 and ".spec.cpu is immutable" in bad.stderr
    cluster.kubectl("patch", "vmclass", "mutable", "--type=merge", "-p", '{"spec":{"nodeSelector":{"matchLabels":{"group":"blue"}}}}')
    assert wait_status(cluster, "mutable", lambda s: s.get("availableNodes") == ["blue-0", "blue-1"])


@pytest.mark.parametrize("name", ["in-use"])
def test_class_deletion_waits_for_its_vms(cluster, name):
    apply(
        cluster, f"{{apiVersion: virtualization.deckhouse.io/v1alpha3, kind: VirtualMachineClass, metadata: {{name: {name}}}, spec: {{cpu: {{type: Host}}}}}}"
    )
    wait_status(cluster, name, lambda s: s.get("phase") == "Ready")
    # a VM needs the module's virtualMachineCIDRs (its address); other tests of the session may have set them already
    settings = json.loads(cluster.kubectl("get", "mc", "virtualization", "-o", "json", check=False).stdout or "{}").get("spec", {}).get("settings", {})
    if not settings.get("virtualMachineCIDRs"):
        apply(
            cluster,
            "{apiVersion: deckhouse.io/v1alpha1, kind: ModuleConfig, metadata: {name: virtualization}, spec: {enabled: true, version: 1, settings: "
            "{dvcr: {storage: {type: PersistentVolumeClaim, persistentVolumeClaim: {size: 50G}}}, virtualMachineCIDRs: [10.66.30.0/24]}}}",
        )
    vm = f"""
apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {{name: vm-of-class, namespace: default}}
spec:
  virtualMachineClassName: {name}
  cpu: {{cores: 1, coreFraction: "100%"}}
  memory: {{size: 1Gi}}
  blockDeviceRefs: [{{kind: VirtualDisk, name: root}}]
"""
    apply(cluster, vm)
    cluster.kubectl("delete", "vmclass", name, "--wait=false")
    status = wait_status(cluster, name, lambda s: s.get("phase") == "Terminating")["status"]
    in_use = next(c for c in status["conditions"] if c["type"] == "InUse")
    assert in_use["reason"] == "VirtualMachineClassInUse" and "default/vm-of-class" in in_use["message"]
    cluster.kubectl("delete", "vm", "-n", "default", "vm-of-class")
    end = time.time() + 20
    while cluster.kubectl("get", "vmclass", name, check=False).returncode == 0:
        assert time.time() < end, "the class must go once no VM uses it"
        time.sleep(0.2)
