"""kubernetes.core.k8s and k8s_info (unmodified, from the PyPI `ansible` package) against the simulator."""

import os
import subprocess
import sys
from pathlib import Path

PLAYBOOK = Path(__file__).parent / "playbooks" / "kubernetes_core.yml"


def test_kubernetes_core_playbook(sim):
    env = {**os.environ, "K8S_AUTH_KUBECONFIG": str(sim.kubeconfig), "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK)], capture_output=True, check=False, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "failed=0" in result.stdout
