#!/usr/bin/python
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: cluster_virtual_image
short_description: Manage ClusterVirtualImages, disk images available to every namespace
version_added: 0.1.0
description:
  - Creates, updates and deletes a C(ClusterVirtualImage) of the Deckhouse Virtualization Platform.
  - Sources are an HTTP(S) URL, a container image in an OCI registry, another image, disk or snapshot, or a local file uploaded by the module itself.
  - The platform forbids changing the source of an image once it is C(Ready); such a change fails unless I(recreate=true).
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
    description:
      - Name of the image. Dots are not allowed.
    type: str
    required: true
  data_source:
    description:
      - Where the image comes from (C(spec.dataSource)). Required with I(state=present).
    type: dict
    suboptions:
      type:
        description:
          - The kind of source; exactly the matching block below is given (none for C(Upload), where I(upload) is optional).
        type: str
        choices: [HTTP, ContainerImage, ObjectRef, Upload]
        required: true
      http:
        description: Download from an HTTP(S) URL. Formats qcow2, raw, vmdk, vdi, iso, optionally gz or xz compressed.
        type: dict
        suboptions:
          url:
            description: C(http://) or C(https://) address of the file.
            type: str
            required: true
          ca_bundle:
            description: Base64-encoded PEM CA chain to verify the server.
            type: str
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
          image:
            description: Image reference, for example C(registry.example.com/images/ubuntu:22.04).
            type: str
            required: true
          ca_bundle:
            description: Base64-encoded PEM CA chain of the registry.
            type: str
          image_pull_secret:
            description: Secret of type C(kubernetes.io/dockerconfigjson) with the registry credentials.
            type: dict
            suboptions:
              name: {description: Secret name., type: str}
              namespace: {description: Secret namespace., type: str}
      object_ref:
        description: Copy an existing image, disk or disk snapshot.
        type: dict
        suboptions:
          kind:
            description: Kind of the source object.
            type: str
            required: true
            choices: [ClusterVirtualImage, VirtualImage, VirtualDisk, VirtualDiskSnapshot]
          name:
            description: Name of the source object.
            type: str
            required: true
          namespace:
            description: Namespace of the source object; required for every kind but C(ClusterVirtualImage).
            type: str
      upload:
        description: Options of the C(Upload) source.
        type: dict
        suboptions:
          checksum:
            description: Expected checksums of the uploaded bytes.
            type: dict
            suboptions: *checksums
  upload_file:
    description:
      - With C(data_source.type=Upload), the local file (on the managed host) that the module uploads once the image waits for it.
      - Without it the task only creates the image, as the admin guide's upload through the CLI does, and (with I(wait))
        returns once the image waits for the file; the file is then uploaded by other means (C(curl -T) to the URL in
        RV(image.upload_urls), which I(reveal_upload_urls) shows in full).
    type: path
  upload_url:
    description:
      - Which upload address to use; C(external) when not set. Only with C(data_source.type=Upload).
    type: str
    choices: [external, in_cluster]
  reveal_upload_urls:
    description:
      - Return the upload URLs in full (in RV(resource) and RV(image.upload_urls)).
      - B(An upload URL is a credential) - anyone who has it can write the image. By default its secret part
        (the random path) is replaced by C(********) everywhere, at any verbosity, and in errors.
      - Even with this option, errors never show the secret part.
    type: bool
    default: false
  recreate:
    description:
      - When the source of a C(Ready) image must change, delete the image and create it again instead of failing.
    type: bool
    default: false
notes:
  - Check mode and diff mode are supported; check mode asks the server for a dry run, so it reports what would really be stored.
  - In check mode an object the task names that does not exist yet (the source object or pull Secret) is not refused - an earlier task
    of the playbook may create it, and in check mode did not. A warning says it could not be verified, and the task reports what it
    would do - the image as declared, not sent as a server-side dry run (the server would judge it against the missing object).
  - Options that contradict each other are refused before anything is sent, naming them (for example I(data_source) with I(state=absent),
    I(upload_url) without an C(Upload) source, a negative I(wait_timeout)).
  - Deleting an image that virtual machines use leaves it C(Terminating) until they release it; the module reports them in RV(users).
seealso:
  - module: deckhouse.virtualization.cluster_virtual_image_info
"""

EXAMPLES = r"""
- name: Ubuntu cloud image from HTTP, verified by checksum
  deckhouse.virtualization.cluster_virtual_image:
    name: ubuntu-22-04
    data_source:
      type: HTTP
      http:
        url: https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img
        checksum:
          sha256: "{{ ubuntu_sha256 }}"

- name: An image from a container registry
  deckhouse.virtualization.cluster_virtual_image:
    name: alpine
    data_source:
      type: ContainerImage
      container_image:
        image: registry.example.com/images/alpine:3.20

- name: Upload a local ISO
  deckhouse.virtualization.cluster_virtual_image:
    name: installer
    data_source:
      type: Upload
    upload_file: /srv/isos/installer.iso
    wait_timeout: 1800

- name: Create an image for an upload from another machine, as the admin guide does with curl
  deckhouse.virtualization.cluster_virtual_image:
    name: win-installer
    data_source:
      type: Upload
    reveal_upload_urls: true
  register: upload_target
  no_log: true  # the URL is a credential

- name: Take over the URL an operator changed by hand (kubectl), instead of failing on the conflict
  deckhouse.virtualization.cluster_virtual_image:
    name: ubuntu-22-04
    data_source:
      type: HTTP
      http:
        url: https://cloud-images.ubuntu.com/jammy/current/jammy-server-cloudimg-amd64.img
    force_conflicts: true
    recreate: true

- name: Remove an image
  deckhouse.virtualization.cluster_virtual_image:
    name: alpine
    state: absent
"""

RETURN = r"""
resource:
  description:
    - The ClusterVirtualImage as the server holds it (after waiting, when I(wait=true)).
    - The secret part of C(status.imageUploadURLs) is masked unless I(reveal_upload_urls=true).
    - Without C(metadata.managedFields), as C(kubectl get) shows it.
  returned: always
  type: dict
image:
  description: The image's state in short.
  returned: when state is present
  type: dict
  contains:
    phase:
      description: Phase (C(Pending), C(Provisioning), C(WaitForUserUpload), C(Ready), C(Failed), C(Terminating), C(ImageLost)).
      type: str
      returned: always
    progress:
      description: Import progress, for example C(45.2%).
      type: str
      returned: always
    format:
      description: Detected format (C(qcow2), C(raw), C(vmdk), C(vdi), C(iso)).
      type: str
      returned: always
    cdrom:
      description: Whether the image is an ISO.
      type: bool
      returned: always
    size:
      description: Stored and unpacked sizes, human-readable and in bytes.
      type: dict
      returned: always
    registry_url:
      description: Address of the image in DVCR.
      type: str
      returned: always
    upload_urls:
      description:
        - C(external) and C(in_cluster) upload addresses (credentials); their secret part reads C(********) unless I(reveal_upload_urls=true).
      type: dict
      returned: always
    conditions:
      description: The platform's conditions.
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
from ansible_collections.deckhouse.virtualization.plugins.module_utils.disk_service import ensure_cluster_image
from ansible_collections.deckhouse.virtualization.plugins.module_utils.images import data_source_spec, validate_image_params

# Options that only mean something with state=present (refused with state=absent).
PRESENT_ONLY = ("data_source", "upload_file", "upload_url", "recreate")


def spec():
    """What the task's arguments are validated against (by AnsibleModule, or the action plugin in-process)."""
    return dict(
        argument_spec=arg_spec(
            namespaced=False,
            data_source=data_source_spec([v.CLUSTER_VIRTUAL_IMAGE, v.VIRTUAL_IMAGE, v.VIRTUAL_DISK, v.VIRTUAL_DISK_SNAPSHOT], cluster_scoped=True),
            upload_file={"type": "path"},
            upload_url={"type": "str", "choices": ["external", "in_cluster"]},
            reveal_upload_urls={"type": "bool", "default": False},
            recreate={"type": "bool", "default": False},
        ),
        required_if=[("state", "present", ["data_source"])],
    )


def execute(module):
    """The module's logic over an AnsibleModule or the action plugin's in-process adapter."""
    problems = option_problems(module.params, PRESENT_ONLY) + validate_image_params(module.params)
    upload_file = module.params.get("upload_file")
    if upload_file and module.params["state"] == "present" and not os.path.isfile(upload_file):
        problems.append(f"upload_file: no such file on the managed host: {upload_file}")
    refuse(module, problems)
    run(module, lambda client, ensurer: ensure_cluster_image(module, client, ensurer, metadata(module.params, namespaced=False)))


def main():
    execute(masking(AnsibleModule)(supports_check_mode=True, **spec()))


if __name__ == "__main__":
    main()
