"""`dvp-sim user add NAME [--group G]... --admin-kubeconfig ADMIN --kubeconfig OUT`: against a running simulator,
asks its admin API (`POST /simulator/v1/users`, api/access.py; the admin token of ADMIN authenticates it) for a
new bearer token of user NAME in groups G (re-adding a user replaces its token and groups), and writes OUT (0600):
ADMIN's server and CA with that token. The token is never printed. Rights come from RBAC bindings naming the user
or a group, e.g. `kubectl create rolebinding … --clusterrole d8:use:role:user:virtualization --user NAME -n NS`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .certs import _write_private


def add_parser(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="users with their own bearer token (RBAC subjects)")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create (or re-key) a user and write its kubeconfig")
    add.add_argument("name", help="the user name RBAC bindings name")
    add.add_argument("--group", action="append", default=[], help="a group of the user (repeatable)")
    add.add_argument("--admin-kubeconfig", type=Path, required=True, help="the kubeconfig `dvp-sim serve` wrote")
    add.add_argument("--kubeconfig", type=Path, required=True, help="the user's kubeconfig to write")
    add.add_argument("--namespace", default="default", help="the namespace of the kubeconfig's context")


def run(args: argparse.Namespace) -> int:
    from .admin_client import AdminClient, AdminError

    try:
        admin = yaml.safe_load(args.admin_kubeconfig.read_text())
        client = AdminClient.from_kubeconfig(args.admin_kubeconfig)
        raw = client.call("POST", "users", {"name": args.name, "groups": args.group})
        token = json.loads(raw)["token"]
        context = next(c["context"] for c in admin["contexts"] if c["name"] == admin["current-context"])
        cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    except (AdminError, OSError, ValueError, KeyError, TypeError, StopIteration, yaml.YAMLError) as exc:
        print(f"dvp-sim user add: {exc}", file=sys.stderr, flush=True)
        return 1
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": args.name, "user": {"token": token}}],
        "contexts": [{"name": f"{args.name}@{cluster['name']}", "context": {"cluster": cluster["name"], "user": args.name, "namespace": args.namespace}}],
        "current-context": f"{args.name}@{cluster['name']}",
        "preferences": {},
    }
    path = args.kubeconfig.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())
    groups = ", ".join(args.group) or "no groups"
    print(f"user {args.name} ({groups}): kubeconfig written to {path}", flush=True)
    return 0
