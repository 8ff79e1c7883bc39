"""A VM's firmware: the virt-launcher image its instance runs (QEMU, libvirt, the firmware), against the one the
virtualization module runs now (BEHAVIOUR.md §4.7 `FirmwareUpToDate`, §7.1 `firmware-update-*`; the admin guide's
"Upgrading a virtual machine firmware").

The module's current image is the `--launcher-image` argument of its `d8-virtualization/virt-controller`
Deployment, as the platform's workload updater reads it; a module release changes it (the simulator's admin API,
`POST /simulator/v1/module/upgrade`, stands in for Deckhouse rolling the release out: api/admin.py). A virt-launcher
pod is made with the image current then, so a VM started or migrated after an upgrade runs the new one, and a VM
running since before it runs the old one:

- the VM controller gives such a VM `FirmwareUpToDate=False/FirmwareOutOfDate` (only then: the condition is removed
  when up to date, and in the phases Pending, Starting and Stopped, as the platform's firmware handler does);
- the workload updater (controllers/workload_updater.py) live-migrates it once per image: an Evict operation
  `firmware-update-*` annotated `workload-update: "true"`, unless a migration the user asked for is unfinished;
  the instance (its virt-launcher pod here, the platform's KVVMI) keeps the image it was tried for
  (`workload-update-image`), so a VM that cannot migrate is not tried again until the next release — a restart
  brings it up to date.

Everything here is pure but `ensure_virt_controller` and `upgrade`, which write the Deployment.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v

from ..api.service import ObjectService, WriteOptions
from ..store.store import Store

DEPLOYMENTS = v.resource_key(v.DEPLOYMENT)
DEFAULT_LAUNCHER_IMAGE = "dvp-sim/virt-launcher:v1.0.0"  # the first release a fresh cluster runs
LAUNCHER_IMAGE_ARG = "--launcher-image"
MANAGER = "deckhouse"  # who rolls the module's releases out
COMPUTE = "compute"  # the virt-launcher pod's container that runs the VM
MESSAGE = (  # the platform's text
    "The VM firmware version is outdated and not recommended for use with the current version of the virtualization module, "
    "please migrate or reboot the VM to upgrade its firmware version."
)
NOT_JUDGED_PHASES = frozenset({v.VM_PENDING, v.VM_STARTING, v.VM_STOPPED})  # the condition is removed in these
MAX_IMAGE = 255


def launcher_image_of(deployment: dict[str, Any] | None) -> str:
    """The `--launcher-image` of the Deployment's virt-controller container (`--launcher-image=X` or `--launcher-image
    X`, in its command or args); "" when there is none, as the platform reads it."""
    for container in (((deployment or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        if container.get("name") != v.VIRT_CONTROLLER:
            continue
        words = [*(container.get("command") or []), *(container.get("args") or [])]
        for i, word in enumerate(words):
            if word.startswith(LAUNCHER_IMAGE_ARG + "="):
                return word[len(LAUNCHER_IMAGE_ARG) + 1 :]
            if word == LAUNCHER_IMAGE_ARG and i + 1 < len(words):
                return words[i + 1]
    return ""


def is_module_deployment(deployment: dict[str, Any]) -> bool:
    """The module's own virt-controller Deployment: its status is the release's (written here), its pod not run."""
    meta = deployment["metadata"]
    return meta.get("namespace") == v.MODULE_NAMESPACE and meta.get("name") == v.VIRT_CONTROLLER


def rolled_out(deployment: dict[str, Any] | None) -> bool:
    """Whether the Deployment's pods all run its current template (the platform waits for that before migrating VMs
    onto a new image): observed its generation, every replica ready and updated."""
    if deployment is None:
        return False
    status, meta = deployment.get("status") or {}, deployment["metadata"]
    replicas = status.get("replicas", 0)
    return (
        status.get("observedGeneration") == meta.get("generation")
        and status.get("readyReplicas", 0) == replicas
        and status.get("updatedReplicas", 0) == replicas
    )


def current_image(store: Store) -> str:
    """The module's launcher image now (the Deployment's; the default before it exists)."""
    entry = store.get(DEPLOYMENTS, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER)
    return (launcher_image_of(entry.obj) if entry is not None else "") or DEFAULT_LAUNCHER_IMAGE


def pod_image(pod: dict[str, Any] | None) -> str:
    """The image a virt-launcher pod's compute container runs (its status, else its spec); "" for no pod."""
    if pod is None:
        return ""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == COMPUTE and container.get("image"):
            return container["image"]
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == COMPUTE:
            return container.get("image") or ""
    return ""


def out_of_date(phase: str | None, running_image: str, image: str) -> bool:
    """Whether a VM in `phase` whose instance runs `running_image` gets FirmwareUpToDate=False under the module's
    `image`: an instance without a known image is up to date, and the phases before running and Stopped are not judged."""
    return phase not in NOT_JUDGED_PHASES and bool(running_image) and running_image != image


def valid_image(image: Any) -> str | None:
    """What is wrong with `image` as a launcher image reference, or None."""
    if not isinstance(image, str) or not image:
        return "launcherImage must be a non-empty string"
    if len(image) > MAX_IMAGE or any(c.isspace() for c in image) or image.startswith("-"):
        return f"launcherImage must be an image reference (at most {MAX_IMAGE} characters, no whitespace, not starting with '-')"
    return None


def _body(image: str) -> dict[str, Any]:
    labels = {"app": v.VIRT_CONTROLLER}
    container = {"name": v.VIRT_CONTROLLER, "image": "dvp-sim/virt-controller", "args": [f"{LAUNCHER_IMAGE_ARG}={image}"]}
    return {
        "apiVersion": f"{v.APPS_GROUP}/{v.CORE_VERSION}",
        "kind": v.DEPLOYMENT,
        "metadata": {"name": v.VIRT_CONTROLLER, "namespace": v.MODULE_NAMESPACE, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
    }


def _rolled_status(generation: int) -> dict[str, Any]:
    """The Deployment's status once its one replica runs the template of `generation` (the rollout is not modelled:
    nothing here runs the controller's pod)."""
    condition = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."}
    return {
        "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
        "conditions": [condition],
    }  # fmt: skip


def ensure_virt_controller(service: ObjectService) -> None:
    """Make the module's virt-controller Deployment when it is not there (a fresh state): the first release."""
    rt = service.registry.types[DEPLOYMENTS]
    if service.find(rt, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER) is None:
        created = service.create(rt, v.MODULE_NAMESPACE, _body(DEFAULT_LAUNCHER_IMAGE), WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
        body = {**created, "status": _rolled_status(created["metadata"].get("generation", 1))}
        service.update(rt, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER, body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))


def upgrade(service: ObjectService, image: str) -> str:
    """Roll a module release with launcher `image` out: the Deployment's argument, then its status rolled out. The
    message for the admin API's answer."""
    problem = valid_image(image)
    if problem:
        raise ValueError(problem)
    ensure_virt_controller(service)
    rt = service.registry.types[DEPLOYMENTS]
    current = service.find(rt, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER)
    assert current is not None
    before = launcher_image_of(current)
    if before == image:
        return f"the virtualization module already runs the launcher image {image}"
    body = _body(image)
    body["metadata"] = {**current["metadata"], "labels": body["metadata"]["labels"]}
    body["spec"] = {**(current.get("spec") or {}), "template": body["spec"]["template"]}
    updated = service.update(rt, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER, body, WriteOptions(version=v.CORE_VERSION, manager=MANAGER)).obj
    rolled = {**updated, "status": _rolled_status(updated["metadata"].get("generation", 1))}
    service.update(rt, v.MODULE_NAMESPACE, v.VIRT_CONTROLLER, rolled, WriteOptions(version=v.CORE_VERSION, manager=MANAGER, subresource="status"))
    return f"the virtualization module now runs the launcher image {image} (was {before or 'none'}): the VMs running the old one are out of date"
