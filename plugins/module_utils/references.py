# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""References: the objects a task's object names (a disk's source image, a VM's class, disks, Secrets and IP address,
the VM of an operation, the namespace of any of them), as the modules check them against the server before writing.

Outside check mode a missing one is refused or warned about by the check that reads it, as the platform treats it
(disk_service.source_checks, vm_service.server_problems, ...). In check mode a missing one is never refused: an
earlier task of the same playbook may create it, and in check mode that task created nothing (a first deployment's
`--check` must run through). The check records it here instead (References.missing), with a warning that it could
not be verified, and the task reports what it would do: its object is not sent as a dry run - the server would judge
it against the missing object (refuse it, or default it from nothing) - and the result shows it as the task declares
it over the object as stored (Ensurer.present, predicted)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .compare import overlay
from .errors import status_body

# The last words of every such warning: what the task reports instead of failing.
UNVERIFIED = "not verified in check mode (an earlier task may create it); the task reports what it would do, without the server's dry run"


class References:
    """One task's (or one batch element's) references that check mode could not verify. `warn`: the module's warn."""

    def __init__(self, check_mode: bool, warn: Callable[[str], None] | None = None) -> None:
        self.check_mode = bool(check_mode)
        self._warn = warn
        self.unverified: list[str] = []

    def missing(self, message: str) -> bool:
        """A referenced object does not exist (`message` says which, naming the option: `block_device_refs[0]:
        VirtualDisk ns/root does not exist`). In check mode: True - it is recorded and warned about, and the caller
        goes on without refusing; otherwise False - the caller refuses or warns as it does outside check mode."""
        if not self.check_mode:
            return False
        self.unverified.append(message)
        if self._warn is not None:
            self._warn(f"{message}: {UNVERIFIED}")
        return True


def missing_namespace(err_status: int, body: Any) -> str | None:
    """The namespace named by a 404 answer `body` (a Status, as bytes, str or dict) that says the namespace does not
    exist (`namespaces "x" not found`, details.kind `namespaces`); None for any other answer."""
    status = status_body(body) if err_status == 404 else None
    details = (status or {}).get("details")
    if isinstance(details, dict) and details.get("kind") == "namespaces" and details.get("name"):
        return str(details["name"])
    return None


def predicted(stored: dict[str, Any] | None, declared: dict[str, Any]) -> dict[str, Any]:
    """The object as the task would leave it, without asking the server: `declared` (apiVersion and kind included)
    over `stored` (None: a new object) - mappings merged key by key, anything else (lists among them) replaced."""
    return overlay(copy.deepcopy(stored) if stored is not None else {}, declared)
