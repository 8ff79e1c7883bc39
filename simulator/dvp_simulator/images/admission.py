"""The ClusterVirtualImage validating webhook (BEHAVIOUR.md §1.5), enforcing the rules of the collection's
`image_rules` (the module checks the same functions before it writes):

* CREATE: a name containing "." is refused (legacy objects with one only get a warning on UPDATE).
* UPDATE that changes the spec (generation): refused while the image is Ready — phase Ready or the Ready
  condition True. In every other phase a spec edit is admitted and restarts the import.
Refusals read "admission webhook … denied the request: …" as on the platform: a dotted name is 403 Forbidden;
a spec change of a Ready image is 422 Invalid, the status this project's issue #3 asks clients to expect.
"""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils.image_rules import name_problem, spec_change_problem

from ..api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from ..api.webhook_configs import Denial
from ..webhooks import registrations


def register(admission: Admission) -> None:
    @registrations.serve(admission, "cvi")
    def validate_cvi(request: AdmissionRequest) -> None:
        problem = name_problem(request.obj["metadata"]["name"])
        if problem is not None:
            if request.operation == CREATE:
                raise Denial(problem)
            request.warnings.append(problem)
        if request.operation != UPDATE:
            return
        problem = spec_change_problem(request.old, request.generation_changed)
        if problem is not None:
            raise Denial(problem, 422)
