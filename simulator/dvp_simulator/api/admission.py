"""The admission plug-in point: resource-specific mutating and validating webhooks register here.

A webhook is a function of an AdmissionRequest. A mutating one edits `request.obj` in place; a validating one
raises APIError to reject. Both may append to `request.warnings`. Webhooks run in registration order,
mutating ones before schema defaulting and validation, validating ones after — as in kube-apiserver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..resources import ResourceType
    from .service import ObjectService

CREATE, UPDATE, DELETE, CONNECT = "CREATE", "UPDATE", "DELETE", "CONNECT"


@dataclass
class AdmissionRequest:
    operation: str
    rt: ResourceType
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    subresource: str | None
    dry_run: bool
    service: ObjectService
    version: str
    warnings: list[str] = field(default_factory=list)
    user: Any = None  # the requester (authz.UserInfo) of a client's write; None for a controller's

    @property
    def generation_changed(self) -> bool:
        """Spec changed (the webhooks of DVP skip their spec checks when it did not)."""
        if self.old is None or self.obj is None:
            return True
        return self.obj["metadata"].get("generation") != self.old["metadata"].get("generation")


Webhook = Callable[[AdmissionRequest], None]


@dataclass
class _Registration:
    group: str
    kind: str
    operations: tuple[str, ...]
    subresources: tuple[str | None, ...]
    hook: Webhook


class Admission:
    def __init__(self) -> None:
        self.mutating: list[_Registration] = []
        self.validating: list[_Registration] = []
        self.last: list[Webhook] = []  # validating hooks of every kind, after all the others (validate_last)

    def mutate(self, group: str, kind: str, operations=(CREATE, UPDATE), subresources=(None,)):
        """Decorator registering a mutating webhook for (group, kind)."""

        def register(hook: Webhook) -> Webhook:
            self.mutating.append(_Registration(group, kind, tuple(operations), tuple(subresources), hook))
            return hook

        return register

    def validate(self, group: str, kind: str, operations=(CREATE, UPDATE), subresources=(None,)):
        """Decorator registering a validating webhook for (group, kind)."""

        def register(hook: Webhook) -> Webhook:
            self.validating.append(_Registration(group, kind, tuple(operations), tuple(subresources), hook))
            return hook

        return register

    def validate_last(self, hook: Webhook) -> Webhook:
        """Register a validating hook that sees every write of every kind, after all the other validating hooks (as
        kube-apiserver's ResourceQuota plugin closes its admission chain): it must cost next to nothing for the writes
        it has no business with."""
        self.last.append(hook)
        return hook

    @staticmethod
    def _run(regs: list[_Registration], request: AdmissionRequest) -> None:
        for reg in regs:
            if (
                reg.group == request.rt.group
                and reg.kind == request.rt.kind
                and request.operation in reg.operations
                and request.subresource in reg.subresources
            ):
                reg.hook(request)

    def run_mutating(self, request: AdmissionRequest) -> None:
        self._run(self.mutating, request)

    def run_validating(self, request: AdmissionRequest) -> None:
        self._run(self.validating, request)
        for hook in self.last:
            hook(request)
