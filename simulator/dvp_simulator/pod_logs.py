"""The containers' output of the simulated pods, as `kubectl logs` reads it (`pods/log`, api/pod_subresources.py).

The simulator's components write lines for the pods they play (a node agent for its virt-handler, the VM
controller and the guest's events for a virt-launcher's domain); readers
take the last lines of a container, and followers wait for more. Memory is bounded: at most `MAX_LINES`
lines per container and `MAX_PODS` pods (the pod written to least recently is forgotten first).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field

MAX_LINES = 1000
MAX_PODS = 20000  # a 10,000-VM cluster: every virt-launcher and virt-handler pod keeps its log


@dataclass
class _PodLog:
    uid: str
    containers: dict[str, list[tuple[int, float, str]]] = field(default_factory=dict)  # container → (seq, at, line)
    # made by the first follower that waits, set and dropped by the next write: a pod nobody follows (nearly all of
    # 10,000 virt-launchers) costs no Event and no waiters' deque
    changed: asyncio.Event | None = None

    def wake(self) -> None:
        if self.changed is not None:
            self.changed.set()
            self.changed = None


class PodLogs:
    def __init__(self, max_lines: int = MAX_LINES, max_pods: int = MAX_PODS):
        self.max_lines = max_lines
        self.max_pods = max_pods
        self._pods: OrderedDict[tuple[str, str], _PodLog] = OrderedDict()
        self._seq = 0

    def write(self, namespace: str, pod: str, uid: str, container: str, at: float, line: str) -> None:
        """Append one line (no newline) of `container` of the pod with this uid, written at simulated time `at`;
        a pod recreated under the same name (another uid) starts an empty log. Wakes the followers."""
        key = (namespace, pod)
        log = self._pods.get(key)
        if log is None or log.uid != uid:
            if log is not None:
                log.wake()
            log = self._pods[key] = _PodLog(uid)
        self._pods.move_to_end(key)
        while len(self._pods) > self.max_pods:
            self._pods.popitem(last=False)[1].wake()
        self._seq += 1
        lines = log.containers.setdefault(container, [])
        lines.append((self._seq, at, line))
        if len(lines) >= 2 * self.max_lines:  # a list trimmed now and then: a few lines cost far less than a deque
            del lines[: len(lines) - self.max_lines]
        log.wake()

    def lines(self, namespace: str, pod: str, uid: str, container: str, after: int = 0) -> list[tuple[int, float, str]]:
        """The kept lines (seq, at, line) of the container with a sequence number above `after`, oldest first: the
        last `max_lines` of them."""
        log = self._pods.get((namespace, pod))
        if log is None or log.uid != uid:
            return []
        return [entry for entry in log.containers.get(container, ())[-self.max_lines :] if entry[0] > after]

    async def wait(self, namespace: str, pod: str, timeout: float) -> None:
        """Return when the pod's log changes, or after `timeout` real seconds."""
        log = self._pods.get((namespace, pod))
        if log is None:
            await asyncio.sleep(timeout)
            return
        if log.changed is None:
            log.changed = asyncio.Event()
        try:
            await asyncio.wait_for(log.changed.wait(), timeout)
        except TimeoutError:
            pass
