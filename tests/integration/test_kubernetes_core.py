"""kubernetes.core's modules (unmodified, from the PyPI `ansible` package) against the simulator."""

import json
import os
import subprocess
import sys
from pathlib import Path

from . import iso_vms

PLAYBOOK = Path(__file__).parent / "playbooks" / "kubernetes_core.yml"


def test_kubernetes_core_playbook(sim):
    env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(sim.kubeconfig), "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK)], capture_output=True, check=False, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed=0" in result.stdout


MODULES_PLAYBOOK = Path(__file__).parent / "playbooks" / "kubernetes_core_modules.yml"
NODES = [
    {"name": "core-0", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
    {"name": "core-1", "cpu": {"model": "Nehalem", "cores": 8}, "memory": "16Gi"},
]


def test_kubernetes_core_modules_around_a_running_vm(tmp_path):
    """k8s_cluster_info, k8s_exec and k8s_log in a VM's virt-launcher pod, k8s_scale, k8s_rollback (a Deployment's
    ReplicaSets, a DaemonSet's ControllerRevisions), k8s_json_patch, k8s_taint and k8s_service: the playbook asserts
    what each one returns."""
    with iso_vms.running(tmp_path, "core", NODES, "10.66.40.0/24", {"web": {"cores": 1, "memory": "1Gi"}}) as cluster:
        sim, ns, pod = cluster["sim"], cluster["ns"], cluster["pods"]["web"]
        node = json.loads(sim.kubectl("get", "pod", pod, "-n", ns, "-o", "json").stdout)["spec"]["nodeName"]
        env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(sim.kubeconfig), "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1"}
        extra = json.dumps({"ns": ns, "pod": pod, "node": node})
        result = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), str(MODULES_PLAYBOOK), "-e", extra],
            capture_output=True,
            check=False,
            text=True,
            env=env,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "failed=0" in result.stdout
