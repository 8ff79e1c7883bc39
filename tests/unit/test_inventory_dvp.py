"""The pure part of the inventory plugin deckhouse.virtualization.dvp (plugins/module_utils/inventory.py): option
rules, host names, group names, host variables, and the paged list through DVPClient over a scripted transport."""

from __future__ import annotations

import http.client
import json
from urllib.parse import parse_qsl, urlsplit

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import inventory as inv
from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import DVPClient
from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError
from ansible_collections.deckhouse.virtualization.plugins.module_utils.transport import Answer


def vm(name="web-0", namespace="shop", phase="Running", node="blue-0", ip="10.66.10.7", labels=None, **extra):
    status = {k: v for k, v in (("phase", phase), ("nodeName", node), ("ipAddress", ip)) if v}
    return {
        "apiVersion": "virtualization.deckhouse.io/v1alpha2",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "labels": labels or {}, **extra},
        "spec": {"virtualMachineClassName": "generic", "runPolicy": "AlwaysOn"},
        "status": status,
    }


# -- group names -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,safe",
    [
        ("namespace_shop", "namespace_shop"),
        ("node_blue-0", "node_blue_0"),
        ("label_app.kubernetes.io/name_web", "label_app_kubernetes_io_name_web"),
        ("0day", "_0day"),  # a leading digit is kept, behind a `_`
        ("phase_Running", "phase_Running"),  # case is kept
        ("class_é", "class__"),  # ASCII only
        ("a b:c", "a_b_c"),
    ],
)
def test_sanitize_group_name(raw, safe):
    assert inv.sanitize_group_name(raw) == safe


def test_group_names_per_kind_and_prefix():
    prefixes = inv.prefixes_with_defaults(None)
    obj = vm(labels={"app": "web", "tier.example.com/role": "frontend", "canary": ""})
    assert inv.group_names(obj, inv.GROUP_KINDS, prefixes) == [
        "namespace_shop",
        "class_generic",
        "node_blue_0",
        "phase_Running",
        "label_app_web",
        "label_canary",  # an empty value: the key alone
        "label_tier_example_com_role_frontend",
    ]
    custom = inv.prefixes_with_defaults({"node": "hv_", "label": ""})
    assert inv.group_names(obj, ["node", "label"], custom) == ["hv_blue_0", "app_web", "canary", "tier_example_com_role_frontend"]
    assert inv.prefixes_with_defaults({"node": "hv_"})["namespace"] == "namespace_"


def test_group_names_without_values_and_duplicates():
    stopped = vm(phase="Stopped", node=None, ip=None)
    assert inv.group_names(stopped, ["node", "phase"], inv.DEFAULT_PREFIXES) == ["phase_Stopped"]
    fresh = {"metadata": {"name": "new", "namespace": "shop"}}  # no spec or status yet
    assert inv.group_names(fresh, inv.GROUP_KINDS, inv.DEFAULT_PREFIXES) == ["namespace_shop"]
    clash = vm(labels={"a.b": "c", "a_b": "c"})  # two labels, one group name after sanitizing
    assert inv.group_names(clash, ["label"], inv.DEFAULT_PREFIXES) == ["label_a_b_c"]


# -- host names ------------------------------------------------------------------------------------------------
def test_host_names():
    obj = vm()
    assert inv.host_name(inv.DEFAULT_HOST_FORMAT, obj) == "shop-web-0"
    assert inv.host_name("{name}", obj) == "web-0"
    assert inv.host_name("{name}.{namespace}.vm", obj) == "web-0.shop.vm"
    assert inv.host_name("{uid}", obj) == "uid-shop-web-0"
    assert inv.host_name("{{{name}}}", obj) == "{web-0}"


@pytest.mark.parametrize(
    "fmt,problem",
    [
        ("{name.__class__}", "host_format: {name.__class__} is not allowed; the fields are {namespace}, {name}, {uid}"),
        ("{name!r}", "{name!r} is not allowed"),
        ("{name:>20}", "{name:>20} is not allowed"),
        ("{node}", "{node} is not allowed"),
        ("{0}", "{0} is not allowed"),
        ("{namespace}", "names no VM; it needs {name} or {uid}"),
        ("static", "names no VM"),
        ("{name", "is not a valid pattern"),
        ("", "must be a non-empty string"),
        (None, "must be a non-empty string"),
    ],
)
def test_bad_host_formats(fmt, problem):
    problems = inv.host_format_problems(fmt)
    assert problems and problem in problems[0], problems


def test_the_same_host_name_for_two_vms_is_refused():
    names = inv.HostNames("{name}")
    assert names.claim(vm("web-0", "shop")) == "web-0"
    assert names.claim(vm("web-0", "shop")) == "web-0"  # the same VM again (a re-read page) is no clash
    with pytest.raises(DVPError) as err:
        names.claim(vm("web-0", "lab"))
    assert "VirtualMachines shop/web-0 and lab/web-0 the same host name 'web-0'" in err.value.message
    assert "'{namespace}-{name}'" in err.value.message


# -- options ---------------------------------------------------------------------------------------------------
def test_option_problems():
    good = {"host_format": "{name}", "namespaces": ["shop", "lab-2"], "page_size": 500, "group_prefixes": {"node": "hv_"}}
    assert inv.option_problems(good) == []
    bad = {"host_format": "{name}", "namespaces": ["shop", "Bad_NS", "shop", "x" * 64], "page_size": 0, "group_prefixes": {"nodes": "x", "phase": 3}}
    problems = inv.option_problems(bad)
    assert "namespaces: 'Bad_NS' is not a namespace name" in problems[0]
    assert any(p.startswith(f"namespaces: '{'x' * 64}'") for p in problems)
    assert "namespaces: a namespace is listed twice" in problems
    assert "page_size: must be a whole number from 1 to 10000, got 0" in problems
    assert "group_prefixes: unknown key 'nodes'; the keys are namespace, class, node, phase, label" in problems
    assert "group_prefixes.phase: must be a string, got 3" in problems
    assert inv.option_problems({"host_format": "{name}", "page_size": True}) == ["page_size: must be a whole number from 1 to 10000, got True"]
    assert inv.option_problems({"host_format": "{name}", "group_prefixes": ["x"]}) == [
        "group_prefixes: must be a dictionary with keys among namespace, class, node, phase, label"
    ]


def test_unknown_options_are_named_with_the_closest_one():
    known = {"plugin", "namespaces", "label_selector", "kubeconfig"}
    assert inv.unknown_option_problems({"plugin": 1, "namespace": 1}, known) == ["namespace: not an option of this plugin; did you mean namespaces?"]
    assert inv.unknown_option_problems({"zzz": 1}, known) == ["zzz: not an option of this plugin"]
    assert inv.unknown_option_problems({"kubeconfig": 1}, known) == []


# -- host variables --------------------------------------------------------------------------------------------
def test_host_vars():
    obj = vm(labels={"app": "web"}, annotations={"note": "{{ 6 * 7 }}"}, managedFields=[{"manager": "kubectl"}])
    compacted = inv.compact(obj)
    assert "managedFields" not in compacted["metadata"] and "managedFields" in obj["metadata"], "the listed object is not changed"
    assert inv.compact(compacted) is compacted
    hv = inv.host_vars(compacted)
    assert hv == {
        "ansible_host": "10.66.10.7",
        "dvp_namespace": "shop",
        "dvp_name": "web-0",
        "dvp_uid": "uid-shop-web-0",
        "dvp_phase": "Running",
        "dvp_node": "blue-0",
        "dvp_class": "generic",
        "dvp_ip": "10.66.10.7",
        "dvp_run_policy": "AlwaysOn",
        "dvp_labels": {"app": "web"},
        "dvp_annotations": {"note": "{{ 6 * 7 }}"},
        "dvp_vm": compacted,
    }
    assert "ansible_host" not in inv.host_vars(vm(ip=None)), "no address: Ansible would connect to the host name"
    small = inv.host_vars(compacted, include_object=False)
    assert "dvp_vm" not in small and small == {k: v for k, v in hv.items() if k != "dvp_vm"}


def test_phase_selection():
    assert inv.selected(vm(phase="Stopped"), [])
    assert inv.selected(vm(phase="Running"), ["Running", "Migrating"])
    assert not inv.selected(vm(phase="Stopped"), ["Running"])
    assert not inv.selected({"metadata": {}}, ["Running"])


# -- the paged list --------------------------------------------------------------------------------------------
class ScriptedTransport:
    """Answers list requests from a fixed list of VMs, `limit` at a time, with an opaque continue token, and
    records each request's path and query; 403 for the namespaces in `forbidden`."""

    display = "https://api.example:6443"

    def __init__(self, vms, forbidden=()):
        self.vms, self.forbidden, self.requests = vms, set(forbidden), []

    def request(self, method, target, headers, body, timeout):
        url = urlsplit(target)
        query = dict(parse_qsl(url.query))
        self.requests.append((method, url.path, query))
        parts = url.path.split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts else None
        if namespace in self.forbidden or (None in self.forbidden and namespace is None):
            where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            message = (
                'virtualmachines.virtualization.deckhouse.io is forbidden: User "alice" cannot list resource "virtualmachines" '
                f'in API group "virtualization.deckhouse.io" {where}'
            )
            return self._answer(403, "Forbidden", {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403, "message": message})
        items = [v for v in self.vms if namespace in (None, v["metadata"]["namespace"])]
        start = int(query.get("continue", "0"))
        limit = int(query["limit"])
        page = items[start : start + limit]
        meta = {"resourceVersion": "7"}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        return self._answer(200, "OK", {"kind": "VirtualMachineList", "metadata": meta, "items": page})

    @staticmethod
    def _answer(status, reason, body):
        return Answer(status, reason, http.client.HTTPMessage(), json.dumps(body).encode())

    def close(self):
        pass


def test_pages_follow_the_continue_token_one_page_at_a_time():
    vms = [vm(f"vm-{i}", "shop" if i % 2 else "lab") for i in range(7)]
    api = ScriptedTransport(vms)
    client = DVPClient(api)
    pages = inv.pages(client, None, label_selector="app=web", field_selector="metadata.name!=x", page_size=3)
    first = next(pages)
    assert [v["metadata"]["name"] for v in first] == ["vm-0", "vm-1", "vm-2"]
    assert len(api.requests) == 1, "the next page is asked for only when this one is done with"
    rest = list(pages)
    assert [len(p) for p in rest] == [3, 1]
    path = "/apis/virtualization.deckhouse.io/v1alpha2/virtualmachines"
    assert api.requests == [
        ("GET", path, {"limit": "3", "labelSelector": "app=web", "fieldSelector": "metadata.name!=x"}),
        ("GET", path, {"limit": "3", "labelSelector": "app=web", "fieldSelector": "metadata.name!=x", "continue": "3"}),
        ("GET", path, {"limit": "3", "labelSelector": "app=web", "fieldSelector": "metadata.name!=x", "continue": "6"}),
    ]


def test_virtual_machines_per_namespace_with_phases_and_stats():
    vms = [vm("a", "shop"), vm("b", "shop", phase="Stopped", node=None), vm("c", "lab"), vm("d", "other")]
    api = ScriptedTransport(vms)
    stats = {}
    found = list(inv.virtual_machines(DVPClient(api), ["shop", "lab"], phases=["Running"], page_size=1, stats=stats))
    assert [v["metadata"]["name"] for v in found] == ["a", "c"]
    assert stats == {"pages": 3, "listed": 3}
    assert [r[1] for r in api.requests] == [
        "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/shop/virtualmachines",
        "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/shop/virtualmachines",
        "/apis/virtualization.deckhouse.io/v1alpha2/namespaces/lab/virtualmachines",
    ]


def test_forbidden_lists_name_the_user_and_what_helps():
    api = ScriptedTransport([vm()], forbidden=[None])
    with pytest.raises(DVPError) as err:
        list(inv.virtual_machines(DVPClient(api), []))
    message = err.value.message
    assert message.startswith("VirtualMachine list in all namespaces: Forbidden (403): permission denied: ")
    assert 'User "alice" cannot list resource "virtualmachines" in API group "virtualization.deckhouse.io" at the cluster scope' in message
    assert message.endswith("; or set the inventory's `namespaces` option to the namespaces the user may read")
    assert len(api.requests) == 1, "a 403 is not retried"

    api = ScriptedTransport([vm()], forbidden=["lab"])
    found = []
    with pytest.raises(DVPError) as err:
        for obj in inv.virtual_machines(DVPClient(api), ["shop", "lab"]):
            found.append(obj)
    assert len(found) == 1
    assert 'cannot list resource "virtualmachines" in API group "virtualization.deckhouse.io" in the namespace "lab"' in err.value.message
    assert err.value.message.endswith("; or remove lab from the inventory's `namespaces` option")
    assert err.value.details == {"status": 403}


class GeneratedTransport(ScriptedTransport):
    """`count` VMs in namespace `big`, made when a page asks for them (none is kept here)."""

    def __init__(self, count):
        super().__init__([])
        self.count = count

    def request(self, method, target, headers, body, timeout):
        query = dict(parse_qsl(urlsplit(target).query))
        start, limit = int(query.get("continue", "0")), int(query["limit"])
        page = [vm(f"vm-{i:05d}", "big", labels={"app": "web", "index": str(i)}) for i in range(start, min(start + limit, self.count))]
        meta = {"continue": str(start + limit)} if start + limit < self.count else {}
        return self._answer(200, "OK", {"kind": "VirtualMachineList", "metadata": meta, "items": page})


def peak_memory_reading(count, page_size):
    """The peak of traced allocations while reading `count` VMs one by one, in pages of `page_size`."""
    import tracemalloc

    tracemalloc.start()
    try:
        seen = 0
        for obj in inv.virtual_machines(DVPClient(GeneratedTransport(count)), [], page_size=page_size):
            seen += 1
            assert obj["metadata"]["namespace"] == "big"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    return peak


def test_ten_thousand_vms_are_read_with_flat_memory():
    """Reading 10,000 VMs in pages of 500 takes no more memory than reading 1,000: one page at a time."""
    small, large = peak_memory_reading(1000, 500), peak_memory_reading(10000, 500)
    assert large < 1.3 * small, f"peak {large} bytes for 10,000 VMs, {small} bytes for 1,000"


def test_the_plugin_takes_files_ending_in_dvp_yml(tmp_path):
    from ansible_collections.deckhouse.virtualization.plugins.inventory.dvp import InventoryModule

    plugin = InventoryModule()
    for name, taken in (("prod.dvp.yml", True), ("dvp.yaml", True), ("prod.dvp.yaml", True), ("prod.yml", False), ("dvp.yml.bak", False)):
        path = tmp_path / name
        path.write_text("plugin: deckhouse.virtualization.dvp\n")
        assert plugin.verify_file(str(path)) is taken, name
    assert not plugin.verify_file(str(tmp_path / "absent.dvp.yml"))
