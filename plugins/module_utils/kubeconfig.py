# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small kubeconfig reader: files (merged as kubectl merges KUBECONFIG lists) or a dictionary, one context
resolved into the flat connection fields the transport needs. Pure Python apart from reading the named files.

Errors name the field at fault (`kubeconfig: users[admin].user.client-key-data: not valid base64`).
Credentials only the `kubernetes` package can produce (an `exec` plugin, an `auth-provider`) are not
resolved here: the result then carries `delegate` and the caller hands the kubeconfig to that package.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import DVPError

# kubeconfig field -> our field, for fields that name a file (resolved against the kubeconfig's folder) or
# carry the same content inline as base64.
FILE_FIELDS = {"certificate-authority": "ca_file", "client-certificate": "cert_file", "client-key": "key_file", "tokenFile": "token_file"}
DATA_FIELDS = {"certificate-authority-data": "ca_data", "client-certificate-data": "cert_data", "client-key-data": "key_data"}


# Words in the name of a field (an auth-provider's config key, an exec plugin's environment variable) or of a misplaced
# option that say its value is a credential; GCP's auth-provider "token-key" / "expiry-key" are JSON paths, not secrets.
SECRET_WORDS = ("token", "secret", "password", "passwd", "credential", "api-key", "apikey", "private-key", "key-data")
NOT_SECRET = ("token-key", "expiry-key")


class KubeconfigError(DVPError):
    """The kubeconfig is missing, unreadable, or lacks a field the chosen context needs."""


def load_files(paths: str) -> dict[str, Any]:
    """The kubeconfig files of `paths` (separated by os.pathsep, as KUBECONFIG) merged into one dictionary:
    the first file to define a named cluster, user or context, or current-context, wins; relative file
    fields are made absolute against the folder of the file that names them."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {"clusters": set(), "users": set(), "contexts": set()}
    names = [os.path.expanduser(p) for p in paths.split(os.pathsep) if p]
    for path in names:
        if len(names) > 1 and not os.path.exists(path):
            continue  # kubectl skips missing files of a list; a single named file must exist
        doc = read_file(path)
        base = os.path.dirname(os.path.abspath(path))
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                if not isinstance(entry, dict) or entry.get("name") in seen[section]:
                    continue
                seen[section].add(entry.get("name"))
                merged[section].append({**entry, inner: _absolute(entry.get(inner) or {}, base)})
        if not merged.get("current-context") and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig: cannot read {path}: {exc.strerror}") from exc
    try:
        if text.lstrip().startswith("{"):
            doc = json.loads(text)  # JSON is YAML too, and json is already imported: no YAML parser needed
        else:
            import yaml  # only for YAML files; ansible brings PyYAML

            doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception as exc:  # yaml.YAMLError or ValueError; the text may hold secrets, so only the error's type
        raise KubeconfigError(f"kubeconfig: {path} is not valid YAML ({type(exc).__name__})") from exc
    if not isinstance(doc, dict):
        raise KubeconfigError(f"kubeconfig: {path} is not a kubeconfig (not a mapping)")
    return doc


def _absolute(section: dict[str, Any], base: str) -> dict[str, Any]:
    out = dict(section)
    for field in FILE_FIELDS:
        value = out.get(field)
        if isinstance(value, str) and value and not os.path.isabs(value):
            out[field] = os.path.join(base, os.path.expanduser(value))
    return out


def _named(config: dict[str, Any], section: str, inner: str, name: str, referrer: str) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(inner)
            if not isinstance(value, dict):
                raise KubeconfigError(f"kubeconfig: {section}[{name}].{inner}: missing or not a mapping")
            return value
    raise KubeconfigError(f"kubeconfig: {referrer}: no entry named {name!r} in {section}")


def resolve(config: dict[str, Any], context: str | None = None) -> dict[str, Any]:
    """The connection fields of `context` (default: current-context): server, ca_file / ca_data (PEM bytes),
    cert_file / cert_data, key_file / key_data, token, token_file, username, password, insecure,
    proxy, namespace; and `delegate` ('exec' or 'auth-provider') when the user's
    credentials come from a plugin. Only fields that are set appear."""
    if not isinstance(config, dict):
        raise KubeconfigError("kubeconfig: not a mapping")
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError("kubeconfig: current-context: not set, and no context given")
    ctx = _named(config, "contexts", "context", name, "context" if context else "current-context")
    out: dict[str, Any] = {}
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise KubeconfigError(f"kubeconfig: contexts[{name}].context.cluster: missing")
    cluster = _named(config, "clusters", "cluster", cluster_name, f"contexts[{name}].context.cluster")
    where = f"clusters[{cluster_name}].cluster"
    if not cluster.get("server"):
        raise KubeconfigError(f"kubeconfig: {where}.server: missing")
    out["server"] = str(cluster["server"])
    _take(cluster, where, out, ("certificate-authority", "certificate-authority-data"))
    if cluster.get("insecure-skip-tls-verify"):
        out["insecure"] = True
    if cluster.get("proxy-url"):
        out["proxy"] = str(cluster["proxy-url"])
    if ctx.get("namespace"):
        out["namespace"] = ctx["namespace"]
    user_name = ctx.get("user")
    if user_name:
        user = _named(config, "users", "user", user_name, f"contexts[{name}].context.user")
        where = f"users[{user_name}].user"
        for plugin in ("exec", "auth-provider"):
            if user.get(plugin):
                out["delegate"] = plugin
        _take(user, where, out, ("client-certificate", "client-certificate-data", "client-key", "client-key-data", "tokenFile"))
        for field in ("token", "username", "password"):
            if user.get(field) is not None:
                out[field] = str(user[field])
        if ("cert_file" in out or "cert_data" in out) != ("key_file" in out or "key_data" in out):
            missing = "client-key(-data)" if "key_file" not in out and "key_data" not in out else "client-certificate(-data)"
            raise KubeconfigError(f"kubeconfig: {where}.{missing}: missing (a client certificate needs its key and the key its certificate)")
    return out


def _take(section: dict[str, Any], where: str, out: dict[str, Any], fields: tuple[str, ...]) -> None:
    """Copy file and data fields; data wins over the file as in client-go, and must be valid base64."""
    for field in fields:
        value = section.get(field)
        if not value:
            continue
        if field in DATA_FIELDS:
            try:
                out[DATA_FIELDS[field]] = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise KubeconfigError(f"kubeconfig: {where}.{field}: not valid base64") from exc
            out.pop(FILE_FIELDS.get(field[: -len("-data")], ""), None)
        elif DATA_FIELDS.get(field + "-data") not in out:
            out[FILE_FIELDS[field]] = str(value)


def secret_name(name: Any) -> bool:
    """True when a field or option named `name` holds a credential by its name: `id-token`, `client-secret`,
    `AWS_SECRET_ACCESS_KEY`, `api_key`, `password`, `client-key-data` (case, `_` and `-` alike)."""
    n = str(name).lower().replace("_", "-")
    return n not in NOT_SECRET and any(word in n for word in SECRET_WORDS)


def url_password(url: Any) -> list[str]:
    """The password of a URL's user information (`http://user:password@host`, the scheme optional), as written and
    percent-decoded; [] when there is none."""
    if not isinstance(url, str) or "@" not in url:
        return []
    try:
        password = urlsplit(url if "://" in url else f"http://{url}").password
    except ValueError:
        # not a URL urlsplit accepts (a stray bracket): the text between the first ':' of the user information and '@'
        userinfo = url.split("://", 1)[-1].rsplit("@", 1)[0]
        password = userinfo.split(":", 1)[1] if ":" in userinfo else None
    return sorted({p for p in (password, unquote(password or "")) if p})


def credentials(config: Any) -> set[str]:
    """Every credential a kubeconfig dictionary holds, in every user and cluster (not only the context's, as the
    whole dictionary is the task's option): users' token, password and client-key-data (as written and decoded),
    an auth-provider's tokens and secrets (id-token, refresh-token, access-token, client-secret ...), the values of
    an exec plugin's environment variables named as credentials (secret_name), and the password of a cluster's
    proxy-url. Never fails, whatever the dictionary holds."""
    found: set[str] = set()
    if not isinstance(config, dict):
        return found
    for user in _sections(config, "users", "user"):
        for field in ("token", "password", "client-key-data"):
            _add(found, user.get(field))
        key = user.get("client-key-data")
        if isinstance(key, str) and key:
            try:
                _add(found, base64.b64decode(key, validate=True).decode("utf-8", "replace").strip())
            except (binascii.Error, ValueError):
                pass  # not base64: the value as written is masked, and resolve() refuses it
        provider = user.get("auth-provider")
        if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
            for name, value in provider["config"].items():
                if secret_name(name):
                    _add(found, value)
        plugin = user.get("exec")
        if isinstance(plugin, dict) and isinstance(plugin.get("env"), list):
            for variable in plugin["env"]:
                if isinstance(variable, dict) and secret_name(variable.get("name", "")):
                    _add(found, variable.get("value"))
    for cluster in _sections(config, "clusters", "cluster"):
        found.update(url_password(cluster.get("proxy-url")))
    return found


def _sections(config: dict[str, Any], section: str, inner: str) -> list[dict[str, Any]]:
    entries = config.get(section)
    if not isinstance(entries, list):
        return []
    return [e[inner] for e in entries if isinstance(e, dict) and isinstance(e.get(inner), dict)]


def _add(found: set[str], value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads a token of digits as a number; the header carries its text
    if isinstance(value, str) and value.strip():
        found.add(value)
