"""The resource metrics API's pure parts (simulator/dvp_simulator/api/metrics.py): quantities in the canonical form
resource.Quantity.String() gives them, the usage model, and metrics-server's tables."""

from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.deckhouse.virtualization.plugins.module_utils.quantity import parse_quantity
from dvp_simulator.api import metrics


def test_cpu_quantities_are_whole_cores_or_millicores():
    assert [metrics.cpu_quantity(m) for m in (0, 1, 250, 1000, 1500, 64000)] == ["0", "1m", "250m", "1", "1500m", "64"]


def test_memory_quantities_take_the_largest_binary_suffix_that_divides():
    cases = {0: "0", 1: "1", 1023: "1023", 1024: "1Ki", 1536: "1536", 3 * 1024: "3Ki", 2 << 30: "2Gi", (2 << 30) + (512 << 20): "2560Mi", 1 << 40: "1Ti"}
    assert {size: metrics.memory_quantity(size) for size in cases} == cases


@given(st.integers(min_value=0, max_value=1 << 62))
def test_memory_quantities_read_back_as_the_same_bytes(size):
    text = metrics.memory_quantity(size)
    assert parse_quantity(text) == size


@given(st.integers(min_value=0, max_value=10**9))
def test_cpu_quantities_read_back_as_the_same_millicores(millicores):
    text = metrics.cpu_quantity(millicores)
    assert parse_quantity(text) * 1000 == millicores


def test_a_container_uses_what_it_requests_and_nothing_without_requests():
    compute = {"name": "compute", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}}
    assert metrics.container_usage(compute) == (500, 1 << 30)
    assert metrics.container_usage({"name": "idle"}) == (0, 0)
    assert metrics.container_usage({"name": "limits-only", "resources": {"limits": {"cpu": "1"}}}) == (0, 0)


def test_only_a_running_pod_on_a_node_and_a_ready_node_count():
    assert metrics.pod_running({"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    assert not metrics.pod_running({"spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}})
    assert not metrics.pod_running({"spec": {}, "status": {"phase": "Running"}})
    ready = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]}}
    assert metrics.node_ready(ready)
    assert not metrics.node_ready({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})
    assert not metrics.node_ready({"metadata": {"name": "by-hand"}})


def test_tables_sum_a_pods_containers_as_metrics_server_does():
    pod = {
        "metadata": {"name": "virt-launcher-web-abcde", "namespace": "ns"},
        "window": "15s",
        "containers": [{"name": "compute", "usage": {"cpu": "500m", "memory": "1Gi"}}, {"name": "side", "usage": {"cpu": "250m", "memory": "512Mi"}}],
    }
    node = {"metadata": {"name": "n1"}, "window": "15s", "usage": {"cpu": "2", "memory": "4Gi"}}
    table = metrics.metrics_table([pod], "Metadata")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory", "Window"]
    assert table["rows"][0]["cells"] == ["virt-launcher-web-abcde", "750m", "1536Mi", "15s"]
    assert table["rows"][0]["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]}
    assert metrics.metrics_table([node], "Object")["rows"][0] == {"cells": ["n1", "2", "4Gi", "15s"], "object": node}
    assert "object" not in metrics.metrics_table([node], "None")["rows"][0]
