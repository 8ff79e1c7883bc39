# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ansible-core's argument validation needs beside it (AnsibleModule, ArgumentSpecValidator): every place the
collection validates a task's arguments calls argument_errors first - the modules (common.masking), the
in-process action plugins, the batch elements and the vms action."""

from __future__ import annotations

from typing import Any


def argument_errors(argument_spec: dict[str, Any], params: Any, context: tuple[str, ...] = ()) -> list[str]:
    """What ansible-core's argument validation does not say itself, worded as it words its own errors; the caller
    fails the task with the first one (before anything is sent).

    - A dict option with suboptions given a number, a boolean or a list (`cpu: 7`) raises a TypeError inside its
      validator ("argument of type 'int' is not iterable", ansible/ansible#81631: the suboptions' fallbacks are read
      before the value's type is checked) instead of the type error it reports for a dict without suboptions. Such a
      value, at any depth, is set to None in `params`, so that the validator runs to its other errors. A string is
      left to the validator (it parses `key=value` and JSON), as is null.
    - A required option given null (`name: ~`) counts as given for the validator, which checks the key alone; the
      module would then read the collection for an object's name, or the object for a field. It is missing."""
    problems: list[str] = []
    if not isinstance(params, dict):
        return problems
    where = f" found in {' -> '.join(context)}" if context else ""
    for name, option in argument_spec.items():
        for key in (name, *(option.get("aliases") or ())):
            if key not in params:
                continue
            value = params[key]
            if value is None:
                if option.get("required"):
                    problems.append(f"missing required arguments: {name}{where}")
                continue
            sub = option.get("options")
            if not sub or isinstance(value, str):
                continue
            if option.get("type") == "list" and option.get("elements") == "dict":
                for item in value if isinstance(value, list) else ():
                    problems += argument_errors(sub, item, (*context, name))
            elif option.get("type") == "dict" and isinstance(value, dict):
                problems += argument_errors(sub, value, (*context, name))
            elif option.get("type") == "dict":
                found = f" found in '{' -> '.join(context)}'." if context else ""
                kind = type(value)
                why = f"{kind} cannot be converted to a dict"
                problems.append(f"argument '{name}' is of type {kind.__name__}{found} and we were unable to convert to dict: {why}")
                params[key] = None
    return problems
