"""An admin's session with the real kubectl 1.37, command by command as typed: `auth can-i` / `--list` / `--as`,
`auth whoami`, `logs` of a virt-handler (tail, timestamps, follow, bad parameters), `edit` with a scripted
EDITOR, `diff`, `taint`, `replace --force`, `delete --wait`, server-side and client-side `apply`, `--watch-only`,
output templates, `api-versions`, `cluster-info`, `explain`, `apply --validate=strict`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

from ..simulator_process import BIN

CONFIGMAP = """apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {ns}, labels: {{set: admin}}}}
data: {{a: "{value}"}}
"""


def apply_file(sim, tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return sim.kubectl("apply", "-f", str(path), *args)


def popen_kubectl(sim, *args: str) -> subprocess.Popen:
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig)}
    return subprocess.Popen([str(BIN / "kubectl"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


# -- who am I, what may I do ----------------------------------------------------------------------------------
def test_auth_can_i_whoami_and_list(sim):
    assert sim.kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert sim.kubectl("auth", "can-i", "delete", "clustervirtualimages").stdout.strip() == "yes"
    listed = sim.kubectl("auth", "can-i", "--list").stdout
    assert "*.*" in listed and "selfsubjectaccessreviews.authorization.k8s.io" in listed
    whoami = sim.kubectl("auth", "whoami", "-o", "json").stdout
    assert json.loads(whoami)["status"]["userInfo"] == {"username": "dvp-sim-admin", "groups": ["system:masters", "system:authenticated"]}
    assert "dvp-sim-admin" in sim.kubectl("auth", "whoami").stdout


def test_auth_as_another_user_is_answered_for_that_user(sim):
    denied = sim.kubectl("auth", "can-i", "create", "pods", "--as=alice", check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    allowed = sim.kubectl("auth", "can-i", "create", "pods", "--as=alice", "--as-group=system:masters")
    assert allowed.stdout.strip() == "yes"
    info = json.loads(sim.kubectl("auth", "whoami", "--as=alice", "--as-group=ops", "-o", "json").stdout)["status"]["userInfo"]
    assert info == {"username": "alice", "groups": ["ops", "system:authenticated"]}
    rules = sim.kubectl("auth", "can-i", "--list", "--as=alice").stdout
    assert "*.*" not in rules and "selfsubjectreviews.authentication.k8s.io" in rules


def test_reviews_are_create_only_in_discovery(sim):
    resources = sim.kubectl("api-resources", "--api-group=authorization.k8s.io", "-o", "wide").stdout
    assert any(line.split()[0] == "selfsubjectaccessreviews" and line.split()[-1] == "create" for line in resources.splitlines()[1:]), resources
    review = '{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}'
    bad = sim.kubectl("create", "--raw", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "-f", "-", check=False, input=review)
    assert bad.returncode == 1 and "exactly one of nonResourceAttributes or resourceAttributes" in bad.stderr


# -- logs ---------------------------------------------------------------------------------------------------------
def test_logs_of_a_virt_handler(cluster):
    pod = "virt-handler-blue-0"
    out = cluster.kubectl("logs", "-n", "d8-virtualization", pod).stdout.splitlines()
    assert json.loads(out[0])["msg"] == "virt-handler started" and json.loads(out[0])["node"] == "blue-0"
    assert len(cluster.kubectl("logs", "-n", "d8-virtualization", pod, "--tail=1").stdout.splitlines()) == 1
    stamped = cluster.kubectl("logs", "-n", "d8-virtualization", pod, "--timestamps", "-c", "virt-handler").stdout.splitlines()
    assert stamped[0].split(" ", 1)[0].endswith("Z") and stamped[0].split(" ", 1)[1] == out[0]
    missing = cluster.kubectl("logs", "-n", "d8-virtualization", "virt-handler-nowhere", check=False)
    assert missing.returncode == 1 and 'pods "virt-handler-nowhere" not found' in missing.stderr


def test_logs_bad_parameters_are_400(cluster):
    base = "/api/v1/namespaces/d8-virtualization/pods/virt-handler-blue-0/log"
    for query, message in (
        ("tailLines=x", "invalid value for tailLines"),
        ("tailLines=-1", "must be greater than or equal to 0"),
        ("follow=maybe", "invalid value for follow"),
        ("container=nope", "container nope is not valid for pod virt-handler-blue-0"),
    ):
        result = cluster.kubectl("get", "--raw", f"{base}?{query}", check=False)
        assert result.returncode == 1 and "BadRequest" in result.stderr and message in result.stderr, (query, result.stderr)


def test_logs_follow_stays_open_and_ends_when_the_pod_goes(cluster, tmp_path):
    follower = popen_kubectl(cluster, "logs", "-f", "-n", "d8-virtualization", "virt-handler-green-0")
    time.sleep(1.5)
    assert follower.poll() is None, "a followed log stays open while the pod runs"
    follower.terminate()
    assert "virt-handler started" in follower.communicate(timeout=10)[0]
    cluster.kubectl("create", "namespace", "logs-follow")
    manifest = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"logs-follow"},"spec":{"containers":[{"name":"c","image":"x"}]}}'
    cluster.kubectl("create", "-f", "-", input=manifest)
    follower = popen_kubectl(cluster, "logs", "-f", "-n", "logs-follow", "p")
    time.sleep(1.0)
    assert follower.poll() is None
    cluster.kubectl("delete", "pod", "-n", "logs-follow", "p", "--grace-period=0", "--force")
    assert follower.wait(timeout=10) == 0, follower.communicate()[1]


# -- editing and applying -----------------------------------------------------------------------------------------
def test_edit_diff_replace_force_delete_wait(sim, namespace, tmp_path):
    sim.kubectl("create", "configmap", "-n", namespace, "c1", "--from-literal=a=1")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/a: \"1\"/a: \"2\"/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "KUBECONFIG": str(sim.kubeconfig), "EDITOR": str(editor)}
    edited = subprocess.run(
        [str(BIN / "kubectl"), "edit", "-n", namespace, "configmap", "c1"], capture_output=True, check=False, text=True, env=env, timeout=60
    )
    assert edited.returncode == 0 and "edited" in edited.stdout, edited.stderr
    assert sim.kubectl("get", "cm", "-n", namespace, "c1", "-o", "jsonpath={.data.a}").stdout == "2"
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(CONFIGMAP.format(name="c1", ns=namespace, value="3"))
    diff = sim.kubectl("diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1 and '-  a: "2"' in diff.stdout and '+  a: "3"' in diff.stdout, diff.stderr
    uid = sim.kubectl("get", "cm", "-n", namespace, "c1", "-o", "jsonpath={.metadata.uid}").stdout
    assert "replaced" in sim.kubectl("replace", "--force", "-f", str(manifest)).stdout
    assert sim.kubectl("get", "cm", "-n", namespace, "c1", "-o", "jsonpath={.metadata.uid}").stdout != uid
    assert sim.kubectl("diff", "-f", str(manifest)).stdout == ""
    sim.kubectl("delete", "cm", "-n", namespace, "c1", "--wait")
    assert "NotFound" in sim.kubectl("get", "cm", "-n", namespace, "c1", check=False).stderr


def test_taint_and_untaint_a_node(cluster):
    assert "tainted" in cluster.kubectl("taint", "nodes", "blue-1", "key=v:NoSchedule").stdout
    taints = json.loads(cluster.kubectl("get", "node", "blue-1", "-o", "jsonpath={.spec.taints}").stdout)
    assert {"key": "key", "value": "v", "effect": "NoSchedule"} in taints
    assert "untainted" in cluster.kubectl("taint", "nodes", "blue-1", "key=v:NoSchedule-").stdout
    left = cluster.kubectl("get", "node", "blue-1", "-o", "jsonpath={.spec.taints}").stdout
    assert "NoSchedule" not in left or '"key":"key"' not in left


def test_server_side_and_client_side_apply_and_prune(sim, namespace, tmp_path):
    first = CONFIGMAP.format(name="p1", ns=namespace, value="1")
    both = first + "---\n" + CONFIGMAP.format(name="p2", ns=namespace, value="1")
    out = apply_file(sim, tmp_path, both)
    assert "configmap/p1 created" in out.stdout and "configmap/p2 created" in out.stdout
    assert "warning" not in out.stderr.lower(), out.stderr
    pruned = apply_file(sim, tmp_path, first, "--prune", "-l", "set=admin", "-n", namespace)
    assert "configmap/p2 pruned" in pruned.stdout, pruned.stderr
    assert "NotFound" in sim.kubectl("get", "cm", "-n", namespace, "p2", check=False).stderr
    # a field edited since the last client-side apply (its value no longer the last-applied one) belongs to its editor:
    # a conflict, as on a real cluster
    sim.kubectl("patch", "cm", "-n", namespace, "p1", "--type", "merge", "-p", '{"data": {"a": "5"}}')
    conflict = sim.kubectl("apply", "--server-side", "-f", "-", check=False, input=CONFIGMAP.format(name="p1", ns=namespace, value="9"))
    assert conflict.returncode == 1 and 'conflict with "kubectl-patch"' in conflict.stderr, conflict.stderr
    ssa = apply_file(sim, tmp_path, CONFIGMAP.format(name="p1", ns=namespace, value="9"), "--server-side", "--force-conflicts")
    assert "serverside-applied" in ssa.stdout
    assert sim.kubectl("get", "cm", "-n", namespace, "p1", "-o", "jsonpath={.data.a}").stdout == "9"
    # kubectl then moves the client-side manager's fields to its server-side one with a JSON patch of managedFields,
    # which the server honours (kube-apiserver takes a request's own well-formed managedFields as the baseline)
    managers = sim.kubectl("get", "cm", "-n", namespace, "p1", "-o", "jsonpath={.metadata.managedFields[*].manager}").stdout.split()
    assert "kubectl-client-side-apply" not in managers and "kubectl" in managers
    again = apply_file(sim, tmp_path, CONFIGMAP.format(name="p1", ns=namespace, value="10"), "--server-side")
    assert "serverside-applied" in again.stdout, "no conflict once the ownership was migrated"
    strict = apply_file(sim, tmp_path, CONFIGMAP.format(name="p3", ns=namespace, value="1"), "--validate=strict")
    assert "configmap/p3 created" in strict.stdout
    bad = sim.kubectl(
        "apply", "--validate=strict", "-f", "-", check=False, input=CONFIGMAP.format(name="p4", ns=namespace, value="1").replace("\ndata:", "\ndta:")
    )
    assert bad.returncode == 1 and "dta" in bad.stderr


def test_the_move_from_client_side_to_server_side_apply_takes_no_force(sim, namespace, tmp_path):
    """The documented upgrade: `kubectl apply --server-side` after client-side applies takes over the fields the
    last-applied annotation still holds, changed values included, without --force-conflicts (upstream's
    lastAppliedManager); another field manager than kubectl's gets the conflict."""
    apply_file(sim, tmp_path, CONFIGMAP.format(name="u1", ns=namespace, value="1"))
    other = sim.kubectl("apply", "--server-side", "--field-manager", "mine", "-f", "-", check=False, input=CONFIGMAP.format(name="u1", ns=namespace, value="2"))
    assert other.returncode == 1 and 'conflict with "kubectl-client-side-apply"' in other.stderr, other.stderr
    moved = apply_file(sim, tmp_path, CONFIGMAP.format(name="u1", ns=namespace, value="2"), "--server-side")
    assert "serverside-applied" in moved.stdout, moved.stderr
    assert sim.kubectl("get", "cm", "-n", namespace, "u1", "-o", "jsonpath={.data.a}").stdout == "2"
    managers = sim.kubectl("get", "cm", "-n", namespace, "u1", "-o", "jsonpath={.metadata.managedFields[*].manager}").stdout.split()
    assert "kubectl" in managers, managers


def test_watch_only_prints_changes(sim, namespace):
    watcher = popen_kubectl(sim, "get", "cm", "-n", namespace, "--watch-only", "--request-timeout=4s")
    time.sleep(1.5)
    sim.kubectl("create", "configmap", "-n", namespace, "w1", "--from-literal=k=v")
    out, _unused = watcher.communicate(timeout=15)
    assert "w1" in out and "kube-root-ca" not in out


def test_output_formats_api_versions_cluster_info_explain_openapi(cluster):
    columns = cluster.kubectl("get", "nodes", "-o", "custom-columns=NAME:.metadata.name,CPU:.status.capacity.cpu").stdout.splitlines()
    assert columns[0].split() == ["NAME", "CPU"] and any(line.split()[0] == "blue-0" for line in columns[1:])
    names = cluster.kubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}{'\\n'}{end}").stdout.split()
    assert "master-0" in names
    templated = cluster.kubectl("get", "nodes", "-o", "go-template={{range .items}}{{.metadata.name}} {{end}}").stdout.split()
    assert templated == names
    versions = cluster.kubectl("api-versions").stdout.split()
    assert {"v1", "authorization.k8s.io/v1", "authentication.k8s.io/v1", "virtualization.deckhouse.io/v1alpha2"} <= set(versions)
    assert "Kubernetes control plane is running at https://127.0.0.1:" in cluster.kubectl("cluster-info").stdout
    spec = cluster.kubectl("explain", "pods.spec").stdout  # as a cluster explains it: the type's name and upstream's words
    assert "FIELD: spec <PodSpec>" in spec and "PodSpec is a description of a pod." in spec, spec
    assert "ClusterVirtualImage" in cluster.kubectl("explain", "cvi").stdout
    assert "annotations" in cluster.kubectl("explain", "configmaps.metadata").stdout
