"""The store's ordered keys and secondary indexes: maintained on every put and remove, rebuilt on reopen."""

import itertools
import random

import pytest

from dvp_simulator.store.store import ADDED, LABEL, MODIFIED, NODE_NAME, OWNER, Store


def obj(name, namespace="", labels=None, owners=(), node=None):
    meta = {"name": name, "labels": labels or {}, "ownerReferences": [{"uid": u, "kind": "X", "name": u} for u in owners]}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}}


def keys(entries):
    return [(e.namespace, e.name) for e in entries]


def test_list_is_in_key_order_without_sorting_and_namespaced_list_sees_only_its_namespace():
    store = Store(None)
    names = [(f"ns{random.randint(0, 4)}", f"pod-{i}") for i in range(300)]
    random.shuffle(names)
    for ns, name in names:
        store.put("/pods", obj(name, ns), ADDED)
    for ns, name in names[:100]:
        store.remove("/pods", ns, name)
    left = sorted(names[100:])
    assert keys(store.list("/pods")) == left
    assert keys(store.list("/pods", "ns2")) == [k for k in left if k[0] == "ns2"]
    assert store.list("/pods", "absent") == []
    assert store.list("/nothing") == []


def test_builtin_indexes_follow_updates_and_deletes():
    store = Store(None)
    store.put("/pods", obj("a", "ns", labels={"app": "web"}, owners=["u1"], node="n1"), ADDED)
    store.put("/pods", obj("b", "ns", labels={"app": "web", "tier": "x"}, owners=["u1", "u2"], node="n2"), ADDED)
    store.put("/pods", obj("c", "other", labels={"app": "db"}, node="n1"), ADDED)
    assert keys(store.by_index("/pods", OWNER, "u1")) == [("ns", "a"), ("ns", "b")]
    assert keys(store.by_index("/pods", LABEL, "app=web")) == [("ns", "a"), ("ns", "b")]
    assert keys(store.by_index("/pods", NODE_NAME, "n1")) == [("ns", "a"), ("other", "c")]
    assert keys(store.by_index("/pods", NODE_NAME, "n1", namespace="other")) == [("other", "c")]

    store.put("/pods", obj("a", "ns", labels={"app": "db"}, node="n2"), MODIFIED)  # relabelled, moved, orphaned
    assert keys(store.by_index("/pods", OWNER, "u1")) == [("ns", "b")]
    assert keys(store.by_index("/pods", LABEL, "app=db")) == [("ns", "a"), ("other", "c")]
    assert keys(store.by_index("/pods", NODE_NAME, "n2")) == [("ns", "a"), ("ns", "b")]

    store.remove("/pods", "ns", "b")
    assert store.by_index("/pods", OWNER, "u2") == []
    assert "u2" not in store.indexes["/pods"][OWNER].keys, "empty values are dropped, the index does not grow forever"
    # every resource has the owner and label indexes, even one never written
    assert store.by_index("/secrets", OWNER, "u1") == []


def test_select_by_labels_matches_every_pair():
    store = Store(None)
    for i in range(50):
        store.put("/secrets", obj(f"s{i:02}", "ns", labels={"parity": str(i % 2), "tens": str(i // 10)}), ADDED)
    got = keys(store.select("/secrets", "ns", {"parity": "1", "tens": "2"}))
    assert got == [("ns", f"s{i:02}") for i in range(21, 30, 2)]
    assert store.select("/secrets", None, {"parity": "7"}) == []
    assert len(store.select("/secrets", None, {})) == 50


def test_registered_index_covers_existing_objects_and_unknown_index_is_an_error():
    store = Store(None)
    store.put("g/things", obj("a"), ADDED)
    store.put("g/things", {"metadata": {"name": "b"}, "spec": {"ref": "target"}}, ADDED)
    store.add_index("g/things", "ref", lambda o: [o["spec"]["ref"]] if o.get("spec", {}).get("ref") else [])
    assert keys(store.by_index("g/things", "ref", "target")) == [("", "b")]
    store.put("g/things", {"metadata": {"name": "c"}, "spec": {"ref": "target"}}, ADDED)
    assert keys(store.by_index("g/things", "ref", "target")) == [("", "b"), ("", "c")]
    with pytest.raises(KeyError):
        store.by_index("g/things", "no-such-index", "x")


def test_registering_the_same_index_again_does_not_walk_the_objects_and_another_function_replaces_it():
    store = Store(None)
    for i in range(50):
        store.put("g/things", {"metadata": {"name": f"t{i}"}, "spec": {"ref": f"r{i % 5}"}}, ADDED)
    calls = {"n": 0}

    def ref(o):
        calls["n"] += 1
        return [o["spec"]["ref"]]

    store.add_index("g/things", "ref", ref)
    assert calls["n"] == 50
    store.add_index("g/things", "ref", ref)  # a webhook and a controller both register what they read
    assert calls["n"] == 50, "the objects were indexed again"
    assert len(store.by_index("g/things", "ref", "r1")) == 10
    store.add_index("g/things", "ref", lambda o: [o["spec"]["ref"].upper()])
    assert store.by_index("g/things", "ref", "r1") == [] and len(store.by_index("g/things", "ref", "R1")) == 10


def test_reopen_restores_order_and_indexes(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path)
    for name in ("z", "b", "m"):
        store.put("/pods", obj(name, "ns", labels={"k": name}, owners=["o"], node="n"), ADDED)
    store.remove("/pods", "ns", "m")
    store.close()

    again = Store(path)
    assert keys(again.list("/pods")) == [("ns", "b"), ("ns", "z")]
    assert keys(again.by_index("/pods", OWNER, "o")) == [("ns", "b"), ("ns", "z")]
    assert keys(again.by_index("/pods", NODE_NAME, "n")) == [("ns", "b"), ("ns", "z")]
    assert keys(again.select("/pods", "ns", {"k": "z"})) == [("ns", "z")]
    again.put("/pods", obj("a", "ns"), ADDED)
    assert keys(again.list("/pods", "ns")) == [("ns", "a"), ("ns", "b"), ("ns", "z")]
    again.close()


def test_list_after_resumes_after_any_key_in_the_collection_and_in_a_namespace():
    store = Store(None)
    names = [(ns, f"o{i:02}") for ns in ("a", "c") for i in range(10)]
    for ns, name in names:
        store.put("/pods", obj(name, ns), ADDED)
    every = sorted(names)
    # present keys, removed or never-stored keys, and keys before / between / after the namespaces
    for after in [None, ("a", "o03"), ("a", "o035"), ("a", "zz"), ("b", "x"), ("", ""), ("c", "o09"), ("d", "")]:
        want = [k for k in every if after is None or k > after]
        assert keys(store.list_after("/pods", None, after)) == want
        assert store.count_after("/pods", None, after) == len(want)
        for count in (None, 0, 1, 7, 100):
            assert keys(store.page_after("/pods", None, after, count)) == want[:count]
        for ns in ("a", "c", "absent"):
            in_ns = [k for k in want if k[0] == ns]
            assert keys(store.list_after("/pods", ns, after)) == in_ns
            assert store.count_after("/pods", ns, after) == len(in_ns)
            for count in (None, 0, 3, 100):
                assert keys(store.page_after("/pods", ns, after, count)) == in_ns[:count]
    assert list(store.list_after("/nothing", None, ("a", "b"))) == [] == store.page_after("/nothing", "x", None)


class CountingDict(dict):
    """A resource table that counts the entries read from it."""

    reads = 0

    def __getitem__(self, key):
        CountingDict.reads += 1
        return super().__getitem__(key)


def test_a_page_deep_in_a_large_collection_reads_only_the_page():
    store = Store(None)
    for i in range(20000):
        store.put("/pods", obj(f"p{i:05}", f"ns{i % 2}"), ADDED)
    store.objects["/pods"] = CountingDict(store.objects["/pods"])
    for namespace in (None, "ns1"):
        CountingDict.reads = 0
        page = list(itertools.islice(store.list_after("/pods", namespace, ("ns1", "p15001")), 10))
        assert keys(page)[0] == ("ns1", "p15003") and len(page) == 10
        assert CountingDict.reads == 10, "resuming a page must not walk the keys before it"
        CountingDict.reads = 0
        page = store.page_after("/pods", namespace, ("ns1", "p15001"), 10)
        assert keys(page)[0] == ("ns1", "p15003") and len(page) == 10 and CountingDict.reads == 10


def test_indexes_equal_a_scan_after_random_rewrites():
    """Index.update skips the set arithmetic when a write leaves an index's values as listed before: whatever the
    writes (labels reordered, the same values in another order, owners dropped, nodes moved), each index still
    answers what a scan of the objects answers."""
    rng = random.Random(7)
    store = Store(None)
    live = {}
    for _step in range(600):
        name = f"p{rng.randrange(40)}"
        if name in live and rng.random() < 0.15:
            store.remove("/pods", "ns", name)
            del live[name]
            continue
        labels = {k: rng.choice("xy") for k in rng.sample(["a", "b", "c"], rng.randrange(4))}
        owners = rng.sample(["u1", "u2", "u3"], rng.randrange(3))
        node = rng.choice([None, "n1", "n2"])
        event = MODIFIED if name in live else ADDED
        live[name] = obj(name, "ns", labels=labels, owners=owners, node=node)
        store.put("/pods", live[name], event)
    for index, values in (
        (LABEL, {f"{k}={v}" for o in live.values() for k, v in o["metadata"]["labels"].items()} | {"a=x", "c=y"}),
        (OWNER, {"u1", "u2", "u3"}),
        (NODE_NAME, {"n1", "n2"}),
    ):
        for value in values:
            expected = sorted(
                ("ns", n)
                for n, o in live.items()
                if (index == LABEL and value in {f"{k}={v}" for k, v in o["metadata"]["labels"].items()})
                or (index == OWNER and value in [r["uid"] for r in o["metadata"]["ownerReferences"]])
                or (index == NODE_NAME and o["spec"].get("nodeName") == value)
            )
            assert keys(store.by_index("/pods", index, value)) == expected, (index, value)


def test_stored_objects_share_their_equal_short_strings():
    """Each parsed body brings its own copy of every value; the store keeps one copy of a short text for all of its
    objects (share_strings), and leaves long texts and what it serves alone."""
    import orjson

    from dvp_simulator.store.store import SHARED_TEXT

    store = Store(None)
    long_text = "x" * (SHARED_TEXT + 1)
    for name in ("a", "b"):
        status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "note": long_text}
        body = orjson.loads(orjson.dumps({**obj(name, "bench", labels={"app": "web"}), "status": status}))
        store.put("/pods", body, ADDED)
    a, b = (store.get("/pods", "bench", n).obj for n in ("a", "b"))
    assert a["status"]["phase"] is b["status"]["phase"]
    assert a["status"]["conditions"][0]["status"] is b["status"]["conditions"][0]["status"]
    assert a["metadata"]["namespace"] is b["metadata"]["namespace"]
    assert a["metadata"]["labels"]["app"] is b["metadata"]["labels"]["app"]
    assert a["status"]["note"] == b["status"]["note"] and a["status"]["note"] is not b["status"]["note"]
    assert orjson.loads(store.get("/pods", "bench", "a").raw)["status"]["phase"] == "Running"
