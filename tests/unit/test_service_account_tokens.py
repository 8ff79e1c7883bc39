"""The ServiceAccount token registry (api/serviceaccounts.py) in process, on the simulator as app.build assembles it:
tokens are known by their digest only, on disk (0600) as in memory; they expire on the simulated clock with go-jose's
leeway; their audiences, their ServiceAccount's uid and their bound pod decide; the file read at start keeps the live
tokens and drops the rest."""

from __future__ import annotations

import hashlib
import os

from dvp_simulator import app
from dvp_simulator.api import serviceaccounts
from dvp_simulator.api.authz import API_AUDIENCES
from dvp_simulator.api.service import WriteOptions

OPTS = WriteOptions(version="v1", manager="test")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _account(sim, name: str) -> dict:
    rt = sim.registry.types["/serviceaccounts"]
    return sim.service.create(rt, "default", {"metadata": {"name": name}}, OPTS).obj


def test_a_token_is_kept_as_its_digest_and_authenticates_until_it_expires(tmp_path):
    sim = app.build(tmp_path / "state", "admin-token", "127.0.0.1:6443")
    try:
        registry = serviceaccounts.TokenRegistry(sim.service, tmp_path / "tokens.jsonl")
        sa = _account(sim, "ci")
        token, exp = registry.issue(sa, 600, list(API_AUDIENCES), None)
        assert exp == int(sim.clock.time()) + 600
        stored = (tmp_path / "tokens.jsonl").read_text()
        assert token not in stored and token.rsplit(".", 1)[1] not in stored and _digest(token) in stored
        assert oct(os.stat(tmp_path / "tokens.jsonl").st_mode & 0o777) == "0o600"
        answer = registry.authenticate(_digest(token), API_AUDIENCES)
        assert answer.user.username == "system:serviceaccount:default:ci" and answer.user.uid == sa["metadata"]["uid"]
        assert answer.audiences == API_AUDIENCES
        assert registry.authenticate(_digest("someone else's"), API_AUDIENCES) is None  # not ours: the gate says 401
        wrong = registry.authenticate(_digest(token), ("vault",))
        assert wrong.user is None and wrong.error.endswith('is invalid for the target audiences ["vault"]]')
        sim.clock.advance(600 + serviceaccounts.LEEWAY - 2)  # exp is in whole seconds, the clock is not
        assert registry.authenticate(_digest(token), API_AUDIENCES).user is not None
        sim.clock.advance(3)
        assert registry.authenticate(_digest(token), API_AUDIENCES).error == "[invalid bearer token, service account token has expired]"
        # a new token forgets the expired ones
        registry.issue(sa, 3600, list(API_AUDIENCES), None)
        assert _digest(token) not in registry.tokens and len(registry.tokens) == 1
    finally:
        sim.store.close()


def test_the_file_read_at_start_keeps_the_live_tokens_only(tmp_path):
    sim = app.build(tmp_path / "state", "admin-token", "127.0.0.1:6443")
    try:
        path = tmp_path / "tokens.jsonl"
        registry = serviceaccounts.TokenRegistry(sim.service, path)
        kept, dropped = _account(sim, "kept"), _account(sim, "dropped")
        live, _expiry = registry.issue(kept, 7200, list(API_AUDIENCES), None)
        short, _expiry = registry.issue(kept, 600, list(API_AUDIENCES), None)
        orphan, _expiry = registry.issue(dropped, 7200, list(API_AUDIENCES), None)
        sim.service.delete(sim.registry.types["/serviceaccounts"], "default", "dropped", {})
        with path.open("a") as f:
            f.write('{"digest": "torn')  # a line a crash cut short
        sim.clock.advance(3600)
        again = serviceaccounts.TokenRegistry(sim.service, path)
        assert set(again.tokens) == {_digest(live)}
        assert len(path.read_text().splitlines()) == 1 and oct(os.stat(path).st_mode & 0o777) == "0o600"
        assert again.authenticate(_digest(live), API_AUDIENCES).user.username == "system:serviceaccount:default:kept"
        assert again.authenticate(_digest(short), API_AUDIENCES) is None and again.authenticate(_digest(orphan), API_AUDIENCES) is None
    finally:
        sim.store.close()
