# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options (the same names and K8S_AUTH_* variables as kubernetes.core, so AWX Kubernetes
credentials work) and the one place where a kubernetes ApiClient is made."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from .errors import DVPError

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # reported by the module with missing_required_lib
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc


def _env(*names: str) -> tuple[Any, list[str]]:
    from ansible.module_utils.basic import env_fallback

    return (env_fallback, list(names))


def connection_arg_spec() -> dict[str, Any]:
    """The options of doc fragment deckhouse.virtualization.connection."""
    return {
        "kubeconfig": {"type": "raw", "fallback": _env("K8S_AUTH_KUBECONFIG")},
        "context": {"type": "str", "fallback": _env("K8S_AUTH_CONTEXT")},
        "host": {"type": "str", "fallback": _env("K8S_AUTH_HOST")},
        "api_key": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_API_KEY")},
        "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], "fallback": _env("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL")},
        "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], "fallback": _env("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT")},
        "client_cert": {"type": "path", "aliases": ["cert_file"], "fallback": _env("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE")},
        "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False, "fallback": _env("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE")},
        "proxy": {"type": "str", "fallback": _env("K8S_AUTH_PROXY")},
    }


CONNECTION_KEYS = ("kubeconfig", "context", "host", "api_key", "validate_certs", "ca_cert", "client_cert", "client_key", "proxy")

# Clients are made once per set of connection options and process, so a future persistent connection (one
# process serving many tasks) reuses them; see ROADMAP "Benchmarks".
_CLIENTS: dict[str, Any] = {}


def api_client(params: dict[str, Any]) -> Any:
    """A configured kubernetes ApiClient for the module's connection options."""
    if not HAS_KUBERNETES:
        raise DVPError(f"the kubernetes Python library is required: {KUBERNETES_IMPORT_ERROR}")
    options = {k: params.get(k) for k in CONNECTION_KEYS}
    key = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()
    if key not in _CLIENTS:
        _CLIENTS[key] = _new_client(options)
    return _CLIENTS[key]


def _new_client(o: dict[str, Any]) -> Any:
    configuration = k8s_client.Configuration()
    kubeconfig = o["kubeconfig"]
    try:
        if isinstance(kubeconfig, dict):
            k8s_config.load_kube_config_from_dict(kubeconfig, context=o["context"], client_configuration=configuration)
        elif kubeconfig or not o["host"]:
            path = os.path.expanduser(kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0])
            if kubeconfig or os.path.exists(path):
                if not os.path.exists(path):
                    raise DVPError(f"kubeconfig: file not found: {path}")
                k8s_config.load_kube_config(config_file=path, context=o["context"], client_configuration=configuration)
            else:
                k8s_config.load_incluster_config(client_configuration=configuration)
    except ConfigException as exc:
        raise DVPError(f"cannot load the Kubernetes configuration: {exc}") from exc
    if o["host"]:
        configuration.host = o["host"]
    if o["api_key"]:
        configuration.api_key = {"BearerToken": f"Bearer {o['api_key']}"}
    if o["ca_cert"]:
        configuration.ssl_ca_cert = o["ca_cert"]
    if o["client_cert"]:
        configuration.cert_file = o["client_cert"]
    if o["client_key"]:
        configuration.key_file = o["client_key"]
    if o["validate_certs"] is not None:
        configuration.verify_ssl = o["validate_certs"]
    if o["proxy"]:
        configuration.proxy = o["proxy"]
    if not configuration.host:
        raise DVPError("no Kubernetes API server: give kubeconfig, or host (and api_key), or K8S_AUTH_* variables")
    return k8s_client.ApiClient(configuration)
