"""IPAM's lease index: `leases_in(cidr)` answers from each lease's /24, /16 and /8 exactly what a scan answers."""

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from dvp_simulator.controllers import ipam
from dvp_simulator.store.store import ADDED, Store


def lease(address):
    return {"metadata": {"name": "ip-" + address.replace(".", "-")}, "spec": {}}


addresses = st.sampled_from(["10.66.0.0", "10.66.10.0", "10.64.0.0", "192.168.1.0", "10.0.0.0"]).flatmap(
    lambda base: st.integers(0, 2**12 - 1).map(lambda n: str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(base)) + n)))
)


@settings(max_examples=60, deadline=None)
@given(st.lists(addresses, max_size=40, unique=True), st.lists(st.tuples(addresses, st.integers(0, 32)), min_size=1, max_size=6), st.data())
def test_leases_in_a_cidr_are_those_a_scan_finds(held, queries, data):
    store = Store(None)
    ipam.register_indexes(store)
    for address in held:
        store.put(ipam.LEASES, lease(address), ADDED)
    for address in data.draw(st.lists(st.sampled_from(held), unique=True)) if held else []:
        store.remove(ipam.LEASES, "", "ip-" + address.replace(".", "-"))
        held.remove(address)
    store.put(ipam.LEASES, {"metadata": {"name": "not-a-lease-name"}, "spec": {}}, ADDED)  # ignored
    for address, prefix in queries:
        cidr = str(ipaddress.IPv4Network(f"{address}/{prefix}", strict=False))
        expected = sorted("ip-" + a.replace(".", "-") for a in held if ipaddress.IPv4Address(a) in ipaddress.IPv4Network(cidr))
        assert [e.name for e in ipam.leases_in(store, cidr)] == expected, cidr
    assert ipam.leases_in(store, "not a cidr") == []


def test_a_lease_is_indexed_under_three_networks():
    assert ipam.lease_networks(lease("10.66.10.14")) == ["10.66.10.0/24", "10.66.0.0/16", "10.0.0.0/8"]
    assert ipam.lease_networks({"metadata": {"name": "vm-1"}}) == []
