"""api/event_correlator.py: client-go's EventCorrelator with its defaults — the spam filter's budget per source and
object, ten distinct messages before they are combined, and the keys a recorded Event is counted again by."""

from __future__ import annotations

from dvp_simulator.api import event_correlator as ec

POD = ("Pod", "ns", "web-0", "uid-1", "v1")
RS = ("ReplicaSet", "ns", "web", "uid-2", "apps/v1")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_same_event_again_is_counted_under_its_own_key():
    c = ec.EventCorrelator(Clock())
    first = c.correlate("kubelet", POD, "Normal", "Pulled", "pulled")
    assert (first.skip, first.message, first.count, first.recorded) == (False, "pulled", 1, None)
    c.written(first.key, "ns", "web-0.1")
    again = c.correlate("kubelet", POD, "Normal", "Pulled", "pulled")
    assert (again.key, again.count, again.recorded) == (first.key, 2, ("ns", "web-0.1"))
    assert c.correlate("kubelet", POD, "Normal", "Pulled", "other").key != first.key


def test_occurrences_the_spam_filter_drops_still_count():
    clock = Clock()
    c = ec.EventCorrelator(clock)
    verdicts = [c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom") for _attempt in range(27)]
    c.written(verdicts[0].key, "ns", "web-0.1")
    assert [v.skip for v in verdicts[-3:]] == [False, True, True]
    clock.t += 300
    later = c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom")
    assert (later.skip, later.count, later.recorded) == (False, 28, ("ns", "web-0.1")), "upstream counts before it filters"


def test_the_schedulers_events_are_a_series_never_dropped_nor_combined():
    c = ec.EventCorrelator(Clock())
    verdicts = [c.series("default-scheduler", POD, "Warning", "FailedScheduling", f"0/{i} nodes are available") for i in range(40)]
    assert not any(v.skip for v in verdicts) and not any(v.message.startswith(ec.COMBINED) for v in verdicts)
    assert c.series("default-scheduler", POD, "Warning", "FailedScheduling", "0/1 nodes are available").count == 2
    assert ec.SERIES_COMPONENTS == {"default-scheduler", "sigs.k8s.io/descheduler"}


def test_the_tenth_distinct_message_starts_one_combined_event():
    c = ec.EventCorrelator(Clock())
    verdicts = [c.correlate("replicaset-controller", RS, "Normal", "SuccessfulCreate", f"Created pod: web-{i}") for i in range(14)]
    assert [v.message for v in verdicts[:9]] == [f"Created pod: web-{i}" for i in range(9)]
    combined = verdicts[9:]
    assert [v.message for v in combined] == [f"{ec.COMBINED}Created pod: web-{i}" for i in range(9, 14)]
    assert len({v.key for v in combined}) == 1 and combined[0].key not in {v.key for v in verdicts[:9]}, "one aggregate, counted"
    other = c.correlate("replicaset-controller", RS, "Normal", "SuccessfulDelete", "Deleted pod: web-0")
    assert other.message == "Deleted pod: web-0", "another reason is another group"


def test_similar_events_ten_minutes_apart_start_over():
    clock = Clock()
    c = ec.EventCorrelator(clock)
    for i in range(9):
        c.correlate("replicaset-controller", RS, "Normal", "SuccessfulCreate", f"Created pod: web-{i}")
    clock.t += ec.AGGREGATE_INTERVAL + 1
    assert c.correlate("replicaset-controller", RS, "Normal", "SuccessfulCreate", "Created pod: web-9").message == "Created pod: web-9"


def test_the_spam_filter_allows_25_at_once_then_one_every_five_minutes_per_source_and_object():
    clock = Clock()
    c = ec.EventCorrelator(clock)
    verdicts = [c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom") for _attempt in range(30)]
    assert [v.skip for v in verdicts] == [False] * 25 + [True] * 5
    assert not c.correlate("kubelet", POD, "Warning", "Failed", "boom").skip, "another source has its own budget"
    assert not c.correlate("virtualization-controller", RS, "Warning", "Failed", "boom").skip, "so has another object"
    clock.t += 299
    assert c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom").skip
    clock.t += 2
    assert not c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom").skip, "one token back after 300 s"
    assert c.correlate("virtualization-controller", POD, "Warning", "Failed", "boom").skip
