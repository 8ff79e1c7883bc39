"""Domain XML for a running VM (plugins/module_utils/domain_xml.py): the §4.5 topology, the CPU mode per class
type, firmware, disks — every variant accepted by libvirt (schema-validated define on the test driver, on
`test:///default` and on a simulated node's own connection) — and `CPUMap.runnable_on` for migration checks."""

import itertools
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import CPUMapError, default_map
from ansible_collections.deckhouse.virtualization.plugins.module_utils.domain_xml import (
    CPU_TYPES,
    FIRMWARES,
    Disk,
    DomainSpec,
    cpu_topology,
    domain_xml,
)
from dvp_simulator.nodes.hypervisor import Hypervisor
from dvp_simulator.nodes.topology import CPU, NodeSpec

GI = 1024**3
ROOT = Disk("vda", "/var/lib/dvp/vms/root.qcow2", "qcow2", 2)
ISO = Disk("sda", "/var/lib/dvp/images/ubuntu.iso", "raw", 1, cdrom=True)


def spec(cpu_type="Discovery", model=None, features=("avx", "sse4.2"), firmware="BIOS", disks=(ISO, ROOT), **kw):
    return DomainSpec(
        name=kw.pop("name", "vms_linux-vm"), uuid=kw.pop("uuid", "6c7f6b0e-1a37-4a8e-9c43-0a5a0e6a8a01"), cores=kw.pop("cores", 2),
        memory_bytes=kw.pop("memory_bytes", 2 * GI), cpu_type=cpu_type, cpu_model=model, cpu_features=features,
        firmware=firmware, disks=disks, **kw,
    )  # fmt: skip


MODELS = {"Host": None, "HostPassthrough": None, "Model": "Nehalem", "Discovery": None, "Features": "Haswell-noTSX"}


@pytest.fixture(scope="module")
def default_conn():
    conn = libvirt.open("test:///default")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def node_hv(tmp_path_factory):
    node = NodeSpec(
        name="worker-0", labels={}, taints=[], cpu=CPU("Intel", "Cascadelake-Server-noTSX", ("vmx",), 8), memory="16Gi",
        memory_bytes=16 * GI, address="10.0.0.10", fencing_enabled=False, fencing_mode="", pod_cidr="10.244.0.0/24",
    )  # fmt: skip
    hv = Hypervisor(node, tmp_path_factory.mktemp("nodes"))
    yield hv
    hv.close()


def parse(xml):
    return ET.fromstring(xml)


# -- topology -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cores,expected", [(1, (1, 1)), (16, (1, 16)), (18, (2, 9)), (32, (2, 16)), (36, (4, 9)), (64, (4, 16)), (72, (8, 9)), (248, (8, 31))])
def test_topology_table(cores, expected):
    assert cpu_topology(cores) == expected
    root = parse(domain_xml(spec(cores=cores)))
    top = root.find("cpu/topology").attrib
    assert (int(top["sockets"]), int(top["cores"]), top["threads"]) == (*expected, "1")
    assert root.findtext("vcpu") == str(cores)


@pytest.mark.parametrize(
    "cores,fragment", [(17, "must be a multiple of 2"), (34, "must be a multiple of 4"), (66, "must be a multiple of 8"), (249, "248"), (0, "at least 1")]
)
def test_topology_refused_as_the_webhook(cores, fragment):
    with pytest.raises(ValueError, match=fragment):
        cpu_topology(cores)
    with pytest.raises(ValueError, match=fragment):
        domain_xml(spec(cores=cores))


# -- rendering ----------------------------------------------------------------------------------------------------
def test_cpu_mode_per_class_type():
    host = parse(domain_xml(spec("Host"))).find("cpu")
    assert host.get("mode") == "host-model" and host.find("model") is None and host.findall("feature") == []
    assert parse(domain_xml(spec("HostPassthrough"))).find("cpu").get("mode") == "host-passthrough"
    model = parse(domain_xml(spec("Model", "Nehalem"))).find("cpu")
    assert (model.get("mode"), model.findtext("model"), model.findall("feature")) == ("custom", "Nehalem", [])
    disc = parse(domain_xml(spec("Discovery", None, ("avx", "invtsc", "sse4.2")))).find("cpu")
    assert (disc.get("mode"), disc.findtext("model")) == ("custom", "qemu64")  # KubeVirt's base model for features
    feats = [(f.get("policy"), f.get("name")) for f in disc.findall("feature")]
    assert feats == [("require", "avx"), ("optional", "invtsc"), ("require", "sse4.2"), ("optional", "svm")]
    feat = parse(domain_xml(spec("Features", "Haswell-noTSX", ("svm",)))).find("cpu")
    assert feat.findtext("model") == "Haswell-noTSX" and [(f.get("policy"), f.get("name")) for f in feat.findall("feature")] == [("require", "svm")]


def test_memory_disks_firmware_and_lifecycle():
    root = parse(domain_xml(spec(memory_bytes=GI + 1, mac="52:54:00:aa:bb:cc")))
    assert root.get("type") == "kvm" and root.find("memory").attrib == {"unit": "KiB"} and root.findtext("memory") == str(GI // 1024 + 1)
    disks = root.findall("devices/disk")
    assert [(d.get("device"), d.find("target").get("dev"), d.find("target").get("bus"), d.find("boot").get("order")) for d in disks] == [
        ("cdrom", "sda", "sata", "1"), ("disk", "vda", "virtio", "2")]  # fmt: skip
    assert disks[0].find("readonly") is not None and disks[1].find("driver").get("type") == "qcow2"
    assert root.find("devices/interface/mac").get("address") == "52:54:00:aa:bb:cc"
    assert (root.findtext("on_poweroff"), root.findtext("on_reboot"), root.findtext("on_crash")) == ("destroy", "restart", "destroy")
    assert root.find("os").get("firmware") is None
    efi = parse(domain_xml(spec(firmware="EFI")))
    assert efi.find("os").get("firmware") == "efi" and efi.find("features/smm") is None
    sb = parse(domain_xml(spec(firmware="EFIWithSecureBoot")))
    assert {f.get("name"): f.get("enabled") for f in sb.findall("os/firmware/feature")} == {"secure-boot": "yes", "enrolled-keys": "yes"}
    assert sb.find("features/smm").get("state") == "on"
    unbootable = parse(domain_xml(spec(disks=(Disk("vdb", "/d", "raw", None),))))
    assert unbootable.find("devices/disk/boot") is None


def test_names_are_escaped():
    xml = domain_xml(spec(name="ns_<vm>&'\"", disks=(Disk("vda", "/p/a b&c'.img", "raw", 1),)))
    root = parse(xml)
    assert root.findtext("name") == "ns_<vm>&'\"" and root.find("devices/disk/source").get("file") == "/p/a b&c'.img"


@pytest.mark.parametrize(
    "changes,fragment",
    [
        ({"cpu_type": "Turbo"}, "unknown CPU type"),
        ({"cpu_type": "Model", "cpu_model": None}, "needs cpu_model"),
        ({"firmware": "UEFI"}, "unknown firmware"),
        ({"disks": (Disk("vda", "/a", "vmdk", 1),)}, "unknown format"),
        ({"disks": (Disk("vda", "/a", "raw", 1, bus="ide"),)}, "unknown bus"),
        ({"disks": (Disk("vda", "/a", "raw", 1), Disk("vda", "/b", "raw", 2))}, "duplicate disk targets: vda"),
        ({"disks": (Disk("vda", "/a", "raw", 1), Disk("vdb", "/b", "raw", 1))}, "duplicate boot orders"),
        ({"disks": (Disk("vda", "/a", "raw", 0),)}, "at least 1"),
    ],
)
def test_refused_specs(changes, fragment):
    base = spec()
    with pytest.raises(ValueError, match=fragment):
        domain_xml(DomainSpec(**{**base.__dict__, **changes}))


# -- libvirt accepts every variant --------------------------------------------------------------------------------
VARIANTS = list(itertools.product(CPU_TYPES, FIRMWARES, ("virtio", "sata", "scsi")))


def _variant(cpu_type, firmware, bus, n):
    disks = (Disk("sda" if bus != "virtio" else "vda", f"/var/lib/dvp/{n}.img", "qcow2", 2, bus=bus), Disk("sdz", "/var/lib/dvp/cd.iso", "raw", 1, cdrom=True))
    return spec(
        cpu_type, MODELS[cpu_type], firmware=firmware, disks=disks, name=f"vms_vm-{n}&x", uuid=f"00000000-0000-4000-8000-{n:012d}", mac="52:54:00:00:00:01"
    )


@pytest.mark.parametrize("cpu_type,firmware,bus", VARIANTS)
def test_libvirt_validates_and_defines_every_variant(default_conn, cpu_type, firmware, bus):
    s = _variant(cpu_type, firmware, bus, VARIANTS.index((cpu_type, firmware, bus)))
    dom = default_conn.defineXMLFlags(domain_xml(s), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)  # the RNG schema
    try:
        assert (dom.name(), dom.UUIDString()) == (s.name, s.uuid)
        back = parse(dom.XMLDesc())
        assert back.find("cpu").get("mode") == {"Host": "host-model", "HostPassthrough": "host-passthrough"}.get(cpu_type, "custom")
        assert int(back.findtext("memory")) == s.memory_bytes // 1024
        dom.create()
        assert dom.isActive()
        dom.destroy()
    finally:
        dom.undefine()


def test_node_connection_runs_the_domain(node_hv):
    for n, (cpu_type, firmware, bus) in enumerate(VARIANTS):
        s = _variant(cpu_type, firmware, bus, n)
        node_hv.connection.defineXMLFlags(domain_xml(s), libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    assert len(node_hv.domains()) == len(VARIANTS)
    name = node_hv.define(domain_xml(_variant("Discovery", "EFI", "virtio", 0)))  # redefining is an update
    node_hv.start(name)
    assert next(d for d in node_hv.domains() if d["name"] == name)["state"] == "Running"
    node_hv.destroy(name)
    for d in node_hv.domains():
        node_hv.undefine(d["name"])
    assert node_hv.domains() == []


# -- can the guest CPU run on a node (CPU map) ---------------------------------------------------------------------
SKYLAKE = ("Skylake-Client-noTSX-IBRS", "Intel", ())
NEHALEM = ("Nehalem", "Intel", ())
ROME = ("EPYC-Rome", "AMD", ())


def test_runnable_on_named_models_and_features():
    cpu_map = default_map()
    assert cpu_map.runnable_on(spec("Model", "Nehalem", ()), SKYLAKE) is None
    assert cpu_map.runnable_on(spec("Model", "Nehalem", ()), ROME) is None  # as QEMU: vendor ignored for named models
    why = cpu_map.runnable_on(spec("Model", "Skylake-Client-noTSX-IBRS", ()), NEHALEM)
    assert why.startswith("the node's CPU (Nehalem) lacks ") and "avx2" in why
    assert cpu_map.runnable_on(spec("Discovery", None, ("avx2", "invtsc")), SKYLAKE) is None  # invtsc is only optional
    assert cpu_map.runnable_on(spec("Features", None, ("avx512f",)), SKYLAKE) == "the node's CPU (Skylake-Client-noTSX-IBRS) lacks avx512f"
    assert cpu_map.runnable_on(spec("Features", None, ("avx512f",)), ("Skylake-Client-noTSX-IBRS", "Intel", ("avx512f",))) is None
    # the libvirt labels agree: a named model is runnable exactly when the node is labelled with it
    assert ("Nehalem" in cpu_map.runnable_models(*NEHALEM)) and ("Skylake-Client-noTSX-IBRS" not in cpu_map.runnable_models(*NEHALEM))


def test_runnable_on_host_cpus_for_migration():
    cpu_map = default_map()
    assert cpu_map.runnable_on(spec("Host"), NEHALEM) is None  # a fresh start takes the node's own CPU
    assert cpu_map.runnable_on(spec("Host"), SKYLAKE, source_cpu=NEHALEM) is None  # newer target: fine
    assert "lacks" in cpu_map.runnable_on(spec("Host"), NEHALEM, source_cpu=SKYLAKE)
    assert cpu_map.runnable_on(spec("Host"), ROME, source_cpu=NEHALEM) == "the host CPU vendor differs (Intel → AMD)"
    assert cpu_map.runnable_on(spec("HostPassthrough"), SKYLAKE, source_cpu=SKYLAKE) is None
    assert "identical CPU" in cpu_map.runnable_on(spec("HostPassthrough"), SKYLAKE, source_cpu=NEHALEM)
    with pytest.raises(CPUMapError):
        cpu_map.runnable_on(spec("Turbo"), SKYLAKE)
