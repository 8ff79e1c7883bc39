"""client-go's EventCorrelator (tools/record/events_cache.go), which every controller's event recorder runs before it
writes an Event, with its default options — what decides whether `kubectl describe` shows twelve lines, one line
`(x12 over 30s)`, or `(combined from similar events): …`:

- the spam filter: a token bucket per source and involved object, 25 events at once and one more every 5 minutes;
  an Event over it is dropped (a count raised on a recorded one is an Event too);
- the aggregator: Events of one source, object, type and reason with different messages (a ReplicaSet's "Created
  pod: …" for each pod) are recorded one by one until the 10th distinct message within 10 minutes; from then on they
  are one Event, "(combined from similar events): <the latest message>", whose count goes up;
- the logger: an Event seen before (the same key: the whole Event, or the aggregate's) is the recorded one with its
  count raised and lastTimestamp moved.

Pure (the clock is passed in); the caches are LRUs of 4,096 entries, as client-go's (maxLruCacheEntries)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class Verdict:
    skip: bool  # dropped by the spam filter
    message: str = ""  # the message to record (the aggregate's when combined)
    key: tuple[Any, ...] = ()  # what the recorded Event is remembered by, to count it again


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
        self.recorded: _LRU = _LRU()  # key → (namespace, name) of the Event recorded under it

    def correlate(self, source: str, involved: tuple[str, ...], type_: str, reason: str, message: str) -> Verdict:
        """What to do with an Event of `source` about `involved` (the object's kind, namespace, name, uid and
        apiVersion)."""
        now = self.now()
        if not self._allowed((source, *involved), now):
            return Verdict(skip=True)
        group = (source, *involved, type_, reason)
        record = self._aggregates.get_fresh(group)
        if record is None or now - record.last > AGGREGATE_INTERVAL:
            record = _Aggregate()
        record.messages.add(message)
        record.last = now
        self._aggregates.put(group, record)
        if len(record.messages) < AGGREGATE_MAX_EVENTS:
            return Verdict(skip=False, message=message, key=(*group, message))
        record.messages.pop()  # the set stays below the threshold's size, as upstream's PopAny keeps it
        return Verdict(skip=False, message=COMBINED + message, key=group)

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
