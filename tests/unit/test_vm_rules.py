"""The VM rules shared by the `vm` module and the simulator's VM webhooks (BEHAVIOUR.md §4.3–4.5, §6.2–6.3)."""

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vm_rules as r

HINT = r.SIZING_HINT
SUPERCPU = [
    {"cores": {"min": 1, "max": 4}, "memory": {"min": "1Gi", "max": "8Gi"}, "coreFractions": [5, 10, 20, 50, 100]},
    {"cores": {"min": 5, "max": 8}, "memory": {"min": "5Gi", "max": "16Gi"}, "coreFractions": [20, 50, 100]},
]


@pytest.mark.parametrize(
    "cores, sockets, per_socket",
    [(1, 1, 1), (16, 1, 16), (18, 2, 9), (32, 2, 16), (36, 4, 9), (64, 4, 16), (72, 8, 9), (248, 8, 31)],
)
def test_cpu_topology_table(cores, sockets, per_socket):
    assert r.cpu_topology(cores) == (sockets, per_socket)
    assert r.check_cores(cores) is None


@pytest.mark.parametrize("cores, sockets", [(17, 2), (33, 4), (34, 4), (66, 8), (100, 8)])
def test_core_counts_off_the_socket_grid_are_refused(cores, sockets):
    assert r.check_cores(cores) == f"the requested number of cores ({cores}) must be a multiple of {sockets}"


def test_core_limits():
    assert "exceeds the maximum of 248" in r.check_cores(256)
    assert "at least 1" in r.check_cores(0)
    with pytest.raises(ValueError):
        r.cpu_topology(249)


def test_sizing_no_policy_and_conforming_vm_pass():
    assert r.check_sizing_policy(64, "100%", "1Ti", "any", []) is None
    assert r.check_sizing_policy(2, "20%", "4Gi", "supercpu", SUPERCPU) is None


def test_sizing_cores_outside_every_range():
    assert r.check_sizing_policy(10, "100%", "8Gi", "supercpu", SUPERCPU) == (
        'does not match any sizing policy of VirtualMachineClass "supercpu": its 10 CPU core(s) fall outside the allowed ranges (1-4, 5-8); '
        f"set the number of cores (spec.cpu.cores) accordingly: {HINT}"
    )


def test_sizing_core_fraction_not_allowed_and_v1alpha3_fractions():
    expected = (
        'does not match the sizing policy of VirtualMachineClass "supercpu": the CPU core fraction "30%" is not allowed; '
        f"set the core fraction (spec.cpu.coreFraction) to one of: 5%, 10%, 20%, 50%, 100%: {HINT}"
    )
    assert r.check_sizing_policy(2, "30%", "2Gi", "supercpu", SUPERCPU) == expected
    v1alpha3 = [{**SUPERCPU[0], "coreFractions": ["5%", "10%", "20%", "50%", "100%"]}]
    assert r.check_sizing_policy(2, "30%", "2Gi", "supercpu", v1alpha3) == expected


def test_sizing_memory_out_of_range():
    assert r.check_sizing_policy(2, "100%", "16Gi", "supercpu", SUPERCPU) == (
        'does not match the sizing policy of VirtualMachineClass "supercpu": the memory size (16Gi) is out of the range allowed by the sizing policy; '
        f"set the memory size (spec.memory.size) between 1Gi and 8Gi: {HINT}"
    )


def test_sizing_cores_step_and_memory_step():
    policy = [{"cores": {"min": 2, "max": 10, "step": 2}, "memory": {"min": "1Gi", "max": "8Gi", "step": "1Gi"}}]
    assert r.sizing_problems(7, "100%", "2Gi", policy[0]) == [
        "the number of CPU cores (7) does not match the sizing policy step; set the number of cores (spec.cpu.cores) to 6 or 8"
    ]
    assert r.sizing_problems(2, "100%", "1536Mi", policy[0]) == [
        "the memory size (1536Mi) does not match the sizing policy step; set the memory size (spec.memory.size) to 1Gi or 2Gi"
    ]


def test_sizing_per_core_range_and_step():
    per_core = {"cores": {"min": 1, "max": 8}, "memory": {"step": "1Gi", "perCore": {"min": "1Gi", "max": "2Gi"}}}
    assert r.sizing_problems(6, "100%", "18Gi", per_core) == [
        "the memory size (18Gi) is not allowed for 6 CPU core(s); set the memory size (spec.memory.size) between 6Gi and 12Gi, "
        "or change the number of cores (spec.cpu.cores) (the sizing policy allows between 1Gi and 2Gi of memory per core)"
    ]
    assert r.sizing_problems(2, "100%", "2560Mi", per_core) == [
        "the memory size (2560Mi) does not match the per-core sizing policy step for 2 CPU core(s); set the memory size (spec.memory.size) "
        "to 2Gi or 4Gi, or change the number of cores (spec.cpu.cores)"
    ]
    # the guide's example: perCore 1Gi–2Gi, step 512Mi: 2 cores → 2Gi, 3Gi, 4Gi
    grid = {"cores": {"min": 1, "max": 8}, "memory": {"step": "512Mi", "perCore": {"min": "1Gi", "max": "2Gi"}}}
    assert [r.sizing_problems(2, "100%", m, grid) for m in ("2Gi", "3Gi", "4Gi")] == [[], [], []]
    assert r.sizing_problems(2, "100%", "2560Mi", grid)


def test_several_reasons_are_listed_together():
    message = r.check_sizing_policy(2, "30%", "16Gi", "supercpu", SUPERCPU)
    assert message.splitlines() == [
        'does not match the sizing policy of VirtualMachineClass "supercpu" for several reasons:',
        '  - the CPU core fraction "30%" is not allowed; set the core fraction (spec.cpu.coreFraction) to one of: 5%, 10%, 20%, 50%, 100%',
        "  - the memory size (16Gi) is out of the range allowed by the sizing policy; set the memory size (spec.memory.size) between 1Gi and 8Gi",
        HINT,
    ]


def test_core_fraction_defaulting():
    assert r.default_core_fraction(4, "c", []) == "100%"
    assert r.default_core_fraction(2, "c", [{"cores": {"min": 1, "max": 4}, "defaultCoreFraction": 20}]) == "20%"
    assert r.default_core_fraction(2, "c", [{"cores": {"min": 1, "max": 4}, "defaultCoreFraction": "20%"}]) == "20%"
    assert r.default_core_fraction(2, "c", [{"cores": {"min": 1, "max": 4}, "coreFractions": [50, 100]}]) == "100%"
    with pytest.raises(r.DefaultingError, match="does not allow 100%"):
        r.default_core_fraction(2, "c", [{"cores": {"min": 1, "max": 4}, "coreFractions": [5, 10]}])
    with pytest.raises(r.DefaultingError, match="does not match any sizing policy"):
        r.default_core_fraction(9, "c", SUPERCPU)


def test_network_ids_defaulting():
    nets = r.default_network_ids([{"type": "Main"}, {"type": "Network", "name": "a"}, {"type": "Network", "name": "b", "id": 2}])
    assert [n["id"] for n in nets] == [1, 3, 2]
    assert r.check_networks(nets) == []
    assert r.check_networks([{"type": "Network", "name": "a", "id": 2}, {"type": "Main", "id": 1}]) == ["spec.networks[1]: the Main network must be the first"]


def test_block_devices_and_metadata():
    refs = [{"kind": "VirtualDisk", "name": "a", "bootOrder": 1}, {"kind": "VirtualDisk", "name": "a"}, {"kind": "VirtualImage", "name": "i", "bootOrder": 1}]
    problems = r.check_block_devices(refs)
    assert any("listed more than once" in p for p in problems) and any("bootOrder 1 is used" in p for p in problems)
    assert r.check_block_devices([{"kind": "VirtualDisk", "name": f"d{i}"} for i in range(17)]) == ["at most 16 block devices can be attached, not 17"]
    assert r.check_metadata({"name": "vm", "labels": {"app": "x"}}, True) == []
    assert "label virtualization.deckhouse.io/x" in r.check_metadata({"name": "vm", "labels": {"virtualization.deckhouse.io/x": "1"}}, False)[0]
    assert r.check_first_device({"kind": "ClusterVirtualImage", "name": "u"}, {"phase": "Ready", "cdrom": False})
    assert r.check_first_device({"kind": "ClusterVirtualImage", "name": "u"}, {"phase": "Ready", "cdrom": True}) is None
    assert r.boot_ordered([{"name": "a"}, {"name": "b", "bootOrder": 2}, {"name": "c", "bootOrder": 1}]) == [
        {"name": "c", "bootOrder": 1},
        {"name": "b", "bootOrder": 2},
        {"name": "a"},
    ]


def test_pod_requests():
    assert r.cpu_request_millis(2, "20%") == 400
    assert r.cpu_request_millis(3, "5%") == 150
    assert r.cpu_request_millis(1, "100%") == 1000
    assert r.memory_request_bytes("1Gi", 2) == 2**30 + 2 * 8 * 2**20
    assert r.format_quantity("2048Mi") == "2Gi" and r.format_quantity("1.5Gi") == "1536Mi" and r.format_quantity("2G") == "2G"


def test_vmop_supersede_and_applicability():
    assert r.can_supersede("Start", False, "Stop", False)
    assert not r.can_supersede("Start", False, "Restart", True)
    assert r.can_supersede("Stop", False, "Restart", True) and not r.can_supersede("Stop", False, "Stop", False)
    assert not r.can_supersede("Stop", True, "Stop", True)
    assert r.can_supersede("Evict", False, "Stop", False) and not r.can_supersede("Restore", False, "Stop", True)
    assert r.vmop_not_applicable("Start", False, "AlwaysOn", "Stopped")[0] == "runPolicy"
    assert r.vmop_not_applicable("Restart", False, "AlwaysOn", "Running") is None
    assert r.vmop_not_applicable("Start", False, "Manual", "Running")[0] == "phase"
    assert r.vmop_not_applicable("Stop", False, "Manual", "Stopping")[0] == "phase"
    assert r.vmop_not_applicable("Stop", True, "Manual", "Stopping") is None
