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


@pytest.mark.parametrize("a,b", [("1Gi", "1024Mi"), ("1", 1), ("500m", "0.5"), ("1k", "1000"), ("1e3", "1k")])
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
        ({"data_source": {"type": "Upload"}}, "upload_file is required with data_source.type=Upload"),
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
