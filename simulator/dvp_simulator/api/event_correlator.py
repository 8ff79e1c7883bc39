"""client-go's EventCorrelator (tools/record/events_cache.go), which every core/v1 event recorder (kube-controller-
manager's controllers, the kubelet, controller-runtime's — DVP's and KubeVirt's) runs before it writes an Event, with
its default options: what decides whether `kubectl describe` shows twelve lines, one line `(x12 over 30s)`, or
`(combined from similar events): …`. In upstream's order:

- the aggregator: Events of one source, object, type and reason with different messages (a ReplicaSet's "Created
  pod: …" for each pod) are recorded one by one until the 10th distinct message within 10 minutes; from then on they
  are one Event, "(combined from similar events): <the latest message>";
- the logger: an Event seen before (the same key: the whole Event, or the aggregate's) is the recorded one with its
  count raised and lastTimestamp moved — counted here even when the spam filter then drops the write, so the next
  write carries every occurrence;
- the spam filter: a token bucket per source and involved object, 25 Events at once and one more every 5 minutes;
  an Event over it is not written.

Components that record through events.k8s.io's newer recorder (tools/events: kube-scheduler, the descheduler) have
neither aggregator nor spam filter: `series` correlates only the same Event again. Pure (the clock is passed in); the
caches are LRUs of 4,096 entries, as client-go's (maxLruCacheEntries)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

# the components whose Events go through events.k8s.io's recorder (tools/events): kube-scheduler, the descheduler
SERIES_COMPONENTS = frozenset({v.DEFAULT_SCHEDULER, v.DESCHEDULER_COMPONENT})
CACHE_SIZE = 4096
SPAM_BURST, SPAM_QPS = 25, 1.0 / 300.0
AGGREGATE_MAX_EVENTS, AGGREGATE_INTERVAL = 10, 600.0
COMBINED = "(combined from similar events): "


@dataclass
class _Bucket:
    tokens: float
    last: float


@dataclass
class _Aggregate:
    messages: set[str] = field(default_factory=set)
    last: float = 0.0


@dataclass
class Observation:
    """What the logger remembers of an Event key: how often it was seen, and the Event written for it (None until one
    is)."""

    count: int = 0
    recorded: tuple[str, str] | None = None  # (namespace, name)


@dataclass(frozen=True)
class Verdict:
    skip: bool  # dropped by the spam filter
    message: str  # the message to record (the aggregate's when combined)
    key: tuple[Any, ...]  # the key the Event is counted under
    count: int  # the count to write
    recorded: tuple[str, str] | None  # the Event to raise (None: write a new one)


class _LRU(OrderedDict):
    def get_fresh(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        if len(self) > CACHE_SIZE:
            self.popitem(last=False)


class EventCorrelator:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._buckets: _LRU = _LRU()
        self._aggregates: _LRU = _LRU()
        self._observed: _LRU = _LRU()

    def correlate(self, source: str, involved: tuple[str, ...], type_: str, reason: str, message: str) -> Verdict:
        """What to do with an Event of `source` about `involved` (the object's kind, namespace, name, uid and
        apiVersion): aggregate, observe, filter."""
        now = self.now()
        group = (source, *involved, type_, reason)
        record = self._aggregates.get_fresh(group)
        if record is None or now - record.last > AGGREGATE_INTERVAL:
            record = _Aggregate()
        record.messages.add(message)
        record.last = now
        self._aggregates.put(group, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            key: tuple[Any, ...] = (*group, message)
        else:
            record.messages.pop()  # the set stays below the threshold's size, as upstream's PopAny keeps it
            key, message = group, COMBINED + message
        seen = self._observe(key)
        return Verdict(not self._allowed((source, *involved), now), message, key, seen.count, seen.recorded)

    def series(self, source: str, involved: tuple[str, ...], type_: str, reason: str, message: str) -> Verdict:
        """The same Event again only (tools/events' series), never dropped."""
        key = ("series", source, *involved, type_, reason, message)
        seen = self._observe(key)
        return Verdict(False, message, key, seen.count, seen.recorded)

    def written(self, key: tuple[Any, ...], namespace: str, name: str) -> None:
        """The Event written for `key` (the one a later occurrence raises)."""
        seen = self._observed.get_fresh(key)
        if seen is not None:
            seen.recorded = (namespace, name)

    def _observe(self, key: tuple[Any, ...]) -> Observation:
        seen = self._observed.get_fresh(key) or Observation()
        seen.count += 1
        self._observed.put(key, seen)
        return Observation(seen.count, seen.recorded)

    def _allowed(self, key: tuple[str, ...], now: float) -> bool:
        """The token bucket of a source and object (flowcontrol's TryAccept: refilled at SPAM_QPS up to SPAM_BURST)."""
        bucket = self._buckets.get_fresh(key)
        if bucket is None:
            bucket = _Bucket(float(SPAM_BURST), now)
        bucket.tokens = min(float(SPAM_BURST), bucket.tokens + max(now - bucket.last, 0.0) * SPAM_QPS)
        bucket.last = now
        self._buckets.put(key, bucket)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True
