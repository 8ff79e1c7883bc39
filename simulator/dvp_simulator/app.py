"""Assembly of the simulator: registry, store, clock, admission, API server and controllers."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from . import conversions, hooks
from .api import (
    access,
    admin,
    apiservices,
    cluster_ips,
    core_rules,
    core_updates,
    ingress,
    limitranger,
    metrics,
    networkpolicy,
    pod_exec,
    pod_portforward,
    pod_subresources,
    priority_classes,
    quota,
    rbac_validation,
    webhook_configs,
    workloads,
)
from .api.admission import Admission
from .api.server import APIServer
from .api.service import ObjectService, WriteOptions
from .clock import Clock
from .controllers import (
    cronjob,
    cvi,
    daemonset,
    deployment,
    descheduler,
    disruption,
    endpoints,
    firmware,
    garbage_collector,
    job,
    kubelet,
    namespace,
    pod_scheduler,
    podgc,
    rbac_aggregation,
    replicaset,
    resourcequota,
    statefulset,
    vmclass,
    vmip,
    vmipl,
    volume_binding,
    volume_migration,
    volume_reclaim,
    workload_updater,
)
from .controllers import evacuation as evacuation_controller
from .controllers import fencing as fencing_controller
from .controllers import migration as migration_controller
from .controllers import moduleconfig as moduleconfig_controller
from .controllers import nodegroup as nodegroup_controller
from .controllers import protection as protection_controllers
from .controllers import serviceaccounts as serviceaccount_controllers
from .controllers import storage as storage_controllers
from .controllers import vd as vd_controller
from .controllers import vi as vi_controller
from .controllers import vm as vm_controller
from .controllers import vmop as vmop_controller
from .controllers.runtime import Manager
from .images import admission as image_admission
from .images import upload
from .images.dvcr import DVCR
from .images.jobs import Importer
from .nodes import cluster_configuration
from .nodes.fleet import Fleet
from .nodes.topology import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, Topology
from .pod_logs import PodLogs
from .resources import Registry, build_registry
from .store.store import ADDED, MODIFIED, Store
from .webhooks import disks as disk_webhooks
from .webhooks import eviction as eviction_webhook
from .webhooks import moduleconfig as moduleconfig_webhook
from .webhooks import nodegroup as nodegroup_webhook
from .webhooks import registrations as webhook_registrations
from .webhooks import vm as vm_webhook
from .webhooks import vmclass as vmclass_webhook
from .webhooks import vmip as vmip_webhook
from .webhooks import vmop as vmop_webhook

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "d8-virtualization")


@dataclass
class Simulator:
    registry: Registry
    store: Store
    clock: Clock
    service: ObjectService
    api: APIServer
    manager: Manager
    importer: Importer
    fleet: Fleet

    async def start(self) -> None:
        self.fleet.start()
        await self.manager.start()

    async def stop(self) -> None:
        await self.fleet.stop()
        await self.manager.stop()
        await self.importer.stop()
        self.clock.save()
        self.store.close()


def build(
    state_dir: Path,
    token: str,
    address: str,
    time_scale: float = 1.0,
    crd_dir: Path | None = None,
    watch_window: int = 10000,
    topology: Topology | None = None,
) -> Simulator:
    registry = build_registry(crd_dir, state_dir)
    conversions.register(registry)
    store = Store(state_dir / "store.sqlite", window=watch_window)
    clock = Clock(time_scale, state_dir / "clock")
    admission = Admission()
    namespace.register_defaults(admission)
    cluster_ips.register(admission, store, topology.service_cidr if topology else DEFAULT_SERVICE_CIDR)
    core_rules.register(admission)
    priority_classes.register(admission, store)
    core_updates.register(admission)
    workloads.register(admission)
    ingress.register(admission)
    limitranger.register(admission, store)  # after the pods' defaults, as the LimitRanger plugin after decoding
    networkpolicy.register(admission)
    protection_controllers.register_admission(admission)
    rbac_validation.register(admission)
    image_admission.register(admission)
    edition = topology.edition if topology else v.EDITION_EE
    disk_webhooks.register(admission, edition)
    vmclass_webhook.register(admission, store)
    moduleconfig_webhook.register(admission, store, topology)
    vmip_webhook.register(admission, store)
    vm_webhook.register(admission, store)
    vmop_webhook.register(admission, store, topology.edition if topology else None)
    eviction_webhook.register(admission, store)
    nodegroup_webhook.register(admission)
    webhook_configs.register(admission)
    quota_ledger = quota.Ledger(registry, store, clock)
    quota.register(admission, quota_ledger)  # its admission closes every write's chain (Admission.validate_last)
    service = ObjectService(registry, store, clock, admission)
    api = APIServer(service, token, address)
    logs = PodLogs()
    pod_subresources.register(api, logs)
    metrics.register(api)
    access.install(api, service, state_dir)
    manager = Manager(service, clock, api.turn)
    manager.add(namespace.controller(registry, store))
    for controller in serviceaccount_controllers.controllers(state_dir, topology.service_cidr if topology else DEFAULT_SERVICE_CIDR, lambda: api.address):
        manager.add(controller)
    manager.add(endpoints.controller(store))
    manager.add(garbage_collector.controller(registry))
    manager.add(rbac_aggregation.controller(store))
    manager.add(daemonset.controller(store))
    manager.add(deployment.controller(store))
    manager.add(replicaset.controller(store))
    manager.add(statefulset.controller(store))
    manager.add(job.controller(store))
    manager.add(cronjob.controller(store))
    manager.add(podgc.controller(store))
    manager.add(kubelet.controller(store))  # starts the pods a client binds to a Ready node
    manager.add(pod_scheduler.controller(store))  # ... and binds the ones it creates without a node
    manager.add(disruption.controller(service))
    manager.add(resourcequota.controller(quota_ledger))
    quota_ledger.wake = lambda key: manager.enqueue("resourcequota", key)
    ledger = storage_controllers.Ledger()
    manager.add(ledger.controller())
    manager.add(volume_binding.controller(store, ledger))
    manager.add(storage_controllers.expansion_controller(ledger))
    manager.add(volume_reclaim.controller())
    manager.add(protection_controllers.pvc_controller(store))
    manager.add(protection_controllers.pv_controller(store))
    importer = Importer(
        DVCR(state_dir / "dvcr"), topology.image_source_bandwidth if topology else 0, capacity=lambda: moduleconfig_controller.dvcr_capacity(store)
    )
    importer.wake = lambda ref: manager.wake(ref.resource, (ref.namespace, ref.name))
    upload.register(api, importer)
    manager.add(cvi.controller(importer, store, lambda: api.address))
    manager.add(vi_controller.controller(importer, store, lambda: api.address))
    manager.add(vd_controller.controller(importer, store, lambda: api.address))
    manager.add(vmclass.controller(store))
    manager.add(vmip.controller(store))
    manager.add(vmipl.controller(store))
    manager.add(moduleconfig_controller.controller())
    fleet = Fleet(topology or Topology("10.111.0.0/16", "10.222.0.0/16", []), service, clock, logs)
    pod_exec.register(api, fleet)
    pod_portforward.register(api, fleet)
    migrations = migration_controller.Migrations()
    admin.register(
        api,
        clock,
        fleet,
        guest=lambda ns, name, body: vm_controller.guest_event(service, fleet, ns, name, body, migrations),
        importer=importer,
        node_changed=migrations.node_changed,
        release=(lambda: firmware.current_image(store), lambda image: firmware.upgrade(service, image)),
    )
    migrations.wake = lambda key: manager.enqueue("vm", key)
    manager.add(vm_controller.controller(store, fleet, migrations, edition))
    manager.add(fencing_controller.controller(store, fleet, clock))
    manager.add(nodegroup_controller.controller(store))  # puts each NodeGroup's fencing on its nodes
    manager.add(vmop_controller.controller(store, migrations))
    manager.add(evacuation_controller.controller(store))
    # firmware updates in every edition; EE also live-migrates a VM whose placement changed (§3.2), CE waits for a restart
    manager.add(workload_updater.controller(store, node_placement=edition != v.EDITION_CE))
    if edition != v.EDITION_CE:
        manager.add(volume_migration.controller(store))  # EE moves disks to other storage, and RWO disks with their VM (§2.2)
    manager.add(descheduler.controller(store))
    seed(service)
    priority_classes.seed(service)
    webhook_registrations.seed(service)  # the module's webhook configurations: before any write of its kinds
    nodegroup_controller.seed(service, topology)
    storage_controllers.seed_classes(service, topology.storage_classes if topology else [])
    cluster_configuration.publish(service, topology or Topology(DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, []))
    hooks.install_generic_class(service)
    firmware.ensure_virt_controller(service)  # the module's release: its launcher image is the VMs' firmware
    apiservices.seed(service, api.discovery, set(api.aggregated))  # after every group is registered
    return Simulator(registry, store, clock, service, api, manager, importer, fleet)


def seed(service: ObjectService) -> None:
    """System namespaces and the CRD objects describing what we serve (refreshed on every start)."""
    ns_rt = service.registry.types["/namespaces"]
    for name in SYSTEM_NAMESPACES:
        if service.find(ns_rt, "", name) is None:
            service.create(ns_rt, "", {"metadata": {"name": name}}, WriteOptions(version="v1", manager="dvp-sim"))
    crd_rt = service.registry.types[v.resource_key(v.CUSTOM_RESOURCE_DEFINITION)]
    for rt in service.registry.types.values():
        if rt.crd is None:
            continue
        crd = copy.deepcopy(rt.crd)
        current = service.find(crd_rt, "", crd["metadata"]["name"])
        meta = crd["metadata"]
        meta["uid"] = current["metadata"]["uid"] if current else str(uuid.uuid4())
        meta["creationTimestamp"] = current["metadata"]["creationTimestamp"] if current else service.clock.stamp()
        meta["generation"] = 1
        crd["status"] = {
            "acceptedNames": crd["spec"]["names"],
            "storedVersions": [rt.storage_version],
            "conditions": [
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": meta["creationTimestamp"],
                }
            ],
        }
        if current is None or {k: value for k, value in current.items() if k != "metadata"} != {k: value for k, value in crd.items() if k != "metadata"}:
            service.store.put(crd_rt.key, crd, MODIFIED if current else ADDED)
