"""The IP address rules of BEHAVIOUR.md §5/§8 (plugins/module_utils/network_rules.py), used by module_config and
by the simulator's ModuleConfig / VMIP webhooks and IPAM."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.deckhouse.virtualization.plugins.module_utils import network_rules as nr


def test_parse_cidr_wants_the_aligned_network_address():
    assert str(nr.parse_cidr("192.168.1.192/27")) == "192.168.1.192/27"
    with pytest.raises(ValueError, match=r"host bits set.*192\.168\.1\.160/27"):
        nr.parse_cidr("192.168.1.190/27")
    for bad, why in (("10.66.10.0", "not a CIDR"), ("10.66.10.0/33", "not a CIDR"), ("fd00::/64", "IPv4"), ("x/24", "not a CIDR"), (None, "not a CIDR")):
        with pytest.raises(ValueError, match=why):
            nr.parse_cidr(bad)


def test_problems_name_the_entry_and_the_rule():
    problems = nr.cidr_problems(
        ["10.66.10.0/24", "10.66.10.128/25", "10.111.5.0/24", "10.222.0.0/8", "192.168.10.0/24", "10.66.20.5/24"],
        pod_subnet="10.111.0.0/16",
        service_subnet="10.222.0.0/16",
        node_addresses=[("blue-0", "192.168.10.11"), ("far", "172.16.0.1")],
    )
    text = "\n".join(problems)
    assert "virtualMachineCIDRs[5]: '10.66.20.5/24' has host bits set" in text
    assert "virtualMachineCIDRs[1]: 10.66.10.128/25 overlaps virtualMachineCIDRs[0] 10.66.10.0/24: no overlaps allowed" in text
    assert "virtualMachineCIDRs[2]: 10.111.5.0/24 overlaps the cluster pod subnet 10.111.0.0/16" in text
    assert "virtualMachineCIDRs[3]: 10.0.0.0/8" not in text and "'10.222.0.0/8' has host bits set" in text
    assert "virtualMachineCIDRs[4]: 192.168.10.0/24 contains the address 192.168.10.11 of node blue-0" in text
    assert "far" not in text
    assert nr.cidr_problems(["10.66.10.0/24", "10.66.20.0/24", "10.77.0.0/16"], pod_subnet="10.111.0.0/16", service_subnet="10.222.0.0/16") == []
    assert nr.cidr_problems(None) == [] and nr.cidr_problems("10.0.0.0/8") == ["virtualMachineCIDRs: must be a list of CIDRs"]


def test_removal_is_by_exact_address_and_prefix():
    assert nr.removed_cidrs(["10.66.10.0/24", "10.66.20.0/24"], ["10.66.20.0/24"]) == ["10.66.10.0/24"]
    assert nr.removed_cidrs(["10.66.10.0/24"], ["10.66.10.0/23"]) == ["10.66.10.0/24"], "a rewrite counts as removal"
    assert nr.removed_cidrs(["10.66.10.0/24"], ["10.66.10.0/24", "10.1.0.0/16"]) == []
    assert nr.removed_cidrs(None, ["10.1.0.0/16"]) == []


def test_lease_names():
    assert nr.lease_name("10.66.10.14") == "ip-10-66-10-14"
    assert nr.lease_address("ip-10-66-10-14") == "10.66.10.14"
    assert nr.lease_address("ip-10-66-10") is None and nr.lease_address("vm-1") is None and nr.lease_address("ip-300-1-1-1") is None


def test_range_check_never_first_or_last():
    cidrs = ["10.66.10.0/24", "10.9.9.9/32"]
    assert nr.in_range("10.66.10.1", cidrs) and nr.in_range("10.66.10.254", cidrs)
    assert not nr.in_range("10.66.10.0", cidrs) and not nr.in_range("10.66.10.255", cidrs)
    assert not nr.in_range("10.9.9.9", cidrs), "a /32: first == last"
    assert not nr.in_range("10.66.11.1", cidrs) and not nr.in_range("nope", cidrs)
    assert nr.cidr_of("10.66.10.7", cidrs) == "10.66.10.0/24" and nr.cidr_of("1.1.1.1", cidrs) is None


def test_auto_walk_first_free_in_cidr_order():
    taken = {"10.66.10.1", "10.66.10.2"}
    assert nr.first_free(["10.66.10.0/30", "10.66.20.0/24"], taken.__contains__) == "10.66.20.1", "a /30 offers .1 and .2 only"
    assert nr.first_free(["10.66.10.0/24"], taken.__contains__) == "10.66.10.3"
    assert nr.first_free(["10.66.10.0/30"], taken.__contains__) is None
    assert nr.first_free(["10.9.9.9/32"], lambda a: False) == "10.9.9.9", "a /32 offers its address (the range check refuses it)"


def test_walk_hints_skip_known_taken_and_come_back_for_freed_addresses():
    taken = set()
    calls = []

    def is_taken(a):
        calls.append(a)
        return a in taken

    hints: dict = {}
    for _unused in range(5):
        taken.add(nr.first_free(["10.0.0.0/24"], is_taken, hints))
    assert sorted(taken) == [f"10.0.0.{i}" for i in range(1, 6)]
    assert len(calls) == 1 + 2 * 4, "each walk starts at the address the last one handed out, not at the CIDR start"
    taken.discard("10.0.0.2")
    nr.forget_hint(hints, "10.0.0.2")
    assert nr.first_free(["10.0.0.0/24"], is_taken, hints) == "10.0.0.2"


def test_containing_networks_index_values():
    nets = nr.containing_networks("10.66.10.14")
    assert len(nets) == 33 and "10.66.10.0/24" in nets and "10.66.0.0/16" in nets and "10.66.10.14/32" in nets and "0.0.0.0/0" in nets
    assert nr.containing_networks("bad") == []


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_containing_networks_are_the_ipaddress_networks(ip):
    """The CIDRs written as text are exactly what ipaddress's networks print, for every prefix length."""
    address = str(ipaddress.IPv4Address(ip))
    assert nr.containing_networks(address) == [str(ipaddress.IPv4Network(address).supernet(new_prefix=p)) for p in range(33)]


@settings(max_examples=1000, deadline=None)
@given(st.one_of(
    st.integers(0, 2**32 - 1).map(lambda ip: str(ipaddress.IPv4Address(ip))),
    st.lists(st.text("0123456789", max_size=4), min_size=3, max_size=5).map(".".join),
    st.text(max_size=16),
))
def test_dotted_quad_reads_what_ipaddress_reads(text):
    """The fast path of the lease index gives ipaddress's answer or none: every text it reads, ipaddress reads as the
    same address and prints back unchanged (so a lease's name gives its address without ipaddress)."""
    ip = nr.dotted_quad(text)
    try:
        expected = ipaddress.IPv4Address(text)
    except ValueError:
        expected = None
    if ip is not None:
        assert expected is not None and int(expected) == ip and str(expected) == text
    elif expected is not None:
        assert str(expected) != text  # only a non-canonical text falls through to ipaddress
    if "-" not in text:  # a lease's name is its address with dashes: the name gives back what parse_address gives
        try:
            parsed = str(ipaddress.IPv4Address(text.strip()))
        except ValueError:
            parsed = None
        assert nr.lease_address("ip-" + text.replace(".", "-")) == parsed


def test_dotted_quad_refuses_what_ipaddress_refuses():
    for text in ("010.1.1.1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "１.2.3.4", "1.2.3.+4", " 1.2.3.4", "1.2.3.4 "):
        assert nr.dotted_quad(text) is None
    assert nr.dotted_quad("0.0.0.0") == 0 and nr.dotted_quad("255.255.255.255") == 2**32 - 1
    assert nr.containing_networks("010.1.1.1") == [] and nr.lease_address("ip-010-1-1-1") is None


def test_parsed_texts_are_remembered_but_errors_and_long_texts_are_not():
    """IPAM parses the same few addresses again and again, so their texts are parsed once; a refused text is refused
    again every time (nothing remembered), and a long text (a client's padded value) is parsed but never held."""
    nr._parse_address_text.cache_clear()
    assert nr.parse_address("10.66.10.14") is nr.parse_address("10.66.10.14")
    assert nr.lease_name("10.66.10.14") == "ip-10-66-10-14"
    for _attempt in range(2):
        with pytest.raises(ValueError, match="is not an IP address"):
            nr.parse_address("10.66.10.300")
    padded = "10.66.10.15" + " " * 1000
    assert str(nr.parse_address(padded)) == "10.66.10.15"
    assert nr._parse_address_text.cache_info().currsize == 1, "only the short valid text is held"
    nr._parse_cidr_text.cache_clear()
    assert nr.parse_cidr("10.66.10.0/24") is nr.parse_cidr("10.66.10.0/24")
    with pytest.raises(ValueError, match="host bits set"):
        nr.parse_cidr("10.66.10.1/24")
    assert str(nr.parse_cidr("10.66.11.0/24" + " " * 1000)) == "10.66.11.0/24"
    assert nr._parse_cidr_text.cache_info().currsize == 1
