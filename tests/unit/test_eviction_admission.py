"""`pods/eviction` goes through the admission chain: a validating hook registered for CREATE of the `eviction`
subresource of Pods sees the posted Eviction, and its refusal (the next issue's 429 "Eviction triggered evacuation")
reaches the client and leaves the pod in place. In process: the simulator as app.build assembles it, on a temporary
state directory, its real aiohttp application served on a local port."""

from __future__ import annotations

import asyncio
import copy

from aiohttp.test_utils import TestClient, TestServer

from dvp_simulator import app
from dvp_simulator.api.admission import CREATE, AdmissionRequest
from dvp_simulator.api.errors import APIError
from dvp_simulator.api.service import WriteOptions

TOKEN = "unit-test-token"
EVICTION = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-0", "namespace": "default"}}


def test_an_eviction_hook_sees_the_eviction_and_its_429_keeps_the_pod(tmp_path):
    sim = app.build(tmp_path / "state", TOKEN, "https://127.0.0.1:0")
    seen: list[tuple[str, str | None, str, dict]] = []
    refuse = [True]

    @sim.service.admission.validate("", "Pod", operations=(CREATE,), subresources=("eviction",))
    def evacuate_instead(request: AdmissionRequest) -> None:
        seen.append((request.operation, request.subresource, request.rt.kind, copy.deepcopy(request.obj)))
        if refuse[0]:
            raise APIError(429, "Eviction triggered evacuation", reason="TooManyRequests")

    pods = sim.registry.types["/pods"]
    pod = {"metadata": {"name": "web-0"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    sim.service.create(pods, "default", pod, WriteOptions(version="v1", manager="test"))

    async def post_evictions() -> list[tuple[int, dict, dict | None]]:
        """Two evictions, the hook refusing the first: each one's status, body and the pod afterwards."""
        out = []
        async with TestClient(TestServer(sim.api.app)) as http:
            for refusing in (True, False):
                refuse[0] = refusing
                response = await http.post(
                    "/api/v1/namespaces/default/pods/web-0/eviction", json=EVICTION, headers={"Authorization": f"Bearer {TOKEN}"}
                )
                out.append((response.status, await response.json(), sim.service.find(pods, "default", "web-0")))
        return out

    try:
        (status, body, kept), (status_after, body_after, gone) = asyncio.run(post_evictions())
        assert status == 429 and body["reason"] == "TooManyRequests" and body["message"] == "Eviction triggered evacuation"
        operation, subresource, kind, eviction = seen[0]
        assert (operation, subresource, kind) == (CREATE, "eviction", "Pod")
        assert eviction["kind"] == "Eviction" and eviction["apiVersion"] == "policy/v1"
        assert eviction["metadata"] == {"name": "web-0", "namespace": "default"}
        assert kept is not None and "deletionTimestamp" not in kept["metadata"]

        assert (status_after, body_after["status"]) == (201, "Success") and len(seen) == 2
        assert gone is None
    finally:
        sim.store.close()
