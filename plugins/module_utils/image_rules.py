# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform's ClusterVirtualImage admission rules (BEHAVIOUR.md §1.5), written once: the module checks
them before writing and the simulator's webhook enforces them, both by calling these functions.

Pure Python, no ansible import (the simulator imports this module).
"""

from __future__ import annotations

from typing import Any

from .vocabulary import COND_READY, READY

NAME_RULE = "must not contain '.': a ClusterVirtualImage name allows lowercase letters, digits and '-'"


def name_problem(name: str) -> str | None:
    """Why the platform refuses this image name on CREATE (None when it accepts it). A dot is refused; on
    UPDATE of a legacy object with a dot the platform only warns, with the same message."""
    if "." in name:
        return f"{name!r} {NAME_RULE}"
    return None


def is_ready(obj: dict[str, Any] | None) -> bool:
    """An image is Ready, for the immutability rule, when its phase is Ready or its Ready condition is True."""
    status = (obj or {}).get("status") or {}
    if status.get("phase") == READY:
        return True
    return any(c.get("type") == COND_READY and c.get("status") == "True" for c in status.get("conditions") or [])


def spec_change_problem(old: dict[str, Any] | None, spec_changed: bool) -> str | None:
    """Why a spec change of the image `old` is refused (None when it is allowed): only a Ready image's spec is
    frozen; in any other phase a spec edit is admitted and restarts the import."""
    if not spec_changed or not is_ready(old):
        return None
    name = ((old or {}).get("metadata") or {}).get("name", "")
    return f"ClusterVirtualImage {name!r} is Ready: its spec can no longer be changed (delete and recreate it instead)"
