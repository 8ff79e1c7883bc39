"""The PriorityClass rules of kube-apiserver (api/priority_classes.py) as pure functions: ValidatePriorityClass and
ValidatePriorityClassUpdate in upstream's words, and the global default the Priority plugin resolves (the lowest
value when a race left several), read from the store's index."""

from dvp_simulator.api import priority_classes as pcs
from dvp_simulator.store.store import ADDED, MODIFIED, Store


def pc(name: str, value: int = 0, **fields) -> dict:
    return {"metadata": {"name": name}, "value": value, **fields}


def messages(obj: dict, old: dict | None = None) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in pcs.class_causes(obj, old)]


def test_user_classes_up_to_the_highest_user_definable_priority():
    assert messages(pc("high", 1000000000)) == []
    assert messages(pc("high", 1000000001)) == ["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
    assert messages(pc("negative", -5)) == []


def test_the_system_prefix_is_reserved_for_the_system_classes_as_created():
    assert messages(pc("system-node-critical", 2000001000)) == []
    reserved = "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: "
    assert messages(pc("system-mine", 1)) == [reserved + "system-mine is not a known system priority class"]
    assert messages(pc("system-node-critical", 5)) == [reserved + "value of system-node-critical PriorityClass must be 2000001000"]
    assert messages(pc("system-cluster-critical", 2000000000, globalDefault=True)) == [
        reserved + "globalDefault of system-cluster-critical PriorityClass must be false"
    ]


def test_value_and_preemption_policy_never_change():
    old = pc("high", 1000, preemptionPolicy="PreemptLowerPriority", description="a")
    assert messages(pc("high", 1000, preemptionPolicy="PreemptLowerPriority", description="b", globalDefault=True), old) == []
    assert messages(pc("high", 5, preemptionPolicy="Never"), old) == [
        "value: Forbidden: may not be changed in an update.",
        'preemptionPolicy: Invalid value: "Never": field is immutable',
    ]


def test_the_global_default_is_the_lowest_marked_class():
    store = Store(None)
    store.add_index(pcs.PRIORITY_CLASSES, pcs.GLOBAL_DEFAULT_INDEX, pcs.marked_default)
    assert pcs.default_class(store) is None
    store.put(pcs.PRIORITY_CLASSES, pc("b", 20, globalDefault=True), ADDED)
    store.put(pcs.PRIORITY_CLASSES, pc("a", 30, globalDefault=True), ADDED)
    store.put(pcs.PRIORITY_CLASSES, pc("c", 1), ADDED)
    assert pcs.default_class(store)["metadata"]["name"] == "b"
    store.put(pcs.PRIORITY_CLASSES, pc("b", 20, globalDefault=False), MODIFIED)
    assert pcs.default_class(store)["metadata"]["name"] == "a"
