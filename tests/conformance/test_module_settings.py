"""The virtualization module's settings schema and the ModuleConfig kind against the real platform.

The upstream settings schema is read from ../shared/dvp-api (never copied).
"""

import yaml

from dvp_simulator.schemas.dsl import module_settings_schema, our_crds

from .schema_diff import SHARED, schema_diff

UPSTREAM_SETTINGS = SHARED / "module-config-values.yaml"


def test_virtualization_settings_match_upstream():
    upstream = yaml.safe_load(UPSTREAM_SETTINGS.read_text())
    problems = schema_diff(module_settings_schema("virtualization"), upstream)
    for p in problems:
        print(p)
    assert problems == [], "\n".join(problems)


def test_moduleconfig_crd_names_and_scope():
    crds = {c["metadata"]["name"]: c for c in our_crds()}
    assert "moduleconfigs.deckhouse.io" in crds
    spec = crds["moduleconfigs.deckhouse.io"]["spec"]
    assert spec["group"] == "deckhouse.io"
    assert spec["scope"] == "Cluster"
    assert spec["names"]["kind"] == "ModuleConfig"
    assert spec["names"]["plural"] == "moduleconfigs"
    assert spec["names"]["singular"] == "moduleconfig"
    assert spec["names"]["shortNames"] == ["mc"]
    assert [(v["name"], v["served"], v["storage"]) for v in spec["versions"]] == [("v1alpha1", True, True)]
    version = spec["versions"][0]
    assert [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]] == [
        ("Enabled", "boolean", ".spec.enabled"),
        ("Version", "string", ".status.version"),
        ("Age", "date", ".metadata.creationTimestamp"),
        ("Message", "string", ".status.message"),
    ]
    settings = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["settings"]
    assert settings == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "description": settings["description"],
    }
