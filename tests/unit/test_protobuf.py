"""The Kubernetes protobuf codec (simulator/dvp_simulator/api/protobuf.py) on bodies encoded with the same
descriptors, plus hand-made wire bytes for what only Go's marshaller produces (zero-valued fields, unknown
fields, Go's zero time)."""

from __future__ import annotations

import base64

import pytest

from dvp_simulator.api import protobuf as pb


def roundtrip(obj: dict) -> dict:
    return pb.decode(pb.encode(obj))


def test_envelope_starts_with_magic_and_carries_type_meta():
    body = pb.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert body[:4] == b"k8s\x00"
    envelope = pb.CLASSES["Unknown"].FromString(body[4:])
    assert (envelope.typeMeta.apiVersion, envelope.typeMeta.kind) == ("v1", "Namespace")
    assert pb.CLASSES["Namespace"].FromString(envelope.raw).metadata.name == "x"


def test_secret_bytes_map_labels_times_and_pointer_false():
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "ns",
            "labels": {"a": "b"},
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u1", "controller": False}],
        },
        "data": {"bin": base64.b64encode(bytes(range(256))).decode(), "empty": ""},
        "stringData": {"k": "v"},
        "type": "kubernetes.io/tls",
        "immutable": False,  # a pointer field: an explicit false survives
    }
    assert roundtrip(secret) == secret


def test_int_or_string_quantity_and_nested_messages():
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "b"},
        "spec": {"minAvailable": 0, "selector": {"matchLabels": {"app": "w"}, "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]}]}},
    }
    assert roundtrip(pdb) == pdb
    pdb["spec"] = {"maxUnavailable": "25%", "selector": {}}
    assert roundtrip(pdb) == pdb
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1536Mi"}}, "storageClassName": ""},
    }
    assert roundtrip(claim) == claim  # storageClassName is a pointer: "" (no class) is not "unset"


def test_inline_embedded_structs_and_microtime():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], "resources": {}}
            ],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "c2"}}, {"name": "cm", "configMap": {"name": "cm1", "defaultMode": 420}}],
            "terminationGracePeriodSeconds": 0,
        },
    }
    assert roundtrip(pod) == pod
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e"},
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "regarding": {"kind": "Pod", "name": "p"},
        "note": "hello",
        "reason": "Test",
        "type": "Normal",
    }
    assert roundtrip(event) == event


def test_service_with_named_target_port_and_delete_options():
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}], "selector": {"app": "web"}, "type": "ClusterIP"},
    }
    assert roundtrip(svc) == svc
    options = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": "u"}, "dryRun": ["All"]}
    assert roundtrip(options) == options
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p", "namespace": "n"},
        "deleteOptions": {"propagationPolicy": "Foreground"},
    }
    assert roundtrip(eviction) == eviction


def wrap(api_version: str, kind: str, raw: bytes) -> bytes:
    envelope = pb.CLASSES["Unknown"](raw=raw)
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = api_version, kind
    return pb.MAGIC + envelope.SerializeToString()


def test_go_zero_values_are_omitted_as_json_would_omit_them():
    # Go marshals every non-pointer field: empty strings, zeros, false, and metav1.Time's zero as an empty message
    container = pb.CLASSES["Container"](name="c", image="", workingDir="", stdin=False, terminationMessagePath="")
    pod = pb.CLASSES["Pod"]()
    pod.metadata.name = "p"
    pod.metadata.creationTimestamp.SetInParent()
    pod.spec.containers.add().CopyFrom(container)
    pod.spec.restartPolicy = ""
    pod.status.phase = ""
    decoded = pb.decode(wrap("v1", "Pod", pod.SerializeToString()))
    assert decoded == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}, "status": {}}
    go_zero = pb.CLASSES["Namespace"]()
    go_zero.metadata.name = "n"
    go_zero.metadata.creationTimestamp.seconds = -62135596800
    assert pb.decode(wrap("v1", "Namespace", go_zero.SerializeToString()))["metadata"] == {"name": "n"}


def test_unknown_fields_empty_are_tolerated_and_with_content_refused():
    ns = pb.CLASSES["Namespace"]()
    ns.metadata.name = "n"
    raw = ns.SerializeToString()
    empty_unknown = raw + bytes([(9 << 3) | 2, 0])  # field 9, length-delimited, empty
    assert pb.decode(wrap("v1", "Namespace", empty_unknown))["metadata"] == {"name": "n"}
    with pytest.raises(pb.ProtobufError, match="field 9 of Namespace"):
        pb.decode(wrap("v1", "Namespace", raw + bytes([(9 << 3) | 2, 1, 65])))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kind": "Namespace"}', "magic"),
        (pb.MAGIC + b"\xff\xff\xff", "malformed Unknown"),
        (wrap("v1", "ReplicationController", b""), "does not decode ReplicationController"),
        (wrap("v1", "Secret", b"\x0a\x05"), "malformed Secret"),
    ],
)
def test_what_is_not_a_body_we_decode_is_refused(body, message):
    with pytest.raises(pb.ProtobufError, match=message):
        pb.decode(body)


def test_content_encoding_is_refused_and_errors_map_to_400():
    envelope = pb.CLASSES["Unknown"](raw=b"", contentEncoding="gzip")
    envelope.typeMeta.apiVersion, envelope.typeMeta.kind = "v1", "Secret"
    with pytest.raises(pb.ProtobufError, match="content encoding") as info:
        pb.decode(pb.MAGIC + envelope.SerializeToString())
    assert pb.http_error(info.value).code == 400


def test_encoding_refuses_fields_the_table_does_not_have():
    with pytest.raises(pb.ProtobufError, match="no field 'bogus'"):
        pb.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "bogus": 1})


def test_every_message_of_the_table_compiles_and_every_kind_has_one():
    assert set(pb.KINDS.values()) <= set(pb.CLASSES)
    for name, fields in pb.FIELDS.items():
        numbers = [f.number for f in fields]
        assert len(numbers) == len(set(numbers)), name
