"""Pure pieces of the collection's module_utils."""

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import compare, ensure, images, naming, quantity, waiter
from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import backoff_delays
from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import api_error_message


@pytest.mark.parametrize("snake,camel", [("data_source", "dataSource"), ("ca_bundle", "caBundle"), ("image_pull_secret", "imagePullSecret"), ("url", "url")])
def test_camel_and_snake(snake, camel):
    assert naming.camel(snake) == camel
    assert naming.snake(camel) == snake


def test_snake_of_acronyms():
    assert naming.snake("imageUploadURLs") == "image_upload_urls"
    assert naming.snake("registryURL") == "registry_url"


def test_to_api_drops_unset_and_keeps_passthrough():
    params = {"data_source": {"type": "HTTP", "http": {"url": "u", "ca_bundle": None}}, "affinity": {"nodeAffinity": {"x_y": 1}}}
    assert naming.to_api(params, passthrough=["affinity"]) == {"dataSource": {"type": "HTTP", "http": {"url": "u"}}, "affinity": {"nodeAffinity": {"x_y": 1}}}


@pytest.mark.parametrize(
    "a,b",
    [("1Gi", "1024Mi"), ("1", 1), ("500m", "0.5"), ("1k", "1000"), ("1e3", "1k"), ("1E3", "1k"), ("2E", "2e18"), ("1Ei", "1024Pi"), ("1Pi", "1024Ti")],
)
def test_quantities_compare_by_value(a, b):
    assert quantity.same_quantity(a, b)


def test_bad_quantity():
    with pytest.raises(ValueError):
        quantity.parse_quantity("1GB")
    assert not quantity.is_quantity(True)


def test_differences_subset_and_quantities():
    actual = {"spec": {"memory": {"size": "1Gi"}, "runPolicy": "AlwaysOn", "list": [{"a": 1, "b": 2}]}, "status": {"phase": "Ready"}}
    assert compare.differences({"spec": {"memory": {"size": "1024Mi"}}}, actual) == []
    assert compare.differences({"spec": {"runPolicy": "Manual"}}, actual) == ["spec.runPolicy"]
    assert compare.differences({"spec": {"list": [{"a": 1}]}}, actual) == []
    assert compare.differences({"spec": {"list": [{"a": 1}, {"a": 2}]}}, actual) == ["spec.list"]


def test_strip_server_fields():
    obj = {
        "metadata": {
            "name": "x",
            "uid": "u",
            "resourceVersion": "5",
            "managedFields": [],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        }
    }
    assert compare.strip_server_fields(obj) == {"metadata": {"name": "x"}}


def test_results_show_objects_without_managed_fields():
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import shown

    owners = [{"manager": "m", "operation": "Apply", "fieldsV1": {"f:spec": {}}}]
    obj = {"kind": "VirtualMachine", "metadata": {"name": "x", "managedFields": owners}, "spec": {"a": 1}}
    assert compare.without_managed_fields(obj) == {"kind": "VirtualMachine", "metadata": {"name": "x"}, "spec": {"a": 1}}
    assert obj["metadata"]["managedFields"] is owners, "the object given is not changed"
    bare = {"metadata": {"name": "y"}}
    assert compare.without_managed_fields(bare) is bare and compare.without_managed_fields({}) == {}
    result = {"changed": True, "resource": obj, "resources": [obj, bare, "odd"], "vm": {"phase": "Running"}}
    out = shown(result)
    assert "managedFields" not in out["resource"]["metadata"] and out["resources"][1] is bare and out["resources"][2] == "odd"
    assert "managedFields" not in out["resources"][0]["metadata"] and out["vm"] == {"phase": "Running"}
    assert result["resource"] is obj and shown({"changed": False}) == {"changed": False}


def test_owned_and_dropped_fields():
    actual = {
        "metadata": {
            "managedFields": [
                {
                    "manager": "deckhouse.virtualization",
                    "operation": "Apply",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:x": {}, "f:y": {"f:z": {}}}},
                },
                {"manager": "someone", "operation": "Update", "fieldsV1": {"f:spec": {"f:w": {}}}},
            ]
        }
    }
    assert sorted(ensure.owned_paths(actual)) == [("metadata", "labels", "a"), ("spec", "x"), ("spec", "y", "z")]
    desired = {"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}}
    assert ensure.dropped_fields(desired, actual) == ["spec.y.z"]


def test_backoff_schedule():
    assert backoff_delays(5, 0.2, 1.0) == [0.2, 0.4, 0.8, 1.0]


def test_api_error_message_uses_server_message():
    msg = api_error_message("ClusterVirtualImage x", 422, "Unprocessable Entity", b'{"kind":"Status","message":"spec.x: Invalid value"}')
    assert msg == "ClusterVirtualImage x: Unprocessable Entity (422): spec.x: Invalid value"


def test_a_403_of_the_authorizer_asks_for_a_role_one_of_admission_does_not():
    rbac = b'{"kind":"Status","message":"nodes is forbidden: User \\"alice\\" cannot list resource \\"nodes\\" in API group \\"\\" at the cluster scope"}'
    msg = api_error_message("Node list", 403, "Forbidden", rbac)
    assert msg.startswith('Node list: Forbidden (403): permission denied: nodes is forbidden: User "alice" cannot list')
    assert msg.endswith("(grant the user a role that allows it; nothing was changed)")
    for server in (
        'admission webhook "vm.virtualization-controller.validate.d8-virtualization" denied the request: the class name is empty',
        'pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2',
        'virtualmachines "vm" is forbidden: unable to create new content in namespace vms because it is being terminated',
    ):
        msg = api_error_message("VirtualMachine vms/vm", 403, "Forbidden", {"kind": "Status", "message": server})
        assert msg == f"VirtualMachine vms/vm: Forbidden (403): refused: {server} (nothing was changed)", msg


def params(**kw):
    base = {"name": "img", "state": "present", "data_source": {"type": "HTTP", "http": {"url": "https://e.com/a.img"}}, "upload_file": None}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "override,problem",
    [
        ({"name": "a.b"}, "name: 'a.b' must not contain '.'"),
        ({"name": "Upper"}, "name: 'Upper' must be lower-case"),
        ({"data_source": {"type": "HTTP", "http": {"url": "ftp://x"}}}, "data_source.http.url: 'ftp://x' must be an http:// or https:// URL"),
        ({"data_source": {"type": "HTTP"}}, "data_source.http is required with data_source.type=HTTP"),
        ({"data_source": {"type": "Upload", "http": {"url": "https://x"}}}, "data_source.http is not allowed with data_source.type=Upload"),
        (
            {"data_source": {"type": "HTTP", "http": {"url": "https://x", "checksum": {"sha256": "abc"}}}},
            "data_source.http.checksum.sha256: must be 64 hexadecimal characters, got 3",
        ),
        ({"data_source": {"type": "ContainerImage", "container_image": {"image": "Bad Image"}}}, "is not a container image reference"),
        (
            {"data_source": {"type": "ObjectRef", "object_ref": {"kind": "VirtualDisk", "name": "d"}}},
            "data_source.object_ref.namespace is required for kind VirtualDisk",
        ),
        ({"data_source": {"type": "HTTP", "http": {"url": "https://x"}}, "upload_file": "/tmp/f.iso"}, "upload_file is only used with data_source.type=Upload"),
        ({"data_source": {"type": "HTTP", "http": {"url": "https://x", "ca_bundle": "%%%"}}}, "data_source.http.ca_bundle: must be base64"),
    ],
)
def test_image_rules_name_option_and_rule(override, problem):
    problems = images.validate_image_params(params(**override))
    assert any(problem in p for p in problems), problems


def test_image_rules_accept_valid_sources():
    assert images.validate_image_params(params()) == []
    assert (
        images.validate_image_params(params(data_source={"type": "ContainerImage", "container_image": {"image": "registry.example.com:5000/img/alpine:3.20"}}))
        == []
    )
    assert images.validate_image_params(params(data_source={"type": "Upload"}, upload_file="/tmp/x.iso")) == []
    assert images.validate_image_params(params(state="absent", data_source=None)) == []


def test_image_guard_asks_for_recreate_only_when_ready():
    guard = images.image_guard("ClusterVirtualImage")
    assert guard({"status": {"phase": "Ready"}}, {}, ["spec.dataSource.http.url"]) == "recreate"
    assert guard({"status": {"phase": "Provisioning"}}, {}, ["spec.dataSource.http.url"]) is None
    assert guard({"status": {"phase": "Ready"}}, {}, ["metadata.labels.a"]) is None


def test_users_from_in_use_condition():
    obj = {"status": {"conditions": [{"type": "InUse", "status": "True", "message": "Image is in use by ns1/vm-a, ns2/vm-b."}]}}
    assert images.users(obj) == ["ns1/vm-a", "ns2/vm-b"]


def test_waiter_predicates_and_state_description():
    ready = waiter.phase_in(("Ready",))
    obj = {"metadata": {"generation": 2}, "status": {"phase": "Ready", "observedGeneration": 1}}
    assert not ready(obj).done, "status of an older generation does not count"
    obj["status"]["observedGeneration"] = 2
    assert ready(obj).done
    failed = {
        "metadata": {"generation": 1},
        "status": {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False", "reason": "ProvisioningFailed", "message": "checksum mismatch"}]},
    }
    outcome = ready(failed)
    assert outcome.failed and outcome.message == "phase Failed: ProvisioningFailed: checksum mismatch"
    assert waiter.describe_state(failed) == "phase Failed; Ready=False (ProvisioningFailed: checksum mismatch)"
    assert waiter.gone(None).done


# -- issue 7 §5: module gaps ------------------------------------------------------------------------------
from ansible_collections.deckhouse.virtualization.plugins.module_utils import common, vmclass_service  # noqa: E402
from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import APIStatusError  # noqa: E402
from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError, StreamBroken  # noqa: E402
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import CLUSTER_VIRTUAL_IMAGE  # noqa: E402

CONFLICT_STATUS = {
    "kind": "Status",
    "status": "Failure",
    "reason": "Conflict",
    "code": 409,
    "message": 'Apply failed with 2 conflicts: conflicts with "ops" using virtualization.deckhouse.io/v1alpha2: ...',
    "details": {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "ops" using virtualization.deckhouse.io/v1alpha2',
                "field": ".spec.dataSource.http.url",
            },
            {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-edit" using v1alpha2', "field": ".metadata.labels.os"},
            {"reason": "FieldValueInvalid", "message": "unrelated", "field": ".spec"},
        ]
    },
}


def test_conflict_causes_and_message_name_managers_and_fields():
    import json

    causes = ensure.conflict_causes(json.dumps(CONFLICT_STATUS).encode())
    assert causes == [{"manager": "ops", "field": ".spec.dataSource.http.url"}, {"manager": "kubectl-edit", "field": ".metadata.labels.os"}]
    msg = ensure.conflict_message("ClusterVirtualImage x", causes)
    assert ".spec.dataSource.http.url (owned by 'ops')" in msg and ".metadata.labels.os (owned by 'kubectl-edit')" in msg
    assert "force_conflicts=true" in msg
    assert ensure.conflict_causes(b"not json") == [] and ensure.conflict_causes({"message": "x"}) == []


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def obj(rv, phase=None):
    out = {"metadata": {"name": "img", "resourceVersion": str(rv), "generation": 1}}
    if phase:
        out["status"] = {"phase": phase}
    return out


class ScriptedClient:
    """Answers get/list/watch from scripts: each watch call takes the next script, a list of events or
    exceptions (raised at that point of the stream). Records the resourceVersions watches start from."""

    def __init__(self, gets, watches, clock=None):
        self.gets = list(gets)
        self.watches = list(watches)
        self.watched_from = []
        self.clock = clock

    def get(self, kind, name, namespace=None):
        item = self.gets.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def list(self, kind, namespace=None, label_selector=None, field_selector=None):
        return {"metadata": {"resourceVersion": "1"}, "items": []}

    def watch(self, kind, name, namespace, rv, timeout):
        self.watched_from.append(rv)
        script = self.watches.pop(0) if self.watches else []
        for step in script:
            if isinstance(step, BaseException):
                raise step
            if self.clock is not None and step.get("advance"):
                self.clock.now += step["advance"]
                continue
            yield step


READY = waiter.phase_in(("Ready",))


def unreachable():
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as exc:
        try:
            raise DVPError("ClusterVirtualImage img: cannot reach the Kubernetes API at https://127.0.0.1:1") from exc
        except DVPError as err:
            return err


def test_wait_for_resumes_a_broken_watch_from_the_last_resource_version():
    clock = FakeClock()
    client = ScriptedClient(
        gets=[obj(5, "Provisioning"), obj(8, "Provisioning")],
        watches=[
            [{"type": "MODIFIED", "object": obj(7, "Provisioning")}, StreamBroken("stream reset")],
            [ConnectionResetError(104, "Connection reset by peer")],  # nothing delivered: read, then watch from there
            [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, unreachable()],
            [{"type": "MODIFIED", "object": obj(11, "Ready")}],
        ],
    )
    done = waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 60, clock=clock, sleep=clock.sleep)
    assert done["metadata"]["resourceVersion"] == "11"
    assert client.watched_from == ["5", "7", "8", "9"], "a watch that brought events resumes from the last resourceVersion seen"
    assert client.gets == [] and clock.now == 3 * waiter.RECONNECT_PAUSE


def test_wait_for_reads_through_a_path_that_never_carries_a_watch():
    """A proxy that cuts every watch before its first byte: the wait still sees the object change, by one read per
    reconnect pause, and ends when it is Ready rather than at its timeout."""
    clock = FakeClock()
    cut = ConnectionResetError(104, "Connection reset by peer")
    gets = [obj(5, "Provisioning"), obj(6, "Provisioning"), obj(7, "Ready")]
    client = ScriptedClient(gets=gets, watches=[[cut], [cut], [cut], [AssertionError("watched on")]])
    done = waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 60, clock=clock, sleep=clock.sleep)
    assert done["metadata"]["resourceVersion"] == "7"
    assert client.watched_from == ["5", "6"] and clock.now == 2 * waiter.RECONNECT_PAUSE


def test_wait_for_rereads_after_410_and_while_the_server_is_down():
    clock = FakeClock()
    gone_410 = APIStatusError("ClusterVirtualImage img: Gone (410)", 410, "Gone", b"")
    client = ScriptedClient(
        gets=[obj(5, "Provisioning"), unreachable(), unreachable(), obj(20, "Provisioning"), obj(30, "Provisioning")],
        watches=[[gone_410], [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}], [{"type": "MODIFIED", "object": obj(31, "Ready")}]],
    )
    done = waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 60, clock=clock, sleep=clock.sleep)
    assert done["status"]["phase"] == "Ready"
    assert client.watched_from == ["5", "20", "30"]


def test_wait_for_keeps_to_its_timeout_and_names_the_breakage():
    clock = FakeClock()
    client = ScriptedClient(gets=[obj(5, "Provisioning")] + [unreachable()] * 100, watches=[[{"advance": 9}, StreamBroken("reset")]], clock=clock)
    with pytest.raises(DVPError) as err:
        waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 10, clock=clock, sleep=clock.sleep)
    assert "timed out after 10s" in err.value.message and "phase Provisioning" in err.value.message and "reset" in err.value.message
    assert clock.now <= 10 + 1e-9


def test_wait_for_raises_api_errors_and_other_exceptions_at_once():
    forbidden = APIStatusError("ClusterVirtualImage img: Forbidden (403)", 403, "Forbidden", b"")
    client = ScriptedClient(gets=[obj(5, "Provisioning")], watches=[[forbidden]])
    with pytest.raises(APIStatusError):
        waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 60, sleep=lambda s: None)
    client = ScriptedClient(gets=[obj(5, "Provisioning")], watches=[[KeyError("bug")]])
    with pytest.raises(KeyError):
        waiter.wait_for(client, CLUSTER_VIRTUAL_IMAGE, "img", None, READY, 60, sleep=lambda s: None)


def test_stream_broken_classification():
    assert waiter.stream_broken(StreamBroken("x"))
    assert waiter.stream_broken(unreachable())
    assert waiter.stream_broken(ConnectionResetError())
    import http.client

    assert waiter.stream_broken(http.client.IncompleteRead(b""))
    assert not waiter.stream_broken(DVPError("plain"))
    assert not waiter.stream_broken(APIStatusError("m", 500, "x", b""))
    assert not waiter.stream_broken(ValueError("x"))
    import ssl

    assert not waiter.stream_broken(ssl.SSLCertVerificationError("bad certificate"))
    urllib3 = pytest.importorskip("urllib3")
    assert waiter.stream_broken(urllib3.exceptions.ProtocolError("Connection broken"))


def test_condition_predicates():
    cond = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "WaitForUserUpload"}]}}
    assert waiter.condition_is("Ready", "False")(cond).done
    assert waiter.condition_is("Ready", "False", "WaitForUserUpload")(cond).done
    assert not waiter.condition_is("Ready")(cond).done
    assert not waiter.condition_is("Ready", "False", "Other")(cond).done
    assert not waiter.once_it_exists(READY)(None).failed and READY(None).failed


@pytest.mark.parametrize(
    "params,problem",
    [
        ({"wait_timeout": -1, "state": "present"}, "wait_timeout: must be 0 or more seconds, got -1"),
        (
            {"state": "absent", "labels": {"a": "1"}, "force_conflicts": True, "cpu": {"type": "Host"}},
            "labels, force_conflicts, cpu: only used with state=present",
        ),
        ({"wait_condition": {"type": "Ready"}, "wait": False}, "wait_condition: only used with wait=true"),
    ],
)
def test_option_problems_name_options_and_rule(params, problem):
    assert any(problem in p for p in common.option_problems(params, ("cpu",)))


def test_option_problems_accept_a_sound_set():
    assert common.option_problems({"state": "absent", "wait_timeout": 0, "force_conflicts": False, "recreate": False}, ("recreate",)) == []
    assert common.option_problems({"state": "present", "wait_timeout": 300, "labels": {"a": "1"}, "force_conflicts": True}) == []


@pytest.mark.parametrize(
    "url,masked,secrets",
    [
        ("https://10.0.0.1:6443/upload/Zk3lQ9xR2vT8mN4pW7yB", "https://10.0.0.1:6443/upload/********", ["Zk3lQ9xR2vT8mN4pW7yB"]),
        ("https://10.0.0.1:6443/in-cluster/Zk3lQ9xR2vT8mN4pW7yB/upload", "https://10.0.0.1:6443/in-cluster/********/upload", ["Zk3lQ9xR2vT8mN4pW7yB"]),
        ("http://10.222.165.239/upload", "http://10.222.165.239/upload", []),
        ("https://h/upload/Zk3lQ9xR2vT8?sig=abcdef", "https://h/upload/********?********", ["Zk3lQ9xR2vT8", "sig=abcdef"]),
    ],
)
def test_upload_url_masking(url, masked, secrets):
    assert images.mask_upload_url(url) == masked
    assert images.url_secrets(url) == secrets


def test_hide_upload_urls_copies_and_masks():
    url = "https://h/in-cluster/Zk3lQ9xR2vT8mN4pW7yB/upload"
    original = {
        "metadata": {"name": "x"},
        "status": {"phase": "WaitForUserUpload", "imageUploadURLs": {"external": "https://h/upload/AAAABBBBCCCC", "inCluster": url}},
    }
    hidden = images.hide_upload_urls(original)
    assert hidden["status"]["imageUploadURLs"] == {"external": "https://h/upload/********", "inCluster": "https://h/in-cluster/********/upload"}
    assert original["status"]["imageUploadURLs"]["inCluster"] == url, "the original is untouched"
    assert sorted(images.upload_url_secrets(original)) == ["AAAABBBBCCCC", "Zk3lQ9xR2vT8mN4pW7yB"]
    assert images.mask_secrets(f"PUT {url} failed", images.url_secrets(url)) == "PUT https://h/in-cluster/********/upload failed"
    assert images.hide_upload_urls({"status": {}}) == {"status": {}}


def vmclass_obj(phase, reason=None, observed=1, cpu=None):
    conds = [{"type": "Ready", "status": "False", "reason": reason, "message": "No matching nodes found.", "observedGeneration": observed}] if reason else []
    return {
        "metadata": {"name": "c", "generation": 1},
        "spec": {"cpu": cpu or {"type": "Model", "model": "Nehalem-IBRS"}},
        "status": {"phase": phase, "conditions": conds},
    }


def test_class_ready_fails_fast_on_the_platforms_verdict():
    assert vmclass_service.class_ready(vmclass_obj("Ready")).done
    assert vmclass_service.class_ready(vmclass_obj("Pending")) == waiter.Outcome(), "no verdict yet: keep waiting"
    assert vmclass_service.class_ready(vmclass_obj("Pending", "NoSuitableNodesFound", observed=0)) == waiter.Outcome(), "an older generation's verdict"
    out = vmclass_service.class_ready(vmclass_obj("Pending", "NoSuitableNodesFound"))
    assert out.failed and "NoSuitableNodesFound: No matching nodes found." in out.message and "'Nehalem-IBRS'" in out.message
    assert vmclass_service.class_ready(None).failed


def test_a_dict_option_given_a_number_a_bool_or_a_list_is_its_type_error():
    """ansible-core's validator raises a TypeError (ansible/ansible#81631) where these need its type error; the values
    are set to None so that it runs to its other errors; strings (key=value, JSON) and nulls are left to it."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    from ansible_collections.deckhouse.virtualization.plugins.module_utils.argspec import argument_errors

    leaf = {"type": "dict", "options": {"x": {"type": "int"}}}
    spec = {
        "cpu": {"type": "dict", "aliases": ["processor"], "options": {"discovery": leaf, "type": {"type": "str"}}},
        "policies": {"type": "list", "elements": "dict", "options": {"cores": leaf}},
        "plain": {"type": "dict"},
    }
    unable = "and we were unable to convert to dict: <class '{0}'> cannot be converted to a dict"
    params = {"cpu": 7, "policies": [{"cores": True}, "x=1", 5], "plain": 3}
    assert argument_errors(spec, params) == [
        "argument 'cpu' is of type int " + unable.format("int"),
        "argument 'cores' is of type bool found in 'policies'. " + unable.format("bool"),
    ]
    assert params == {"cpu": None, "policies": [{"cores": None}, "x=1", 5], "plain": 3}
    result = ArgumentSpecValidator(spec).validate(params)  # it runs now, to what it says itself
    assert any("argument 'plain' is of type int and we were unable to convert to dict" in e.msg for e in result.errors.errors), result.errors.msg
    nested = {"processor": {"discovery": [1], "type": "Discovery"}}
    assert argument_errors(spec, nested) == ["argument 'discovery' is of type list found in 'cpu'. " + unable.format("list")]
    for fine in ({"cpu": "type=Host"}, {"cpu": None}, {"cpu": {"discovery": {"x": 1}}}, {"policies": "a=1"}, {}):
        assert argument_errors(spec, dict(fine)) == [], fine
        ArgumentSpecValidator(spec).validate(dict(fine))  # no TypeError either
    with pytest.raises(TypeError):
        ArgumentSpecValidator(spec).validate({"cpu": 7})  # the ansible-core defect the function answers (a fixed core fails this)


def test_a_required_option_given_null_is_missing():
    """The validator counts `name: ~` as given (it checks the key); the module would read a collection for it."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    from ansible_collections.deckhouse.virtualization.plugins.module_utils.argspec import argument_errors

    ref = {"kind": {"type": "str", "required": True}, "name": {"type": "str", "required": True}}
    spec = {"name": {"type": "str", "required": True}, "refs": {"type": "list", "elements": "dict", "options": ref}, "note": {"type": "str"}}
    assert not ArgumentSpecValidator(spec).validate({"name": None}).errors.errors, "the validator's own view"
    assert argument_errors(spec, {"name": None, "note": None}) == ["missing required arguments: name"]
    nested = {"name": "a", "refs": [{"kind": "VirtualDisk", "name": None}, {"kind": None, "name": "b"}]}
    assert argument_errors(spec, nested) == ["missing required arguments: name found in refs", "missing required arguments: kind found in refs"]
    assert argument_errors(spec, {"name": "a", "refs": [{"kind": "VirtualDisk", "name": "d"}]}) == []


def test_the_client_never_reads_a_collection_for_an_object():
    """A GET of one object without its name (or a namespaced kind's namespace) would be a LIST of the collection."""
    from ansible_collections.deckhouse.virtualization.plugins.module_utils import kinds
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import DVPClient
    from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError

    client = object.__new__(DVPClient)  # the guard runs before any request: no connection needed
    for kind, name, namespace in ((kinds.VIRTUAL_DISK, "", "ns"), (kinds.VIRTUAL_DISK, "d", None), (kinds.VIRTUAL_MACHINE_CLASS, None, None)):
        with pytest.raises(DVPError, match="cannot be read without a name"):
            client.read(kind, name, namespace)
