"""ServiceAccount credentials, as kube-apiserver serves them: bound tokens (`serviceaccounts/<name>/token`, what
`kubectl create token` asks for), their authentication, TokenReview, and the pods' ServiceAccount admission plugin.

Tokens. POST `serviceaccounts/<name>/token` with a TokenRequest (authentication.k8s.io/v1) answers it with
`status.token` and `status.expirationTimestamp` (upstream: pkg/registry/core/serviceaccount/storage/token.go):
`spec.expirationSeconds` defaults to 3600 and must lie within [600, 2^32] (422, in kube-apiserver's words);
`spec.audiences` defaults to the API server's own (authz.API_AUDIENCES); `spec.boundObjectRef` may bind the token to a
Pod running as that ServiceAccount or to a Secret. A token is JWT-shaped as upstream's (header, the claims kubectl users
decode — iss, sub, aud, iat, nbf, exp, jti, kubernetes.io — and a third part), but the simulator signs nothing: the
third part is 512 random bits, and a token is known by its SHA-256 digest, which is all the simulator keeps. The
digests, with each token's ServiceAccount (and its uid), expiry, audiences and bound object, are appended to
`<state-dir>/serviceaccount-tokens.jsonl` (0600, fsynced before the token is answered, so it survives a restart or a
kill -9); expired ones and those of ServiceAccounts gone are dropped when the file is read at start.

Authentication (authz.Gate.token_authenticators): a token authenticates as `system:serviceaccount:<ns>:<name>`, groups
system:serviceaccounts, system:serviceaccounts:<ns> and system:authenticated, uid the ServiceAccount's, extra its
credential id (`JTI=<jti>`) and bound pod, while all of these hold (upstream: pkg/serviceaccount/claims.go): one of its
audiences is requested; the simulated clock is not past its expiry by more than go-jose's 60 s leeway; its
ServiceAccount exists with the uid it was issued for (deleting the ServiceAccount revokes its tokens); its bound object
exists with its uid. Otherwise the request is 401 and TokenReview says why. Each check is a dictionary or store lookup:
the cost of authenticating does not grow with the number of tokens.

TokenReview (authentication.k8s.io/v1 `tokenreviews`, create-only, never stored): the posted token authenticated as
for a request to `spec.audiences` (default: the API server's), answered in `status` (authenticated, user, audiences,
or error).

Admission (plugin/pkg/admission/serviceaccount): a Pod created without `spec.serviceAccountName` gets `default` (the
deprecated `spec.serviceAccount` mirrors it, as the v1 conversion does); a pod naming a ServiceAccount that does not exist
is refused with upstream's 403. The `default` ServiceAccount is the exception: upstream waits for the controller that
creates it in every namespace (controllers/serviceaccounts.py), so a pod in a namespace whose `default` is not there yet
is admitted. The ServiceAccount's imagePullSecrets are copied to a pod that has none. No token volume is mounted (no
container runs in the simulator to read it).

Tokens are credentials: nothing here logs one, and no error message repeats one.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import heapq
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from . import tables
from .admission import CREATE, Admission, AdmissionRequest
from .authz import API_AUDIENCES, AUTHENTICATED, AUTHENTICATION, INVALID_TOKEN, TokenAnswer, UserInfo, _digest
from .errors import bad_request, cause, conflict, forbidden, invalid
from .service import ObjectService

if TYPE_CHECKING:
    from .server import APIServer, Call

SERVICE_ACCOUNTS, PODS, SECRETS = "/serviceaccounts", v.resource_key(v.POD), v.resource_key(v.SECRET)
DEFAULT = "default"
TOKENS_FILE = "serviceaccount-tokens.jsonl"
ISSUER = API_AUDIENCES[0]
DEFAULT_EXPIRATION = 3600  # SetDefaults_TokenRequestSpec (the kubelet asks for 3607, kubectl for the default)
MIN_EXPIRATION = 600  # validation.MinTokenAgeSec
MAX_EXPIRATION = 1 << 32
LEEWAY = 60  # go-jose's DefaultLeeway on exp, as the token validator checks it
USER_PREFIX = "system:serviceaccount:"
ALL_GROUP = "system:serviceaccounts"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"
POD_NAME, POD_UID = "authentication.kubernetes.io/pod-name", "authentication.kubernetes.io/pod-uid"


@dataclass(frozen=True)
class Token:
    """What the simulator keeps of an issued token: never the token, only its digest and its claims."""

    digest: str
    namespace: str
    name: str
    uid: str  # the ServiceAccount's, when the token was issued
    exp: int  # seconds since the epoch, on the simulated clock
    audiences: tuple[str, ...]
    jti: str
    bound_kind: str = ""  # Pod or Secret, or none
    bound_name: str = ""
    bound_uid: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "audiences": list(self.audiences)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Token:
        return cls(**{**data, "audiences": tuple(data["audiences"])})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _go_quote(values: tuple[str, ...] | list[str]) -> str:
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(v) for v in values) + "]"


def _failed(reason: str) -> TokenAnswer:
    """A token of ours that does not authenticate, with upstream's aggregated error (the union of its authenticators)."""
    return TokenAnswer(None, (), f"[{INVALID_TOKEN}, {reason}]")


class TokenRegistry:
    """The issued tokens by digest, in memory and in `path` (None: in memory only); a heap by expiry drops the expired
    ones as new ones are issued, so memory holds the live tokens, not every token ever issued."""

    def __init__(self, service: ObjectService, path: Path | None):
        self.service = service
        self.store = service.store
        self.path = path
        self.tokens: dict[str, Token] = {}
        self.expiries: list[tuple[int, str]] = []
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        now = self.service.clock.time()
        kept: list[Token] = []
        lines = self.path.read_text().splitlines()
        for line in lines:
            try:
                token = Token.from_json(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue  # a line torn by a crash mid-append: the token it held was never answered
            sa = self.store.get(SERVICE_ACCOUNTS, token.namespace, token.name)
            if token.exp + LEEWAY >= now and sa is not None and sa.obj["metadata"].get("uid") == token.uid:
                kept.append(token)
        for token in kept:
            self._remember(token)
        if len(kept) != len(lines):  # compacted: the file keeps the live tokens only
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.writelines(json.dumps(t.to_json()) + "\n" for t in kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        self.path.chmod(0o600)

    def _remember(self, token: Token) -> None:
        self.tokens[token.digest] = token
        heapq.heappush(self.expiries, (token.exp, token.digest))

    def _forget_expired(self, now: float) -> None:
        while self.expiries and self.expiries[0][0] + LEEWAY < now:
            _, digest = heapq.heappop(self.expiries)
            self.tokens.pop(digest, None)

    def issue(self, sa: dict[str, Any], seconds: int, audiences: list[str], bound: dict[str, Any] | None) -> tuple[str, int]:
        """A new token for ServiceAccount `sa` (bound to the Pod or Secret `bound`, if any): (the token, its expiry).
        The token is returned once and kept only as its digest."""
        meta = sa["metadata"]
        iat = int(self.service.clock.time())
        exp = iat + seconds
        jti = str(uuid.uuid4())
        k8s: dict[str, Any] = {"namespace": meta["namespace"], "serviceaccount": {"name": meta["name"], "uid": meta["uid"]}}
        if bound is not None:
            k8s[bound["kind"].lower()] = {"name": bound["metadata"]["name"], "uid": bound["metadata"]["uid"]}
        claims = {
            "aud": audiences, "exp": exp, "iat": iat, "iss": ISSUER, "jti": jti, "kubernetes.io": k8s, "nbf": iat,
            "sub": f"{USER_PREFIX}{meta['namespace']}:{meta['name']}",
        }  # fmt: skip
        header = {"alg": "ES256", "typ": "JWT"}
        token = ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(claims, separators=(",", ":")).encode()), _b64(secrets.token_bytes(64))))
        record = Token(
            _digest(token), meta["namespace"], meta["name"], meta["uid"], exp, tuple(audiences), jti,
            bound["kind"] if bound else "", bound["metadata"]["name"] if bound else "", bound["metadata"]["uid"] if bound else "",
        )  # fmt: skip
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as f:
                f.write(json.dumps(record.to_json()) + "\n")
                f.flush()
                os.fsync(f.fileno())  # on disk before the client holds the token: a restart keeps what was answered
        self._forget_expired(self.service.clock.time())
        self._remember(record)
        return token, exp

    def authenticate(self, digest: str, audiences: tuple[str, ...]) -> TokenAnswer | None:
        """authz.TokenAuthenticator: None for a token this registry never issued (or forgot, expired)."""
        token = self.tokens.get(digest)
        if token is None:
            return None
        shared = tuple(a for a in token.audiences if a in audiences)
        if not shared:
            return _failed(f"token audiences {_go_quote(token.audiences)} is invalid for the target audiences {_go_quote(audiences)}")
        if self.service.clock.time() - LEEWAY > token.exp:
            return _failed("service account token has expired")
        sa = self.store.get(SERVICE_ACCOUNTS, token.namespace, token.name)
        if sa is None:
            return _failed(f'serviceaccount "{token.name}" not found')
        if sa.obj["metadata"].get("uid") != token.uid:
            return _failed(f"service account UID ({sa.obj['metadata'].get('uid')}) does not match claim ({token.uid})")
        extra = {CREDENTIAL_ID: [f"JTI={token.jti}"]}
        if token.bound_kind:
            kind = token.bound_kind.lower()
            bound = self.store.get(PODS if token.bound_kind == "Pod" else SECRETS, token.namespace, token.bound_name)
            if bound is None:
                return _failed(f'{kind} "{token.bound_name}" not found')
            uid = bound.obj["metadata"].get("uid")
            if uid != token.bound_uid:
                return _failed(f"{kind} UID ({uid}) does not match claim ({token.bound_uid})")
            deleted = bound.obj["metadata"].get("deletionTimestamp")
            if deleted and self.service.clock.time() - LEEWAY > self.service.clock.parse(deleted):
                return _failed(f"{kind} {token.namespace}/{token.bound_name} has been deleted")
            if token.bound_kind == "Pod":
                extra.update({POD_NAME: [token.bound_name], POD_UID: [token.bound_uid]})
        groups = (ALL_GROUP, f"{ALL_GROUP}:{token.namespace}", AUTHENTICATED)
        return TokenAnswer(UserInfo(f"{USER_PREFIX}{token.namespace}:{token.name}", groups, token.uid, extra), shared)


# -- serviceaccounts/token --------------------------------------------------------------------------------------
def request_token(service: ObjectService, registry: TokenRegistry, call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """The TokenRequest answered (upstream's TokenREST.Create, in its order: validation, the name and namespace, the
    ServiceAccount, the bound object)."""
    if body.get("kind") not in ("TokenRequest", None) or body.get("apiVersion") not in (f"{AUTHENTICATION}/v1", None):
        raise bad_request(f"the body must be a TokenRequest of {AUTHENTICATION}/v1")
    req = copy.deepcopy(body)
    req["kind"], req["apiVersion"] = "TokenRequest", f"{AUTHENTICATION}/v1"
    meta = req.get("metadata") if req.get("metadata") is not None else {}
    spec = req.get("spec") if req.get("spec") is not None else {}
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        raise bad_request("metadata and spec must be objects")
    req["metadata"], req["spec"] = meta, spec
    seconds = spec.get("expirationSeconds", DEFAULT_EXPIRATION)
    audiences = spec.get("audiences") or list(API_AUDIENCES)
    bound_ref = spec.get("boundObjectRef")
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise bad_request("spec.expirationSeconds must be an integer")
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise bad_request("spec.audiences must be a list of strings")
    if bound_ref is not None and (not isinstance(bound_ref, dict) or not all(isinstance(bound_ref.get(k, ""), str) for k in ("kind", "apiVersion", "name", "uid"))):
        raise bad_request("spec.boundObjectRef must be an object of strings")
    causes = []
    if seconds < MIN_EXPIRATION:
        causes.append(cause("spec.expirationSeconds", f"Invalid value: {seconds}: may not specify a duration less than 10 minutes"))
    if seconds > MAX_EXPIRATION:
        causes.append(cause("spec.expirationSeconds", f"Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds"))
    if causes:
        raise invalid(AUTHENTICATION, "TokenRequest", "", causes)
    for key, value, what in (("name", call.name, "name"), ("namespace", call.namespace, "namespace")):
        if meta.get(key) not in (None, "", value):
            message = f"Invalid value: {json.dumps(meta[key])}: must match the service account {what} if specified"
            raise invalid(AUTHENTICATION, "TokenRequest", call.name or "", [cause(f"metadata.{key}", message)])
    sa = service.get(call.rt, call.namespace, call.name)  # 404: serviceaccounts "x" not found
    spec["audiences"], spec["expirationSeconds"] = audiences, seconds
    spec.setdefault("boundObjectRef", None)
    meta["name"], meta["namespace"] = sa["metadata"]["name"], sa["metadata"]["namespace"]
    meta["creationTimestamp"] = service.clock.stamp()
    bound = _bound_object(service, call, bound_ref) if bound_ref is not None else None
    token, exp = registry.issue(sa, seconds, audiences, bound)
    req["status"] = {"token": token, "expirationTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))}
    return req


def _bound_object(service: ObjectService, call: Call, ref: dict[str, Any]) -> dict[str, Any]:
    """The Pod or Secret a token is to be bound to: 404 when absent, 400 for a pod running as another ServiceAccount or
    another kind, 409 for a uid that is not the object's."""
    api_version, kind, name = ref.get("apiVersion") or "", ref.get("kind") or "", ref.get("name") or ""
    group, _, version = api_version.rpartition("/")
    if group == "" and kind in ("Pod", "Secret"):
        obj = service.get(service.registry.types[PODS if kind == "Pod" else SECRETS], call.namespace, name)
        if kind == "Pod" and (obj.get("spec") or {}).get("serviceAccountName") != call.name:
            raise bad_request(f'cannot bind token for serviceaccount "{call.name}" to pod running with different serviceaccount name.')
    else:
        raise bad_request(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
    uid = obj["metadata"].get("uid")
    if ref.get("uid") and ref["uid"] != uid:
        why = f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. The object might have been deleted and then recreated"
        raise conflict(group, kind, name, why)
    return {**obj, "kind": kind}


# -- TokenReview ------------------------------------------------------------------------------------------------
def review_token(gate: Any, review: dict[str, Any], request: web.Request) -> dict[str, Any]:
    """A TokenReview answered: the token authenticated by the API server's own authenticators (upstream:
    pkg/registry/authentication/tokenreview/storage.go)."""
    spec = review.get("spec") if isinstance(review.get("spec"), dict) else {}
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise bad_request("token is required for TokenReview in authentication")
    audiences = spec.get("audiences") or list(API_AUDIENCES)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise bad_request("spec.audiences must be a list of strings")
    answer = gate.review_token(token, tuple(audiences))
    if answer.user is None:
        review["status"] = {"user": {}, "error": answer.error}
    else:
        review["status"] = {"authenticated": True, "user": answer.user.to_json(), "audiences": list(answer.audiences)}
    return review


# -- the ServiceAccount admission plugin ------------------------------------------------------------------------
def register_admission(admission: Admission) -> None:
    @admission.mutate("", "Pod", operations=(CREATE,))
    def service_account(request: AdmissionRequest) -> None:
        pod = request.obj
        spec, meta = pod.get("spec"), pod["metadata"]
        if not isinstance(spec, dict):
            return  # schema validation refuses it
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        namespace = meta.get("namespace", "")
        if v.MIRROR_POD_ANNOTATION in annotations:  # a static pod's mirror: never defaulted, and may not name an account
            if spec.get("serviceAccountName") or spec.get("serviceAccount"):
                raise forbidden(request, "a mirror pod may not reference service accounts")
            return
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT
        if not isinstance(account, str):
            return  # schema validation refuses it
        spec["serviceAccountName"] = spec["serviceAccount"] = account
        sa = request.service.store.get(SERVICE_ACCOUNTS, namespace, account)
        if sa is None:
            if account == DEFAULT:
                return  # the serviceaccounts controller is creating it (upstream retries its lookup for that)
            raise forbidden(request, f'error looking up service account {namespace}/{account}: serviceaccount "{account}" not found')
        pull = sa.obj.get("imagePullSecrets") or []
        if not spec.get("imagePullSecrets") and pull:
            spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in pull if isinstance(s, dict)]


# -- wiring -----------------------------------------------------------------------------------------------------
def install(api: APIServer, service: ObjectService, state_dir: Path | None) -> TokenRegistry:
    """The token registry behind the gate, the `token` subresource, TokenReview, the pods' admission and the
    ServiceAccount table (NAME SECRETS AGE, as kube-apiserver prints it)."""
    registry = TokenRegistry(service, state_dir / TOKENS_FILE if state_dir is not None else None)
    api.gate.token_authenticators.append(registry.authenticate)
    api.subresource_handlers[(SERVICE_ACCOUNTS, "token")] = lambda call, body: request_token(service, registry, call, body)
    api.review_handlers[f"apis/{AUTHENTICATION}/v1/tokenreviews"] = ("TokenReview", lambda review, request: review_token(api.gate, review, request))
    api.discovery.extra.setdefault((AUTHENTICATION, "v1"), []).append(
        {"name": "tokenreviews", "singularName": "tokenreview", "namespaced": False, "kind": "TokenReview", "verbs": ["create"]}
    )
    if service.admission is not None:
        register_admission(service.admission)
    columns = [tables.NAME, {**tables.NAME, "name": "Secrets", "format": ""}, {**tables.NAME, "name": "Age", "format": ""}]
    tables.BUILTIN.setdefault(SERVICE_ACCOUNTS, (columns, lambda o, now: [o["metadata"]["name"], len(o.get("secrets") or []), tables.age(o, now)]))
    return registry
