"""ControllerRevisions: the template history of DaemonSets and StatefulSets, through the commands an admin types with
the real kubectl — `rollout history` (with --revision), `rollout undo` (with --to-revision and a server dry run),
`get controllerrevisions` — the StatefulSet's partition restoring the current revision of a pod below it, the
history's limit, its garbage collection with its owner, and kube-apiserver's rules for a ControllerRevision written
by hand (protobuf bodies: kubectl create)."""

from __future__ import annotations

import json
import time

import pytest

from .polling import eventually
from .test_kubectl_workloads import daemonset_manifest, fresh_namespace, kget, running_pods, statefulset_manifest, sts_rollout

CR = "controllerrevisions"
GENERATION = "deprecated.daemonset.template.generation"


@pytest.fixture
def sim(cluster):
    """The admin guide's nodes: daemon and stateful pods need nodes to run on."""
    return cluster


@pytest.fixture
def namespace(cluster):
    with fresh_namespace(cluster, "h-") as name:
        yield name


def history(sim, namespace: str, what: str) -> list[tuple[int, str]]:
    """`kubectl rollout history`'s rows: (revision, change-cause)."""
    out = sim.kubectl("rollout", "history", what, "-n", namespace).stdout
    rows = [line.split(None, 1) for line in out.splitlines()[2:] if line.strip()]
    return [(int(number), cause.strip()) for number, cause in rows]


def images(sim, namespace: str, app: str) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in running_pods(sim, namespace, f"app={app}")}


def ds_rollout(sim, namespace: str, name: str) -> None:
    done = sim.kubectl("rollout", "status", f"daemonset/{name}", "-n", namespace, "--timeout=40s")
    assert "successfully rolled out" in done.stdout, done.stdout


def test_the_virt_handler_daemonset_has_a_history(sim):
    assert history(sim, "d8-virtualization", "daemonset/virt-handler") == [(1, "<none>")]
    [revision] = kget(sim, CR, "-n", "d8-virtualization")["items"]
    assert revision["metadata"]["ownerReferences"][0]["name"] == "virt-handler" and revision["revision"] == 1


def test_daemonset_history_undo_and_its_revisions(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "agent"))
    ds_rollout(sim, namespace, "agent")
    sim.kubectl("set", "image", "ds/agent", "agent=busybox:2", "-n", namespace)
    ds_rollout(sim, namespace, "agent")
    sim.kubectl("annotate", "ds/agent", "kubernetes.io/change-cause=busybox 3", "-n", namespace)
    sim.kubectl("set", "image", "ds/agent", "agent=busybox:3", "-n", namespace)
    ds_rollout(sim, namespace, "agent")
    assert history(sim, namespace, "ds/agent") == [(1, "<none>"), (2, "<none>"), (3, "busybox 3")]
    # the template generation is the server's: one per template change, whatever a client writes there
    sim.kubectl("annotate", "ds/agent", f"{GENERATION}=9", "--overwrite", "-n", namespace)
    ds = kget(sim, "ds", "agent", "-n", namespace)
    assert ds["metadata"]["annotations"][GENERATION] == "3"
    assert {p["metadata"]["labels"]["pod-template-generation"] for p in running_pods(sim, namespace, "app=agent")} == {"3"}
    shown = sim.kubectl("rollout", "history", "ds/agent", "-n", namespace, "--revision=1").stdout
    assert "with revision #1" in shown and "Image:\tbusybox\n" in shown, shown
    table = sim.kubectl("get", CR, "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"] and all("daemonset.apps/agent" in row for row in table[1:]), table

    dry = sim.kubectl("rollout", "undo", "ds/agent", "--to-revision=1", "--dry-run=server", "-n", namespace).stdout
    assert "rolled back (server dry run)" in dry
    assert kget(sim, "ds", "agent", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:3", "a dry run changes nothing"
    sim.kubectl("rollout", "undo", "ds/agent", "--to-revision=1", "-n", namespace)
    ds_rollout(sim, namespace, "agent")
    assert set(images(sim, namespace, "agent").values()) == {"busybox"}
    assert history(sim, namespace, "ds/agent") == [(2, "<none>"), (3, "busybox 3"), (4, "<none>")], "revision 1 became the newest"
    hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in running_pods(sim, namespace, "app=agent")}
    newest = max(kget(sim, CR, "-n", namespace)["items"], key=lambda r: r["revision"])
    assert hashes == {newest["metadata"]["labels"]["controller-revision-hash"]} and newest["metadata"]["name"] == f"agent-{hashes.pop()}"

    sim.kubectl("delete", "ds", "agent", "-n", namespace)
    eventually(lambda: kget(sim, CR, "-n", namespace)["items"], lambda items: not items)


def test_a_daemonset_with_the_longest_name_gets_its_revision_and_pods(sim, namespace):
    name = "d" * 253  # a revision is named after at most 223 characters of it, as upstream's ControllerRevisionName
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, name).replace(f'"app": "{name}"', '"app": "long"'))
    [revision] = eventually(lambda: kget(sim, CR, "-n", namespace)["items"], lambda items: len(items) == 1)
    assert revision["metadata"]["name"].startswith("d" * 223 + "-") and len(revision["metadata"]["name"]) <= 253
    eventually(lambda: running_pods(sim, namespace, "app=long"), lambda pods: len(pods) == 4)


def test_the_history_keeps_revision_history_limit_old_revisions(sim, namespace):
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "short", revisionHistoryLimit=1))
    for tag in ("2", "3", "4"):
        ds_rollout(sim, namespace, "short")
        sim.kubectl("set", "image", "ds/short", f"agent=busybox:{tag}", "-n", namespace)
    ds_rollout(sim, namespace, "short")
    rows = eventually(lambda: history(sim, namespace, "ds/short"), lambda rows: len(rows) == 2)
    assert [number for number, _cause in rows] == [3, 4]


def test_statefulset_partition_restores_the_current_revision_and_undo_rolls_back(sim, namespace):
    manifest = json.loads(statefulset_manifest(namespace, "web"))
    manifest["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
    sim.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    sts_rollout(sim, namespace, "web")
    sim.kubectl("set", "image", "sts/web", "c=nginx:2", "-n", namespace)
    eventually(lambda: images(sim, namespace, "web"), lambda got: got == {"web-0": "nginx:1", "web-1": "nginx:1", "web-2": "nginx:2"})
    status = kget(sim, "sts", "web", "-n", namespace)["status"]
    assert status["currentRevision"] != status["updateRevision"]
    assert {r["metadata"]["name"] for r in kget(sim, CR, "-n", namespace)["items"]} == {status["currentRevision"], status["updateRevision"]}
    sim.kubectl("delete", "pod", "web-0", "-n", namespace)
    again = eventually(lambda: {p["metadata"]["name"]: p for p in running_pods(sim, namespace, "app=web")}, lambda pods: "web-0" in pods)
    pod = again["web-0"]
    assert pod["spec"]["containers"][0]["image"] == "nginx:1", "below the partition: the current revision's template"
    assert pod["metadata"]["labels"]["controller-revision-hash"] == status["currentRevision"]

    assert [number for number, _cause in history(sim, namespace, "sts/web")] == [1, 2]
    sim.kubectl("rollout", "undo", "sts/web", "-n", namespace)
    eventually(lambda: images(sim, namespace, "web"), lambda got: set(got.values()) == {"nginx:1"} and len(got) == 3)
    assert [number for number, _cause in history(sim, namespace, "sts/web")] == [2, 3]


REVISION = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "data": {"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}}, "revision": 5}
REFUSED = [
    ({"revision": 1}, 'ControllerRevision "hand" is invalid: data: Required value: data is mandatory'),
    ({**REVISION, "revision": -1}, 'ControllerRevision "hand" is invalid: revision: Invalid value: -1: must be greater than or equal to 0'),
    ({**REVISION, "revision": "five"}, "cannot unmarshal string into Go struct field ControllerRevision.revision of type int64"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED)
def test_a_controller_revision_written_by_hand_follows_kube_apiservers_rules(sim, namespace, body, message):
    manifest = {"apiVersion": "apps/v1", "kind": "ControllerRevision", **body, "metadata": {"name": "hand", "namespace": namespace}}
    refused = sim.kubectl("create", "-f", "-", input=json.dumps(manifest), check=False)
    assert refused.returncode != 0 and message in refused.stderr, refused.stderr
    assert not kget(sim, CR, "-n", namespace)["items"], "nothing stored"


def test_a_revisions_data_never_changes_but_its_number_may(sim, namespace):
    sim.kubectl("create", "-f", "-", input=json.dumps({**REVISION, "metadata": {"name": "hand", "namespace": namespace}}))
    stored = kget(sim, CR, "hand", "-n", namespace)
    assert stored["revision"] == 5 and stored["data"] == REVISION["data"]
    changed = sim.kubectl("patch", CR, "hand", "-n", namespace, "--type", "merge", "-p", '{"data": {"x": 1}}', check=False)
    assert changed.returncode != 0 and "data: Invalid value: " in changed.stderr and "field is immutable" in changed.stderr, changed.stderr
    sim.kubectl("patch", CR, "hand", "-n", namespace, "--type", "merge", "-p", '{"revision": 7}')
    assert kget(sim, CR, "hand", "-n", namespace)["revision"] == 7
    unnumbered = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "zero", "namespace": namespace}, "data": {}}
    sim.kubectl("create", "-f", "-", input=json.dumps(unnumbered))
    assert kget(sim, CR, "zero", "-n", namespace)["revision"] == 0, "Go's int64 zero value"


def test_a_revision_refused_by_a_quota_is_retried_once_the_quota_allows_it(sim, namespace):
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "revisions"}, "spec": {"hard": {"count/controllerrevisions.apps": "0"}}}
    sim.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(quota))
    sim.kubectl("apply", "-f", "-", input=daemonset_manifest(namespace, "held"))
    time.sleep(1.0)
    assert not kget(sim, CR, "-n", namespace)["items"] and not running_pods(sim, namespace, "app=held"), "no revision, no pods"
    sim.kubectl("delete", "resourcequota", "revisions", "-n", namespace)
    eventually(lambda: kget(sim, CR, "-n", namespace)["items"], lambda items: len(items) == 1, timeout=40)
    eventually(lambda: running_pods(sim, namespace, "app=held"), lambda pods: len(pods) == 4, timeout=40)
