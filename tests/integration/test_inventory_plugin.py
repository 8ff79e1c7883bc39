"""The inventory plugin deckhouse.virtualization.dvp through the real `ansible-inventory` (and `ansible`) against a
simulator of its own with the admin guide's nodes: running and stopped VMs as hosts with their IPs, every kind of
group, compose / keyed_groups / groups, the paged list, the jsonfile cache, options refused before any request, and a
project user's kubeconfig (RBAC): the cluster-wide list refused with the API's 403 sentence, their namespace listed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid

import pytest
import yaml

from ..ansible_runner import ROOT
from ..image_sources import FileServer, iso_image
from ..simulator_process import BIN, Simulator
from .conftest import TOPOLOGIES

VZ = "virtualization.deckhouse.io"
CIDR = "10.66.20.0/24"
DVCR = {"storage": {"type": "PersistentVolumeClaim", "persistentVolumeClaim": {"size": "50G"}}}  # without it the module's hook ignores the settings
SHOP = {  # namespace shop: VMs that run (AlwaysOn), with labels
    "web-0": {"app": "web", "tier.example.com/role": "frontend"},
    "web-1": {"app": "web"},
    "db-0": {"app": "db"},
}
LAB = {"web-0": {"app": "web"}, "test-1": {}}  # namespace lab: stopped VMs (AlwaysOff); web-0 as in shop
BULK = 24  # namespace bulk: stopped VMs labelled bulk=yes, for the paged lists
NOTE = "{{ 6 * 7 }}"  # an annotation that must stay text


def vm_body(name, namespace, labels, run_policy, iso, annotations=None):
    meta = {"name": name, "namespace": namespace, "labels": labels, **({"annotations": annotations} if annotations else {})}
    spec = {"virtualMachineClassName": "generic", "runPolicy": run_policy, "cpu": {"cores": 1}, "memory": {"size": "1Gi"},
            "blockDeviceRefs": [{"kind": "ClusterVirtualImage", "name": iso}]}  # fmt: skip
    return {"apiVersion": f"{VZ}/v1alpha2", "kind": "VirtualMachine", "metadata": meta, "spec": spec}


def vms(sim, namespace=None):
    args = ["get", "vm", "-o", "json"] + (["-n", namespace] if namespace else ["-A"])
    return json.loads(sim.kubectl(*args).stdout)["items"]


def settled(sim):
    items = vms(sim)
    for obj in items:
        status = obj.get("status") or {}
        want_running = obj["metadata"]["namespace"] == "shop"
        if want_running and not (status.get("phase") == "Running" and status.get("nodeName") and status.get("ipAddress")):
            return False
        if not want_running and status.get("phase") != "Stopped":
            return False
    return len(items) == len(SHOP) + len(LAB) + BULK


@pytest.fixture(scope="module")
def dvp(tmp_path_factory):
    """A simulator (admin guide's nodes) with the VM network, an ISO image and the VMs of SHOP, LAB and BULK, settled."""
    root = tmp_path_factory.mktemp("inventory")
    iso_image(root / "boot.iso")
    files = FileServer(root)
    sim = Simulator.start(root / "sim", "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    try:
        mc = {"apiVersion": "deckhouse.io/v1alpha1", "kind": "ModuleConfig", "metadata": {"name": "virtualization"},
              "spec": {"enabled": True, "version": 1, "settings": {"dvcr": DVCR, "virtualMachineCIDRs": [CIDR]}}}  # fmt: skip
        sim.kubectl("apply", "-f", "-", input=json.dumps(mc))
        cvi = {"apiVersion": f"{VZ}/v1alpha2", "kind": "ClusterVirtualImage", "metadata": {"name": "boot"},
               "spec": {"dataSource": {"type": "HTTP", "http": {"url": files.url("boot.iso")}}}}  # fmt: skip
        sim.kubectl("apply", "-f", "-", input=json.dumps(cvi))
        wait(lambda: json.loads(sim.kubectl("get", "cvi", "boot", "-o", "json").stdout).get("status", {}).get("phase") == "Ready")
        for namespace in ("shop", "lab", "bulk"):
            sim.kubectl("create", "namespace", namespace)
        items = [vm_body(n, "shop", labels, "AlwaysOn", "boot", {"example.com/note": NOTE} if n == "web-0" else None) for n, labels in SHOP.items()]
        items += [vm_body(n, "lab", labels, "AlwaysOff", "boot") for n, labels in LAB.items()]
        items += [vm_body(f"b-{i:02d}", "bulk", {"bulk": "yes"}, "AlwaysOff", "boot") for i in range(BULK)]
        sim.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(items), timeout=120)
        wait(lambda: settled(sim), timeout=90)
        yield sim
    finally:
        files.stop()
        assert sim.stop() == 0


def wait(check, timeout=40.0):
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


class Run:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr

    @property
    def data(self) -> dict:
        return plain(json.loads(self.stdout))

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def plain(value):
    """ansible-inventory --list as a consumer reads it: values the plugin took from the API are marked untrusted
    (`{"__ansible_unsafe": "..."}`, since ansible-core 2.19); unwrapped here."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def environment(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "ANSIBLE_")) and k != "KUBECONFIG"}
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".venv" / "collections"),
        ANSIBLE_INVENTORY_UNPARSED_FAILED="1",  # a source the plugin fails on fails the command
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=str(BIN / "python"),
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_VERBOSE_TO_STDERR="1",  # --list output stays JSON at -vv
    )
    env.update(extra or {})
    return env


def inventory(tmp_path, config, *args, env=None, name=None) -> Run:
    """`ansible-inventory -i <tmp>/<name>.dvp.yml <args>` (default --list) with the config written as YAML."""
    path = tmp_path / f"{name or 'i-' + uuid.uuid4().hex[:6]}.dvp.yml"
    path.write_text(yaml.safe_dump({"plugin": "deckhouse.virtualization.dvp", **config}, sort_keys=False))
    cmd = [str(BIN / "ansible-inventory"), "-i", str(path), *(args or ("--list",))]
    return Run(subprocess.run(cmd, capture_output=True, text=True, check=False, env=environment(env), cwd=tmp_path, timeout=300))


def hosts_of(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def failed(run: Run, *texts):
    assert run.returncode != 0, run.output
    flat = re.sub(r"\s+", " ", run.stderr)
    for text in texts:
        assert text in flat, f"{text!r} not in:\n{run.stderr}"


# -- hosts, variables, groups -------------------------------------------------------------------------------------
def test_vms_are_hosts_with_their_ip_vars_and_groups(dvp, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop", "lab"]})
    assert run.returncode == 0, run.output
    data = run.data
    objects = {f"{o['metadata']['namespace']}-{o['metadata']['name']}": o for ns in ("shop", "lab") for o in vms(dvp, ns)}
    hostvars = data["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted(objects) == ["lab-test-1", "lab-web-0", "shop-db-0", "shop-web-0", "shop-web-1"]
    for host, obj in objects.items():
        hv, status = hostvars[host], obj["status"]
        assert hv["ansible_host"] == status["ipAddress"] == hv["dvp_ip"]
        assert hv["dvp_namespace"] == obj["metadata"]["namespace"] and hv["dvp_name"] == obj["metadata"]["name"]
        assert hv["dvp_uid"] == obj["metadata"]["uid"] and hv["dvp_phase"] == status["phase"]
        assert hv["dvp_node"] == status.get("nodeName") and hv["dvp_class"] == "generic"
        assert hv["dvp_labels"] == obj["metadata"].get("labels", {}) and hv["dvp_annotations"] == obj["metadata"].get("annotations", {})
        assert hv["dvp_run_policy"] == obj["spec"]["runPolicy"]
        assert hv["dvp_vm"]["spec"] == obj["spec"] and hv["dvp_vm"]["status"]["phase"] == status["phase"]
        assert "managedFields" not in hv["dvp_vm"]["metadata"]
    assert hostvars["shop-web-0"]["dvp_annotations"]["example.com/note"] == NOTE
    # every kind of group
    assert hosts_of(data, "namespace_shop") == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(data, "namespace_lab") == ["lab-test-1", "lab-web-0"]
    assert hosts_of(data, "class_generic") == sorted(objects)
    assert hosts_of(data, "phase_Running") == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(data, "phase_Stopped") == ["lab-test-1", "lab-web-0"]
    nodes = {}
    for host, obj in objects.items():
        if obj["status"].get("nodeName"):
            nodes.setdefault("node_" + obj["status"]["nodeName"].replace("-", "_"), []).append(host)
    assert len(nodes) >= 1 and all(hosts_of(data, group) == sorted(members) for group, members in nodes.items())
    assert hosts_of(data, "label_app_web") == ["lab-web-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(data, "label_app_db") == ["shop-db-0"]
    assert hosts_of(data, "label_tier_example_com_role_frontend") == ["shop-web-0"]
    assert sorted(g for g in data["all"]["children"] if g.startswith("node_")) == sorted(nodes)


def test_graph(dvp, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"]}, "--graph")
    assert run.returncode == 0, run.output
    assert "@namespace_shop:" in run.stdout and "|--shop-web-0" in run.stdout and "@phase_Running:" in run.stdout
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"]}, "--graph", "label_app_web")
    assert run.returncode == 0 and re.findall(r"\|--(\S+)", run.stdout) == ["shop-web-0", "shop-web-1"], run.output
    # the VMs with their IPs, as an admin reads them: --graph --vars without the whole objects
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"], "include_object": False}, "--graph", "--vars", "phase_Running")
    assert run.returncode == 0, run.output
    for obj in vms(dvp, "shop"):
        assert f"{{ansible_host = {obj['status']['ipAddress']}}}" in run.stdout
    assert "dvp_vm" not in run.stdout and "{dvp_node = " in run.stdout


def test_host_format_phases_group_by_and_prefixes(dvp, tmp_path):
    config = {"kubeconfig": str(dvp.kubeconfig), "host_format": "{name}.{namespace}", "phases": ["Running"], "group_by": ["node", "label"],
              "group_prefixes": {"node": "hv_", "label": ""}}  # fmt: skip
    data = inventory(tmp_path, config).data
    assert sorted(data["_meta"]["hostvars"]) == ["db-0.shop", "web-0.shop", "web-1.shop"], "only Running VMs, of every namespace"
    groups = set(data["all"]["children"]) - {"ungrouped"}
    assert {"app_web", "app_db", "tier_example_com_role_frontend"} <= groups
    assert all(g.startswith("hv_") or g in {"app_web", "app_db", "tier_example_com_role_frontend"} for g in groups), groups
    assert not any(g.startswith(("namespace_", "phase_", "class_")) for g in groups)
    uid = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["lab"], "host_format": "vm-{uid}"}).data
    assert sorted(uid["_meta"]["hostvars"]) == sorted("vm-" + o["metadata"]["uid"] for o in vms(dvp, "lab"))


def test_selectors(dvp, tmp_path):
    data = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "label_selector": "app=web"}).data
    assert sorted(data["_meta"]["hostvars"]) == ["lab-web-0", "shop-web-0", "shop-web-1"]
    data = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"], "field_selector": "metadata.name=db-0"}).data
    assert sorted(data["_meta"]["hostvars"]) == ["shop-db-0"]
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "label_selector": "app in (web"})
    failed(run, "deckhouse.virtualization.dvp: VirtualMachine list in all namespaces: Bad Request (400)")


def test_compose_keyed_groups_groups_and_strict(dvp, tmp_path):
    config = {
        "kubeconfig": str(dvp.kubeconfig),
        "namespaces": ["shop", "lab"],
        "compose": {"ansible_user": "'cloud'", "cores": "dvp_vm.spec.cpu.cores", "where": "dvp_node | default('nowhere', true)"},
        "keyed_groups": [{"key": "dvp_labels.app | default('none')", "prefix": "app"}, {"key": "dvp_run_policy", "prefix": "policy"}],
        "groups": {"running_web": "dvp_phase == 'Running' and dvp_labels.app | default('') == 'web'"},
    }
    data = inventory(tmp_path, config).data
    hv = data["_meta"]["hostvars"]
    assert hv["shop-web-0"]["ansible_user"] == "cloud" and hv["shop-web-0"]["cores"] == 1
    assert hv["lab-web-0"]["where"] == "nowhere" and hv["shop-db-0"]["where"] == hv["shop-db-0"]["dvp_node"]
    assert hosts_of(data, "app_web") == ["lab-web-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(data, "app_none") == ["lab-test-1"]
    assert hosts_of(data, "policy_AlwaysOn") == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(data, "policy_AlwaysOff") == ["lab-test-1", "lab-web-0"]
    assert hosts_of(data, "running_web") == ["shop-web-0", "shop-web-1"]
    # strict: an expression that fails for a host fails the inventory; without it the variable is left out
    lax = inventory(tmp_path, {**config, "compose": {"role": "dvp_labels['tier.example.com/role']"}}).data["_meta"]["hostvars"]
    assert lax["shop-web-0"]["role"] == "frontend" and "role" not in lax["shop-web-1"]
    strict = inventory(tmp_path, {**config, "compose": {"role": "dvp_labels['tier.example.com/role']"}, "strict": True})
    failed(strict, "Could not set role for host")


def test_values_from_the_api_are_not_templated(dvp, tmp_path):
    """An annotation holding a Jinja expression stays text when a play uses the variable."""
    path = tmp_path / "shop.dvp.yml"
    path.write_text(yaml.safe_dump({"plugin": "deckhouse.virtualization.dvp", "kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"]}))
    cmd = [
        str(BIN / "ansible"),
        "shop-web-0",
        "-i",
        str(path),
        "-c",
        "local",
        "-m",
        "ansible.builtin.debug",
        "-a",
        "msg={{ dvp_annotations['example.com/note'] }}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=environment(), cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"msg": "{{ 6 * 7 }}"' in out.stdout and "42" not in out.stdout


def test_the_same_host_name_for_two_vms_fails(dvp, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop", "lab"], "host_format": "{name}"})
    failed(run, "host_format: '{name}' gives VirtualMachines shop/web-0 and lab/web-0 the same host name 'web-0'")
    lenient = inventory(
        tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop", "lab"], "host_format": "{name}"}, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "0"}
    )
    assert lenient.returncode == 0 and lenient.data["_meta"]["hostvars"] == {}, "no host of the failed source is left"


# -- paged lists ---------------------------------------------------------------------------------------------------
def test_pages(dvp, tmp_path):
    total = len(SHOP) + len(LAB) + BULK
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "page_size": 4}, "--list", "-vv")
    assert run.returncode == 0, run.output
    assert len(run.data["_meta"]["hostvars"]) == total
    server = dvp.server.rstrip("/")
    pages = -(-total // 4)
    assert f"deckhouse.virtualization.dvp: {total} VirtualMachines listed in all namespaces from {server}, in {pages} pages of at most 4" in run.output
    run = inventory(
        tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["bulk", "shop"], "label_selector": "bulk=yes", "page_size": 5}, "--list", "-vv"
    )
    hosts = sorted(run.data["_meta"]["hostvars"])
    assert hosts == [f"bulk-b-{i:02d}" for i in range(BULK)]
    assert f"{BULK} VirtualMachines listed in namespaces bulk, shop from {server}, in {-(-BULK // 5) + 1} pages of at most 5" in run.output
    one = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), "namespaces": ["shop"]}, "--list", "-vv")
    assert "3 VirtualMachines listed in namespaces shop" in one.output and "in 1 page of at most 500" in one.output


# -- cache ---------------------------------------------------------------------------------------------------------
def test_jsonfile_cache_serves_a_second_run_without_the_api(dvp, tmp_path):
    """The first run reads the API and writes the cache; then the kubeconfig points at a port where nothing listens:
    a run within cache_timeout still lists every VM (from the cache, no request), --flush-cache and a changed
    selection read the API (and fail, which proves the cached run made no request)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(dvp.kubeconfig.read_text())
    cache_dir = tmp_path / "cache"
    config = {"kubeconfig": str(kubeconfig), "namespaces": ["shop", "lab"], "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
              "cache_connection": str(cache_dir), "cache_timeout": 600, "keyed_groups": [{"key": "dvp_phase", "prefix": "state"}]}  # fmt: skip
    first = inventory(tmp_path, config, "--list", "-vv", name="cached")
    assert first.returncode == 0 and "5 VirtualMachines listed in namespaces shop, lab" in first.output, first.output
    files = list(cache_dir.iterdir())
    assert len(files) == 1 and "shop" in files[0].read_text()
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    assert token not in files[0].read_text(), "no credential in the cache"
    dead = re.sub(r"https://127\.0\.0\.1:\d+", "https://127.0.0.1:9", kubeconfig.read_text())
    kubeconfig.write_text(dead)
    second = inventory(tmp_path, config, "--list", "-vv", name="cached")
    assert second.returncode == 0, second.output
    assert "5 VirtualMachines from the inventory cache" in second.output and "listed in" not in second.output
    assert second.data["_meta"]["hostvars"] == first.data["_meta"]["hostvars"]
    assert hosts_of(second.data, "state_Running") == hosts_of(first.data, "state_Running") == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(second.data, "namespace_lab") == ["lab-test-1", "lab-web-0"]
    flushed = inventory(tmp_path, config, "--list", "--flush-cache", name="cached")
    failed(flushed, "VirtualMachine list in namespace shop: cannot reach the Kubernetes API at https://127.0.0.1:9")
    changed = inventory(tmp_path, {**config, "namespaces": ["shop"]}, name="cached")
    failed(changed, "cannot reach the Kubernetes API at https://127.0.0.1:9")


# -- connection ----------------------------------------------------------------------------------------------------
def test_connection_from_k8s_auth_variables(dvp, tmp_path):
    """No connection option in the file: K8S_AUTH_HOST / K8S_AUTH_API_KEY / K8S_AUTH_SSL_CA_CERT, as for the modules."""
    env = {"K8S_AUTH_HOST": dvp.server, "K8S_AUTH_API_KEY": dvp.token, "K8S_AUTH_SSL_CA_CERT": str(dvp.ca_file), "HOME": str(tmp_path)}
    run = inventory(tmp_path, {"namespaces": ["shop"]}, env=env)
    assert run.returncode == 0, run.output
    assert sorted(run.data["_meta"]["hostvars"]) == ["shop-db-0", "shop-web-0", "shop-web-1"]
    env["K8S_AUTH_KUBECONFIG"] = str(dvp.kubeconfig)
    del env["K8S_AUTH_HOST"], env["K8S_AUTH_API_KEY"]
    assert inventory(tmp_path, {"namespaces": ["lab"]}, env=env).returncode == 0
    bad = inventory(tmp_path, {"namespaces": ["shop"]}, env={"K8S_AUTH_HOST": dvp.server, "K8S_AUTH_API_KEY": "not-a-token", "K8S_AUTH_VERIFY_SSL": "false"})
    failed(bad, "VirtualMachine list in namespace shop: Unauthorized (401)")
    assert "not-a-token" not in bad.output


# -- options refused before any request ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config,message",
    [
        ({"namespace": ["shop"]}, "namespace: not an option of this plugin; did you mean namespaces?"),
        ({"host_format": "{name.__class__}"}, "host_format: {name.__class__} is not allowed; the fields are {namespace}, {name}, {uid}"),
        ({"namespaces": ["Shop"]}, "namespaces: 'Shop' is not a namespace name"),
        ({"page_size": 0}, "page_size: must be a whole number from 1 to 10000, got 0"),
        ({"group_prefixes": {"nodes": "x"}}, "group_prefixes: unknown key 'nodes'; the keys are namespace, class, node, phase, label"),
        ({"phases": ["running"]}, "Invalid value ['running'] for config 'phases'"),
        ({"group_by": ["labels"]}, "Invalid value ['labels'] for config 'group_by'"),
    ],
)
def test_bad_options(dvp, tmp_path, config, message):
    run = inventory(tmp_path, {"kubeconfig": str(dvp.kubeconfig), **config})
    failed(run, message)


# -- RBAC: a project user ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def project_user(dvp, tmp_path_factory):
    """User `alice-<id>` with d8:use:role:user:virtualization in shop only, and her kubeconfig."""
    user = "alice-" + uuid.uuid4().hex[:6]
    kubeconfig = tmp_path_factory.mktemp("alice") / "kubeconfig"
    out = subprocess.run([str(BIN / "dvp-sim"), "user", "add", user, "--admin-kubeconfig", str(dvp.kubeconfig), "--kubeconfig", str(kubeconfig)],
                         capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    dvp.kubectl("create", "rolebinding", "alice-vms", "--clusterrole", "d8:use:role:user:virtualization", "--user", user, "-n", "shop")
    return {"user": user, "kubeconfig": kubeconfig, "token": yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]}


def test_project_user_cluster_wide_list_is_refused_clearly(dvp, project_user, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(project_user["kubeconfig"])}, "--list", "-vvv")
    failed(
        run,
        "deckhouse.virtualization.dvp: VirtualMachine list in all namespaces: Forbidden (403): permission denied: "
        f'virtualmachines.{VZ} is forbidden: User "{project_user["user"]}" cannot list resource "virtualmachines" in API group "{VZ}" at the cluster scope',
        "set the inventory's `namespaces` option to the namespaces the user may read",
    )
    assert project_user["token"] not in run.output


def test_project_user_lists_their_namespace(dvp, project_user, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(project_user["kubeconfig"]), "namespaces": ["shop"]}, "--list", "-vvv")
    assert run.returncode == 0, run.output
    assert sorted(run.data["_meta"]["hostvars"]) == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert hosts_of(run.data, "namespace_shop") == ["shop-db-0", "shop-web-0", "shop-web-1"]
    assert project_user["token"] not in run.output


def test_project_user_namespace_they_may_not_read_is_refused_clearly(dvp, project_user, tmp_path):
    run = inventory(tmp_path, {"kubeconfig": str(project_user["kubeconfig"]), "namespaces": ["shop", "lab"]}, "--graph", "-vvv")
    failed(
        run,
        f'User "{project_user["user"]}" cannot list resource "virtualmachines" in API group "{VZ}" in the namespace "lab"',
        "VirtualMachine list in namespace lab: Forbidden (403)",
        "or remove lab from the inventory's `namespaces` option",
    )
    assert project_user["token"] not in run.output
    # all or nothing: shop was listed before lab was refused, yet no host of shop is left in the inventory
    lenient = inventory(
        tmp_path, {"kubeconfig": str(project_user["kubeconfig"]), "namespaces": ["shop", "lab"]}, env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "0"}
    )
    assert lenient.returncode == 0 and "Unable to parse" in lenient.stderr, lenient.output
    assert lenient.data["_meta"]["hostvars"] == {} and "namespace_shop" not in lenient.data
    # the token given as the file's api_key is masked nowhere because it is printed nowhere
    server = yaml.safe_load(project_user["kubeconfig"].read_text())["clusters"][0]["cluster"]
    config = {"host": server["server"], "api_key": project_user["token"], "ca_cert": str(dvp.ca_file), "namespaces": ["lab"]}
    run = inventory(tmp_path, config, "--list", "-vvvvv")
    failed(run, 'in the namespace "lab"')
    assert project_user["token"] not in run.output


# -- docs ------------------------------------------------------------------------------------------------------------
def test_ansible_doc_renders():
    out = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "inventory", "deckhouse.virtualization.dvp"],
        capture_output=True,
        text=True,
        check=False,
        env=environment(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for text in ("namespaces", "host_format", "group_prefixes", "page_size", "keyed_groups", "cache_plugin", "K8S_AUTH_KUBECONFIG", "dvp_vm"):
        assert text in out.stdout, text
