"""Wiring of access control into one simulator: the users' tokens (`<state-dir>/users.json`, 0600, SHA-256 digests
only), the ServiceAccount tokens (api/serviceaccounts.py), the RBAC authorizer on every request and behind the review
resources, the bootstrap and platform roles seeded at start, and the admin endpoint `POST /simulator/v1/users`
`{"name": N, "groups": [...]}` that `dvp-sim user add` calls (system:masters only, as all of /simulator/v1): it answers
a `UserToken` carrying the new token once, over TLS, to the administrator; the CLI writes it into the user's kubeconfig
and never prints it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

from ..store.store import dumps
from . import authz, rbac, rbac_escalation, rbac_roles, serviceaccounts
from .errors import APIError, bad_request
from .service import ObjectService, WriteOptions

USERS_PATH = "/simulator/v1/users"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,252}$")


def install(api: Any, service: ObjectService, state_dir: Path | None) -> rbac.RBACAuthorizer:
    if state_dir is not None:
        api.gate.users_file = state_dir / "users.json"
        api.gate._load()
    authorizer = rbac.RBACAuthorizer(rbac.StoreSource(service.store))
    api.gate.authorizer = authorizer
    if service.admission is not None:
        rbac_escalation.register(service.admission, authorizer)  # a user grants only what they hold
    authz.Reviews(authorizer, authorizer.rules).register(api)
    serviceaccounts.install(api, service, state_dir)  # ServiceAccount tokens, TokenReview, the pods' ServiceAccount admission
    api.admin_handlers[USERS_PATH] = _users_handler(api.gate)
    seed(service)
    return authorizer


def _users_handler(gate: authz.Gate):
    async def handle(request: web.Request) -> web.Response:
        if request.path.rstrip("/") != USERS_PATH:
            raise APIError(404, "the server could not find the requested resource", details={})
        if request.method != "POST":
            raise APIError(405, "the server does not allow this method on the requested resource (only POST)", reason="MethodNotAllowed")
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError as exc:
            raise bad_request(f"the request body could not be decoded: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not NAME.match(body["name"]):
            raise bad_request('the request body must be {"name": "<user name>", "groups": ["<group>", ...]}')
        groups = body.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) and NAME.match(g) for g in groups):
            raise bad_request("groups: must be a list of group names")
        if body["name"].startswith("system:") or authz.MASTERS in groups:
            raise bad_request("users named system:* and members of system:masters are not created here; the admin token is the one for that")
        token = gate.add_user(body["name"], list(dict.fromkeys(groups)))
        answer = {"kind": "UserToken", "apiVersion": "simulator/v1", "metadata": {"name": body["name"]}, "groups": groups, "token": token}
        return web.Response(body=dumps(answer), status=201, content_type="application/json")

    return handle


def _settled(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Aggregated ClusterRoles with their rules already filled (the controller keeps them so afterwards)."""
    from ..controllers.rbac_aggregation import aggregated_rules

    objects = copy.deepcopy(objects)
    roles = [o for o in objects if o["kind"] == "ClusterRole"]
    for _ in range(len(roles) + 1):
        changed = False
        for role in roles:
            if role.get("aggregationRule"):
                rules = aggregated_rules(role, roles)
                if rules != role["rules"]:
                    role["rules"], changed = rules, True
        if not changed:
            break
    return objects


def seed(service: ObjectService) -> None:
    """The bootstrap policy and the platform's roles, created when absent and refreshed when ours changed."""
    opts = WriteOptions(version="v1", manager="dvp-sim")
    for obj in _settled([*rbac.BOOTSTRAP, *rbac_roles.platform_roles()]):
        res = rbac.CLUSTER_ROLES if obj["kind"] == "ClusterRole" else rbac.CLUSTER_ROLE_BINDINGS
        rt = service.registry.types[res]
        current = service.find(rt, "", obj["metadata"]["name"])
        if current is None:
            service.create(rt, "", obj, opts)
            continue
        fields = ("rules", "aggregationRule", "roleRef", "subjects")
        labels = current["metadata"].get("labels") or {}
        if any(current.get(f) != obj.get(f) for f in fields) or any(labels.get(k) != v for k, v in obj["metadata"]["labels"].items()):
            meta = {**current["metadata"], "labels": {**labels, **obj["metadata"]["labels"]}}
            service.update(rt, "", obj["metadata"]["name"], {**current, **{f: obj[f] for f in fields if f in obj}, "metadata": meta}, opts)
