"""The kubernetes Python client (typed, custom objects, dynamic, watch) against the simulator."""

import json
import ssl
import threading
import urllib.error
import urllib.request

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

G, V = "virtualization.deckhouse.io", "v1alpha2"


def vmop(name, vm="vm1", **meta):
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "VirtualMachineOperation",
        "metadata": {"name": name, **meta},
        "spec": {"type": "Start", "virtualMachineName": vm},
    }


def settled(custom, namespace, name, timeout=15.0):
    """The VMOP once its controller is done with it (a VMOP for a VM that does not exist ends Failed), so a test's
    own writes are the only ones that follow."""
    import time

    end = time.monotonic() + timeout
    while True:
        obj = custom.get_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", name)
        if (obj.get("status") or {}).get("phase") in ("Completed", "Failed", "Superseded") or time.monotonic() > end:
            return obj
        time.sleep(0.05)


def test_request_without_token_is_401(sim):
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(sim.server + "/api/v1/namespaces", context=ctx)
    assert err.value.code == 401
    body = err.value.read().decode()
    assert '"kind":"Status"' in body and '"reason":"Unauthorized"' in body
    bad = urllib.request.Request(sim.server + "/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, context=ctx)
    assert err.value.code == 401


def test_core_v1_and_custom_objects(api, namespace):
    core = client.CoreV1Api(api)
    assert namespace in [n.metadata.name for n in core.list_namespace().items]
    secret = core.create_namespaced_secret(namespace, {"metadata": {"name": "s1"}, "stringData": {"a": "b"}, "type": "Opaque"})
    assert secret.metadata.uid
    custom = client.CustomObjectsApi(api)
    created = custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("op1"))
    assert created["metadata"]["generation"] == 1 and created["metadata"]["resourceVersion"]
    got = custom.get_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "op1")
    assert got["spec"]["virtualMachineName"] == "vm1"


def test_stale_update_is_409(api, namespace):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("op-stale"))
    obj = settled(custom, namespace, "op-stale")
    fresh = dict(obj, metadata={**obj["metadata"], "labels": {"a": "1"}})
    custom.replace_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "op-stale", fresh)
    stale = dict(obj, metadata={**obj["metadata"], "labels": {"a": "2"}})
    with pytest.raises(ApiException) as err:
        custom.replace_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "op-stale", stale)
    assert err.value.status == 409 and "the object has been modified" in err.value.body


def test_duplicate_create_is_409_already_exists(api, namespace):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("dup"))
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("dup"))
    assert err.value.status == 409 and "AlreadyExists" in err.value.body


def test_missing_namespace_and_object_are_404(api):
    custom = client.CustomObjectsApi(api)
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(G, V, "no-such-ns", "virtualmachineoperations", vmop("x"))
    assert err.value.status == 404 and 'namespaces \\"no-such-ns\\" not found' in err.value.body
    with pytest.raises(ApiException) as err:
        custom.get_cluster_custom_object(G, V, "clustervirtualimages", "nope")
    assert err.value.status == 404


def test_generation_bumps_on_spec_changes_only_and_status_subresource(api):
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{G}/{V}", "kind": "VirtualMachineClass", "metadata": {"name": "gen-test"}, "spec": {"cpu": {"type": "Host"}}}
    obj = custom.create_cluster_custom_object(G, V, "virtualmachineclasses", body)
    assert obj["metadata"]["generation"] == 1
    obj = custom.patch_cluster_custom_object(G, V, "virtualmachineclasses", "gen-test", {"metadata": {"labels": {"x": "y"}}})
    assert obj["metadata"]["generation"] == 1
    obj = custom.patch_cluster_custom_object_status(G, V, "virtualmachineclasses", "gen-test", {"status": {"phase": "Ready"}})
    assert obj["metadata"]["generation"] == 1 and obj["status"]["phase"] == "Ready"
    obj = custom.patch_cluster_custom_object(
        G, V, "virtualmachineclasses", "gen-test", {"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}, "status": {"phase": "Pending"}}
    )
    assert obj["metadata"]["generation"] == 2
    assert obj["status"]["phase"] == "Ready", "the main resource must not change status"


def test_cel_transition_rule_cpu_immutable(api):
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{G}/{V}", "kind": "VirtualMachineClass", "metadata": {"name": "cel-test"}, "spec": {"cpu": {"type": "Model", "model": "Nehalem"}}}
    custom.create_cluster_custom_object(G, V, "virtualmachineclasses", body)
    with pytest.raises(ApiException) as err:
        custom.patch_cluster_custom_object(G, V, "virtualmachineclasses", "cel-test", {"spec": {"cpu": {"model": "Haswell"}}})
    assert err.value.status == 422 and ".spec.cpu is immutable" in err.value.body
    with pytest.raises(ApiException) as err:
        custom.create_cluster_custom_object(G, V, "virtualmachineclasses", {**body, "metadata": {"name": "cel-2"}, "spec": {"cpu": {"type": "Model"}}})
    assert err.value.status == 422 and "model" in err.value.body


def test_v1alpha3_conversion_of_core_fractions(api):
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{G}/v1alpha3",
        "kind": "VirtualMachineClass",
        "metadata": {"name": "conv-test"},
        "spec": {"cpu": {"type": "Host"}, "sizingPolicies": [{"cores": {"min": 1, "max": 4}, "coreFractions": ["5%", "100%"], "defaultCoreFraction": "5%"}]},
    }
    custom.create_cluster_custom_object(G, "v1alpha3", "virtualmachineclasses", body)
    old = custom.get_cluster_custom_object(G, V, "virtualmachineclasses", "conv-test")
    assert old["spec"]["sizingPolicies"][0]["coreFractions"] == [5, 100]
    assert old["spec"]["sizingPolicies"][0]["defaultCoreFraction"] == 5
    new = custom.get_cluster_custom_object(G, "v1alpha3", "virtualmachineclasses", "conv-test")
    assert new["spec"]["sizingPolicies"][0]["coreFractions"] == ["5%", "100%"] and new["apiVersion"].endswith("v1alpha3")


def test_label_selectors_all_operators_and_field_selectors(api, namespace):
    custom = client.CustomObjectsApi(api)
    for name, labels in [("a", {"env": "prod", "tier": "db"}), ("b", {"env": "dev"}), ("c", {"tier": "web"})]:
        custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop(name, labels=labels))

    def names(**kw):
        return sorted(o["metadata"]["name"] for o in custom.list_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", **kw)["items"])

    assert names(label_selector="env=prod") == ["a"]
    assert names(label_selector="env==prod") == ["a"]
    assert names(label_selector="env!=prod") == ["b", "c"]
    assert names(label_selector="env in (prod,dev)") == ["a", "b"]
    assert names(label_selector="env notin (prod)") == ["b", "c"]
    assert names(label_selector="tier") == ["a", "c"]
    assert names(label_selector="!tier") == ["b"]
    assert names(label_selector="env,tier=db") == ["a"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert names(field_selector="metadata.name!=b") == ["a", "c"]
    assert names(field_selector=f"metadata.namespace={namespace}") == ["a", "b", "c"]
    with pytest.raises(ApiException) as err:  # not a selectableField of the CRD: refused, as kube-apiserver does
        names(field_selector="spec.virtualMachineName=vm1,metadata.name=c")
    assert err.value.status == 400 and "field label not supported: spec.virtualMachineName" in err.value.body


def test_pagination_with_limit_and_continue(api, namespace):
    custom = client.CustomObjectsApi(api)
    for i in range(7):
        custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop(f"p{i}"))
    seen, token, pages = [], None, 0
    while True:
        page = custom.list_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", limit=3, _continue=token)
        pages += 1
        seen += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
        if pages == 1:
            assert page["metadata"]["remainingItemCount"] == 4
        if not token:
            break
    assert pages == 3 and seen == [f"p{i}" for i in range(7)]


def test_pagination_with_selectors_resumes_after_the_last_match(api, namespace):
    """With a label or field selector the page holds matches only and remainingItemCount is left out, as
    kube-apiserver does (the count of remaining matches is unknown)."""
    custom = client.CustomObjectsApi(api)
    for i in range(9):
        custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop(f"s{i}", labels={"odd": str(i % 2)}))
    for selector in ({"label_selector": "odd=1"}, {"label_selector": "odd=1", "field_selector": "metadata.name!=s5"}, {"field_selector": "metadata.name!=s0"}):
        seen, token = [], None
        while True:
            page = custom.list_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", limit=2, _continue=token, **selector)
            assert len(page["items"]) <= 2 and "remainingItemCount" not in page["metadata"]
            seen += [o["metadata"]["name"] for o in page["items"]]
            token = page["metadata"].get("continue")
            if not token:
                break
        want = [f"s{i}" for i in range(9) if (i % 2 if "label_selector" in selector else True)]
        want = [n for n in want if n not in (selector.get("field_selector") or "").split("!=")[1:]]
        assert seen == want, selector


def test_finalizers_keep_object_terminating(api, namespace):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("fin", finalizers=["example.com/keep"]))
    custom.delete_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "fin")
    obj = custom.get_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "fin")
    assert obj["metadata"]["deletionTimestamp"]
    with pytest.raises(ApiException) as err:
        custom.patch_namespaced_custom_object(
            G, V, namespace, "virtualmachineoperations", "fin", {"metadata": {"finalizers": ["example.com/keep", "example.com/new"]}}
        )
    assert err.value.status == 422
    custom.patch_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "fin", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        custom.get_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "fin")
    assert err.value.status == 404


def test_owner_references_garbage_collected(api, namespace):
    custom = client.CustomObjectsApi(api)
    owner = custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("owner"))
    ref = {"apiVersion": f"{G}/{V}", "kind": "VirtualMachineOperation", "name": "owner", "uid": owner["metadata"]["uid"]}
    client.CoreV1Api(api).create_namespaced_secret(namespace, {"metadata": {"name": "dependent", "ownerReferences": [ref]}})
    custom.delete_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "owner")
    w = watch.Watch()
    core = client.CoreV1Api(api)
    for _unused in w.stream(core.list_namespaced_secret, namespace, field_selector="metadata.name=dependent", timeout_seconds=5):
        try:
            core.read_namespaced_secret("dependent", namespace)
        except ApiException as err:
            assert err.status == 404
            w.stop()
            break
    with pytest.raises(ApiException):
        core.read_namespaced_secret("dependent", namespace)


def test_dynamic_client(api, namespace):
    dyn = dynamic.DynamicClient(api)
    vms = dyn.resources.get(api_version=f"{G}/{V}", kind="VirtualMachineOperation")
    vms.create(body=vmop("dyn"), namespace=namespace)
    assert [o.metadata.name for o in vms.get(namespace=namespace).items] == ["dyn"]
    cvi = dyn.resources.get(short_names=["cvi"])
    assert cvi.kind == "ClusterVirtualImage"


def test_watch_stream_resume_and_410(api, namespace, sim):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("w1"))
    start_rv = settled(custom, namespace, "w1")["metadata"]["resourceVersion"]
    custom.patch_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "w1", {"metadata": {"labels": {"k": "v"}}})
    custom.delete_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", "w1")
    events = []
    w = watch.Watch()
    for ev in w.stream(custom.list_namespaced_custom_object, G, V, namespace, "virtualmachineoperations", resource_version=start_rv, timeout_seconds=2):
        events.append((ev["type"], ev["object"]["metadata"]["name"]))
        if len(events) == 2:
            w.stop()
    assert events == [("MODIFIED", "w1"), ("DELETED", "w1")], "resumed after the controller's writes: only the test's own"
    # A concurrent watcher sees a change made while it waits.
    seen = []

    def consume():
        w2 = watch.Watch()
        for ev in w2.stream(custom.list_namespaced_custom_object, G, V, namespace, "virtualmachineoperations", timeout_seconds=5):
            seen.append(ev["type"])
            w2.stop()

    t = threading.Thread(target=consume)
    t.start()
    import time

    time.sleep(0.5)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("w2"))
    t.join(10)
    assert seen == ["ADDED"]


def test_watch_resumed_in_another_api_version_replays_converted_events(api):
    """A watch from a past resourceVersion in a version other than the stored one replays the window's events
    converted (it was a 500: the window keeps JSON bytes, and the conversion asked them for the whole object)."""
    custom = client.CustomObjectsApi(api)
    body = {"apiVersion": f"{G}/{V}", "kind": "VirtualMachineClass", "metadata": {"name": "replayed"}, "spec": {"cpu": {"type": "Host"}}}
    start_rv = custom.create_cluster_custom_object(G, V, "virtualmachineclasses", body)["metadata"]["resourceVersion"]
    custom.patch_cluster_custom_object(G, V, "virtualmachineclasses", "replayed", {"metadata": {"labels": {"replayed": "yes"}}})
    events = []
    w = watch.Watch()
    selector = "metadata.name=replayed"
    options = {"resource_version": start_rv, "field_selector": selector, "timeout_seconds": 2}
    stream = w.stream(custom.list_cluster_custom_object, G, "v1alpha3", "virtualmachineclasses", **options)
    for ev in stream:
        events.append(ev)
        if (ev["object"].get("metadata", {}).get("labels") or {}).get("replayed") == "yes":
            w.stop()
    assert events and all(ev["type"] in ("MODIFIED", "ADDED") for ev in events), [ev["type"] for ev in events]
    assert all(ev["object"]["apiVersion"] == f"{G}/v1alpha3" for ev in events)
    assert events[-1]["object"]["metadata"]["labels"] == {"replayed": "yes"}
    custom.delete_cluster_custom_object(G, V, "virtualmachineclasses", "replayed")


def test_watch_list_initial_events_bookmark_and_timeout(api, namespace, sim):
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(G, V, namespace, "virtualmachineoperations", vmop("initial"))
    url = (
        f"{sim.server}/apis/{G}/{V}/namespaces/{namespace}/virtualmachineoperations"
        "?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {sim.token}"})
    started = __import__("time").monotonic()
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(sim.ca_file))) as resp:
        lines = [json.loads(line) for line in resp.read().decode().splitlines() if line]
    assert __import__("time").monotonic() - started < 5, "timeoutSeconds must end the stream"
    assert lines[0]["type"] == "ADDED" and lines[0]["object"]["metadata"]["name"] == "initial"
    assert lines[1]["type"] == "BOOKMARK"
    assert lines[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_long_list_is_streamed_whole_and_consistent(sim, api, namespace):
    """A LIST of more than LIST_CHUNK (100) items is written in chunks (chunked transfer encoding) with the event loop free between
    them; it must still be one valid List holding every item once, in the same order as the pages of a paged LIST."""
    import concurrent.futures

    core = client.CoreV1Api(api)
    names = [f"many-{i:04d}" for i in range(1203)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: core.create_namespaced_secret(namespace, {"metadata": {"name": n}, "stringData": {"k": n}}), names))
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    request = urllib.request.Request(f"{sim.server}/api/v1/namespaces/{namespace}/secrets", headers={"Authorization": f"Bearer {sim.token}"})
    with urllib.request.urlopen(request, context=ctx) as resp:
        assert resp.headers.get("Transfer-Encoding") == "chunked" and resp.headers.get("Content-Type", "").startswith("application/json")
        whole = json.loads(resp.read())
    assert whole["kind"] == "SecretList" and int(whole["metadata"]["resourceVersion"]) > 0
    streamed = [s["metadata"]["name"] for s in whole["items"]]
    assert [n for n in streamed if n.startswith("many-")] == names
    assert all(s["data"]["k"] for s in whole["items"] if s["metadata"]["name"].startswith("many-"))
    paged, token = [], None
    while True:
        page = core.list_namespaced_secret(namespace, limit=400, _continue=token)
        paged += [s.metadata.name for s in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert paged == streamed
    assert [s.metadata.name for s in core.list_namespaced_secret(namespace).items] == streamed  # the client parses it too
