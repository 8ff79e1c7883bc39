"""RBAC's escalation comparison (api/rbac_escalation.py) against upstream's policy_comparator cases and message format."""

from __future__ import annotations

import pytest

from dvp_simulator.api.authz import UserInfo
from dvp_simulator.api.rbac_escalation import breakdown, compact, compact_string, covers, escalation_message


def rule(verbs, groups=None, resources=None, names=None, urls=None):
    out = {"verbs": verbs}
    for key, value in (("apiGroups", groups), ("resources", resources), ("resourceNames", names), ("nonResourceURLs", urls)):
        if value is not None:
            out[key] = value
    return out


def test_breakdown_is_one_verb_group_resource_and_name_each():
    parts = breakdown(rule(["get", "list"], [""], ["pods", "secrets"], ["a"]))
    assert len(parts) == 4 and {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"], "resourceNames": ["a"]} in parts
    urls = breakdown(rule(["get"], urls=["/healthz", "/api/*"]))
    assert urls == [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, {"nonResourceURLs": ["/api/*"], "verbs": ["get"]}]


@pytest.mark.parametrize(
    "owner, servant, covered",
    [
        ([rule(["*"], ["*"], ["*"])], [rule(["get", "delete"], ["apps"], ["deployments"])], True),
        ([rule(["get"], [""], ["pods"])], [rule(["get", "list"], [""], ["pods"])], False),
        ([rule(["get"], [""], ["*/status"])], [rule(["get"], [""], ["pods/status", "nodes/status"])], True),  # */sub covers any resource's sub
        ([rule(["get"], [""], ["pods/*"])], [rule(["get"], [""], ["pods/log"])], False),  # there is no res/* form
        ([rule(["get"], [""], ["pods"])], [rule(["get"], [""], ["pods"], ["p1"])], True),  # no names: every name
        ([rule(["get"], [""], ["pods"], ["p1"])], [rule(["get"], [""], ["pods"])], False),  # a name does not cover all
        ([rule(["get"], [""], ["pods"], ["p1", "p2"])], [rule(["get"], [""], ["pods"], ["p2"])], True),
        ([rule(["get"], urls=["/api/*"])], [rule(["get"], urls=["/api/v1"])], True),
        ([rule(["get"], urls=["/api"])], [rule(["get"], urls=["/api/v1"])], False),
        ([rule(["get"], [""], ["pods"])], [rule(["*"], [""], ["pods"])], False),  # a servant's * is only an owner's *
        ([], [], True),
    ],
)
def test_covers_as_the_policy_comparator(owner, servant, covered):
    assert (covers(owner, servant) == []) is covered


def test_the_refusal_lists_the_missing_rules_compacted_and_sorted_as_upstream():
    missing = covers([rule(["get"], [""], ["configmaps"])], [rule(["get", "list", "watch"], [""], ["configmaps", "secrets"]), rule(["*"], ["*"], ["*"])])
    merged = compact(missing)
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]} in merged
    shown = compact_string({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})
    assert shown == '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}'
    message = escalation_message(UserInfo("eve", ("devs", "system:authenticated")), missing)
    assert message == (
        'user "eve" (groups=["devs" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["configmaps"], Verbs:["list" "watch"]}\n'
        '{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list" "watch"]}\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'  # sorted as Go sorts strings: [""] before ["*"]
    )
