"""A node's hypervisor: a private libvirt test-driver instance per node.

libvirt's test driver gives every `test:///<absolute path>` connection its own in-memory driver state, built
from the node XML at that path (the host's CPU model, cores and memory). A domain defined on one node's
connection is therefore invisible on every other node's: "this VM's domain runs on exactly one node" is a
fact libvirt can be asked about. The state lives as long as the connection, so each node keeps its one
connection open from first use until the fleet stops (opening again would start from an empty host).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from .topology import NodeSpec

STATES = {0: "NoState", 1: "Running", 2: "Blocked", 3: "Paused", 4: "ShuttingDown", 5: "Shutoff", 6: "Crashed", 7: "Suspended"}
MHZ = 2400


def domain_name(namespace: str, vm: str) -> str:
    """The libvirt domain of a VM, as KubeVirt names it: `<namespace>_<name>`."""
    return f"{namespace}_{vm}"


def node_xml(spec: NodeSpec) -> str:
    """The test driver's description of a host: one NUMA cell, one socket, `cores` cores, memory in KiB."""
    cpu = spec.cpu
    return (
        "<node>\n"
        f"  <cpu><mhz>{MHZ}</mhz><model>{escape(cpu.model)}</model><nodes>1</nodes><sockets>1</sockets>"
        f"<cores>{cpu.cores}</cores><threads>1</threads><active>{cpu.cores}</active></cpu>\n"
        f"  <memory>{spec.memory_bytes // 1024}</memory>\n"
        "</node>\n"
    )


def _quiet(_ctx: Any, _error: Any) -> None:
    """libvirt's error callback: errors reach the caller as libvirtError, nothing is printed."""


class Hypervisor:
    """One node's libvirt connection, opened on first use (opening costs ~0.4 ms; 1,000 idle nodes cost nothing).

    The node XML is written to `directory/<node>.xml` (0600) right before the connection is opened.
    """

    def __init__(self, spec: NodeSpec, directory: Path):
        self.spec = spec
        self.path = directory / f"{spec.name}.xml"
        self._conn: Any = None

    @property
    def uri(self) -> str:
        return f"test://{self.path}"

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def connection(self) -> Any:
        """The node's libvirt connection (libvirt.virConnect), opened now if it is not open yet."""
        if self._conn is None:
            import libvirt

            # libvirt prints every error to stderr unless a handler takes it; ours arrive as libvirtError anyway
            # (a domain looked up and not found is an answer, not a log line).
            libvirt.registerErrorHandler(_quiet, None)
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(node_xml(self.spec))
            self._conn = libvirt.open(self.uri)
        return self._conn

    # -- domains: the API later issues run VMs with ----------------------------------------------------------
    def define(self, domain_xml: str) -> str:
        """Define (or redefine) a domain on this node from libvirt domain XML; returns its name."""
        return self.connection.defineXML(domain_xml).name()

    def start(self, name: str) -> None:
        self.connection.lookupByName(name).create()

    def reboot(self, name: str) -> None:
        """Reboot the running domain (it stays running, as after a guest's own reboot)."""
        self.connection.lookupByName(name).reboot()

    def destroy(self, name: str) -> None:
        """Power the domain off (as a hard stop); it stays defined."""
        self.connection.lookupByName(name).destroy()

    def suspend(self, name: str) -> None:
        """Pause the running domain (a live migration's last, stop-and-copy step)."""
        self.connection.lookupByName(name).suspend()

    def resume(self, name: str) -> None:
        self.connection.lookupByName(name).resume()

    def undefine(self, name: str) -> None:
        """Forget a domain; a running one is destroyed first."""
        dom = self.connection.lookupByName(name)
        if dom.isActive():
            dom.destroy()
        dom.undefine()

    def state(self, name: str) -> str | None:
        """One domain's state (libvirt's state name), None when this node has no such domain: one lookup, where
        `domains()` asks about every domain of the node."""
        if self._conn is None:
            return None
        import libvirt

        try:
            return STATES.get(self._conn.lookupByName(name).state()[0], "Unknown")
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def domains(self) -> list[dict[str, Any]]:
        """Every domain of this node, sorted by name: name, uuid and state (libvirt's state name)."""
        if self._conn is None:
            return []  # never opened: an empty host
        out = [{"name": d.name(), "uuid": d.UUIDString(), "state": STATES.get(d.state()[0], "Unknown")} for d in self._conn.listAllDomains()]
        return sorted(out, key=lambda d: d["name"])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.path.unlink(missing_ok=True)
