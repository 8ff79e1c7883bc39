# Copyright: deckhouse.virtualization contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ansible-core's argument validation needs beside it (AnsibleModule, ArgumentSpecValidator): every place the
collection validates a task's arguments calls dict_option_type_errors first - the modules (common.masking), the
in-process action plugins, the batch elements and the vms action."""

from __future__ import annotations

from typing import Any


def dict_option_type_errors(argument_spec: dict[str, Any], params: Any, context: tuple[str, ...] = ()) -> list[str]:
    """What ansible-core's argument validation does not say itself: given a number, a boolean or a list, a dict
    option with suboptions (`cpu: 7`) raises a TypeError inside its validator ("argument of type 'int' is not
    iterable", ansible/ansible#81631: the sub-options' fallbacks are read before the value's type is checked) instead
    of reporting the type error it reports for a dict without suboptions. Each such value, at any depth, is worded as
    that type error and set to None in `params`, so that the validator runs to its other errors; the caller fails
    with the first one. A string is left to the validator (it parses `key=value` and JSON), as is null."""
    problems: list[str] = []
    if not isinstance(params, dict):
        return problems
    for name, option in argument_spec.items():
        sub = option.get("options")
        if not sub:
            continue
        for key in (name, *(option.get("aliases") or ())):
            value = params.get(key)
            if value is None or isinstance(value, str):
                continue
            if option.get("type") == "list" and option.get("elements") == "dict":
                for item in value if isinstance(value, list) else ():
                    problems += dict_option_type_errors(sub, item, (*context, name))
            elif option.get("type") == "dict" and isinstance(value, dict):
                problems += dict_option_type_errors(sub, value, (*context, name))
            elif option.get("type") == "dict":
                where = f" found in '{' -> '.join(context)}'." if context else ""
                kind = type(value)
                why = f"{kind} cannot be converted to a dict"
                problems.append(f"argument '{name}' is of type {kind.__name__}{where} and we were unable to convert to dict: {why}")
                params[key] = None
    return problems
