"""Who is asking, and may they: the simulator's one user, impersonation, the one authorization decision, and the
review resources that let clients ask it (`kubectl auth can-i [--list] [--as=…]`, `kubectl auth whoami`).

Identity. The simulator has one credential, the bearer token of its kubeconfig; whoever holds it is `ADMIN`
("dvp-sim-admin", groups system:masters and system:authenticated). `requester` turns a request into the user it
acts as: ADMIN, or the user ADMIN impersonates with the `Impersonate-User` / `Impersonate-Group` /
`Impersonate-Uid` / `Impersonate-Extra-*` headers (ADMIN, a member of system:masters, may impersonate anyone, as
on a real cluster).

Decision. `Authorizer` is the single decision function: `authorizer(user, attributes) -> Decision`. Today it is
`masters_only` — members of system:masters may do everything, everyone else nothing — and `rules_for` lists the
rules behind it. A later RBAC issue (../shared/dvp-api/RBAC.md) replaces both in `Reviews` (one place) and calls
the same function from the request path; until then only the review resources consult it, so ordinary requests
made with `--as=alice` are still served as ADMIN's, while `kubectl auth can-i … --as=alice` truthfully says "no".

Reviews are create-only and never stored: the response is the posted object with `status` filled in (201).
  authorization.k8s.io/v1  selfsubjectaccessreviews, selfsubjectrulesreviews, subjectaccessreviews
  authentication.k8s.io/v1 selfsubjectreviews
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import APIError, bad_request, cause, invalid

if TYPE_CHECKING:
    from .server import APIServer

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
# The API server's own audiences (--api-audiences, defaulting to the service-account issuer): a token is good for a request
# to this server only when it was issued for one of them.
API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)
INVALID_TOKEN = "invalid bearer token"  # upstream's bearertoken authenticator's error for a token nobody knows
REQUEST_USER = web.RequestKey("dvp_user", "UserInfo")  # where Gate leaves the request's user on the aiohttp request


@dataclass(frozen=True)
class UserInfo:
    username: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


ADMIN = UserInfo("dvp-sim-admin", (MASTERS, AUTHENTICATED))


@dataclass(frozen=True)
class Attributes:
    """What a request does, as kube-apiserver's authorizers see it: a resource request (`resource` set) or a
    non-resource one (`path` set)."""

    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denied: bool = False
    reason: str = ""


@dataclass(frozen=True)
class TokenAnswer:
    """What a bearer token authenticates as (upstream's authenticator.Response, or its error): `user` None when it does
    not, `error` then the reason TokenReview reports (never the token itself); `audiences` the requested audiences the
    token is good for."""

    user: UserInfo | None
    audiences: tuple[str, ...] = ()
    error: str = ""


# (the token's SHA-256 hex digest, the requested audiences) -> the answer, or None for a token the authenticator never issued
TokenAuthenticator = Callable[[str, tuple[str, ...]], TokenAnswer | None]
Authorizer = Callable[[UserInfo, Attributes], Decision]
# (user, namespace) -> (resourceRules, nonResourceRules, incomplete), in the SelfSubjectRulesReview form
RulesResolver = Callable[[UserInfo, str], tuple[list[dict[str, Any]], list[dict[str, Any]], bool]]

SELF_REVIEW_RULES = [
    {"verbs": ["create"], "apiGroups": [AUTHENTICATION], "resources": ["selfsubjectreviews"]},
    {"verbs": ["create"], "apiGroups": [AUTHORIZATION], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
]


def masters_only(user: UserInfo, attributes: Attributes) -> Decision:
    """Today's decision: system:masters may do everything (no reason, as kube-apiserver's privileged-group
    authorizer gives none); anyone else has no opinion in their favour, i.e. is not allowed (RBAC never denies)."""
    return Decision(allowed=MASTERS in user.groups)


def masters_only_rules(user: UserInfo, namespace: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """The rules behind `masters_only`: everything for system:masters; every authenticated user may create the
    self reviews (as the system:basic-user role grants on a real cluster)."""
    resource_rules = [copy.deepcopy(r) for r in SELF_REVIEW_RULES] if AUTHENTICATED in user.groups else []
    non_resource: list[dict[str, Any]] = []
    if MASTERS in user.groups:
        resource_rules.insert(0, {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        non_resource.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
    return resource_rules, non_resource, False


def requester(request: web.Request) -> UserInfo:
    """The user a request acts as: the one `Gate` authenticated (and impersonation resolved) for it; without a
    gate (pure callers), ADMIN or whom ADMIN impersonates."""
    user = request.get(REQUEST_USER) if hasattr(request, "get") else None
    if user is not None:
        return user
    return impersonated(request.headers, ADMIN)


def impersonated(headers: Any, caller: UserInfo) -> UserInfo:
    """The user the Impersonate-* headers name (caller when none). 400 for impersonation headers without
    Impersonate-User (kube-apiserver refuses those too)."""
    name = headers.get("Impersonate-User", "")
    groups = headers.getall("Impersonate-Group", [])
    uid = headers.get("Impersonate-Uid", "")
    extra: dict[str, list[str]] = {}
    for key in headers:
        if key.lower().startswith("impersonate-extra-"):
            extra.setdefault(key[len("impersonate-extra-") :].lower(), []).extend(headers.getall(key))
    if not name:
        if groups or uid or extra:
            raise bad_request("requested impersonation of groups, uid or extra without impersonating a user")
        return caller
    all_groups = list(groups)
    if name.startswith("system:serviceaccount:") and name.count(":") == 3:
        all_groups += ["system:serviceaccounts", "system:serviceaccounts:" + name.split(":")[2]]
    if name != "system:anonymous" and AUTHENTICATED not in all_groups:
        all_groups.append(AUTHENTICATED)
    return UserInfo(name, tuple(all_groups), uid, extra)


def impersonation_checks(target: UserInfo, headers: Any) -> list[Attributes]:
    """What the caller must be allowed to `impersonate` for the headers to name `target` (impersonation filter)."""
    name = target.username
    if name.startswith("system:serviceaccount:") and name.count(":") == 3:
        _, _, ns, sa = name.split(":")
        checks = [Attributes("impersonate", "", "", "serviceaccounts", namespace=ns, name=sa)]
    else:
        checks = [Attributes("impersonate", "", "", "users", name=name)]
    checks += [Attributes("impersonate", "", "", "groups", name=g) for g in headers.getall("Impersonate-Group", [])]
    if target.uid:
        checks.append(Attributes("impersonate", AUTHENTICATION, "", "uids", name=target.uid))
    for key, values in target.extra.items():
        checks += [Attributes("impersonate", AUTHENTICATION, "", "userextras", subresource=key, name=v) for v in values]
    return checks


class Gate:
    """Authentication (the admin token, the users' tokens of `users.json`, then each of `token_authenticators`: the
    ServiceAccount tokens of api/serviceaccounts.py), impersonation and authorization of every request but the public
    ones. Users' tokens are kept as SHA-256 digests in a 0600 file; a presented token is hashed and its digest compared
    in constant time. `authorizer` is replaced by RBAC (api/access.py)."""

    def __init__(self, admin_token: str, users_file: Path | None = None):
        self.admin_digest = _digest(admin_token.strip())
        self.users_file = users_file
        self.users: dict[str, UserInfo] = {}  # digest -> user
        self.authorizer: Authorizer = masters_only
        self.token_authenticators: list[TokenAuthenticator] = []
        self._mtime: float | None = None
        self._load()

    def _load(self) -> None:
        if self.users_file is None or not self.users_file.exists():
            return
        mtime = self.users_file.stat().st_mtime
        if mtime == self._mtime:
            return
        data = json.loads(self.users_file.read_text() or "{}")
        self.users = {u["tokenSHA256"]: UserInfo(u["name"], tuple(dict.fromkeys([*u.get("groups", []), AUTHENTICATED]))) for u in data.get("users", [])}
        self._mtime = mtime

    def add_user(self, name: str, groups: list[str]) -> str:
        """A new token for `name` (replacing any earlier one), returned once and stored only as a digest."""
        if self.users_file is None:
            raise APIError(409, "this simulator has no state directory for users")
        token = secrets.token_urlsafe(32)
        self._load()
        kept = [
            {"name": u.username, "groups": [g for g in u.groups if g != AUTHENTICATED], "tokenSHA256": d}
            for d, u in self.users.items()
            if u.username != name
        ]
        kept.append({"name": name, "groups": groups, "tokenSHA256": _digest(token)})
        fd = os.open(self.users_file.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"users": kept}, f)
        os.replace(self.users_file.with_suffix(".tmp"), self.users_file)
        self.users_file.chmod(0o600)
        self._mtime = None
        self._load()
        return token

    def authenticate(self, request: web.Request) -> UserInfo | None:
        # as upstream's bearertoken authenticator: the scheme in any case, the token the second space-separated part
        # (so a doubled space leaves it empty: no credential, 401)
        parts = request.headers.get("Authorization", "").strip().split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            return None
        return self.review_token(parts[1]).user

    def review_token(self, token: str, audiences: tuple[str, ...] = API_AUDIENCES) -> TokenAnswer:
        """Who `token` is, for a request to `audiences` (the request path's and TokenReview's one authentication).
        The admin and users' tokens are audience-agnostic: good for the API server's own audiences only, as upstream
        wraps such authenticators (WrapAudienceAgnosticToken)."""
        digest = _digest(token)
        user = ADMIN if hmac.compare_digest(digest, self.admin_digest) else None
        if user is None:
            self._load()
            user = self.users.get(digest)  # by the token's SHA-256: one lookup, not a scan of every user
        if user is not None:
            shared = tuple(a for a in audiences if a in API_AUDIENCES)
            return TokenAnswer(user, shared) if shared else TokenAnswer(None, (), INVALID_TOKEN)
        for authenticate in self.token_authenticators:
            answer = authenticate(digest, audiences)
            if answer is not None:
                return answer
        return TokenAnswer(None, (), INVALID_TOKEN)

    def check(self, request: web.Request) -> UserInfo:
        """401 without a known token, 403 for impersonation the caller may not do or a request its user may
        not make; the user is remembered on the request for the review handlers."""
        from . import rbac

        caller = self.authenticate(request)
        if caller is None:
            raise APIError(401, "Unauthorized")
        user = impersonated(request.headers, caller)
        if user is not caller:
            for attributes in impersonation_checks(user, request.headers):
                if not self.authorizer(caller, attributes).allowed:
                    raise rbac.forbidden(caller, attributes)
        request[REQUEST_USER] = user
        attributes = rbac.attributes_of(request.method, request.raw_path, request.path, request.query)
        if not self.authorizer(user, attributes).allowed:
            raise rbac.forbidden(user, attributes)
        if attributes.verb == "get" and attributes.resource == "pods" and attributes.subresource in STREAMING and _upgrade(request):
            # a WebSocket's GET of exec / attach / portforward needs `create` too, as a POST does (kube-apiserver's
            # AuthorizePodWebsocketUpgradeCreatePermission: "get" alone no longer runs commands in a pod)
            create = dataclasses.replace(attributes, verb="create")
            if not self.authorizer(user, create).allowed:
                raise rbac.forbidden(user, create)
        return user


STREAMING = ("exec", "attach", "portforward")


def _upgrade(request: web.Request) -> bool:
    return "upgrade" in request.headers.get("Connection", "").lower() and bool(request.headers.get("Upgrade"))


@functools.lru_cache(maxsize=64)
def _digest(token: str) -> str:
    """The token's SHA-256, by which users are found; remembered for the few tokens that make most requests."""
    return hashlib.sha256(token.encode()).hexdigest()


class Reviews:
    """The review endpoints of one API server, answering with `authorizer` and `rules` (the RBAC plug-in point)."""

    def __init__(self, authorizer: Authorizer = masters_only, rules: RulesResolver = masters_only_rules):
        self.authorizer = authorizer
        self.rules = rules

    def register(self, api: APIServer) -> None:
        routes = {
            (AUTHORIZATION, "v1", "selfsubjectaccessreviews"): ("SelfSubjectAccessReview", self.self_access),
            (AUTHORIZATION, "v1", "selfsubjectrulesreviews"): ("SelfSubjectRulesReview", self.self_rules),
            (AUTHORIZATION, "v1", "subjectaccessreviews"): ("SubjectAccessReview", self.access),
            (AUTHENTICATION, "v1", "selfsubjectreviews"): ("SelfSubjectReview", self.whoami),
        }
        for (group, version, plural), (kind, handler) in routes.items():
            api.review_handlers[f"apis/{group}/{version}/{plural}"] = (kind, handler)
            api.discovery.extra.setdefault((group, version), []).append(
                {"name": plural, "singularName": kind.lower(), "namespaced": False, "kind": kind, "verbs": ["create"]}
            )

    # -- handlers: (posted object, its kind, the request) -> the answered object --------------------------
    def self_access(self, review: dict[str, Any], request: web.Request) -> dict[str, Any]:
        return self._answer_access(review, requester(request))

    def access(self, review: dict[str, Any], request: web.Request) -> dict[str, Any]:
        spec = review.get("spec") or {}
        user, groups, uid, extra = spec.get("user") or "", spec.get("groups") or [], spec.get("uid") or "", spec.get("extra") or {}
        if not isinstance(user, str) or not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise invalid(AUTHORIZATION, "SubjectAccessReview", "", [cause("spec", "user must be a string and groups a list of strings")])
        if not user and not groups:
            raise invalid(AUTHORIZATION, "SubjectAccessReview", "", [cause("spec.user", 'Invalid value: "": at least one of user or group must be specified')])
        caller = requester(request)
        if not self.authorizer(caller, Attributes("create", AUTHORIZATION, "v1", "subjectaccessreviews")).allowed:
            message = (
                f'subjectaccessreviews.{AUTHORIZATION} is forbidden: User "{caller.username}" cannot create resource "subjectaccessreviews"'
                f' in API group "{AUTHORIZATION}" at the cluster scope'
            )
            raise APIError(403, message, reason="Forbidden", details={"group": AUTHORIZATION, "kind": "subjectaccessreviews"})
        return self._answer_access(review, UserInfo(user, tuple(groups), uid if isinstance(uid, str) else "", extra if isinstance(extra, dict) else {}))

    def self_rules(self, review: dict[str, Any], request: web.Request) -> dict[str, Any]:
        spec = review.get("spec") or {}
        namespace = spec.get("namespace", "")
        if not isinstance(namespace, str):
            raise invalid(AUTHORIZATION, "SelfSubjectRulesReview", "", [cause("spec.namespace", "must be a string")])
        resource_rules, non_resource_rules, incomplete = self.rules(requester(request), namespace)
        review["status"] = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": incomplete}
        return review

    def whoami(self, review: dict[str, Any], request: web.Request) -> dict[str, Any]:
        review["status"] = {"userInfo": requester(request).to_json()}
        return review

    def _answer_access(self, review: dict[str, Any], user: UserInfo) -> dict[str, Any]:
        kind = review["kind"]
        attributes = attributes_of(kind, review.get("spec"))
        decision = self.authorizer(user, attributes)
        status: dict[str, Any] = {"allowed": decision.allowed}
        if decision.denied:
            status["denied"] = True
        if decision.reason:
            status["reason"] = decision.reason
        review["status"] = status
        return review


def attributes_of(kind: str, spec: Any) -> Attributes:
    """The Attributes an access review asks about; 422 unless exactly one of resourceAttributes and
    nonResourceAttributes is given, as objects of strings."""
    if not isinstance(spec, dict):
        raise invalid(AUTHORIZATION, kind, "", [cause("spec", "Required value")])
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        message = "Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified"
        raise invalid(AUTHORIZATION, kind, "", [cause("spec.resourceAttributes", message)])
    given = resource if resource is not None else non_resource
    where = "spec.resourceAttributes" if resource is not None else "spec.nonResourceAttributes"
    if not isinstance(given, dict):
        raise invalid(AUTHORIZATION, kind, "", [cause(where, "must be an object")])
    names = ("namespace", "verb", "group", "version", "resource", "subresource", "name") if resource is not None else ("verb", "path")
    values = {}
    for key in names:
        value = given.get(key) or ""
        if not isinstance(value, str):
            raise invalid(AUTHORIZATION, kind, "", [cause(f"{where}.{key}", "must be a string")])
        values[key] = value
    return Attributes(**values)


def review_response(kind: str, group: str, version: str, body: Any) -> dict[str, Any]:
    """The posted review as the answer starts from: the object with its kind and apiVersion, metadata kept
    (creationTimestamp null, as kube-apiserver returns reviews). 400 for a body that is not such an object."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be an object")
    if body.get("kind") not in (kind, None) or body.get("apiVersion") not in (f"{group}/{version}", None):
        raise bad_request(f"the body must be a {kind} of {group}/{version}, not {body.get('kind')} of {body.get('apiVersion')}")
    review = copy.deepcopy(body)
    meta = review.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    review["metadata"] = {**meta, "creationTimestamp": None}
    review["kind"], review["apiVersion"] = kind, f"{group}/{version}"
    return review
