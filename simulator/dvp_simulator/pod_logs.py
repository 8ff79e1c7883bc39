"""The containers' output of the simulated pods, as `kubectl logs` reads it (`pods/log`, api/pod_subresources.py).

The simulator's components write lines for the pods they play (a node agent for its virt-handler); readers
take the last lines of a container, and followers wait for more. Memory is bounded: at most `MAX_LINES`
lines per container and `MAX_PODS` pods (the pod written to least recently is forgotten first).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field

MAX_LINES = 1000
MAX_PODS = 10000


@dataclass
class _PodLog:
    uid: str
    containers: dict[str, deque[tuple[int, float, str]]] = field(default_factory=dict)  # container → (seq, at, line)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


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
                log.changed.set()
            log = self._pods[key] = _PodLog(uid)
        self._pods.move_to_end(key)
        while len(self._pods) > self.max_pods:
            self._pods.popitem(last=False)[1].changed.set()
        self._seq += 1
        log.containers.setdefault(container, deque(maxlen=self.max_lines)).append((self._seq, at, line))
        log.changed.set()
        log.changed = asyncio.Event()

    def lines(self, namespace: str, pod: str, uid: str, container: str, after: int = 0) -> list[tuple[int, float, str]]:
        """The kept lines (seq, at, line) of the container with a sequence number above `after`, oldest first."""
        log = self._pods.get((namespace, pod))
        if log is None or log.uid != uid:
            return []
        return [entry for entry in log.containers.get(container, ()) if entry[0] > after]

    async def wait(self, namespace: str, pod: str, timeout: float) -> None:
        """Return when the pod's log changes, or after `timeout` real seconds."""
        log = self._pods.get((namespace, pod))
        if log is None:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(log.changed.wait(), timeout)
        except TimeoutError:
            pass
