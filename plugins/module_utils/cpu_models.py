# -*- coding: utf-8 -*-
# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt's CPU map, through libvirt-python on a test-driver connection (no hypervisor needed, no CPU tables
of our own): named models, the features a CPU has, which named models a CPU can run, the baseline of several
CPUs, and name checks with suggestions. Used by the modules (client-side checks) and by the simulator's nodes."""

from __future__ import annotations

import difflib
import re
from typing import Any

try:
    import libvirt

    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError as exc:
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = exc

ARCH = "x86_64"
_FEATURE = re.compile(r"<feature[^>]*name='([^']+)'")
_MODEL = re.compile(r"<model[^>]*>([^<]+)</model>")


class CPUMapError(ValueError):
    """A model or feature name libvirt does not know, or CPUs that cannot be combined."""


def cpu_xml(model: str | None, vendor: str | None = None, features: tuple[str, ...] = ()) -> str:
    parts = [f"<arch>{ARCH}</arch>"]
    if model:
        parts.append(f"<model>{model}</model>")
    if vendor:
        parts.append(f"<vendor>{vendor}</vendor>")
    parts += [f"<feature policy='require' name='{f}'/>" for f in features]
    return "<cpu>" + "".join(parts) + "</cpu>"


class CPUMap:
    """One libvirt test-driver connection; every answer comes from libvirt's CPU map."""

    def __init__(self, uri: str = "test:///default"):
        if not HAS_LIBVIRT:
            raise CPUMapError(f"libvirt-python is required: {LIBVIRT_IMPORT_ERROR}")
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors come back as exceptions
        self.conn = libvirt.open(uri)
        # answers never change for a connection: remember them (libvirt takes ~1 ms per baseline)
        self._models: tuple[str, ...] | None = None
        self._features: dict[tuple[str, str | None, tuple[str, ...]], frozenset[str]] = {}
        self._runnable: dict[tuple[str, str | None, tuple[str, ...]], tuple[str, ...]] = {}

    def close(self) -> None:
        self.conn.close()

    # -- names ---------------------------------------------------------------------------------------------
    def models(self) -> tuple[str, ...]:
        if self._models is None:
            self._models = tuple(self.conn.getCPUModelNames(ARCH, 0))
        return self._models

    def known_features(self) -> frozenset[str]:
        """Every feature some named model has (the candidates for suggestions)."""
        out: set[str] = set()
        for model in self.models():
            out |= self.features(model)
        return frozenset(out)

    def is_feature(self, name: str) -> bool:
        try:
            self._baseline((cpu_xml("qemu64", None, (name,)),), expand=True)
            return True
        except CPUMapError:
            return False

    # -- features --------------------------------------------------------------------------------------
    def features(self, model: str, vendor: str | None = None, extra: tuple[str, ...] = ()) -> frozenset[str]:
        """The full feature set of a CPU: the model's features expanded, plus extra features."""
        key = (model, vendor, tuple(extra))
        if key not in self._features:
            self._features[key] = frozenset(_FEATURE.findall(self._baseline((cpu_xml(model, vendor, extra),), expand=True)))
        return self._features[key]

    def runnable_models(self, model: str, vendor: str | None = None, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Named models a CPU can run: those whose features it all has. As QEMU's "usable" check, this ignores
        the vendor (an AMD host runs the Intel Nehalem model); live migration still needs the same vendor."""
        key = (model, vendor, tuple(extra))
        if key not in self._runnable:
            have = self.features(model, vendor, extra)
            self._runnable[key] = tuple(candidate for candidate in self.models() if self.features(candidate) <= have)
        return self._runnable[key]

    def baseline(self, cpus: list[tuple[str, str | None, tuple[str, ...]]]) -> tuple[str, frozenset[str]]:
        """The most capable CPU all of these can run: (model, features)."""
        out = self._baseline(tuple(cpu_xml(m, v, f) for m, v, f in cpus), expand=True)
        models = _MODEL.findall(out)
        return (models[0] if models else ""), frozenset(_FEATURE.findall(out))

    def _baseline(self, xmls: tuple[str, ...], expand: bool) -> str:
        flags = libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES if expand else 0
        try:
            return self.conn.baselineCPU(list(xmls), flags)
        except libvirt.libvirtError as exc:
            raise CPUMapError(str(exc)) from exc

    # -- can a guest CPU run on a host CPU ---------------------------------------------------------------------
    def runnable_on(
        self, spec: Any, node_cpu: tuple[str, str | None, tuple[str, ...]], source_cpu: tuple[str, str | None, tuple[str, ...]] | None = None
    ) -> str | None:
        """None when a domain's guest CPU can run on a node's CPU, else why not. `spec` is anything with
        `cpu_type`, `cpu_model`, `cpu_features` (domain_xml.DomainSpec); CPUs are (model, vendor, features).

        What libvirt's compareCPU answers for the guest CPU, from the CPU map (the test driver has no
        compareCPU): a named model / required features must all be among the node's expanded features
        (Discovery/Features: the required features, and the model when one is given). host-model and
        host-passthrough are computed from the node that starts the domain, so without `source_cpu` (where the domain runs now — for
        migration) they run anywhere; with it, host-model needs the same vendor and the source's features,
        host-passthrough an identical CPU (BEHAVIOUR.md §7.3)."""
        n_model, n_vendor, n_extra = node_cpu
        have = self.features(n_model, n_vendor, tuple(n_extra))
        cpu_type = spec.cpu_type
        if cpu_type in ("Host", "HostPassthrough"):
            if source_cpu is None:
                return None
            s_model, s_vendor, s_extra = source_cpu
            if s_vendor and n_vendor and s_vendor != n_vendor:
                return f"the host CPU vendor differs ({s_vendor} → {n_vendor})"
            need = self.features(s_model, s_vendor, tuple(s_extra))
            if cpu_type == "HostPassthrough":
                return None if (s_model, need) == (n_model, have) else f"host-passthrough needs an identical CPU ({s_model} → {n_model})"
        elif cpu_type == "Model":
            need = self.features(spec.cpu_model)
        elif cpu_type in ("Discovery", "Features"):
            # the required features decide; the qemu64 base runs on any x86-64 host (its svm only where present,
            # which is why KubeVirt lists svm as optional), invtsc is optional too
            need = frozenset(f for f in spec.cpu_features if f != "invtsc")
            if spec.cpu_model and spec.cpu_model != "qemu64":
                need |= self.features(spec.cpu_model)
        else:
            raise CPUMapError(f"unknown CPU type {cpu_type!r}")
        missing = sorted(need - have)
        if missing:
            return f"the node's CPU ({n_model}) lacks {', '.join(missing)}"
        return None

    # -- checks with suggestions -----------------------------------------------------------------------
    def check_model(self, name: str) -> str | None:
        """None when libvirt knows the model, else a message with the closest names."""
        if name in self.models():
            return None
        return f"unknown CPU model {name!r}{_suggest(name, self.models())}"

    def check_feature(self, name: str) -> str | None:
        if self.is_feature(name):
            return None
        return f"unknown CPU feature {name!r}{_suggest(name, sorted(self.known_features()))}"


def _suggest(name: str, candidates: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


_DEFAULT: list[CPUMap] = []


def available_map() -> tuple[CPUMap | None, str]:
    """(the shared map, "") — or (None, why not) when libvirt-python is missing or its test driver fails.
    Callers then skip the name checks and say so; the platform still checks names (a class no node can run
    stays Pending, which the waiter reports at once)."""
    if not HAS_LIBVIRT:
        return None, f"libvirt-python is not installed for the Python that runs the module ({LIBVIRT_IMPORT_ERROR})"
    try:
        return default_map(), ""
    except libvirt.libvirtError as exc:
        return None, f"libvirt's test driver cannot be opened ({exc})"


def default_map() -> CPUMap:
    """One shared map per process."""
    if not _DEFAULT:
        _DEFAULT.append(CPUMap())
    return _DEFAULT[0]
