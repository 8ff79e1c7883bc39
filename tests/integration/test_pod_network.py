"""The pods a client creates, as an admin sees them with `kubectl get pods -o wide`: each started pod has an address
of its node's podCIDR (after the gateway, distinct on the node), a pod on the host's network the node's address; a VM's
virt-launcher pod the VM's own address (DVP's cni.cilium.io/ipAddress). And the default scheduler counts what it bound:
a second pod that does not fit beside the first is not put on the same node (the first was missing from the node's pod
index when the scheduler bound it by changing the stored pod in place)."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from ..simulator_process import Simulator
from . import iso_vms
from .polling import eventually
from .test_vm_lifecycle import get

NODES = [
    {"name": "net-0", "cpu": {"model": "Nehalem", "cores": 4}, "memory": "8Gi"},
    {"name": "net-1", "cpu": {"model": "Nehalem", "cores": 4}, "memory": "8Gi"},
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("net")
    (tmp / "topology.yaml").write_text(yaml.safe_dump({"nodes": NODES}))
    s = Simulator.start(tmp / "state", "--topology", str(tmp / "topology.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0


def run(sim, name: str, node: str, cpu: str | None = None, host_network: bool = False) -> None:
    container = {"name": name, "image": "nginx:1.27", **({"resources": {"requests": {"cpu": cpu}}} if cpu else {})}
    spec = {"nodeSelector": {"kubernetes.io/hostname": node}, "containers": [container], **({"hostNetwork": True} if host_network else {})}
    sim.kubectl("run", name, "--image=nginx:1.27", f"--overrides={json.dumps({'spec': spec})}")


def pod(sim, name: str) -> dict:
    return get(sim, "pod", name, "default")


def running(sim, name: str) -> dict:
    return eventually(lambda: pod(sim, name), lambda p: (p.get("status") or {}).get("phase") == "Running")


def test_started_pods_get_distinct_addresses_of_their_nodes_pod_cidr(sim):
    for name in ("web-a", "web-b", "web-c"):
        run(sim, name, "net-0")
    node = get(sim, "node", "net-0", "")
    network = ipaddress.ip_network(node["spec"]["podCIDR"])
    addresses = {name: running(sim, name)["status"]["podIP"] for name in ("web-a", "web-b", "web-c")}
    assert len(set(addresses.values())) == 3, addresses
    for address in addresses.values():
        assert ipaddress.ip_address(address) in network and address != str(next(network.hosts())), "after the gateway"
    assert pod(sim, "web-a")["status"]["podIPs"] == [{"ip": addresses["web-a"]}]
    wide = sim.kubectl("get", "pods", "-o", "wide").stdout
    assert all(address in wide for address in addresses.values()), wide
    found = sim.kubectl("get", "pods", "--field-selector", f"status.podIP={addresses['web-b']}", "-o", "name").stdout.split()
    assert found == ["pod/web-b"]
    run(sim, "on-host", "net-0", host_network=True)
    internal = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    assert running(sim, "on-host")["status"]["podIP"] == internal


def test_the_default_scheduler_counts_the_pods_it_bound(sim):
    run(sim, "big-1", "net-1", cpu="3")
    assert running(sim, "big-1")["spec"]["nodeName"] == "net-1"
    run(sim, "big-2", "net-1", cpu="3")  # 3 + 3 CPUs on a node of 4: it must wait
    events = eventually(
        lambda: json.loads(sim.kubectl("get", "events", "--field-selector", "involvedObject.name=big-2", "-o", "json").stdout)["items"],
        lambda items: any(e["reason"] == "FailedScheduling" for e in items),
    )
    assert any("Insufficient cpu" in e["message"] for e in events if e["reason"] == "FailedScheduling"), events
    assert not pod(sim, "big-2")["spec"].get("nodeName")
    sim.kubectl("delete", "pod", "big-1")
    assert running(sim, "big-2")["spec"]["nodeName"] == "net-1"


def endpoints_column(sim, name: str, ns: str = "default") -> str:
    return sim.kubectl("get", "endpoints", name, "-n", ns, "--no-headers").stdout.split()[1]


def test_a_services_endpoints_follow_its_pods(sim):
    for name in ("api-a", "api-b"):
        sim.kubectl("run", name, "--image=nginx:1.27", "--labels=app=api", "--port=8080")
    addresses = sorted((running(sim, n)["status"]["podIP"] for n in ("api-a", "api-b")), key=ipaddress.ip_address)
    sim.kubectl("create", "service", "clusterip", "api", "--tcp=80:8080")  # selects app=api
    wanted = ",".join(f"{a}:8080" for a in addresses)
    assert eventually(lambda: endpoints_column(sim, "api"), lambda text: text == wanted, timeout=20) == wanted
    assert f"Endpoints:                {wanted}" in sim.kubectl("describe", "service", "api").stdout
    slices = json.loads(sim.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=api", "-o", "json").stdout)["items"]
    assert [sorted(a for e in s["endpoints"] for a in e["addresses"]) for s in slices] == [addresses]
    assert slices[0]["ports"] == [{"name": "80-8080", "port": 8080, "protocol": "TCP"}] and slices[0]["metadata"]["ownerReferences"][0]["name"] == "api"
    endpoints = json.loads(sim.kubectl("get", "endpoints", "api", "-o", "json").stdout)
    assert {a["targetRef"]["name"] for a in endpoints["subsets"][0]["addresses"]} == {"api-a", "api-b"}
    sim.kubectl("delete", "pod", "api-b")
    left = pod(sim, "api-a")["status"]["podIP"] + ":8080"
    assert eventually(lambda: endpoints_column(sim, "api"), lambda text: text == left, timeout=20) == left
    sim.kubectl("label", "pod", "api-a", "app=other", "--overwrite")
    assert eventually(lambda: endpoints_column(sim, "api"), lambda text: text == "<none>", timeout=20) == "<none>"
    sim.kubectl("delete", "service", "api")

    def left_over() -> list[str]:
        return sim.kubectl("get", "endpoints,endpointslices", "-l", "kubernetes.io/service-name=api", "-o", "name").stdout.split()

    eventually(left_over, lambda names: names == [], timeout=20)
    assert sim.kubectl("get", "endpoints", "api", check=False).returncode != 0


def test_a_vms_pod_holds_the_vms_address_and_a_service_reaches_it(tmp_path_factory):
    with iso_vms.running(tmp_path_factory.mktemp("vmnet"), "vmnet", NODES, "10.66.32.0/24", {"web": {"cores": 1, "memory": "1Gi"}}) as cluster:
        vm_sim, ns = cluster["sim"], cluster["ns"]
        address = get(vm_sim, "vm", "web", ns)["status"]["ipAddress"]
        # the VM's ipAddress is the address of its bound VMIP (BEHAVIOUR.md §4.7): in the history of both, replayed
        # by watches from the first version, no version of the VM reports an address its VMIP had not been bound to
        history = []
        for plural in ("virtualmachines", "virtualmachineipaddresses"):
            path = f"/apis/virtualization.deckhouse.io/v1alpha2/namespaces/{ns}/{plural}?watch=1&resourceVersion=1&timeoutSeconds=1"
            raw = vm_sim.kubectl("get", "--raw", path)
            history += [json.loads(line)["object"] for line in raw.stdout.splitlines() if line.strip()]
        history.sort(key=lambda o: int(o["metadata"]["resourceVersion"]))
        bound_to: dict[str, str] = {}
        reported = []
        for version in history:
            st = version.get("status") or {}
            if version["kind"] == "VirtualMachineIPAddress":
                bound = any(c["type"] == "Bound" and c["status"] == "True" for c in st.get("conditions") or [])
                bound_to[version["metadata"]["name"]] = st.get("address", "") if bound else ""
            elif st.get("ipAddress"):
                reported.append(st["ipAddress"])
                assert bound_to.get(st.get("virtualMachineIPAddressName", "")) == st["ipAddress"], (version["metadata"]["resourceVersion"], st)
        assert address in reported
        launcher = get(vm_sim, "pod", cluster["pods"]["web"], ns)
        assert address and launcher["metadata"]["annotations"]["cni.cilium.io/ipAddress"] == address
        assert launcher["status"]["podIP"] == address and launcher["status"]["podIPs"] == [{"ip": address}]
        # a Service selecting the VM's pod by the VM's name label: its endpoint is the VM's own address
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-ssh", "namespace": ns},
                   "spec": {"selector": {"vm.kubevirt.internal.virtualization.deckhouse.io/name": "web"}, "ports": [{"name": "ssh", "port": 22}]}}  # fmt: skip
        vm_sim.kubectl("apply", "-f", "-", input=json.dumps(service))
        assert eventually(lambda: endpoints_column(vm_sim, "web-ssh", ns), lambda text: text != "<none>", timeout=20) == f"{address}:22"
        # the VM's priorityClassName reaches its pod through the Priority plugin; a class that does not exist refuses it
        vm_sim.kubectl("create", "priorityclass", "vms-first", "--value=1000")  # an admin's own class
        for name, priority_class in (("critical", "system-cluster-critical"), ("own", "vms-first"), ("nope", "no-such-class")):
            body = {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachine", "metadata": {"name": name, "namespace": ns},
                    "spec": {"virtualMachineClassName": "generic", "cpu": {"cores": 1}, "memory": {"size": "1Gi"}, "priorityClassName": priority_class,
                             "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": "vmnet-iso"}]}}  # fmt: skip
            vm_sim.kubectl("apply", "-f", "-", input=json.dumps(body))
        eventually(lambda: get(vm_sim, "vm", "critical", ns), lambda o: (o.get("status") or {}).get("phase") == "Running", 60)
        pods = json.loads(vm_sim.kubectl("get", "pods", "-n", ns, "-l", "vm.kubevirt.internal.virtualization.deckhouse.io/name=critical", "-o", "json").stdout)
        assert [(p["spec"]["priorityClassName"], p["spec"]["priority"]) for p in pods["items"]] == [("system-cluster-critical", 2000000000)]
        eventually(lambda: get(vm_sim, "vm", "own", ns), lambda o: (o.get("status") or {}).get("phase") == "Running", 60)
        pods = json.loads(vm_sim.kubectl("get", "pods", "-n", ns, "-l", "vm.kubevirt.internal.virtualization.deckhouse.io/name=own", "-o", "json").stdout)
        assert [(p["spec"]["priorityClassName"], p["spec"]["priority"]) for p in pods["items"]] == [("vms-first", 1000)]

        def running_message(o: dict) -> str:
            return next((c.get("message", "") for c in (o.get("status") or {}).get("conditions") or [] if c["type"] == "Running"), "")

        refused = eventually(lambda: get(vm_sim, "vm", "nope", ns), lambda o: "no PriorityClass with name no-such-class" in running_message(o), 60)
        assert refused["status"]["phase"] == "Pending", refused["status"]
