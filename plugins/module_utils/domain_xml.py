# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt domain XML for a running VM, as KubeVirt's virt-launcher renders it from the platform's VM
(BEHAVIOUR.md §3.6 "How the class maps to the guest CPU", §4.2, §4.5). Pure Python (no Ansible, no libvirt):
the simulator defines the result on the node's libvirt test-driver connection; the unit tests prove libvirt
accepts every variant (schema-validated `defineXMLFlags`)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from . import vm_rules

CPU_TYPES = ("Host", "HostPassthrough", "Discovery", "Model", "Features")
FIRMWARES = ("BIOS", "EFI", "EFIWithSecureBoot")
FORMATS = ("raw", "qcow2")
BUSES = ("virtio", "sata", "scsi")
# KubeVirt's SetCPUModel: Discovery and Features classes run qemu64 plus the required features
FEATURES_BASE_MODEL = "qemu64"
# features KubeVirt does not require (kvbuilder): invtsc blocks migration, so it is only "optional"; svm is
# added as optional so nested virtualization works where the host has it
OPTIONAL_FEATURES = ("invtsc",)
ADDED_OPTIONAL_FEATURES = ("svm",)


@dataclass(frozen=True)
class Disk:
    """One block device. `target` is the guest device name (vda, sda …); `source` a file path on the node (the
    test driver never opens it); `format` raw | qcow2; `boot_order` ≥ 1 or None (not bootable); `cdrom` a
    read-only CD-ROM; `bus` virtio | sata | scsi (osType Windows/Legacy or paravirtualization off → sata).
    QEMU has no virtio CD-ROM, so a CD-ROM left on the default `virtio` bus is rendered on sata, as KubeVirt
    defaults CD-ROMs."""

    target: str
    source: str
    format: str
    boot_order: int | None
    cdrom: bool = False
    bus: str = "virtio"


@dataclass(frozen=True)
class DomainSpec:
    """What the domain of one running VM needs.

    `name` is the domain name (e.g. "<namespace>_<vm>", escaped here); `cores` the vCPU count (topology per
    `cpu_topology`); `memory_bytes` guest RAM (rendered in KiB, rounded up); `cpu_type` the class's spec.cpu.type;
    `cpu_model` the libvirt model for Model (required), for Discovery/Features a model the features imply or
    None (then qemu64, as KubeVirt); `cpu_features` the required features (Discovery: the class's
    status.cpuFeatures.enabled; Features: its spec); `firmware` BIOS | EFI | EFIWithSecureBoot; `mac` the Main
    network's MAC or None (no interface)."""

    name: str
    uuid: str
    cores: int
    memory_bytes: int
    cpu_type: str
    cpu_model: str | None
    cpu_features: tuple[str, ...]
    firmware: str
    disks: tuple[Disk, ...]
    mac: str | None = None


def cpu_topology(cores: int) -> tuple[int, int]:
    """(sockets, cores_per_socket) per the §4.5 table. ValueError with the platform's text when the webhook would
    refuse the count ("… must be a multiple of N", "… exceeds the maximum of 248", below 1)."""
    problem = vm_rules.check_cores(cores)
    if problem:
        raise ValueError(problem)
    return vm_rules.cpu_topology(cores)


def guest_cpu(spec: DomainSpec) -> tuple[str, str | None, tuple[tuple[str, str], ...]]:
    """(libvirt CPU mode, model or None, ((policy, feature), …)) for the class type — KubeVirt's SetCPUModel.
    ValueError for an unknown type or a Model class without a model."""
    if spec.cpu_type == "Host":
        return "host-model", None, ()
    if spec.cpu_type == "HostPassthrough":
        return "host-passthrough", None, ()
    if spec.cpu_type == "Model":
        if not spec.cpu_model:
            raise ValueError("a Model class needs cpu_model")
        return "custom", spec.cpu_model, ()
    if spec.cpu_type in ("Discovery", "Features"):
        features = [("optional" if f in OPTIONAL_FEATURES else "require", f) for f in dict.fromkeys(spec.cpu_features)]
        features += [("optional", f) for f in ADDED_OPTIONAL_FEATURES if f not in spec.cpu_features]
        return "custom", spec.cpu_model or FEATURES_BASE_MODEL, tuple(features)
    raise ValueError(f"unknown CPU type {spec.cpu_type!r}; expected one of {', '.join(CPU_TYPES)}")


def _attr(value: object) -> str:
    return quoteattr(str(value))


def _cpu(spec: DomainSpec) -> str:
    mode, model, features = guest_cpu(spec)
    sockets, per_socket = cpu_topology(spec.cores)
    lines = [f"  <cpu mode={_attr(mode)}>"]
    if model:
        lines.append(f"    <model>{escape(model)}</model>")
    lines.append(f"    <topology sockets='{sockets}' cores='{per_socket}' threads='1'/>")
    lines += [f"    <feature policy={_attr(policy)} name={_attr(name)}/>" for policy, name in features]
    lines.append("  </cpu>")
    return "\n".join(lines)


def _os(spec: DomainSpec) -> str:
    if spec.firmware not in FIRMWARES:
        raise ValueError(f"unknown firmware {spec.firmware!r}; expected one of {', '.join(FIRMWARES)}")
    machine = "    <type arch='x86_64' machine='q35'>hvm</type>"
    if spec.firmware == "BIOS":
        return f"  <os>\n{machine}\n  </os>"
    secure = "yes" if spec.firmware == "EFIWithSecureBoot" else "no"
    # libvirt's firmware auto-selection: the secure-boot feature (with Microsoft keys enrolled) picks the
    # OVMF secboot build, as KubeVirt's loader choice does
    return (
        f"  <os firmware='efi'>\n{machine}\n    <firmware>\n"
        f"      <feature enabled='{secure}' name='secure-boot'/>\n      <feature enabled='{secure}' name='enrolled-keys'/>\n"
        "    </firmware>\n  </os>"
    )


def _disk(disk: Disk) -> str:
    if disk.format not in FORMATS:
        raise ValueError(f"disk {disk.target}: unknown format {disk.format!r}; expected raw or qcow2")
    if disk.bus not in BUSES:
        raise ValueError(f"disk {disk.target}: unknown bus {disk.bus!r}; expected one of {', '.join(BUSES)}")
    if disk.boot_order is not None and disk.boot_order < 1:
        raise ValueError(f"disk {disk.target}: boot order must be at least 1, not {disk.boot_order}")
    bus = "sata" if disk.cdrom and disk.bus == "virtio" else disk.bus
    device = "cdrom" if disk.cdrom else "disk"
    lines = [
        f"    <disk type='file' device='{device}'>",
        f"      <driver name='qemu' type={_attr(disk.format)} cache='none'/>",
        f"      <source file={_attr(disk.source)}/>",
        f"      <target dev={_attr(disk.target)} bus={_attr(bus)}/>",
    ]
    if disk.cdrom:
        lines.append("      <readonly/>")
    if disk.boot_order is not None:
        lines.append(f"      <boot order='{disk.boot_order}'/>")
    lines.append("    </disk>")
    return "\n".join(lines)


def domain_xml(spec: DomainSpec) -> str:
    """The domain XML of a running VM: KVM, q35, memory in KiB, vCPUs with the §4.5 topology, the class's CPU
    mode, firmware, disks with their boot order, one virtio interface when `mac` is given. Deterministic for a
    spec. ValueError on an unknown CPU type / firmware / format / bus, duplicate disk targets or boot orders,
    or a core count the webhook refuses."""
    targets = [d.target for d in spec.disks]
    if len(set(targets)) != len(targets):
        raise ValueError(f"duplicate disk targets: {', '.join(sorted({t for t in targets if targets.count(t) > 1}))}")
    orders = [d.boot_order for d in spec.disks if d.boot_order is not None]
    if len(set(orders)) != len(orders):
        raise ValueError("duplicate boot orders")
    kib = -(-spec.memory_bytes // 1024)
    features = ["<acpi/>", "<apic/>"]
    if spec.firmware == "EFIWithSecureBoot":
        features.append("<smm state='on'/>")  # secure boot's varstore needs SMM (libvirt refuses it otherwise on QEMU)
    devices = [_disk(d) for d in spec.disks]
    if spec.mac:
        devices.append(f"    <interface type='ethernet'>\n      <mac address={_attr(spec.mac)}/>\n      <model type='virtio'/>\n    </interface>")
    devices.append("    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>")
    parts = [
        "<domain type='kvm'>",
        f"  <name>{escape(spec.name)}</name>",
        f"  <uuid>{escape(spec.uuid)}</uuid>",
        f"  <memory unit='KiB'>{kib}</memory>",
        f"  <currentMemory unit='KiB'>{kib}</currentMemory>",
        f"  <vcpu placement='static'>{spec.cores}</vcpu>",
        _os(spec),
        f"  <features>{''.join(features)}</features>",
        _cpu(spec),
        "  <clock offset='utc'/>",
        "  <on_poweroff>destroy</on_poweroff>",
        "  <on_reboot>restart</on_reboot>",
        "  <on_crash>destroy</on_crash>",
        "  <devices>",
        *devices,
        "  </devices>",
        "</domain>",
    ]
    return "\n".join(parts) + "\n"
