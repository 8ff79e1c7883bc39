# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dvp
short_description: Deckhouse Virtualization Platform VirtualMachines as inventory hosts
version_added: 0.1.0
description:
  - Reads C(VirtualMachines) (C(virtualization.deckhouse.io/v1alpha2)) from the Kubernetes API of a Deckhouse Virtualization Platform
    cluster and makes each one a host, with C(ansible_host) set to the VM's IP address (C(status.ipAddress)).
  - Groups the hosts by namespace, VM class, node, phase and labels (see O(group_by) and O(group_prefixes)), and sets host variables
    with the VM's fields and the whole object (C(dvp_*), see the notes).
  - VMs are listed in pages (O(page_size), the API's C(limit) and C(continue)), so a cluster with tens of thousands of VMs is read
    with one page in memory at a time.
  - Without O(namespaces) the VMs of all namespaces are read with one cluster-wide list, which needs the right to list
    C(virtualmachines) at the cluster scope (an administrator, or C(d8:manage:virtualization:viewer)). A project user, who may read
    VMs only in their namespaces, sets O(namespaces) to those namespaces.
  - The inventory source is a YAML file whose name ends in C(dvp.yml) or C(dvp.yaml).
  - The connection options (and their E(K8S_AUTH_*) environment variables) are those of the collection's modules.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin; makes the file a source for it.
    required: true
    type: str
    choices: [deckhouse.virtualization.dvp]
  namespaces:
    description:
      - Namespaces to read VMs from, one list request (in pages) each.
      - Empty (the default) reads the VMs of all namespaces with one cluster-wide list.
    type: list
    elements: str
    default: []
  label_selector:
    description: Only VMs with these labels, a Kubernetes label selector such as C(app=web,tier!=db).
    type: str
  field_selector:
    description: Only VMs matching this Kubernetes field selector, such as C(metadata.name=linux-vm).
    type: str
  phases:
    description:
      - Only VMs in these phases (C(status.phase)), for example V([Running]) for the VMs one can connect to.
      - Empty (the default) takes VMs in every phase.
    type: list
    elements: str
    choices: [Pending, Starting, Running, Migrating, Stopping, Stopped, Terminating, Pause, Degraded]
    default: []
  host_format:
    description:
      - The inventory host name of a VM, a pattern naming C({namespace}), C({name}) and C({uid}); C({name}) or C({uid}) is required.
      - Two VMs that would get the same host name (V({name}) with VMs of the same name in two namespaces) fail the inventory.
    type: str
    default: "{namespace}-{name}"
  group_by:
    description:
      - Which groups to make. V(namespace), V(class) (C(spec.virtualMachineClassName)), V(node) (C(status.nodeName), for VMs placed on
        a node) and V(phase) (C(status.phase)) make one group per value, named after the kind's prefix (O(group_prefixes)) and the value.
      - V(label) makes one group per label, named after the label prefix and C(<key>_<value>) (C(<key>) for an empty value).
      - Every character of a group name other than an ASCII letter, digit or C(_) becomes C(_), and a name starting with a digit
        gets a leading C(_); for example the label C(app.kubernetes.io/name=web) makes the group C(label_app_kubernetes_io_name_web).
    type: list
    elements: str
    choices: [namespace, class, node, phase, label]
    default: [namespace, class, node, phase, label]
  group_prefixes:
    description:
      - The prefix of each kind of group, by kind (keys V(namespace), V(class), V(node), V(phase), V(label)).
      - Kinds not given keep their default prefix - C(namespace_), C(class_), C(node_), C(phase_), C(label_).
      - An empty prefix names the group after the value alone; a namespace called C(all) would then put its VMs in group C(all).
    type: dict
    default: {}
  include_object:
    description:
      - Whether each host gets the whole VM object as C(dvp_vm). V(false) keeps a large inventory (and C(--graph --vars)) small;
        the other C(dvp_*) variables are set either way.
    type: bool
    default: true
  page_size:
    description: How many VMs one list request returns at most (the API's C(limit)); the next page follows the list's C(continue) token.
    type: int
    default: 500
notes:
  - >-
    Host variables of each VM - C(ansible_host) (the VM's IP address; absent while the VM has none), C(dvp_namespace), C(dvp_name),
    C(dvp_uid), C(dvp_phase), C(dvp_node), C(dvp_class), C(dvp_ip), C(dvp_run_policy), C(dvp_labels), C(dvp_annotations) and
    C(dvp_vm), the whole object as the API returns it (without C(metadata.managedFields); see O(include_object)). O(compose), O(groups) and O(keyed_groups)
    can use them all.
  - >-
    With O(cache), the VMs are kept in the cache plugin (for example C(ansible.builtin.jsonfile)) for O(cache_timeout) seconds and a
    run within that time makes no API request; C(--flush-cache) or C(meta: refresh_inventory) reads the API again. A change of the
    options that select VMs (connection, O(namespaces), selectors, O(phases)) is not served from the cache.
  - >-
    A request the user may not make (403) fails the inventory with the API server's sentence naming the user, the verb, the
    resource and the namespace (or the cluster scope). Credentials never appear in messages, at any verbosity, nor in the cache.
  - >-
    A failure adds no host at all: every VM is read, and every host name checked, before the first host is added. Ansible only
    warns about an inventory source that fails and goes on without it; E(ANSIBLE_INVENTORY_UNPARSED_FAILED=true) makes it an error.
  - Values that come from the API (labels, annotations, the object) are never templated by Ansible.
seealso:
  - module: deckhouse.virtualization.vm_info
"""

EXAMPLES = r"""
---
# inventory/prod.dvp.yml - every VM of the cluster (an administrator's kubeconfig from K8S_AUTH_KUBECONFIG or ~/.kube/config)
plugin: deckhouse.virtualization.dvp

---
# inventory/project.dvp.yml - a project user's running VMs, named after the VM alone, with a group per app label
plugin: deckhouse.virtualization.dvp
kubeconfig: ~/.kube/project-user.yaml
namespaces: [vms]
phases: [Running]
host_format: "{name}"
group_by: [node, label]
group_prefixes:
  label: ""
keyed_groups:
  - key: dvp_labels.app | default('none')
    prefix: app
compose:
  ansible_user: dvp_annotations['example.com/ssh-user'] | default('cloud')
groups:
  big: dvp_vm.spec.cpu.cores >= 4

---
# inventory/cached.dvp.yml - read the API at most every 10 minutes
plugin: deckhouse.virtualization.dvp
label_selector: env=prod
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-dvp
cache_timeout: 600

# ansible-inventory -i inventory/prod.dvp.yml --graph
"""

from collections import deque  # noqa: E402  (after the documentation, as ansible-test wants)
from typing import Any  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

# ansible-core 2.19 and later never template what an inventory plugin sets unless it says so; before, values from
# the API must be wrapped as unsafe.
WRAP_UNSAFE = not hasattr(BaseInventoryPlugin, "trusted_by_default")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "deckhouse.virtualization.dvp"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("dvp.yml", "dvp.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        config = self._read_config_data(path)
        # The client core is imported here, not at load time: ansible-inventory loads the plugin for every source.
        from ansible_collections.deckhouse.virtualization.plugins.module_utils import inventory as inv
        from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError

        options = {k: self.get_option(k) for k in ("namespaces", "label_selector", "field_selector", "phases", "host_format", "group_by", "page_size")}
        options["group_prefixes"] = self.get_option("group_prefixes")
        problems = inv.unknown_option_problems(config, self._option_names()) + inv.option_problems(options)
        if problems:
            raise AnsibleParserError(f"{path}: " + "; ".join(problems))
        # All or nothing: every VM is read (and every host name checked) before the first host is added, so a
        # failure (a 403 in the second namespace, two VMs with one host name) leaves no partial inventory behind.
        try:
            hosts = self._hosts(self._virtual_machines(path, cache, options), options)
        except DVPError as err:
            raise AnsibleParserError(f"{self.NAME}: {err.message}") from None
        self._populate(hosts, options)

    def _option_names(self) -> set[str]:
        """The options of this plugin and their aliases, as its documentation defines them."""
        from ansible import constants as C

        definitions = C.config.get_configuration_definitions(self.plugin_type, self._load_name) or {}
        return set(definitions) | {alias for d in definitions.values() for alias in d.get("aliases") or []}

    # -- where the VMs come from ---------------------------------------------------------------------------------
    def _virtual_machines(self, path: str, cache: bool, options: dict[str, Any]) -> list[dict[str, Any]]:
        """The VMs, from the cache when it is on, fresh and made by these options; else from the API, one page of
        the list in memory at a time (then also written to the cache when it is on)."""
        if not self.get_option("cache"):
            return list(self._from_api(options))
        key = self.get_cache_key(path)
        selection = self._selection_digest(options)
        if cache:
            try:
                cached = self._cache[key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get("selection") == selection and isinstance(cached.get("vms"), list):
                self.display.vv(f"{self.NAME}: {len(cached['vms'])} VirtualMachines from the inventory cache")
                return cached["vms"]
        vms = list(self._from_api(options))
        self._cache[key] = {"selection": selection, "vms": vms}
        return vms

    def _from_api(self, options: dict[str, Any]) -> Any:
        from ansible_collections.deckhouse.virtualization.plugins.module_utils import inventory as inv
        from ansible_collections.deckhouse.virtualization.plugins.module_utils.client import DVPClient
        from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import transport

        client = DVPClient(transport(self._connection_params()))
        stats: dict[str, int] = {}
        yield from inv.virtual_machines(
            client, options["namespaces"], options["label_selector"], options["field_selector"], options["phases"], options["page_size"], stats
        )
        scope = f"namespaces {', '.join(options['namespaces'])}" if options["namespaces"] else "all namespaces"
        count = stats["pages"]
        self.display.vv(
            f"{self.NAME}: {stats['listed']} VirtualMachines listed in {scope} from {client.api.display}, "
            f"in {count} page{'' if count == 1 else 's'} of at most {options['page_size']}"
        )

    def _connection_params(self) -> dict[str, Any]:
        """The connection options as the modules get them: the options given in the file, then the K8S_AUTH_*
        variables for those not given, validated by the modules' own argument spec."""
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

        from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import CONNECTION_KEYS, connection_arg_spec
        from ansible_collections.deckhouse.virtualization.plugins.module_utils.errors import DVPError

        given = {k: self.get_option(k) for k in CONNECTION_KEYS}
        result = ArgumentSpecValidator(connection_arg_spec()).validate({k: v for k, v in given.items() if v is not None})
        if result.errors.errors:
            raise DVPError(f"connection options: {result.errors.msg}")
        return result.validated_parameters

    def _selection_digest(self, options: dict[str, Any]) -> str:
        """What decides which VMs are listed - where (the connection options without credentials) and which - as a
        digest, kept with the cached VMs so that a changed inventory file is not served from the cache."""
        import hashlib
        import json

        from ansible_collections.deckhouse.virtualization.plugins.module_utils.connection import CONNECTION_KEYS

        where = {k: self.get_option(k) for k in CONNECTION_KEYS if k not in ("api_key", "password", "proxy_headers")}
        which = {k: options[k] for k in ("namespaces", "label_selector", "field_selector", "phases")}
        return hashlib.sha256(json.dumps([where, which], sort_keys=True, default=str).encode()).hexdigest()

    # -- hosts and groups ----------------------------------------------------------------------------------------
    def _hosts(self, vms: list[dict[str, Any]], options: dict[str, Any]) -> deque[tuple[str, dict[str, Any]]]:
        """(host name, VM) for every VM; a host_format that gives two VMs one name fails here."""
        from ansible_collections.deckhouse.virtualization.plugins.module_utils import inventory as inv

        names = inv.HostNames(options["host_format"])
        return deque((names.claim(vm), vm) for vm in vms)

    def _populate(self, hosts: deque[tuple[str, dict[str, Any]]], options: dict[str, Any]) -> None:
        """Each host with its variables and groups, then compose, groups and keyed_groups. Hosts are taken off the
        queue as they are added, so a VM is held once: by the queue until the inventory has its variables."""
        from ansible_collections.deckhouse.virtualization.plugins.module_utils import inventory as inv

        prefixes = inv.prefixes_with_defaults(options["group_prefixes"])
        compose, groups, keyed = self.get_option("compose"), self.get_option("groups"), self.get_option("keyed_groups")
        strict, include_object = self.get_option("strict"), self.get_option("include_object")
        wrap = _unsafe() if WRAP_UNSAFE else None
        while hosts:
            host, vm = hosts.popleft()
            self.inventory.add_host(host)
            for var, value in inv.host_vars(vm, include_object).items():
                self.inventory.set_variable(host, var, wrap(value) if wrap else value)
            for group in inv.group_names(vm, options["group_by"], prefixes):
                self.inventory.add_group(group)
                self.inventory.add_child(group, host)
            if compose or groups or keyed:
                hostvars = self.inventory.get_host(host).get_vars()
                self._set_composite_vars(compose, hostvars, host, strict=strict)
                self._add_host_to_composed_groups(groups, hostvars, host, strict=strict)
                self._add_host_to_keyed_groups(keyed, hostvars, host, strict=strict)


def _unsafe() -> Any:
    from ansible.utils.unsafe_proxy import wrap_var

    return wrap_var
