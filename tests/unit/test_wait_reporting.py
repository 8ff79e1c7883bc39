"""waiter.reporting (a wait's progress lines) and ensure.removed_options (the options an apply removes)."""

from ansible_collections.deckhouse.virtualization.plugins.module_utils.ensure import dropped_fields, removed_options
from ansible_collections.deckhouse.virtualization.plugins.module_utils.waiter import Outcome, phase_in, reporting


def image(phase, progress=None):
    status = {"phase": phase}
    if progress is not None:
        status["progress"] = progress
    return {"metadata": {"name": "img"}, "status": status}


def test_a_line_per_phase_and_per_tenth_of_progress_and_the_predicate_decides():
    lines = []
    check = reporting(phase_in(), lines.append, "ClusterVirtualImage img")
    seen = [check(obj) for obj in (image("Pending"), image("Pending"), image("Provisioning", "1.0%"), image("Provisioning", "5.5%"),
                                   image("Provisioning", "12%"), image("Provisioning", "12.5%"), image("Ready", "100%"))]  # fmt: skip
    assert lines == [
        "ClusterVirtualImage img: phase Pending",
        "ClusterVirtualImage img: phase Provisioning, progress 1.0%",
        "ClusterVirtualImage img: phase Provisioning, progress 12%",
        "ClusterVirtualImage img: phase Ready, progress 100%",
    ]
    assert [o.done for o in seen] == [False] * 6 + [True]
    assert check(None).failed, "a deleted object still ends the wait as the predicate says"


def test_no_log_no_wrapper():
    predicate = phase_in()
    assert reporting(predicate, None, "x") is predicate
    assert reporting(lambda obj: Outcome(), [].append, "x")({"status": {"progress": "n/a"}}) == Outcome(), "a progress that is not a percentage"


def test_removed_options_name_what_the_task_left_out():
    actual = {
        "metadata": {
            "name": "vm",
            "labels": {"app": "web", "tier": "1"},
            "managedFields": [
                {
                    "manager": "deckhouse.virtualization",
                    "operation": "Apply",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
                        "f:spec": {"f:provisioning": {"f:type": {}, "f:userData": {}}, "f:cpu": {"f:cores": {}, "f:coreFraction": {}},
                                   "f:virtualMachineClassName": {}},  # fmt: skip
                    },
                }
            ],
        },
        "spec": {},
    }
    desired = {"metadata": {"name": "vm", "labels": {"app": "web"}}, "spec": {"cpu": {"cores": 2}, "provisioning": {"type": "UserDataRef"}}}
    dropped = dropped_fields(desired, actual)
    assert removed_options(desired, dropped) == ["labels.tier", "provisioning.user_data", "cpu.core_fraction", "virtual_machine_class_name"]
