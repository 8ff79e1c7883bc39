"""Node CPU labels as KubeVirt's node labeller writes them (renamed by DVP's API rewriter), computed from
libvirt's CPU map via the collection's CPU map wrapper — the same code the modules check names with."""

from __future__ import annotations

from ansible_collections.deckhouse.virtualization.plugins.module_utils import vocabulary as v
from ansible_collections.deckhouse.virtualization.plugins.module_utils.cpu_models import CPUMap, default_map

from .topology import CPU

MODEL_LABEL = v.CPU_MODEL_LABEL_PREFIX
FEATURE_LABEL = v.CPU_FEATURE_LABEL_PREFIX
HOST_MODEL_LABEL = v.HOST_MODEL_CPU_LABEL_PREFIX
VENDOR_LABEL = v.CPU_VENDOR_LABEL_PREFIX


def cpu_labels(cpu: CPU, cpu_map: CPUMap | None = None) -> dict[str, str]:
    cpu_map = cpu_map or default_map()
    labels = {MODEL_LABEL + m: "true" for m in cpu_map.runnable_models(cpu.model, cpu.vendor, cpu.features)}
    labels.update({FEATURE_LABEL + f: "true" for f in sorted(cpu_map.features(cpu.model, cpu.vendor, cpu.features))})
    labels[HOST_MODEL_LABEL + cpu.model] = "true"
    labels[VENDOR_LABEL + cpu.vendor] = "true"
    return labels


def check_cpu(cpu: CPU, where: str, cpu_map: CPUMap | None = None) -> None:
    """A topology's CPU must be one libvirt knows: model and every extra feature."""
    cpu_map = cpu_map or default_map()
    problem = cpu_map.check_model(cpu.model)
    if problem:
        raise ValueError(f"{where}.cpu.model: {problem}")
    for feature in cpu.features:
        problem = cpu_map.check_feature(feature)
        if problem:
            raise ValueError(f"{where}.cpu.features: {problem}")
