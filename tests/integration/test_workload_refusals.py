"""What an admin sees when a workload's pods or claims are refused at admission, through the real kubectl: a
ResourceQuota too small for a Deployment, a StatefulSet, a DaemonSet or a Job, and a StatefulSet whose claim
template kube-apiserver 1.33 accepts but whose claims it refuses. Upstream's controllers record Warning FailedCreate
Events in their own words (identical ones counted, `(xN over ...)`), report ReplicaFailure on the ReplicaSet and the
Deployment, write the status of what they did make, and retry with backoff, so a quota raised afterwards lets them
finish. A claim's spec is checked as ValidatePersistentVolumeClaimSpec checks it."""

from __future__ import annotations

import json

import pytest

from .polling import eventually
from .test_kubectl_workloads import fresh_namespace, kget

QUOTA_WORDS = "is forbidden: exceeded quota: small, requested: pods=1, used: pods=2, limited: pods=2"


@pytest.fixture
def namespace(cluster):
    with fresh_namespace(cluster, "rf-") as name:
        yield name


def warnings(sim, namespace: str, name: str) -> list[dict]:
    items = kget(sim, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name},type=Warning")["items"]
    return sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))


def conditions(obj: dict) -> dict[str, dict]:
    return {c["type"]: c for c in obj.get("status", {}).get("conditions") or []}


def quota(sim, namespace: str, pods: int) -> None:
    sim.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "small"}, "spec": {"hard": {"pods": str(pods)}}}),
    )


def test_a_deployment_short_of_quota_reports_replica_failure_and_finishes_once_it_is_raised(cluster, namespace):
    quota(cluster, namespace, 2)
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=4", "-n", namespace)
    [rs] = eventually(lambda: kget(cluster, "rs", "-n", namespace)["items"], lambda items: items and "ReplicaFailure" in conditions(items[0]))
    failure = conditions(rs)["ReplicaFailure"]
    assert (failure["status"], failure["reason"]) == ("True", "FailedCreate") and QUOTA_WORDS in failure["message"], failure
    rs = eventually(lambda: kget(cluster, "rs", rs["metadata"]["name"], "-n", namespace), lambda r: r["status"].get("readyReplicas") == 2)
    assert rs["status"]["replicas"] == 2  # what it made is reported, though a create failed
    deployment = eventually(lambda: kget(cluster, "deployment", "web", "-n", namespace), lambda d: "ReplicaFailure" in conditions(d))
    copied = conditions(deployment)["ReplicaFailure"]
    assert (copied["reason"], copied["message"], copied["lastUpdateTime"]) == ("FailedCreate", failure["message"], failure["lastTransitionTime"])
    refused = warnings(cluster, namespace, rs["metadata"]["name"])
    assert refused and all(e["reason"] == "FailedCreate" and e["source"]["component"] == "replicaset-controller" for e in refused)
    # each retry names another generated pod: past ten such messages they are one Event, as client-go combines them
    messages = [e["message"].removeprefix("(combined from similar events): ") for e in refused]
    assert all(m.startswith('Error creating: pods "' + rs["metadata"]["name"] + "-") and m.endswith(QUOTA_WORDS) for m in messages)
    described = cluster.kubectl("describe", "deployment", "web", "-n", namespace).stdout
    assert "ReplicaFailure   True    FailedCreate" in described and "(2/4 replicas created)" in described, described

    quota(cluster, namespace, 10)  # nothing wakes the ReplicaSet but its retry, as upstream
    eventually(
        lambda: kget(cluster, "deployment", "web", "-n", namespace),
        lambda d: d["status"].get("availableReplicas") == 4 and "ReplicaFailure" not in conditions(d),
    )
    assert "ReplicaFailure" not in conditions(kget(cluster, "rs", rs["metadata"]["name"], "-n", namespace))


def test_a_job_and_a_daemonset_short_of_quota_say_so_and_go_on_once_it_is_raised(cluster, namespace):
    quota(cluster, namespace, 2)
    cluster.kubectl("create", "deployment", "hold", "--image=nginx", "--replicas=2", "-n", namespace)  # takes the quota
    eventually(lambda: kget(cluster, "deployment", "hold", "-n", namespace), lambda d: d["status"].get("readyReplicas") == 2)
    cluster.kubectl("create", "job", "once", "--image=busybox", "-n", namespace, "--", "true")
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(daemonset))
    for name, component in (("once", "job-controller"), ("agent", "daemonset-controller")):
        refused = eventually(lambda name=name: warnings(cluster, namespace, name), bool)
        assert refused[0]["reason"] == "FailedCreate" and refused[0]["source"]["component"] == component, refused[0]
        assert refused[0]["message"].startswith(f'Error creating: pods "{name}-') and refused[0]["message"].endswith(QUOTA_WORDS), refused[0]
    ds = kget(cluster, "daemonset", "agent", "-n", namespace)
    assert ds["status"]["desiredNumberScheduled"] >= 2 and ds["status"]["currentNumberScheduled"] == 0, ds["status"]
    assert kget(cluster, "job", "once", "-n", namespace)["status"].get("active") is None

    quota(cluster, namespace, 50)
    cluster.kubectl("wait", "--for=condition=complete", "job/once", "-n", namespace, "--timeout=40s")
    eventually(lambda: kget(cluster, "daemonset", "agent", "-n", namespace)["status"], lambda s: s.get("numberReady") == s["desiredNumberScheduled"])


def test_a_statefulset_whose_claims_are_refused_says_why_counting_the_retries(cluster, namespace):
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 1,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            # no accessModes: kube-apiserver 1.33 stores the StatefulSet and refuses each claim made from it
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(sts))

    def counted(items: list[dict]) -> bool:
        return len(items) == 2 and all(e["count"] >= 3 and e["firstTimestamp"] < e["lastTimestamp"] for e in items)

    refused = eventually(lambda: warnings(cluster, namespace, "db"), counted)
    why = 'PersistentVolumeClaim "data-db-0" is invalid: spec.accessModes: Required value: at least 1 access mode is required'
    assert {e["message"] for e in refused} == {
        f"create Claim data-db-0 for Pod db-0 in StatefulSet db failed error: {why}",
        f"create Pod db-0 in StatefulSet db failed error: failed to create PVC data-db-0: {why}",
    }
    assert {(e["reason"], e["source"]["component"]) for e in refused} == {("FailedCreate", "statefulset-controller")}
    # one Event each, counted: not one per retry (waited for above: the first retries fall within one stamped second)
    assert all(e["firstTimestamp"] < e["lastTimestamp"] for e in refused)
    described = cluster.kubectl("describe", "statefulset", "db", "-n", namespace).stdout
    assert " over " in described and "(x" in described, described
    assert kget(cluster, "pods", "-n", namespace)["items"] == [] and kget(cluster, "pvc", "-n", namespace)["items"] == []
    assert kget(cluster, "statefulset", "db", "-n", namespace)["status"]["replicas"] == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"resources": {"requests": {"storage": "1Gi"}}}, "spec.accessModes: Required value: at least 1 access mode is required"),
        ({"accessModes": [], "resources": {"requests": {"storage": "1Gi"}}}, "spec.accessModes: Required value: at least 1 access mode is required"),
        (
            {"accessModes": ["ReadWriteOnce", "ReadWriteOncePod"], "resources": {"requests": {"storage": "1Gi"}}},
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
        ),
        ({"accessModes": ["ReadWriteOnce"]}, "spec.resources[storage]: Required value"),
        (
            {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0"}}},
            'spec.resources[storage]: Invalid value: "0": must be greater than zero',
        ),
        (
            {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "-1Gi"}}},
            'spec.resources[storage]: Invalid value: "-1Gi": must be greater than zero',
        ),
    ],
)
def test_a_claim_without_access_modes_or_storage_is_refused(cluster, namespace, spec, message):
    manifest = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "bad"}, "spec": spec}
    refused = cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert refused.returncode != 0 and f'The PersistentVolumeClaim "bad" is invalid: {message}' in refused.stderr, refused.stderr
    assert cluster.kubectl("get", "pvc", "bad", "-n", namespace, check=False).returncode != 0


def test_a_deployments_replicaset_and_a_cronjobs_job_refused_by_a_count_quota(cluster, namespace):
    limits = {"count/replicasets.apps": "0", "count/jobs.batch": "0"}
    cluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "counts"}, "spec": {"hard": limits}}),
    )
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "-n", namespace)
    cluster.kubectl("create", "cronjob", "tick", "--image=busybox", "--schedule=* * * * *", "-n", namespace, "--", "true")
    deployment = eventually(lambda: kget(cluster, "deployment", "web", "-n", namespace), lambda d: "Progressing" in conditions(d))
    progressing = conditions(deployment)["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False", "ReplicaSetCreateError"), progressing
    assert progressing["message"].startswith('Failed to create new replica set "web-') and "exceeded quota: counts" in progressing["message"]
    [refused] = eventually(lambda: warnings(cluster, namespace, "web"), bool)
    assert (refused["reason"], refused["message"]) == ("ReplicaSetCreateError", progressing["message"])
    refused = eventually(lambda: warnings(cluster, namespace, "tick"), bool)[0]
    assert refused["reason"] == "FailedCreate" and refused["message"].startswith('Error creating job: jobs.batch "tick-'), refused
    assert "exceeded quota: counts, requested: count/jobs.batch=1" in refused["message"]
    assert kget(cluster, "rs", "-n", namespace)["items"] == [] and kget(cluster, "jobs", "-n", namespace)["items"] == []

    cluster.kubectl("delete", "resourcequota", "counts", "-n", namespace)
    eventually(lambda: kget(cluster, "deployment", "web", "-n", namespace), lambda d: d["status"].get("availableReplicas") == 1)
    eventually(lambda: kget(cluster, "jobs", "-n", namespace)["items"], bool)
