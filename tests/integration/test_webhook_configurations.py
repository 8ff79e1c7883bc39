"""Webhook configurations (admissionregistration.k8s.io/v1), through the real kubectl: the virtualization module's own
registrations (BEHAVIOUR.md §0) listed and described; denials naming the webhook as its configuration does; an admin's
edit of a rule, a selector or the configuration itself changing admission as on a cluster; a webhook the simulator does
not serve failing its calls under failurePolicy Fail and skipped under Ignore; match conditions in CEL; and
kube-apiserver's rules for a configuration (protobuf bodies: kubectl create)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import TOPOLOGIES
from tests.simulator_process import Simulator

VWC, MWC = "validatingwebhookconfigurations", "mutatingwebhookconfigurations"
MODULE_VALIDATING, MODULE_MUTATING = "virtualization-controller-admission-webhook", "virtualization-controller-defaulter-webhook"
BEHAVIOUR = Path(__file__).resolve().parents[3] / "shared" / "dvp-api" / "BEHAVIOUR.md"
# BEHAVIOUR.md's row, and the registrations it states as (resource, version) -> operations
REGISTRATIONS_ROW = (
    "Validating: VM, VD, VI, CVI, VMBDA (CREATE+UPDATE); VMIP (CREATE+UPDATE); VMIPLease (CREATE); VMOP (CREATE only); "
    "VMClass v1alpha2 and v1alpha3 (CREATE+UPDATE); ModuleConfig (UPDATE only). Mutating: VM (CREATE+UPDATE). No DELETE validation anywhere."
)
STATED_VALIDATING = {
    ("virtualmachines", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualdisks", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualimages", "v1alpha2"): ["CREATE", "UPDATE"],
    ("clustervirtualimages", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualmachineblockdeviceattachments", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualmachineipaddresses", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualmachineipaddressleases", "v1alpha2"): ["CREATE"],
    ("virtualmachineoperations", "v1alpha2"): ["CREATE"],
    ("virtualmachineclasses", "v1alpha2"): ["CREATE", "UPDATE"],
    ("virtualmachineclasses", "v1alpha3"): ["CREATE", "UPDATE"],
    ("moduleconfigs", "v1alpha1"): ["UPDATE"],
}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """A simulator of its own: these tests edit the module's registrations, which every other test relies on."""
    s = Simulator.start(tmp_path_factory.mktemp("webhooks"), "--topology", str(TOPOLOGIES / "admin-guide.yaml"), time_scale=20.0)
    yield s
    assert s.stop() == 0


def kget(sim, *args: str) -> dict:
    return json.loads(sim.kubectl("get", *args, "-o", "json").stdout)


def apply(sim, *docs: dict, check: bool = True, verb: str = "create"):
    return sim.kubectl(verb, "-f", "-", check=check, input="---\n".join(yaml.safe_dump(d) for d in docs))


def lease(name: str, labels: dict | None = None) -> dict:
    meta = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "virtualization.deckhouse.io/v1alpha2", "kind": "VirtualMachineIPAddressLease", "metadata": meta, "spec": {}}


def hook_index(config: dict, name: str) -> int:
    return next(i for i, h in enumerate(config["webhooks"]) if h["name"] == name)


def configuration(name: str, hook: dict, kind: str = "ValidatingWebhookConfiguration") -> dict:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name}, "webhooks": [hook]}


def audit_hook(**extra) -> dict:
    """A webhook on ConfigMaps served by a Service no one runs."""
    return {
        "name": "audit.example.com",
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
        "clientConfig": {"service": {"namespace": "default", "name": "audit", "path": "/check"}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **extra,
    }


def test_the_module_registers_its_webhooks_as_behaviour_md_states(sim):
    row = next(line for line in BEHAVIOUR.read_text().splitlines() if line.startswith("| Webhook registrations |"))
    assert REGISTRATIONS_ROW in row, "BEHAVIOUR.md's registrations changed: update STATED_VALIDATING with them"
    table = sim.kubectl("get", VWC).stdout.splitlines()
    assert table[0].split() == ["NAME", "WEBHOOKS", "AGE"]
    assert table[1].split()[:2] == [MODULE_VALIDATING, "15"]
    assert sim.kubectl("get", MWC).stdout.splitlines()[1].split()[:2] == [MODULE_MUTATING, "1"]
    served = {}
    for hook in kget(sim, VWC, MODULE_VALIDATING)["webhooks"]:
        [rule] = hook["rules"]
        served[(rule["resources"][0], rule["apiVersions"][0])] = rule["operations"]
        assert hook["clientConfig"]["service"]["namespace"] == "d8-virtualization" and hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None" and "DELETE" not in rule["operations"]
    assert {key: ops for key, ops in served.items() if key in STATED_VALIDATING} == STATED_VALIDATING
    [mutating] = kget(sim, MWC, MODULE_MUTATING)["webhooks"]
    assert mutating["rules"][0]["operations"] == ["CREATE", "UPDATE"] and mutating["rules"][0]["resources"] == ["virtualmachines"]
    assert mutating["reinvocationPolicy"] == "Never" and mutating["timeoutSeconds"] == 10
    described = sim.kubectl("describe", VWC, MODULE_VALIDATING).stdout
    assert "vmipl.virtualization-controller.validate.d8-virtualization" in described


def test_denials_name_the_webhook_as_its_configuration_does(sim):
    out = apply(sim, lease("not-an-address"), check=False)
    assert 'admission webhook "vmipl.virtualization-controller.validate.d8-virtualization" denied the request: metadata.name' in out.stderr
    bad_class = {"spec": {"cpu": {"type": "Host"}, "sizingPolicies": [{"cores": {"min": 1, "max": 4}}, {"cores": {"min": 2, "max": 8}}]}}
    for version in ("v1alpha2", "v1alpha3"):
        body = {"apiVersion": f"virtualization.deckhouse.io/{version}", "kind": "VirtualMachineClass", "metadata": {"name": f"overlap-{version}"}, **bad_class}
        out = apply(sim, body, check=False)
        assert f'admission webhook "vmclass-{version}.virtualization-controller.validate.d8-virtualization" denied' in out.stderr, out.stderr


def reinstall(sim, config: dict) -> None:
    """The module's configuration made again as it was, as Deckhouse's next run of the module's release would."""
    sim.kubectl("delete", VWC, MODULE_VALIDATING, "--ignore-not-found")
    meta = config["metadata"]
    body = {**config, "metadata": {"name": meta["name"], "labels": meta.get("labels", {})}}
    apply(sim, body)


def test_an_admins_edit_of_the_registrations_changes_admission(sim):
    config = kget(sim, VWC, MODULE_VALIDATING)
    try:
        edit_and_delete(sim, config)
    finally:
        reinstall(sim, config)
    assert "denied" in apply(sim, lease("again-checked"), check=False).stderr


def edit_and_delete(sim, config: dict) -> None:
    i = hook_index(config, "vmipl.virtualization-controller.validate.d8-virtualization")
    # an object selector: only labelled leases are checked
    patch = [{"op": "add", "path": f"/webhooks/{i}/objectSelector", "value": {"matchLabels": {"checked": "yes"}}}]
    sim.kubectl("patch", VWC, MODULE_VALIDATING, "--type=json", "-p", json.dumps(patch))
    assert "denied" in apply(sim, lease("labelled", {"checked": "yes"}), check=False).stderr
    apply(sim, lease("unlabelled"))
    # the webhook taken out: nothing checks a lease's name
    sim.kubectl("patch", VWC, MODULE_VALIDATING, "--type=json", "-p", json.dumps([{"op": "remove", "path": f"/webhooks/{i}"}]))
    apply(sim, lease("anything-goes", {"checked": "yes"}))
    assert len(kget(sim, VWC, MODULE_VALIDATING)["webhooks"]) == 14
    # the whole configuration deleted: no validation at all, until the module installs it again (a restart here)
    sim.kubectl("delete", VWC, MODULE_VALIDATING)
    overlap = {
        "apiVersion": "virtualization.deckhouse.io/v1alpha3",
        "kind": "VirtualMachineClass",
        "metadata": {"name": "unchecked"},
        "spec": {"cpu": {"type": "Host"}, "sizingPolicies": [{"cores": {"min": 1, "max": 4}}, {"cores": {"min": 2, "max": 8}}]},
    }
    apply(sim, overlap)
    sim.kubectl("delete", "vmclass", "unchecked", "--wait=false")


def test_a_webhook_the_simulator_does_not_serve_fails_its_calls(sim):
    apply(sim, configuration("audit", audit_hook()))
    try:
        out = sim.kubectl("create", "configmap", "c1", "-n", "default", check=False)
        assert out.returncode != 0
        assert (
            'Internal error occurred: failed calling webhook "audit.example.com": failed to call webhook: '
            'Post "https://audit.default.svc:443/check?timeout=10s": service "audit" not found'
        ) in out.stderr, out.stderr
        assert sim.kubectl("get", "configmap", "c1", "-n", "default", check=False).returncode != 0, "refused: nothing written"
        # failurePolicy Ignore: the call still fails, the write goes on
        sim.kubectl("patch", VWC, "audit", "--type=json", "-p", json.dumps([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]))
        sim.kubectl("create", "configmap", "c2", "-n", "default")
        # back to Fail, but for namespaces labelled audited=true only
        selector = {"matchLabels": {"audited": "true"}}
        ops = [
            {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Fail"},
            {"op": "add", "path": "/webhooks/0/namespaceSelector", "value": selector},
        ]
        sim.kubectl("patch", VWC, "audit", "--type=json", "-p", json.dumps(ops))
        sim.kubectl("create", "configmap", "c3", "-n", "default")
        sim.kubectl("label", "namespace", "default", "audited=true")
        assert "failed calling webhook" in sim.kubectl("create", "configmap", "c4", "-n", "default", check=False).stderr
        # a server-side dry run is refused alike, and writes nothing either
        assert "failed calling webhook" in sim.kubectl("create", "configmap", "c5", "-n", "default", "--dry-run=server", check=False).stderr
    finally:
        sim.kubectl("label", "namespace", "default", "audited-", check=False)
        sim.kubectl("delete", VWC, "audit", check=False)
    sim.kubectl("create", "configmap", "c4", "-n", "default")


def test_no_webhook_sees_the_configurations_own_writes(sim):
    """IsExemptAdmissionConfigurationResource: a configuration that refuses every write can still be mended or deleted."""
    everything = audit_hook(name="everything.example.com", rules=[{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}])
    apply(sim, configuration("everything", everything))
    try:
        assert "failed calling webhook" in sim.kubectl("create", "configmap", "blocked", "-n", "default", check=False).stderr
        sim.kubectl("label", VWC, "everything", "mended=yes")
    finally:
        sim.kubectl("delete", VWC, "everything")
    sim.kubectl("create", "configmap", "unblocked", "-n", "default")


def test_match_conditions_pick_the_requests_in_cel(sim):
    conditions = [{"name": "named-x", "expression": 'object.metadata.name == "x" && request.operation == "CREATE"'}]
    apply(sim, configuration("only-x", audit_hook(matchConditions=conditions)))
    try:
        sim.kubectl("create", "configmap", "y", "-n", "default")
        assert "failed calling webhook" in sim.kubectl("create", "configmap", "x", "-n", "default", check=False).stderr
        # a condition that cannot be evaluated (no such label) with none false: the failure policy decides
        broken = [{"op": "replace", "path": "/webhooks/0/matchConditions/0/expression", "value": 'object.metadata.labels["missing"] == "v"'}]
        sim.kubectl("patch", VWC, "only-x", "--type=json", "-p", json.dumps(broken))
        out = sim.kubectl("create", "configmap", "z", "-n", "default", check=False)
        # ShouldCallHook: an evaluation error fails closed, as a Forbidden of the object
        assert 'configmaps "z" is forbidden: expression \'object.metadata.labels["missing"] == "v"\' resulted in error: ' in out.stderr, out.stderr
        # label keys as they are (not escaped), the requester as authenticated
        expression = 'has(object.metadata.labels) && object.metadata.labels["app.kubernetes.io/name"] == "db"'
        expression += ' && request.userInfo.username == "dvp-sim-admin"'
        named = [{"op": "replace", "path": "/webhooks/0/matchConditions/0/expression", "value": expression}]
        sim.kubectl("patch", VWC, "only-x", "--type=json", "-p", json.dumps(named))
        sim.kubectl("create", "configmap", "w", "-n", "default")
        labelled = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "v", "namespace": "default", "labels": {"app.kubernetes.io/name": "db"}}}
        assert "failed calling webhook" in apply(sim, labelled, check=False).stderr
    finally:
        sim.kubectl("delete", VWC, "only-x", check=False)
    # the module's own ModuleConfig webhook runs for the virtualization module's config only
    [hook] = [h for h in kget(sim, VWC, MODULE_VALIDATING)["webhooks"] if h["name"].startswith("moduleconfig.")]
    assert hook["matchConditions"] == [{"name": "match-virtualization", "expression": 'request.name == "virtualization"'}]
    assert hook["rules"][0]["operations"] == ["UPDATE"]


def test_kube_apiservers_rules_for_a_configuration(sim):
    bad = audit_hook(name="audit", timeoutSeconds=40, admissionReviewVersions=["v9"], failurePolicy="Sometimes")
    bad["rules"] = [{"operations": ["*", "CREATE"], "apiGroups": [], "apiVersions": ["v1"], "resources": ["*", "pods"], "scope": "Everywhere"}]
    bad["clientConfig"] = {"url": "http://user@example.com/x?q=1", "service": {"namespace": "default", "name": "audit"}}
    bad.pop("sideEffects")
    out = apply(sim, configuration("bad", bad), check=False)
    assert out.returncode != 0
    err = out.stderr
    assert 'The ValidatingWebhookConfiguration "bad" is invalid' in err, err  # kubectl words the 422 so
    for expected in (
        'webhooks[0].name: Invalid value: "audit": should be a domain with at least three segments separated by dots',
        'webhooks[0].rules[0].operations: Invalid value: []string{"*", "CREATE"}: if \'*\' is present, must not specify other operations',
        "webhooks[0].rules[0].apiGroups: Required value",
        "if '*' is present, must not specify other resources without subresources",
        'webhooks[0].rules[0].scope: Unsupported value: "Everywhere"',
        'webhooks[0].failurePolicy: Unsupported value: "Sometimes": supported values: "Fail", "Ignore"',
        "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
        "webhooks[0].timeoutSeconds: Invalid value: 40: the timeout value must be between 1 and 30 seconds",
        'webhooks[0].admissionReviewVersions: Invalid value: []string{"v9"}: must include at least one of v1, v1beta1',
        "webhooks[0].clientConfig: Required value: exactly one of url or service is required",
    ):
        assert expected in err, (expected, err)
    assert sim.kubectl("get", VWC, "bad", check=False).returncode != 0, "nothing stored"
    # the mutating kind's own field, and a URL's rules
    hook = audit_hook(name="mutate.example.com", reinvocationPolicy="Sometimes", clientConfig={"url": "http://example.com/x#frag"})
    err = apply(sim, configuration("bad-m", hook, "MutatingWebhookConfiguration"), check=False).stderr
    assert 'webhooks[0].reinvocationPolicy: Unsupported value: "Sometimes": supported values: "IfNeeded", "Never"' in err, err
    assert "'https' is the only allowed URL scheme" in err and "fragments are not permitted in the URL" in err, err
    # two webhooks of one name, a match condition that does not compile
    twice = configuration("twice", audit_hook(matchConditions=[{"name": "c", "expression": "object.metadata.name =="}]))
    twice["webhooks"].append(audit_hook())
    err = apply(sim, twice, check=False).stderr
    assert 'webhooks[1].name: Duplicate value: "audit.example.com"' in err and "webhooks[0].matchConditions[0].expression: Invalid value" in err, err
    assert "compilation failed" in err
    # cel-go's checker refuses what cannot be a condition: an undeclared name, a result that is not a boolean
    for expression, words in (("foo == 1", "undeclared reference to 'foo'"), ("1 + 1", "must evaluate to bool")):
        err = apply(sim, configuration("unchecked", audit_hook(matchConditions=[{"name": "c", "expression": expression}])), check=False).stderr
        assert words in err, (expression, err)
    # what passes is stored with kube-apiserver's defaults
    nowhere = [{"operations": ["CREATE"], "apiGroups": ["none.example.com"], "apiVersions": ["v1"], "resources": ["x"]}]
    apply(sim, configuration("good", audit_hook(rules=nowhere)))
    [stored] = kget(sim, VWC, "good")["webhooks"]
    assert stored["failurePolicy"] == "Fail" and stored["matchPolicy"] == "Equivalent" and stored["timeoutSeconds"] == 10
    assert stored["rules"][0]["scope"] == "*" and stored["clientConfig"]["service"]["port"] == 443
    assert stored["namespaceSelector"] == {} and stored["objectSelector"] == {}
    sim.kubectl("delete", VWC, "good")
