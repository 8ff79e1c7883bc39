"""The admission plug-in point: kube-apiserver's built-in plug-ins and the webhooks the simulator serves register here.

A hook is a function of an AdmissionRequest. A mutating one edits `request.obj` in place; a validating one
raises APIError to reject. Both may append to `request.warnings`. Built-in plug-ins (`mutate`, `validate`) run in
registration order, mutating ones before schema defaulting and validation, validating ones after — as in
kube-apiserver. A webhook (`serve`) is served at a path of a service, as the platform's controllers serve theirs, and
runs only when a ValidatingWebhookConfiguration or MutatingWebhookConfiguration points a matching rule there
(api/webhook_configs.py): mutating webhooks after the built-in mutating plug-ins, validating webhooks after the
built-in validating ones and before the hooks of `validate_last` (ResourceQuota). A webhook refuses by raising
webhook_configs.Denial, which the dispatch relays under the configuration's name for it.
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
        from .webhook_configs import Dispatch  # which imports this module's names

        self.webhooks = Dispatch()

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

    def serve(self, namespace: str, service: str, path: str, mutating: bool = False, operations=(CREATE, UPDATE)):
        """Decorator serving a webhook at `path` of the service `namespace/service`, for the operations its server
        handles (a configuration's rule may send it others: they are allowed). What reaches it is what the webhook
        configurations say."""

        def register(hook: Webhook) -> Webhook:
            self.webhooks.serve(namespace, service, path, hook, mutating, tuple(operations))
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
        self.webhooks.run(request, mutating=True)

    def run_validating(self, request: AdmissionRequest) -> None:
        self._run(self.validating, request)
        self.webhooks.run(request, mutating=False)
        for hook in self.last:
            hook(request)
