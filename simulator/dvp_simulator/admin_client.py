"""Client of the simulator's admin API (api/admin.py) for `dvp-sim clock …`: server, CA and bearer token come from
a kubeconfig, as kubectl reads them (current context; certificate-authority-data or a certificate-authority file;
token or tokenFile). The token is sent in the Authorization header and never printed."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

PREFIX = "/simulator/v1/"


class AdminError(Exception):
    """The kubeconfig is unusable, the simulator is unreachable, or it answered with an error Status."""


class AdminClient:
    def __init__(self, server: str, token: str, ca_pem: str | None = None, ca_file: str | None = None):
        url = urlsplit(server)
        if url.scheme != "https" or not url.hostname:
            raise AdminError(f"the kubeconfig's server must be an https:// URL, not {server!r}")
        self.host, self.port = url.hostname, url.port or 443
        self.token = token
        self.tls = ssl.create_default_context(cafile=ca_file, cadata=ca_pem)

    @classmethod
    def from_kubeconfig(cls, path: Path) -> AdminClient:
        try:
            config = yaml.safe_load(path.read_text())
            context_name = config["current-context"]
            context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
            cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
            user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
            token = user.get("token") or (Path(user["tokenFile"]).read_text().strip() if user.get("tokenFile") else None)
            if not token:
                raise AdminError(f"{path}: the current context's user has no bearer token")
            ca_pem = base64.b64decode(cluster["certificate-authority-data"]).decode() if cluster.get("certificate-authority-data") else None
            return cls(cluster["server"], token, ca_pem, cluster.get("certificate-authority"))
        except AdminError:
            raise
        except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration, ValueError) as exc:
            raise AdminError(f"{path}: not a usable kubeconfig ({type(exc).__name__}: {exc})") from None

    def call(self, method: str, path: str, body: Any = None) -> str:
        """One request; returns the Status message of a success, raises AdminError with the server's message."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, PREFIX + path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise AdminError(f"cannot reach the simulator at https://{self.host}:{self.port}: {exc}") from None
        finally:
            conn.close()
        try:
            status = json.loads(raw)
        except ValueError:
            status = {}
        message = status.get("message") if isinstance(status, dict) else None
        if response.status >= 400:
            raise AdminError(f"{response.status} {status.get('reason', response.reason) if isinstance(status, dict) else response.reason}: {message or raw[:200]!r}")
        return message or raw.decode(errors="replace")
