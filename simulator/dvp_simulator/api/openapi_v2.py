"""/openapi/v2: the Swagger 2.0 document, as much of it as clients need from this simulator.

kubectl validates a `kind: List` manifest on the client with the v2 document (the v3 path only covers kinds whose
own paths advertise `fieldValidation`, and no path creates a List), and it asks for the document in gnostic's
protobuf form (`openapi.v2.Document`, github.com/google/gnostic openapiv2/OpenAPIv2.proto). Without /openapi/v2 it
stops with "the server could not find the requested resource". The simulator's schemas live in its OpenAPI v3
documents; the v2 document carries the Swagger header and no definitions, so kubectl finds no client-side schema for
the items, skips client-side validation of them, and the server validates each item as it is created (with the
request's fieldValidation), which is where the v3 path puts that check too.

The three messages used are declared here by field number (the same numbers as gnostic's .proto) and compiled into
descriptors for the `protobuf` runtime, as api/protobuf.py does for the built-in kinds.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what clients ask for
# what kube-openapi answers with: "@" is not valid in a media type, so the served type spells it with a dot
PROTOBUF_SERVED = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_STRING = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
_MESSAGE = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
_OPTIONAL = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL

# message: [(number, name, type name or None for a string)]
_MESSAGES = {
    "Document": [(1, "swagger", None), (2, "info", "Info"), (8, "paths", "Paths"), (9, "definitions", "Definitions")],
    "Info": [(1, "title", None), (2, "version", None)],
    "Paths": [],
    "Definitions": [],
}


@cache
def _document_class() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(name="dvpsim/openapiv2.proto", package="openapi.v2", syntax="proto3")
    for name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=name)
        for number, field, type_name in fields:
            message.field.add(name=field, number=number, label=_OPTIONAL, type=_MESSAGE if type_name else _STRING,
                              type_name=f".openapi.v2.{type_name}" if type_name else None)  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("openapi.v2.Document"))


def document(version: str) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}, "definitions": {}}


def encode(version: str) -> bytes:
    msg = _document_class()(swagger="2.0")
    msg.info.title, msg.info.version = "Kubernetes", version
    msg.paths.SetInParent()
    msg.definitions.SetInParent()
    return msg.SerializeToString()
