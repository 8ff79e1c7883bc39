#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: virtual_disk
short_description: Manage VirtualDisks, the block devices of virtual machines
version_added: 0.1.0
description:
  - Creates, grows and deletes a C(VirtualDisk) of the Deckhouse Virtualization Platform.
  - A disk is blank (I(persistent_volume_claim.size) required) or filled from a C(ClusterVirtualImage), a C(VirtualImage),
    an HTTP(S) URL, a container image, or a local file uploaded by the module itself.
  - Its size defaults to the image's unpacked size rounded up to a MiB; a smaller size is refused before anything is written.
  - Disks only grow - a smaller I(persistent_volume_claim.size) than the current one is refused before anything is written.
  - The source of a C(Ready) disk cannot change; with I(recreate=true) the disk is deleted and created again, unless a virtual machine uses it.
  - The objects the source names - the C(ClusterVirtualImage), C(VirtualImage) or C(VirtualDiskSnapshot) of I(data_source.object_ref),
    the Secret of I(data_source.container_image.image_pull_secret) - are read before a new disk (or a new source) is written.
    The platform accepts a disk whose source object does not exist yet and keeps it C(Pending) (C(DatasourceReady=False),
    reason C(ClusterImageNotFound), C(ImageNotFound), C(VirtualDiskSnapshotNotReady) or C(ContainerRegistrySecretNotFound))
    until the object is created. So with I(wait=true) (the default) a missing object is refused before anything is written,
    naming the option and the object, as the M(deckhouse.virtualization.vm) module refuses missing block devices - the wait
    could only time out; with I(wait=false) the disk is created and a warning names the missing object, for playbooks that
    create the source later. A wait that times out names the phase and the conditions last seen (C(DatasourceReady) among them).
    An object the user may not read (a project user and C(ClusterVirtualImages)) is left to the platform, with a warning.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.state
  - deckhouse.virtualization.batch
options:
  name:
    description: Name of the disk. Dots are not allowed. Required unless I(batch) is given.
    type: str
  namespace:
    description: Namespace of the disk. Required with I(name); with I(batch), each element's unless given here.
    type: str
  data_source:
    description:
      - Where the disk's data comes from (C(spec.dataSource)). Leave it out for a blank disk.
    type: dict
    suboptions:
      type:
        description: The kind of source; exactly the matching block below is given (none for C(Upload)).
        type: str
        choices: [HTTP, ContainerImage, ObjectRef, Upload]
        required: true
      http:
        description: Download from an HTTP(S) URL. Formats qcow2, raw, vmdk, vdi, optionally gz or xz compressed.
        type: dict
        suboptions:
          url: {description: C(http://) or C(https://) address of the file., type: str, required: true}
          ca_bundle: {description: Base64-encoded PEM CA chain to verify the server., type: str}
          checksum:
            description: Expected checksums (hexadecimal); every one given must match.
            type: dict
            suboptions: &checksums
              md5: {description: MD5 (32 hex digits)., type: str}
              sha1: {description: SHA-1 (40 hex digits)., type: str}
              sha256: {description: SHA-256 (64 hex digits)., type: str}
              sha512: {description: SHA-512 (128 hex digits)., type: str}
              streebog256: {description: Streebog-256 (64 hex digits)., type: str}
              streebog512: {description: Streebog-512 (128 hex digits)., type: str}
      container_image:
        description: Pull from an OCI registry (TLS); the disk is the single file under C(/disk/) in the image.
        type: dict
        suboptions:
          image: {description: Image reference., type: str, required: true}
          ca_bundle: {description: Base64-encoded PEM CA chain of the registry., type: str}
          image_pull_secret:
            description: Secret (in the disk's namespace) of type C(kubernetes.io/dockerconfigjson).
            type: dict
            suboptions:
              name: {description: Secret name., type: str}
      object_ref:
        description: Fill the disk from an image or a disk snapshot (of the disk's namespace, or a cluster image).
        type: dict
        suboptions:
          kind:
            description: Kind of the source object.
            type: str
            required: true
            choices: [ClusterVirtualImage, VirtualImage, VirtualDiskSnapshot]
          name: {description: Name of the source object., type: str, required: true}
      upload:
        description: Options of the C(Upload) source.
        type: dict
        suboptions:
          checksum:
            description: Expected checksums of the uploaded bytes.
            type: dict
            suboptions: *checksums
  persistent_volume_claim:
    description: The disk's size and storage class (C(spec.persistentVolumeClaim)).
    type: dict
    suboptions:
      size:
        description:
          - Disk size, a quantity such as C(10Gi). Required for a blank disk; may only grow.
          - Growing a C(Ready) disk resizes it (phase C(Resizing), then C(Ready) with the new capacity).
        type: str
      storage_class_name:
        description:
          - StorageClass of the disk's PVC. Without it the ModuleConfig's C(virtualDisks.defaultStorageClassName) is used,
            else the cluster's default class.
          - A class the ModuleConfig does not allow, a missing class or a deprecated one is refused before anything is written.
          - Changing it once the disk is provisioned is a B(storage migration) (Enterprise Edition only) - the platform
            live-migrates the virtual machine that mounts the disk with the disk on a new PVC of this class (a system
            C(VirtualMachineOperation) C(volume-migration-*) of type C(Evict); the disk's phase is C(Migrating) meanwhile),
            then deletes the old PVC. The disk must be mounted by a virtual machine in phase C(Running) or C(Migrating), and
            the new class must have the disk's volume mode (C(Block) to C(Block), C(Filesystem) to C(Filesystem)); otherwise
            the change is refused before anything is written, naming the rule. On a CE cluster the platform refuses it
            (only the platform knows its edition), and the task fails naming this option; nothing is changed.
          - While the disk migrates its class may only be set back to the one it is on (a rollback, which cancels the
            migration).
          - With I(wait=true) the task waits until the disk is C(Ready) on the new class, or fails with the platform's reason
            when the migration fails (the disk then stays on its class; the platform tries again after a growing delay,
            5 s, 10 s, ... at most 300 s, until the class is set back).
        type: str
  upload_file:
    description:
      - With C(data_source.type=Upload), the local file (on the managed host) the module uploads once the disk waits for it.
      - Without it the task only creates the disk and (with I(wait)) returns once the disk waits for the file, which is
        then uploaded by other means (C(curl -T) to the URL in RV(disk.upload_urls); see I(reveal_upload_urls)).
    type: path
  upload_url:
    description: Which upload address to use; C(external) when not set. Only with C(data_source.type=Upload).
    type: str
    choices: [external, in_cluster]
  reveal_upload_urls:
    description:
      - Return the upload URLs in full. B(An upload URL is a credential); by default its secret part reads C(********).
    type: bool
    default: false
  recreate:
    description:
      - When the source of a C(Ready) disk must change, delete the disk and create it again instead of failing.
        Refused while a virtual machine uses the disk. B(The disk's data is lost.)
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported; check mode asks the server for a dry run.
  - In check mode an object the task names that does not exist yet (the source object or pull Secret, the storage class, the
    namespace) is not refused - an earlier task of the playbook may create it, and in check mode did not. A warning says it could not
    be verified, and the task reports what it would do - the disk as declared, not sent as a server-side dry run (the server would
    judge it against the missing object).
  - With I(wait=true) the module waits for C(Ready). A disk of a C(WaitForFirstConsumer) storage class is bound only when a virtual
    machine using it is scheduled, so for it the phase C(WaitForFirstConsumer) counts as done. After a change of
    I(persistent_volume_claim.storage_class_name) of a provisioned disk it waits for the storage migration's end.
  - On an Enterprise Edition cluster a disk on a C(ReadWriteOnce) (for example node-local) PVC moves with every live migration of its
    virtual machine (a drain, an C(Evict)) - it gets a new PVC of the same class on the target node.
seealso:
  - module: deckhouse.virtualization.virtual_disk_info
  - module: deckhouse.virtualization.virtual_image
"""

EXAMPLES = r"""
- name: A boot disk from the cluster image, sized to the image
  deckhouse.virtualization.virtual_disk:
    name: linux-vm-root
    namespace: vms
    data_source:
      type: ObjectRef
      object_ref: {kind: ClusterVirtualImage, name: ubuntu-22-04}

- name: A blank 100 GiB data disk on a chosen class
  deckhouse.virtualization.virtual_disk:
    name: data
    namespace: vms
    persistent_volume_claim: {size: 100Gi, storage_class_name: replicated}

- name: Grow it
  deckhouse.virtualization.virtual_disk:
    name: data
    namespace: vms
    persistent_volume_claim: {size: 200Gi, storage_class_name: replicated}

- name: Move it to other storage while its virtual machine runs (storage migration, Enterprise Edition)
  deckhouse.virtualization.virtual_disk:
    name: data
    namespace: vms
    persistent_volume_claim: {size: 200Gi, storage_class_name: fast-nvme}
    wait_timeout: 1800

- name: Upload a local disk image
  deckhouse.virtualization.virtual_disk:
    name: restored
    namespace: vms
    data_source: {type: Upload}
    upload_file: /srv/backups/restored.qcow2
"""

RETURN = r"""
results:
  description:
    - With I(batch), one result per element in order, each with what the task returns for one object (I(changed),
      I(resource) and the rest), I(item) (the element as given), and I(failed) and I(msg) when the element failed.
    - With C(--diff), the task's I(diff) is then the list of the changed elements' diffs.
  returned: with batch
  type: list
  elements: dict
resource:
  description:
    - The VirtualDisk as the server holds it (after waiting, when I(wait=true)); upload URLs masked unless I(reveal_upload_urls).
    - Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
image:
  description: The same as RV(disk), under the name the image modules use (kept for playbooks written before RV(disk)).
  returned: when state is present
  type: dict
disk:
  description: The disk's state in short.
  returned: when state is present
  type: dict
  contains:
    phase:
      description: "Phase (C(Pending), C(Provisioning), C(WaitForFirstConsumer), C(Ready), C(Resizing), C(Migrating), C(Failed), C(PVCLost) ...)."
      type: str
      returned: always
    progress:
      description: "Provisioning progress."
      type: str
      returned: always
    capacity:
      description: "The PVC's capacity."
      type: str
      returned: always
    storage_class_name:
      description: "The resolved storage class."
      type: str
      returned: always
    persistent_volume_claim_name:
      description: "The PVC holding the disk."
      type: str
      returned: always
    migration_state:
      description:
        - "The disk's last storage migration (C(status.migrationState)): C(sourcePVC), C(targetPVC), C(result) (C(Succeeded) or
          C(Failed)), C(message), C(startTimestamp), C(endTimestamp); empty when it never migrated."
      type: dict
      returned: always
    attached_to_virtual_machines:
      description: "The virtual machines using the disk (C(name), C(mounted))."
      type: list
      elements: dict
      returned: always
    upload_urls:
      description: "Upload addresses (credentials; masked)."
      type: dict
      returned: always
    conditions:
      description: "The platform's conditions."
      type: list
      elements: dict
      returned: always
users:
  description: Virtual machines (C(namespace/name)) still using the disk, when it is deleted.
  returned: when state is absent
  type: list
  elements: str
diff:
  description: Before and after, with C(--diff).
  returned: when diff mode is on
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.batch import batch_spec, execute_batched
from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import arg_spec, masking, metadata, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.disk_service import disk_param_problems, ensure_disk
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import data_source_spec, validate_image_params
from ansible_collections.deckhouse.virtualization.plugins.module_utils.kinds import (
    CLUSTER_VIRTUAL_IMAGE,
    MODULE_CONFIG,
    STORAGE_CLASS,
    VIRTUAL_DISK,
    VIRTUAL_IMAGE,
)

PRESENT_ONLY = ("data_source", "persistent_volume_claim", "upload_file", "upload_url", "recreate")


def one_spec():
    """What one object's options are validated against (the task's, or each element of its batch)."""
    return dict(
        argument_spec=arg_spec(
            namespaced=True,
            data_source=data_source_spec([v.CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE, v.VIRTUAL_DISK_SNAPSHOT], cluster_scoped=False),
            persistent_volume_claim={"type": "dict", "options": {"size": {"type": "str"}, "storage_class_name": {"type": "str"}}},
            upload_file={"type": "path"},
            upload_url={"type": "str", "choices": ["external", "in_cluster"]},
            reveal_upload_urls={"type": "bool", "default": False},
            recreate={"type": "bool", "default": False},
        ),
    )


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return batch_spec(one_spec())


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter: the task's object, or
    each element of its batch."""
    shared = dict(listed=(VIRTUAL_DISK,), memo=(CLUSTER_VIRTUAL_IMAGE, VIRTUAL_IMAGE, STORAGE_CLASS, MODULE_CONFIG))
    execute_batched(module, one_spec(), execute_one, problems, **shared)


def problems(p):
    """What is wrong with one object's options, found without the cluster (nothing is sent when anything is)."""
    found = option_problems(p, PRESENT_ONLY) + disk_param_problems(p)
    if p["state"] == "present" and p.get("data_source"):
        found += validate_image_params(p, namespaced=True)
    else:
        found += validate_image_params({**p, "state": "absent"})  # the name rules alone
        found += [f"{o}: only used with a data_source of type Upload" for o in ("upload_file", "upload_url") if p.get(o)]
    if p.get("upload_file") and p["state"] == "present" and not os.path.isfile(p["upload_file"]):
        found.append(f"upload_file: no such file on the managed host: {p['upload_file']}")
    return found


def execute_one(module):
    """One object's logic."""
    p = module.params
    refuse(module, problems(p))
    meta = metadata(p, namespaced=True)
    run(module, lambda client, ensurer: ensure_disk(module, client, ensurer, meta))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
