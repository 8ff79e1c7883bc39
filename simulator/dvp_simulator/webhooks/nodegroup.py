"""NodeGroup admission, node-manager's validating webhook `vnodegroup.deckhouse.io` (its rules that bear on what the
simulator models; BEHAVIOUR.md §7.7): a group's nodeType is immutable — its nodes carry it and fencing reads it there
(a Static node's Node outlives its fencing, a cloud node's does not) —, a name of at most 42 characters, no
cloudInstances on a Static group and cloudInstances required for a CloudEphemeral one. The refusal is
controller-runtime's `Denied` of the field errors: 403, the errors as Go's aggregate prints them."""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.errors import webhook_denied

WEBHOOK = "vnodegroup.deckhouse.io"
NAME_MAX = 42
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CLOUD_EPHEMERAL = "CloudEphemeral"


def nodegroup_errors(obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """The webhook's field errors for a NodeGroup written over `old` (None on create), in its order (pure)."""
    spec, name = obj.get("spec") or {}, obj["metadata"].get("name") or ""
    if old is not None and (old.get("spec") or {}).get("nodeType") != spec.get("nodeType"):
        return ["spec.nodeType: Forbidden: nodeType is immutable"]  # checked alone, before the rest
    errors = []
    if len(name) > NAME_MAX:
        errors.append(f'metadata.name: Invalid value: "{name}": name must be no more than {NAME_MAX} characters, got {len(name)}')
    elif not NAME.match(name):
        errors.append(f'metadata.name: Invalid value: "{name}": name must match pattern {NAME.pattern}')
    if spec.get("nodeType") == CLOUD_EPHEMERAL and spec.get("cloudInstances") is None:
        errors.append("spec.cloudInstances: Required value: cloudInstances is required for nodeType CloudEphemeral")
    if spec.get("nodeType") == v.NODE_TYPE_STATIC and spec.get("cloudInstances") is not None:
        errors.append("spec.cloudInstances: Forbidden: cloudInstances must not be set for nodeType Static")
    return errors


def register(admission: Admission) -> None:
    @admission.validate(v.DECKHOUSE_GROUP, v.NODE_GROUP, operations=(CREATE, UPDATE))
    def validate(request: AdmissionRequest) -> None:
        errors = nodegroup_errors(request.obj or {}, request.old if request.operation == UPDATE else None)
        if errors:
            raise webhook_denied(WEBHOOK, errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
