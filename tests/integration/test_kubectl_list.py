"""`kubectl apply -f` of a `kind: List` manifest: kubectl validates Lists on the client with the /openapi/v2 document
(gnostic protobuf), then creates each item with the request's fieldValidation — so the server still refuses an
unknown field of an item, and a valid List is applied item by item."""

from __future__ import annotations

import json
import uuid

import requests
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

LIST = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: {name}}}
  data: {{x: "1"}}
- apiVersion: virtualization.deckhouse.io/v1alpha2
  kind: VirtualDisk
  metadata: {{name: {name}}}
  spec: {{persistentVolumeClaim: {{size: 1Gi}}{extra}}}
"""


def test_apply_a_list(sim, namespace):
    name = "l-" + uuid.uuid4().hex[:6]
    bad = sim.kubectl("apply", "-n", namespace, "-f", "-", input=LIST.format(name=name, extra=", bogus: 1"), check=False)
    assert bad.returncode != 0 and 'unknown field "spec.bogus"' in bad.stderr, bad.stderr
    assert "error validating data" not in bad.stderr, "the List passed kubectl's client-side validation"
    done = sim.kubectl("apply", "-n", namespace, "-f", "-", input=LIST.format(name=name, extra=""))
    assert f"configmap/{name}" in done.stdout and f"virtualdisk.virtualization.deckhouse.io/{name} created" in done.stdout, done.stdout
    again = sim.kubectl("apply", "-n", namespace, "-f", "-", input=LIST.format(name=name, extra=""))
    assert again.stdout.count("unchanged") == 2, again.stdout


def test_openapi_v2_document(sim):
    """JSON for whoever asks for it; gnostic's protobuf message (fields 1 swagger, 2 info, 8 paths, 9 definitions)
    under kube-openapi's served media type for kubectl."""
    doc = json.loads(sim.kubectl("get", "--raw", "/openapi/v2").stdout)
    assert doc["swagger"] == "2.0" and doc["definitions"] == {} and doc["paths"] == {}
    # decode the protobuf answer with a message declared independently of the simulator's
    proto = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto3")
    info = proto.message_type.add(name="Info")
    info.field.add(name="title", number=1, type=9, label=1)
    info.field.add(name="version", number=2, type=9, label=1)
    document = proto.message_type.add(name="Document")
    document.field.add(name="swagger", number=1, type=9, label=1)
    document.field.add(name="info", number=2, type=11, label=1, type_name=".t.Info")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Document"))
    raw = requests.get(sim.server + "/openapi/v2", timeout=30, verify=str(sim.ca_file),
                       headers={"Authorization": f"Bearer {sim.token}", "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})  # fmt: skip
    assert raw.headers["Content-Type"].startswith("application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    msg = cls.FromString(raw.content)
    assert msg.swagger == "2.0" and msg.info.title == "Kubernetes"
