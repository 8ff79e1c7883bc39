"""naming.camel spells the API's acronyms as the CRDs do (virtualMachineIPAddressName, virtualMachineCIDRs,
gatewayAPIGateway, ...): every field of the served CRDs and of the module's settings schema survives snake → camel,
and every option of the modules that write a spec names a field of that spec."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import data_source_spec
from ansible_collections.deckhouse.virtualization.plugins.module_utils.naming import camel, snake, to_api
from ansible_collections.deckhouse.virtualization.plugins.module_utils.vm_service import PASSTHROUGH, SPEC_OPTIONS, desired_spec
from ansible_collections.deckhouse.virtualization.plugins.modules import module_config, vm
from dvp_simulator.schemas.dsl import module_settings_schema, our_crds


def crd_schema(plural: str) -> dict[str, Any]:
    crd = next(c for c in our_crds() if c["metadata"]["name"].startswith(plural + "."))
    return next(ver for ver in crd["spec"]["versions"] if ver.get("storage"))["schema"]["openAPIV3Schema"]


def field_names(schema: Any, out: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for name, child in (schema.get("properties") or {}).items():
            out.add(name)
            field_names(child, out)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                field_names(schema[key], out)
        for key in ("oneOf", "anyOf", "allOf"):
            for child in schema.get(key) or []:
                field_names(child, out)
    return out


def all_fields() -> set[str]:
    names: set[str] = set()
    for crd in our_crds():
        for ver in crd["spec"]["versions"]:
            field_names(ver["schema"]["openAPIV3Schema"], names)
    return field_names(module_settings_schema("virtualization"), names)


@pytest.mark.parametrize(
    "option, field",
    [
        ("virtual_machine_ip_address_name", "virtualMachineIPAddressName"),
        ("virtual_machine_mac_address_name", "virtualMachineMACAddressName"),
        ("virtual_machine_ip_address_ref", "virtualMachineIPAddressRef"),
        ("static_ip", "staticIP"),
        ("virtual_machine_cidrs", "virtualMachineCIDRs"),
        ("gateway_api_gateway", "gatewayAPIGateway"),
        ("image_upload_urls", "imageUploadURLs"),
        ("registry_url", "registryURL"),
        ("source_uid", "sourceUID"),
        ("source_pvc", "sourcePVC"),
        ("guest_os_info", "guestOSInfo"),
        # the first word stays lower case; words that merely contain an acronym's letters are words
        ("ip_address", "ipAddress"),
        ("os_type", "osType"),
        ("url", "url"),
        ("data_source", "dataSource"),
        ("ca_bundle", "caBundle"),
        ("in_cluster", "inCluster"),
        ("description", "description"),
        ("storage_class_name", "storageClassName"),
    ],
)
def test_camel_spells_acronyms_as_the_api(option, field):
    assert camel(option) == field
    assert snake(field) == option


def test_every_crd_and_settings_field_survives_snake_then_camel():
    fields = all_fields()
    assert {"virtualMachineIPAddressName", "virtualMachineCIDRs", "gatewayAPIGateway", "staticIP"} <= fields
    wrong = sorted(f"{name} -> {snake(name)} -> {camel(snake(name))}" for name in fields if camel(snake(name)) != name)
    assert wrong == []


def child(schema: dict[str, Any], name: str) -> dict[str, Any] | None:
    while schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema = schema["items"]
    return (schema.get("properties") or {}).get(name)


def unknown_options(options: dict[str, Any], schema: dict[str, Any], where: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Options (recursively) whose camelCase is no field of `schema` at the same place."""
    out = []
    for option, spec in options.items():
        if option in skip:
            continue
        field = child(schema, camel(option))
        if field is None:
            out.append(f"{where}{option} -> {camel(option)}")
        elif spec.get("options") and option not in PASSTHROUGH:
            out += unknown_options(spec["options"], field, f"{where}{option}.", skip)
    return out


def test_vm_spec_options_name_fields_of_the_vm_spec():
    spec = crd_schema("virtualmachines")["properties"]["spec"]
    options = {name: vm.one_spec()["argument_spec"][name] for name in SPEC_OPTIONS}
    assert unknown_options(options, spec, "") == []


def test_vm_ip_address_name_is_written_as_the_crd_spells_it():
    params = {option: None for option in SPEC_OPTIONS}
    params["virtual_machine_ip_address_name"] = "web-ip"
    assert desired_spec(params) == {"virtualMachineIPAddressName": "web-ip"}
    assert to_api({"virtual_machine_ip_address_name": "web-ip"}) == {"virtualMachineIPAddressName": "web-ip"}


def test_module_config_settings_name_fields_of_the_settings_schema():
    settings = module_config.spec()["argument_spec"]["settings"]["options"]
    # allowed_storage_class_names is the admin guide's spelling of allowed_storage_class_selector.match_names
    assert unknown_options(settings, module_settings_schema("virtualization"), "settings.", skip=("allowed_storage_class_names",)) == []


@pytest.mark.parametrize("plural", ["clustervirtualimages", "virtualimages", "virtualdisks"])
def test_data_source_options_name_fields_of_the_data_source(plural):
    source = crd_schema(plural)["properties"]["spec"]["properties"]["dataSource"]
    options = data_source_spec(["ClusterVirtualImage"], cluster_scoped=plural == "clustervirtualimages")["options"]
    assert unknown_options(options, source, "data_source.") == []
