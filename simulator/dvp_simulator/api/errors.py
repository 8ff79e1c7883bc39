"""API errors as Kubernetes `Status` objects (reason and code as the API conventions define them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..resources import ResourceType
    from .admission import AdmissionRequest

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    504: "Timeout",
}


class APIError(Exception):
    """Raised anywhere below the HTTP layer; rendered as a Status object."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = REASONS.get(code, "Unknown") if reason is None else reason  # "": none, as a plain error's Status
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del out["reason"]  # omitempty
        if self.details is not None:  # given, even empty: "details": {} as upstream's non-nil StatusDetails
            out["details"] = self.details
        return out


def resource_ref(group: str, plural: str, name: str | None) -> str:
    qualified = f"{plural}.{group}" if group else plural
    return f'{qualified} "{name}"' if name else qualified


def not_found(group: str, plural: str, name: str) -> APIError:
    return APIError(
        404,
        f"{resource_ref(group, plural, name)} not found",
        details={"name": name, "group": group, "kind": plural},
    )


NAMESPACE_TERMINATING = "because it is being terminated"


def namespace_terminating(namespace: str) -> APIError:
    """The refusal of new content in a namespace being deleted (the NamespaceLifecycle admission plugin)."""
    return APIError(403, f"unable to create new content in namespace {namespace} {NAMESPACE_TERMINATING}", reason="Forbidden")


def is_namespace_terminating(error: APIError) -> bool:
    """Whether a write was refused because its namespace is being deleted: controllers record no Event for it, as
    upstream's check the refusal's NamespaceTerminating cause."""
    return error.code == 403 and error.message.endswith(NAMESPACE_TERMINATING)


def already_exists(group: str, plural: str, name: str) -> APIError:
    return APIError(
        409,
        f"{resource_ref(group, plural, name)} already exists",
        reason="AlreadyExists",
        details={"name": name, "group": group, "kind": plural},
    )


def conflict(group: str, plural: str, name: str, why: str) -> APIError:
    return APIError(
        409,
        f"Operation cannot be fulfilled on {resource_ref(group, plural, name)}: {why}",
        reason="Conflict",
        details={"name": name, "group": group, "kind": plural},
    )


def invalid(group: str, kind: str, name: str, causes: list[dict[str, str]]) -> APIError:
    """422 in the form kube-apiserver uses: `Kind.group "name" is invalid: [field: Reason: detail, ...]`."""
    parts = [f"{c['field']}: {c['message']}" for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    return APIError(
        422,
        f'{qualified} "{name}" is invalid: {listed}',
        reason="Invalid",
        details={"name": name, "group": group, "kind": kind, "causes": causes},
    )


def bad_request(message: str) -> APIError:
    return APIError(400, message)


class DecodeFailure(APIError):
    """A body that does not decode into its kind: kube-apiserver's 400 naming the kind (its handlers'
    transformDecodeError). `why` is the decoder's own words, which a patch reports instead: upstream decodes the
    patched object itself and answers a failure with a 422 on the field `patch` (ObjectService.patch)."""

    def __init__(self, kind: str, version: str, why: str):
        super().__init__(400, f'{kind} in version "{version}" cannot be handled as a {kind}: {why}')
        self.why = why


def decode_failure(kind: str, version: str, why: str) -> APIError:
    return DecodeFailure(kind, version, why)


def gone(message: str) -> APIError:
    return APIError(410, message, reason="Expired")


def too_large_resource_version(wanted: int, current: int, retry_after: int) -> APIError:
    """504 Timeout for a resourceVersion the store has not reached, as the watch cache answers once it gave up waiting
    (upstream: staging/src/k8s.io/apiserver/pkg/storage/errors.go NewTooLargeResourceVersionError, on apimachinery's
    NewTimeoutError, which prefixes "Timeout: "). responsewriters.ErrorNegotiated turns retryAfterSeconds into a
    Retry-After header (upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/writers.go)."""
    return APIError(
        504,
        f"Timeout: Too large resource version: {wanted}, current: {current}",
        reason="Timeout",
        details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": retry_after},
        headers={"Retry-After": str(retry_after)} if retry_after > 0 else None,
    )


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}


def webhook_denied(webhook: str, message: str, code: int = 403) -> APIError:
    """A validating webhook's refusal as kube-apiserver relays it. The platform's webhooks answer with
    controller-runtime's `Denied`, which is 403 Forbidden; a webhook may answer with another status."""
    return APIError(code, f'admission webhook "{webhook}" denied the request: {message}', reason=REASONS.get(code, "Forbidden"))


def forbidden(request: AdmissionRequest, message: str) -> APIError:
    """admission.NewForbidden: `<resource> "<name>" is forbidden: <message>`."""
    return forbidden_for(request.rt, (request.obj or request.old or {}).get("metadata", {}).get("name", ""), message)


def forbidden_for(rt: ResourceType, name: str, message: str) -> APIError:
    qualified = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    head = f'{qualified} "{name}"' if name else qualified
    return APIError(403, f"{head} is forbidden: {message}", reason="Forbidden", details=details)
