"""bench/floor.py, the floor under the API section's GET figure: over the simulator's own TLS it answers a request
with the token with exactly the recorded response, refuses one without, and stops when asked."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.floor import Floor
from dvp_simulator.certs import ensure_pki


def _get(url: str, ca: Path, token: str | None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    tls = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, context=tls, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_the_floor_answers_the_recorded_response_to_the_token_and_401_without_it(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path / "state")
    token = pki["token"].read_text().strip()
    body = json.dumps({"kind": "ClusterVirtualImage", "metadata": {"name": "bench-image"}}).encode()
    headers = {"Content-Type": "application/json", "Audit-Id": "abc", "Content-Length": "999", "Date": "then"}
    work = tmp_path / "work"
    work.mkdir()
    with Floor.start(tmp_path / "state", token, 200, headers, body, work) as floor:
        assert floor.server.startswith("https://127.0.0.1:")
        status, got_headers, got = _get(floor.server + "/apis/anything", pki["ca.crt"], token)
        assert (status, got) == (200, body)
        assert got_headers["Content-Type"] == "application/json" and got_headers["Audit-Id"] == "abc"
        assert got_headers["Content-Length"] == str(len(body))  # aiohttp's own, not the recorded one
        assert _get(floor.server + "/apis/anything", pki["ca.crt"], None)[0] == 401
        assert _get(floor.server + "/apis/anything", pki["ca.crt"], "wrong")[0] == 401
        assert (work / "floor-token").stat().st_mode & 0o077 == 0  # a credential: the owner's alone
    assert floor.process.poll() is not None
    with pytest.raises(OSError):
        _get(floor.server + "/", pki["ca.crt"], token)
