"""ModuleConfig `virtualization` (BEHAVIOUR.md §8): the admin guide's configuration applied with kubectl and with
module_config; the webhook's refusals on UPDATE and the module's client-side refusals (nothing written), the
module naming the VM that holds an address in a CIDR it is asked to remove; the DVCR volume; the cluster facts
Secret; idempotence, check mode and diff; module_config_info's CIDR usage."""

import base64
import json
import time

import pytest
import yaml

from ..ansible_runner import run_playbook
from ..simulator_process import Simulator
from .conftest import TOPOLOGIES

GUIDE = """apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata:
  name: virtualization
spec:
  enabled: true
  version: 1
  settings:
    dvcr:
      storage:
        persistentVolumeClaim:
          size: 50G
          storageClassName: sds-replicated-thin-r1
        type: PersistentVolumeClaim
    virtualMachineCIDRs:
      - 10.66.10.0/24
"""
VM = """apiVersion: virtualization.deckhouse.io/v1alpha2
kind: VirtualMachine
metadata: {name: web, namespace: NS}
spec:
  virtualMachineClassName: generic
  cpu: {cores: 1, coreFraction: 100%}
  memory: {size: 1Gi}
  runPolicy: AlwaysOff
  blockDeviceRefs: [{kind: VirtualDisk, name: web-root}]
  virtualMachineIPAddressName: web-ip
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = Simulator.start(tmp_path_factory.mktemp("mc"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"))
    yield s
    assert s.stop() == 0


def settings(sim):
    return json.loads(sim.kubectl("get", "moduleconfig", "virtualization", "-o", "json").stdout)["spec"]["settings"]


def guide_with(**changes):
    doc = yaml.safe_load(GUIDE)
    for path, value in changes.items():
        node = doc["spec"]["settings"]
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return yaml.safe_dump(doc)


def wait_for(fn, timeout=10):
    end = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.time() < end, "timed out"
        time.sleep(0.05)


def test_cluster_facts_secret(sim):
    secret = json.loads(sim.kubectl("get", "secret", "-n", "kube-system", "d8-cluster-configuration", "-o", "json").stdout)
    doc = yaml.safe_load(base64.b64decode(secret["data"]["cluster-configuration.yaml"]))
    assert doc["kind"] == "ClusterConfiguration" and doc["apiVersion"] == "deckhouse.io/v1"
    assert doc["podSubnetCIDR"] == "10.111.0.0/16" and doc["serviceSubnetCIDR"] == "10.222.0.0/16" and doc["podSubnetNodeCIDRPrefix"] == "24"


def test_guide_config_with_kubectl_and_the_webhook(sim):
    sim.kubectl("apply", "-f", "-", input=GUIDE)
    pvc = json.loads(wait_for(lambda: sim.kubectl("get", "pvc", "-n", "d8-virtualization", "dvcr", "-o", "json", check=False).stdout))
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50G" and pvc["spec"]["storageClassName"] == "sds-replicated-thin-r1"
    # Deckhouse reports the settings version in use: `kubectl get mc` shows it in the VERSION column
    table = wait_for(lambda: "virtualization   true      1 " in (out := sim.kubectl("get", "mc", "virtualization").stdout) and out)
    assert table.splitlines()[0].split() == ["NAME", "ENABLED", "VERSION", "AGE", "MESSAGE"], table
    cases = {
        "overlap": (guide_with(virtualMachineCIDRs=["10.66.10.0/24", "10.66.10.128/25"]), "overlaps virtualMachineCIDRs[0] 10.66.10.0/24: no overlaps allowed"),
        "pod subnet": (guide_with(virtualMachineCIDRs=["10.66.10.0/24", "10.111.0.0/24"]), "overlaps the cluster pod subnet 10.111.0.0/16"),
        "service subnet": (guide_with(virtualMachineCIDRs=["10.66.10.0/24", "10.222.8.0/24"]), "overlaps the cluster service subnet 10.222.0.0/16"),
        "host bits": (
            guide_with(virtualMachineCIDRs=["10.66.10.0/24", "10.66.20.5/24"]),
            "has host bits set: write the network address aligned to the mask, 10.66.20.0/24",
        ),
        "node address": (guide_with(virtualMachineCIDRs=["10.66.10.0/24", "192.168.10.0/28"]), "contains the address 192.168.10.11 of node blue-0"),
        "clear": (guide_with(virtualMachineCIDRs=None), "once configured, the list cannot be cleared"),
        "dvcr shrink": (guide_with(**{"dvcr.storage.persistentVolumeClaim.size": "40G"}), "size: cannot decrease from 50G to 40G"),
        "dvcr class": (
            guide_with(**{"dvcr.storage.persistentVolumeClaim.storageClassName": "other"}),
            "storageClassName: cannot change from sds-replicated-thin-r1 to other",
        ),
        "audit": (guide_with(audit={"enabled": True}), "audit.enabled: needs the modules log-shipper, runtime-audit-engine enabled"),
        "gpu": (guide_with(featureGates=["GPU"]), "GPU requires Kubernetes 1.34"),
    }
    for name, (doc, message) in cases.items():
        out = sim.kubectl("apply", "-f", "-", input=doc, check=False)
        assert out.returncode != 0 and 'admission webhook "moduleconfig.virtualization-controller.validate.d8-virtualization" denied' in out.stderr, name
        assert message in out.stderr, (name, out.stderr)
    assert settings(sim)["virtualMachineCIDRs"] == ["10.66.10.0/24"], "nothing written"
    # audit passes once both modules are enabled (the edition is EE)
    for module in ("log-shipper", "runtime-audit-engine"):
        sim.kubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": module}, "spec": {"enabled": True}}),
        )
    sim.kubectl(
        "apply",
        "-f",
        "-",
        input=guide_with(audit={"enabled": True}, virtualMachineCIDRs=["10.66.10.0/24", "10.66.20.0/24"], **{"dvcr.storage.persistentVolumeClaim.size": "60G"}),
    )

    def dvcr_claim():
        return json.loads(sim.kubectl("get", "pvc", "-n", "d8-virtualization", "dvcr", "-o", "json").stdout)

    # the claim is Pending (this cluster has no class sds-replicated-thin-r1): the API grows a bound claim only, so it
    # keeps 50G until the class comes and it binds, then grows to the 60G the settings ask for
    time.sleep(0.5)
    assert dvcr_claim()["spec"]["resources"]["requests"]["storage"] == "50G"
    sim.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sds-replicated-thin-r1"},
                                                      "provisioner": "replicated.csi.storage.deckhouse.io", "allowVolumeExpansion": True}))  # fmt: skip
    grown = wait_for(lambda: (c := dvcr_claim())["spec"]["resources"]["requests"]["storage"] == "60G" and c)
    assert grown["status"]["phase"] == "Bound"


def test_module_config_checks_names_the_holder_and_is_idempotent(sim, tmp_path):
    ns = "mc-" + str(int(time.time() * 1000) % 100000)
    sim.kubectl("create", "namespace", ns)
    sim.kubectl(
        "apply", "-f", "-", input=guide_with(virtualMachineCIDRs=["10.66.10.0/24", "10.66.20.0/24"], **{"dvcr.storage.persistentVolumeClaim.size": "60G"})
    )
    sim.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input="apiVersion: virtualization.deckhouse.io/v1alpha2\nkind: VirtualMachineIPAddress\nmetadata: {name: web-ip}\n"
        "spec: {type: Static, staticIP: 10.66.20.14}\n",
    )
    sim.kubectl("apply", "-f", "-", input=VM.replace("NS", ns))
    wait_for(lambda: json.loads(sim.kubectl("get", "vmip", "-n", ns, "web-ip", "-o", "json").stdout).get("status", {}).get("virtualMachineName") == "web")

    base = {
        "enabled": True,
        "version": 1,
        "settings": {
            "dvcr": {"storage": {"type": "PersistentVolumeClaim", "persistent_volume_claim": {"size": "60G", "storage_class_name": "sds-replicated-thin-r1"}}},
            "virtual_machine_cidrs": ["10.66.10.0/24", "10.66.20.0/24"],
        },
    }

    def mc(name, check=False, diff=False, errors=False, **settings_changes):
        s = json.loads(json.dumps(base))
        s["settings"].update(settings_changes)
        return {
            "name": name,
            "deckhouse.virtualization.module_config": s,
            **({"check_mode": True} if check else {}),
            **({"diff": True} if diff else {}),
            **({"ignore_errors": True} if errors else {}),
        }

    bad = {
        "overlap": (
            mc("overlap", errors=True, virtual_machine_cidrs=["10.66.10.0/24", "10.66.10.0/25", "10.66.20.0/24"]),
            "settings.virtual_machine_cidrs[1]: 10.66.10.0/25 overlaps settings.virtual_machine_cidrs[0]",
        ),
        "pod": (
            mc("pod", errors=True, virtual_machine_cidrs=["10.66.10.0/24", "10.66.20.0/24", "10.111.0.0/16"]),
            "settings.virtual_machine_cidrs[2]: 10.111.0.0/16 overlaps the cluster pod subnet 10.111.0.0/16",
        ),
        "host bits": (
            mc("host bits", errors=True, virtual_machine_cidrs=["10.66.10.1/24", "10.66.20.0/24"]),
            "has host bits set: write the network address aligned to the mask, 10.66.10.0/24",
        ),
        "node": (
            mc("node", errors=True, virtual_machine_cidrs=["10.66.10.0/24", "10.66.20.0/24", "192.168.10.8/29"]),
            "contains the address 192.168.10.10 of node master-0",
        ),
        "leased": (
            mc("leased", errors=True, virtual_machine_cidrs=["10.66.10.0/24"]),
            f"10.66.20.0/24 cannot be removed while addresses in it are leased: "
            f"10.66.20.14 held by VirtualMachine {ns}/web through VirtualMachineIPAddress {ns}/web-ip",
        ),
        "shrink": (
            mc("shrink", errors=True, dvcr={"storage": {"persistent_volume_claim": {"size": "10G", "storage_class_name": "sds-replicated-thin-r1"}}}),
            "DVCR storage never shrinks: 10G is less than the configured 60G",
        ),
        "dvcr class": (
            mc("dvcr class", errors=True, dvcr={"storage": {"persistent_volume_claim": {"size": "60G", "storage_class_name": "x"}}}),
            "cannot change from sds-replicated-thin-r1 to x once the DVCR volume",
        ),
        "audit": (mc("audit", errors=True, audit={"enabled": True}), "settings.audit.enabled: security event audit needs the modules"),
        "both spellings": (
            mc("both spellings", errors=True, virtual_disks={"allowed_storage_class_names": ["a"], "allowed_storage_class_selector": {"match_names": ["a"]}}),
            "give allowed_storage_class_names or allowed_storage_class_selector.match_names, not both",
        ),
    }
    sim.kubectl("patch", "moduleconfig", "log-shipper", "--type=merge", "-p", '{"spec":{"enabled":false}}', check=False)
    before = sim.kubectl("get", "moduleconfig", "virtualization", "-o", "jsonpath={.metadata.resourceVersion}").stdout
    run = run_playbook(tmp_path, sim.kubeconfig, [task for task, _unused in bad.values()])
    for name, (_unused, message) in bad.items():
        assert run[name].get("failed"), name
        assert message in run[name]["msg"], (name, run[name]["msg"])
    assert sim.kubectl("get", "moduleconfig", "virtualization", "-o", "jsonpath={.metadata.resourceVersion}").stdout == before, "nothing written"

    images = {"default_storage_class_name": "sc-1", "allowed_storage_class_names": ["sc-1", "sc-2"]}
    run = run_playbook(
        tmp_path,
        sim.kubeconfig,
        [
            mc("check", check=True, diff=True, virtual_images=images),
            mc("apply", diff=True, virtual_images=images),
            mc("again", virtual_images=images),
            {"name": "info", "deckhouse.virtualization.module_config_info": {}},
        ],
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert run["check"]["changed"] and "virtualImages" not in run["check"]["diff"]["before"]["spec"]["settings"]
    assert run["check"]["diff"]["after"]["spec"]["settings"]["virtualImages"] == {
        "defaultStorageClassName": "sc-1",
        "allowedStorageClassSelector": {"matchNames": ["sc-1", "sc-2"]},
    }
    assert run["apply"]["changed"] and run["again"]["changed"] is False
    assert settings(sim)["virtualImages"]["allowedStorageClassSelector"] == {"matchNames": ["sc-1", "sc-2"]}
    assert any("StorageClass sc-2 does not exist" in w for w in run["apply"].get("warnings", []))
    usage = {c["cidr"]: c for c in run["info"]["cidrs"]}
    assert usage["10.66.20.0/24"]["usable"] == 254 and usage["10.66.20.0/24"]["leased"] == 1 and usage["10.66.20.0/24"]["addresses"] == ["10.66.20.14"]
    assert run["info"]["pod_subnet"] == "10.111.0.0/16"


def test_ce_edition_refuses_feature_gates_and_audit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ce")
    topo = tmp / "ce.yaml"
    topo.write_text(yaml.safe_dump({"cluster": {"edition": "CE"}, "nodes": [{"name": "solo", "cpu": {"model": "Nehalem", "cores": 2}, "memory": "4Gi"}]}))
    s = Simulator.start(tmp / "state", "--topology", str(topo))
    try:
        s.kubectl("apply", "-f", "-", input=GUIDE)
        for module in ("log-shipper", "runtime-audit-engine"):
            s.kubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump({"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": module}, "spec": {"enabled": True}}),
            )
        out = s.kubectl("apply", "-f", "-", input=guide_with(featureGates=["HotplugCPUWithLiveMigration"]), check=False)
        assert out.returncode != 0 and "featureGates: HotplugCPUWithLiveMigration is not available in the CE edition" in out.stderr
        out = s.kubectl("apply", "-f", "-", input=guide_with(audit={"enabled": True}), check=False)
        assert out.returncode != 0 and "audit.enabled: security event audit is not available in the CE edition" in out.stderr
        bad = tmp / "bad.yaml"
        bad.write_text(yaml.safe_dump({"cluster": {"edition": "XE"}}))
        with pytest.raises(RuntimeError):
            Simulator.start(tmp / "bad-state", "--topology", str(bad))
    finally:
        assert s.stop() == 0
