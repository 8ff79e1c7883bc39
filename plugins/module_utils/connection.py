# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options (the names, precedence and K8S_AUTH_* variables of kubernetes.core's auth options, so a
copied k8s auth block works) and the one place where they become a Transport.

The hot path is the standard library plus our kubeconfig reader. The `kubernetes` package is imported only
for what it alone does: credentials from an exec plugin or an auth-provider (with refresh and
persist_config), and the in-cluster service account.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from . import kubeconfig as kc
from .errors import DVPError
from .transport import Settings, Transport

IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _env(*names: str) -> tuple[Any, list[str]]:
    from ansible.module_utils.basic import env_fallback

    return (env_fallback, list(names))


def connection_arg_spec() -> dict[str, Any]:
    """The options of doc fragment deckhouse.virtualization.connection; each takes the K8S_AUTH_* variables
    kubernetes.core reads for it (K8S_AUTH_<option>, and the kubernetes client's name where it differs)."""
    return {
        "kubeconfig": {"type": "raw", "fallback": _env("K8S_AUTH_KUBECONFIG")},
        "context": {"type": "str", "fallback": _env("K8S_AUTH_CONTEXT")},
        "host": {"type": "str", "fallback": _env("K8S_AUTH_HOST")},
        "api_key": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_API_KEY")},
        "username": {"type": "str", "fallback": _env("K8S_AUTH_USERNAME")},
        "password": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_PASSWORD")},
        "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": _env("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL")},
        "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": _env("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT")},
        "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": _env("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE")},
        "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False, "fallback": _env("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE")},
        "proxy": {"type": "str", "fallback": _env("K8S_AUTH_PROXY")},
        "no_proxy": {"type": "str", "fallback": _env("K8S_AUTH_NO_PROXY")},
        "proxy_headers": {
            "type": "dict",
            "apply_defaults": True,  # so the suboptions' K8S_AUTH_PROXY_HEADERS_* variables apply without the dict
            "options": {
                "proxy_basic_auth": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH")},
                "basic_auth": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_PROXY_HEADERS_BASIC_AUTH")},
                "user_agent": {"type": "str", "fallback": _env("K8S_AUTH_PROXY_HEADERS_USER_AGENT")},
            },
        },
        "persist_config": {"type": "bool", "fallback": _env("K8S_AUTH_PERSIST_CONFIG")},
        "impersonate_user": {"type": "str", "fallback": _env("K8S_AUTH_IMPERSONATE_USER")},
        "impersonate_groups": {"type": "list", "elements": "str", "fallback": _env("K8S_AUTH_IMPERSONATE_GROUPS")},
    }


CONNECTION_KEYS = (
    "kubeconfig",
    "context",
    "host",
    "api_key",
    "username",
    "password",
    "validate_certs",
    "ca_cert",
    "client_cert",
    "client_key",
    "proxy",
    "no_proxy",
    "proxy_headers",
    "persist_config",
    "impersonate_user",
    "impersonate_groups",
)

# Transports are made once per set of connection options and process, so a process serving many tasks
# (a persistent connection) would reuse them.
_TRANSPORTS: dict[str, Transport] = {}


def transport(params: dict[str, Any]) -> Transport:
    """The Transport for the module's connection options."""
    options = {k: params.get(k) for k in CONNECTION_KEYS}
    key = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()
    if key not in _TRANSPORTS:
        _TRANSPORTS[key] = Transport(settings(options))
    return _TRANSPORTS[key]


def secrets(s: Settings) -> list[str]:
    """Credential values of the resolved settings that are not option values marked no_log (they come from a
    kubeconfig file or dictionary, or a token file): the module masks them in everything it returns."""
    values = [s.token, s.password, s.key_data.decode("utf-8", "replace").strip() if s.key_data else None, *kc.url_password(s.proxy)]
    return [v for v in values if v]


# Connection options whose whole value is a credential (marked no_log in connection_arg_spec), and proxy_headers'.
SECRET_OPTIONS = ("api_key", "password")
SECRET_PROXY_HEADERS = ("proxy_basic_auth", "basic_auth")


def option_secrets(params: dict[str, Any]) -> set[str]:
    """The credentials in the connection options' values, found without reading a file or the network and without
    failing, so that they are masked before anything can go wrong (even a kubeconfig dictionary that does not
    resolve is returned in the task's `invocation`): api_key, password, proxy_headers' credentials, the password
    in the proxy URL, and every credential of a kubeconfig given as a dictionary (kubeconfig.credentials)."""
    found: set[str] = set()
    for name in SECRET_OPTIONS:
        if isinstance(params.get(name), str) and params[name]:
            found.add(params[name])
    headers = params.get("proxy_headers")
    if isinstance(headers, dict):
        found.update(v for k, v in headers.items() if k in SECRET_PROXY_HEADERS and isinstance(v, str) and v)
    found.update(kc.url_password(params.get("proxy")))
    found.update(kc.credentials(params.get("kubeconfig")))
    return found


def misplaced_secrets(options: dict[str, Any]) -> set[str]:
    """The credentials among options that are not the module's own (a batch element's, which takes no connection
    options): option_secrets of the connection options given there, and every text of an option named as a
    credential (`token`, `api_key`, `client_key_data` ... kubeconfig.secret_name), so that the element shown in the
    task's invocation with its rejection keeps them hidden."""
    found = option_secrets({k: v for k, v in options.items() if k in CONNECTION_KEYS})
    for name, value in options.items():
        if name not in CONNECTION_KEYS and kc.secret_name(name):
            found.update(_texts(value))
    return found


def _texts(value: Any) -> list[str]:
    """Every non-empty text (and number) inside a value of options."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in _texts(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    return [value] if isinstance(value, str) and value.strip() else []


def settings(o: dict[str, Any]) -> Settings:
    """kubernetes.core's precedence: host with a token, basic credentials or a client certificate needs no
    kubeconfig; else the kubeconfig (given, or the default one) and its context; with neither given, the
    in-cluster service account when there is one, then the default kubeconfig. Options override what the
    kubeconfig says."""
    host = (o.get("host") or "").rstrip("/")
    self_sufficient = host and (o.get("api_key") or (o.get("username") and o.get("password")) or (o.get("client_cert") and o.get("client_key")))
    base: dict[str, Any] = {}
    s: Settings | None = None
    if self_sufficient:
        pass
    elif o.get("kubeconfig") or o.get("context") or not _in_cluster():
        config = _kubeconfig(o.get("kubeconfig"), required=not host)
        if config is not None:
            base = kc.resolve(config, o.get("context"))
            if base.get("delegate"):
                s = _from_kubernetes(o.get("kubeconfig"), o.get("context"), bool(o.get("persist_config")), in_cluster=False)
    else:
        s = _from_kubernetes(None, None, False, in_cluster=True)
    if s is None:
        s = _from_fields(base)
    _override(s, o, host)
    if not s.server:
        raise DVPError("no Kubernetes API server: give kubeconfig, or host (and api_key), or K8S_AUTH_* variables")
    return s


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(IN_CLUSTER_TOKEN)


def _kubeconfig(option: Any, required: bool) -> dict[str, Any] | None:
    """The kubeconfig dictionary: the option's dictionary, its file(s), or the default file(s) (KUBECONFIG,
    else ~/.kube/config). None when no file was named, the default is absent and a host was given."""
    if isinstance(option, dict):
        return option
    if option:
        return kc.load_files(str(option))
    paths = os.environ.get("KUBECONFIG") or "~/.kube/config"
    if not any(os.path.exists(os.path.expanduser(p)) for p in paths.split(os.pathsep) if p):
        if not required:
            return None
        raise DVPError(f"no Kubernetes API server: kubeconfig not given and {paths} not found; give kubeconfig, or host and api_key")
    return kc.load_files(paths)


def _from_fields(f: dict[str, Any]) -> Settings:
    token = f.get("token")
    if not token and f.get("token_file"):
        try:
            with open(f["token_file"], encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise DVPError(f"kubeconfig: user.tokenFile: cannot read {f['token_file']}: {exc.strerror}") from exc
    return Settings(
        server=f.get("server", ""),
        ca_file=f.get("ca_file"),
        ca_data=f.get("ca_data"),
        cert_file=f.get("cert_file"),
        key_file=f.get("key_file"),
        cert_data=f.get("cert_data"),
        key_data=f.get("key_data"),
        verify=not f.get("insecure"),
        token=token,
        username=f.get("username"),
        password=f.get("password"),
        proxy=f.get("proxy"),
    )


def _override(s: Settings, o: dict[str, Any], host: str) -> None:
    if host:
        s.server = host
    if o.get("api_key"):
        s.token, s.auth = o["api_key"], None
    if o.get("username") is not None:
        s.username = o["username"]
    if o.get("password") is not None:
        s.password = o["password"]
    if o.get("validate_certs") is not None:
        s.verify = o["validate_certs"]
    if o.get("ca_cert"):
        s.ca_file, s.ca_data = o["ca_cert"], None
    if o.get("client_cert"):
        s.cert_file, s.cert_data = o["client_cert"], None
    if o.get("client_key"):
        s.key_file, s.key_data = o["client_key"], None
    if o.get("proxy"):
        s.proxy = o["proxy"]
    s.no_proxy = o.get("no_proxy") or None
    s.proxy_headers = proxy_headers(o.get("proxy_headers") or {})
    s.impersonate_user = o.get("impersonate_user") or None
    s.impersonate_groups = [g for g in o.get("impersonate_groups") or [] if g]


def proxy_headers(options: dict[str, Any]) -> dict[str, str]:
    """The proxy_headers suboptions as the headers urllib3's make_headers (kubernetes.core's) builds."""
    import base64

    headers = {}
    if options.get("proxy_basic_auth"):
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(options["proxy_basic_auth"].encode()).decode()
    if options.get("basic_auth"):
        headers["Authorization"] = "Basic " + base64.b64encode(options["basic_auth"].encode()).decode()
    if options.get("user_agent"):
        headers["User-Agent"] = options["user_agent"]
    return headers


def _from_kubernetes(kubeconfig: Any, context: str | None, persist: bool, in_cluster: bool) -> Settings:
    """Settings whose credentials the kubernetes package produces and refreshes (exec plugin, auth-provider,
    in-cluster token): it loads the configuration; our transport asks it for the header on every request."""
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
    except ImportError as exc:
        what = "the in-cluster service account" if in_cluster else "a kubeconfig user with exec or auth-provider"
        raise DVPError(f"{what} needs the kubernetes Python library: {exc}") from exc
    cfg = k8s_client.Configuration()
    try:
        if in_cluster:
            k8s_config.load_incluster_config(client_configuration=cfg)
        elif isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, context=context, client_configuration=cfg, persist_config=persist)
        else:
            k8s_config.load_kube_config(config_file=kubeconfig or None, context=context, client_configuration=cfg, persist_config=persist)
    except k8s_config.ConfigException as exc:
        raise DVPError(f"cannot load the Kubernetes configuration: {exc}") from exc
    return Settings(
        server=cfg.host,
        ca_file=cfg.ssl_ca_cert,
        cert_file=cfg.cert_file,
        key_file=cfg.key_file,
        verify=cfg.verify_ssl,
        auth=lambda: cfg.get_api_key_with_prefix("BearerToken", alias="authorization"),
        proxy=cfg.proxy,
    )
