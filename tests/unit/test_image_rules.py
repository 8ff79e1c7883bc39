"""The ClusterVirtualImage rules shared by the module and the simulator's webhook: one implementation, and both
callers agree with it."""

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils import image_rules
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import image_guard, validate_image_params
from dvp_simulator.api.admission import CREATE, UPDATE, Admission, AdmissionRequest
from dvp_simulator.api.webhook_configs import Denial
from dvp_simulator.images import admission as cvi_admission
from dvp_simulator.resources import build_registry
from dvp_simulator.webhooks import registrations


def cvi(name="img", phase=None, ready=None, generation=1):
    status = {}
    if phase:
        status["phase"] = phase
    if ready:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"metadata": {"name": name, "generation": generation}, "spec": {"dataSource": {"type": "Upload"}}, "status": status}


@pytest.mark.parametrize("name,refused", [("ubuntu-22-04", False), ("a.b", True), ("trailing.", True), ("x", False)])
def test_name_rule(name, refused):
    problem = image_rules.name_problem(name)
    assert (problem is not None) is refused
    if refused:
        assert repr(name) in problem and "must not contain '.'" in problem


@pytest.mark.parametrize(
    "old,ready,changed,refused",
    [
        (cvi(phase="Ready"), True, True, True),
        (cvi(phase="Provisioning", ready="True"), True, True, True),  # the condition alone freezes it
        (cvi(phase="Ready"), True, False, False),  # metadata-only edits stay allowed
        (cvi(phase="Failed", ready="False"), False, True, False),
        (cvi(phase="WaitForUserUpload"), False, True, False),
        (None, False, True, False),
    ],
)
def test_spec_change_rule(old, ready, changed, refused):
    assert image_rules.is_ready(old) is ready
    assert (image_rules.spec_change_problem(old, changed) is not None) is refused


def webhook_verdict(operation, obj, old):
    admission = Admission()
    cvi_admission.register(admission)
    rt = build_registry().by_kind("virtualization.deckhouse.io", "ClusterVirtualImage")
    request = AdmissionRequest(operation, rt, obj, old, None, False, None, "v1alpha2")
    served = admission.webhooks.endpoints[(registrations.NAMESPACE, registrations.SERVICE, registrations.endpoint("cvi"))]
    try:
        served.hook(request)  # the webhook server's handler, as the module's configuration reaches it
    except Denial as exc:
        return exc.code, request.warnings
    return None, request.warnings


def test_module_and_webhook_use_the_same_rules():
    # the name rule: the module refuses what the webhook refuses on CREATE, with the same words
    assert any(image_rules.name_problem("a.b") in p for p in validate_image_params({"name": "a.b", "state": "absent"}))
    assert webhook_verdict(CREATE, cvi("a.b"), None)[0] == 403
    code, warnings = webhook_verdict(UPDATE, cvi("a.b"), cvi("a.b"))
    assert code is None and warnings == [image_rules.name_problem("a.b")], "a legacy dotted name only warns on UPDATE"
    # immutability: the module asks for re-creation exactly where the webhook answers 422
    guard = image_guard("ClusterVirtualImage")
    for old in (cvi(phase="Ready"), cvi(phase="Pending", ready="True"), cvi(phase="Failed")):
        refused = webhook_verdict(UPDATE, cvi(generation=2), old)[0] == 422
        assert (guard(old, {}, ["spec.dataSource.type"]) == "recreate") is refused
        assert refused is image_rules.is_ready(old)
