# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - >-
    B(Where it runs.) The module has an action plugin of its name. When the task runs on the controller with the C(local)
    connection (C(hosts: localhost), C(connection: local), C(delegate_to: localhost)) and has no C(environment), no C(become)
    and no C(async), its logic runs inside Ansible's worker process on the controller, in the controller's Python and
    environment (E(K8S_AUTH_*) and E(KUBECONFIG) come from there). No module process is started, which makes a task several
    times cheaper. The arguments are validated with the module's own argument spec and the results are the module's (check mode,
    diff, warnings, masked credentials, C(invocation)); C(-vvv) prints C(in-process) for such a task.
  - >-
    The collection's Python that such a task imports keeps its bytecode in C(__pycache__) beside the collection's files, as
    any Python package does (Ansible's own collection loader compiles a collection's source on every run). Where that directory
    is read-only, as in an execution environment's image, compile it once when building the image, for example
    C(python3 -m compileall /usr/share/ansible/collections/ansible_collections/deckhouse/virtualization/plugins).
  - >-
    Otherwise (another connection, or a task with C(environment), C(become) or C(async)) the module runs as an ordinary Ansible
    module in its own process, with that host's Python and the task's environment. To force that on the controller, give the
    task any C(environment), for example C(environment: {DVP_AS_MODULE: "1"}); do so also when the module must run with an
    C(ansible_python_interpreter) other than the controller's Python (for example one with C(libvirt-python)).
"""
