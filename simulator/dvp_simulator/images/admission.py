"""The ClusterVirtualImage validating webhook (BEHAVIOUR.md §1.5).

* CREATE: a name containing "." is refused (legacy objects with one only get a warning on UPDATE).
* UPDATE that changes the spec (generation): refused while the image is Ready — phase Ready or the Ready
  condition True. In every other phase a spec edit is admitted and restarts the import.
Refusals read "admission webhook … denied the request: …" as on the platform: a dotted name is 403 Forbidden;
a spec change of a Ready image is 422 Invalid, the status this project's issue #3 asks clients to expect.
"""

from __future__ import annotations

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.errors import webhook_denied
from .datasource import GROUP

WEBHOOK = "cvi.virtualization-controller.validate.d8-virtualization"
NAME_RULE = "the name of a ClusterVirtualImage must not contain '.'; allowed are lowercase letters, digits and '-'"


def register(admission: Admission) -> None:
    @admission.validate(GROUP, "ClusterVirtualImage", operations=(CREATE, UPDATE))
    def validate_cvi(request: AdmissionRequest) -> None:
        name = request.obj["metadata"]["name"]
        if "." in name:
            if request.operation == CREATE:
                raise webhook_denied(WEBHOOK, f"{name!r}: {NAME_RULE}")
            request.warnings.append(f"{name!r}: {NAME_RULE}")
        if request.operation != UPDATE or not request.generation_changed:
            return
        status = request.old.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if status.get("phase") == "Ready" or ready.get("status") == "True":
            raise webhook_denied(
                WEBHOOK, f"ClusterVirtualImage {name!r} is Ready: its spec can no longer be changed (delete and recreate it instead)", code=422
            )
