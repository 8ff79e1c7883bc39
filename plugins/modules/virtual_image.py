#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: virtual_image
short_description: Manage VirtualImages, disk images of one namespace
version_added: 0.1.0
description:
  - Creates and deletes a C(VirtualImage) of the Deckhouse Virtualization Platform, kept in DVCR (C(storage=ContainerRegistry))
    or in a PVC (C(storage=PersistentVolumeClaim)).
  - Sources are an HTTP(S) URL, a container image, another image or disk of the namespace, a cluster image, or a local file uploaded by the module itself.
  - The source and storage class of a C(Ready) image cannot change; with I(recreate=true) the image is deleted and created again,
    unless a virtual machine uses it.
  - The object the source names (I(data_source.object_ref)) and the pull Secret of a container image are read before a new
    image (or a new source) is written. The platform accepts an image whose source does not exist yet and keeps it C(Pending)
    (C(DatasourceReady=False)) until it is created. So with I(wait=true) (the default) a missing one is refused before anything
    is written, naming the option and the object; with I(wait=false) the image is created and a warning names it. An object
    the user may not read is left to the platform, with a warning.
author:
  - Deckhouse virtualization collection maintainers (@deckhouse)
extends_documentation_fragment:
  - deckhouse.virtualization.connection
  - deckhouse.virtualization.in_process
  - deckhouse.virtualization.state
options:
  name:
    description: Name of the image. Dots are not allowed.
    type: str
    required: true
  namespace:
    description: Namespace of the image.
    type: str
    required: true
  storage:
    description:
      - Where the image is kept (C(spec.storage)). C(Kubernetes) is the deprecated spelling of C(PersistentVolumeClaim).
      - The two spellings compare equal; an image stored with one is left as it is when the task gives the other.
    type: str
    choices: [ContainerRegistry, PersistentVolumeClaim, Kubernetes]
    default: ContainerRegistry
  data_source:
    description: Where the image comes from (C(spec.dataSource)). Required with I(state=present).
    type: dict
    suboptions:
      type:
        description: The kind of source; exactly the matching block below is given (none for C(Upload)).
        type: str
        choices: [HTTP, ContainerImage, ObjectRef, Upload]
        required: true
      http:
        description: Download from an HTTP(S) URL. Formats qcow2, raw, vmdk, vdi, iso, optionally gz or xz compressed.
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
            description: Secret (in the image's namespace) of type C(kubernetes.io/dockerconfigjson).
            type: dict
            suboptions:
              name: {description: Secret name., type: str}
      object_ref:
        description: Copy an image, a disk or a disk snapshot of the namespace, or a cluster image.
        type: dict
        suboptions:
          kind:
            description: Kind of the source object.
            type: str
            required: true
            choices: [ClusterVirtualImage, VirtualImage, VirtualDisk, VirtualDiskSnapshot]
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
    description: With C(storage=PersistentVolumeClaim), the PVC's storage class (C(spec.persistentVolumeClaim)).
    type: dict
    suboptions:
      storage_class_name:
        description:
          - Without it the ModuleConfig's C(virtualImages.defaultStorageClassName) is used, else the cluster's default class.
          - A class the ModuleConfig does not allow, a missing class or a deprecated one is refused before anything is written.
        type: str
  upload_file:
    description:
      - With C(data_source.type=Upload), the local file (on the managed host) the module uploads once the image waits for it.
      - Without it the task only creates the image and (with I(wait)) returns once the image waits for the file, which
        is then uploaded by other means (C(curl -T) to the URL in RV(image.upload_urls); see I(reveal_upload_urls)).
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
      - When the source or storage class of a C(Ready) image must change, delete the image and create it again instead of failing.
        Refused while a virtual machine uses the image.
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported; check mode asks the server for a dry run.
  - In check mode an object the task names that does not exist yet (the source object or pull Secret, the storage class, the
    namespace) is not refused - an earlier task of the playbook may create it, and in check mode did not. A warning says it could not
    be verified, and the task reports what it would do - the image as declared, not sent as a server-side dry run (the server would
    judge it against the missing object).
seealso:
  - module: deckhouse.virtualization.virtual_image_info
  - module: deckhouse.virtualization.virtual_disk
"""

EXAMPLES = r"""
- name: An image in DVCR from HTTP
  deckhouse.virtualization.virtual_image:
    name: ubuntu
    namespace: vms
    data_source:
      type: HTTP
      http: {url: "https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img"}

- name: An image kept in a PVC of a chosen class, copied from a cluster image
  deckhouse.virtualization.virtual_image:
    name: ubuntu-pvc
    namespace: vms
    storage: PersistentVolumeClaim
    persistent_volume_claim: {storage_class_name: replicated}
    data_source:
      type: ObjectRef
      object_ref: {kind: ClusterVirtualImage, name: ubuntu-22-04}
"""

RETURN = r"""
resource:
  description:
    - The VirtualImage as the server holds it (after waiting, when I(wait=true)); upload URLs masked unless I(reveal_upload_urls).
    - Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
image:
  description: The image's state in short.
  returned: when state is present
  type: dict
  contains:
    phase:
      description: "Phase (C(Pending), C(Provisioning), C(WaitForUserUpload), C(Ready), C(Failed), C(ImageLost), C(PVCLost) ...)."
      type: str
      returned: always
    progress:
      description: "Import progress."
      type: str
      returned: always
    format:
      description: "Detected format."
      type: str
      returned: always
    cdrom:
      description: "Whether the image is an ISO."
      type: bool
      returned: always
    size:
      description: "Stored and unpacked sizes."
      type: dict
      returned: always
    registry_url:
      description: "Address in DVCR (C(ContainerRegistry) storage)."
      type: str
      returned: always
    storage_class_name:
      description: "The resolved storage class (PVC storage)."
      type: str
      returned: always
    persistent_volume_claim_name:
      description: "The PVC holding the image (PVC storage)."
      type: str
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
  description: Virtual machines (C(namespace/name)) still using the image, when it is deleted.
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
from ansible_collections.deckhouse.virtualization.plugins.module_utils.common import arg_spec, masking, metadata, option_problems, refuse, run
from ansible_collections.deckhouse.virtualization.plugins.module_utils.disk_service import ensure_virtual_image
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import data_source_spec, validate_image_params

PRESENT_ONLY = ("data_source", "persistent_volume_claim", "upload_file", "upload_url", "recreate")
PVC_STORAGE = ("PersistentVolumeClaim", "Kubernetes")


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(
        argument_spec=arg_spec(
            namespaced=True,
            storage={"type": "str", "choices": ["ContainerRegistry", "PersistentVolumeClaim", "Kubernetes"], "default": "ContainerRegistry"},
            data_source=data_source_spec([v.CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE, v.VIRTUAL_DISK, v.VIRTUAL_DISK_SNAPSHOT], cluster_scoped=False),
            persistent_volume_claim={"type": "dict", "options": {"storage_class_name": {"type": "str"}}},
            upload_file={"type": "path"},
            upload_url={"type": "str", "choices": ["external", "in_cluster"]},
            reveal_upload_urls={"type": "bool", "default": False},
            recreate={"type": "bool", "default": False},
        ),
        required_if=[("state", "present", ["data_source"])],
    )


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    p = module.params
    problems = option_problems(p, PRESENT_ONLY) + validate_image_params(p, namespaced=True)
    if p["state"] == "present" and p.get("persistent_volume_claim") and p["storage"] not in PVC_STORAGE:
        problems.append(f"persistent_volume_claim: only used with storage=PersistentVolumeClaim, not with storage={p['storage']}")
    if p["state"] == "present" and p["storage"] == "Kubernetes":
        module.warn("storage: Kubernetes is deprecated, use PersistentVolumeClaim")
    if p.get("upload_file") and p["state"] == "present" and not os.path.isfile(p["upload_file"]):
        problems.append(f"upload_file: no such file on the managed host: {p['upload_file']}")
    refuse(module, problems)
    meta = metadata(p, namespaced=True)
    run(module, lambda client, ensurer: ensure_virtual_image(module, client, ensurer, meta))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
