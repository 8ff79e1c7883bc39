"""Service address allocation, as kube-apiserver's Service registry does it on create: a ClusterIP from the
cluster's service CIDR (or the one asked for, if free), single-stack IPv4 families, and node ports from
30000-32767 for NodePort and LoadBalancer services. Free addresses are found through store indexes of the
addresses in use, so allocation costs the same whatever the number of Services."""

from __future__ import annotations

import ipaddress
import random

from ..store.store import Store
from .admission import CREATE, Admission, AdmissionRequest
from .errors import cause, invalid

SERVICES = "/services"
BY_CLUSTER_IP = "clusterIP"
BY_NODE_PORT = "nodePort"
NODE_PORTS = range(30000, 32768)


def register(admission: Admission, store: Store, service_cidr: str) -> None:
    network = ipaddress.ip_network(service_cidr)
    store.add_index(SERVICES, BY_CLUSTER_IP, lambda o: [ip for ip in o.get("spec", {}).get("clusterIPs") or [] if ip != "None"])
    store.add_index(SERVICES, BY_NODE_PORT, lambda o: [str(p["nodePort"]) for p in o.get("spec", {}).get("ports") or [] if p.get("nodePort")])
    rng = random.Random()

    def free(index: str, value: str) -> bool:
        return not store.by_index(SERVICES, index, value)

    def pick_ip() -> str:
        # random probing, as kube's bitmap allocator does; the first host addresses are kept for system services
        for _ in range(1000):
            ip = str(network[rng.randrange(10, network.num_addresses - 1)])
            if free(BY_CLUSTER_IP, ip):
                return ip
        raise invalid("", "Service", "", [cause("spec.clusterIPs", "Internal error: failed to allocate a serviceIP: range is full")])

    @admission.mutate("", "Service", operations=(CREATE,))
    def allocate(request: AdmissionRequest) -> None:
        obj = request.obj
        name = obj["metadata"].get("name", "")
        spec = obj.setdefault("spec", {})
        kind = spec.get("type") or "ClusterIP"
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
        if kind == "ExternalName":
            return
        wanted = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
        if wanted and wanted != "None":
            try:
                inside = ipaddress.ip_address(wanted) in network
            except ValueError:
                inside = False
            if not inside:
                raise invalid("", "Service", name, [cause("spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {network}')])
            if not free(BY_CLUSTER_IP, wanted):
                raise invalid("", "Service", name, [cause("spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: provided IP is already allocated')])
        ip = wanted or pick_ip()
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if kind in ("NodePort", "LoadBalancer"):
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                field = f"spec.ports[{i}].nodePort"
                if port.get("nodePort"):
                    if not free(BY_NODE_PORT, str(port["nodePort"])):
                        raise invalid("", "Service", name, [cause(field, f"Invalid value: {port['nodePort']}: provided port is already allocated")])
                    continue
                picked = next((p for p in (rng.choice(NODE_PORTS) for _ in range(1000)) if free(BY_NODE_PORT, str(p))), None)
                if picked is None:  # random probing found none free: the range is (nearly) full
                    raise invalid("", "Service", name, [cause(field, "Internal error: failed to allocate a nodePort: range is full")])
                port["nodePort"] = picked
