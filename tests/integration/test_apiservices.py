"""What kube-aggregator and kube-apiserver report about the server itself (api/apiservices.py), through real kubectl:
an Available APIService for every group-version discovery lists and for no other (`kubectl get apiservices` answered
"the server doesn't have a resource type" before), and the control plane's ComponentStatuses with their deprecation
warning (`kubectl get cs`)."""

from __future__ import annotations

import json


def rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines[1:]}


def test_every_served_group_version_has_an_available_apiservice(cluster):
    table = cluster.kubectl("get", "apiservices")
    assert table.stdout.split("\n", 1)[0].split() == ["NAME", "SERVICE", "AVAILABLE", "AGE"], table.stdout
    got = rows(table.stdout)
    assert got["v1."][:2] == ["Local", "True"]
    assert got["v1.apps"][:2] == ["Local", "True"]
    assert got["v1alpha2.virtualization.deckhouse.io"][:2] == ["Local", "True"]
    assert got["v1beta1.metrics.k8s.io"][:2] == ["d8-monitoring/prometheus-metrics-adapter", "True"]
    groups = json.loads(cluster.kubectl("get", "--raw", "/apis").stdout)["groups"]
    served = {f"{v['version']}.{g['name']}" for g in groups for v in g["versions"]}
    assert set(got) == {"v1."} | served - {"v1.apiregistration.k8s.io"}, "one per group-version, no other (not the aggregator's own)"

    apps = json.loads(cluster.kubectl("get", "apiservice", "v1.apps", "-o", "json").stdout)
    assert apps["spec"] == {"group": "apps", "version": "v1", "groupPriorityMinimum": 17800, "versionPriority": 15}
    [available] = apps["status"]["conditions"]
    assert (available["type"], available["status"], available["reason"]) == ("Available", "True", "Local") and available["lastTransitionTime"]
    crd = json.loads(cluster.kubectl("get", "apiservice", "v1alpha2.virtualization.deckhouse.io", "-o", "json").stdout)
    assert (crd["spec"]["groupPriorityMinimum"], crd["spec"]["versionPriority"]) == (1000, 100)
    metrics = json.loads(cluster.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "json").stdout)
    assert metrics["spec"]["service"] == {"namespace": "d8-monitoring", "name": "prometheus-metrics-adapter", "port": 443}
    assert metrics["spec"]["insecureSkipTLSVerify"] is True and metrics["status"]["conditions"][0]["reason"] == "Passed"

    refused = cluster.kubectl("delete", "apiservice", "v1.apps", check=False)
    assert refused.returncode != 0 and "read-only" in refused.stderr, refused.stderr
    assert cluster.kubectl("get", "apiservice", "v1.apps", check=False).returncode == 0


def test_component_statuses_are_healthy_with_the_deprecation_warning(cluster):
    listed = cluster.kubectl("get", "cs")
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in listed.stderr, listed.stderr
    assert listed.stdout.split("\n", 1)[0].split() == ["NAME", "STATUS", "MESSAGE", "ERROR"], listed.stdout
    assert rows(listed.stdout) == {"controller-manager": ["Healthy", "ok"], "scheduler": ["Healthy", "ok"], "etcd-0": ["Healthy", "ok"]}
    etcd = json.loads(cluster.kubectl("get", "componentstatus", "etcd-0", "-o", "json").stdout)
    assert etcd["kind"] == "ComponentStatus" and etcd["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
