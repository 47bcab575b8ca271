"""The one variable renderer (SPEC §6): `${name}` from the environment and run-time values.

    render("${apiBaseUrl}/users/${userId}", environment, extra={"userId": "42"})

Names: the built-ins `${baseUrl}`, `${apiBaseUrl}`, `${authEmail}`, `${authPassword}`, `${authToken}`
(also as `${BASE_URL}`, `${API_BASE_URL}`, …), the environment's own variables, then `extra`
(run-time values such as captures), which wins over both. `$${x}` is the literal text `${x}`.
An unknown name is an error listing every unknown name at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from environments.models import BUILTIN_VARIABLES, Environment, cached_token
from qodex import crypto

# `$${name}` (escaped) or `${name}`; a name is anything up to the closing brace, checked by lookup.
PLACEHOLDER_RE = re.compile(r"\$(\$?)\{([^{}]*)\}")
SECRET_BUILTINS = frozenset({"authPassword", "authToken"})


class UnknownVariables(Exception):
    """Rendering met names that no variable defines; `.names` lists every one of them, sorted."""

    def __init__(self, names) -> None:
        self.names = sorted(set(names))
        listed = ", ".join(f"${{{name}}}" for name in self.names)
        if len(self.names) == 1:
            message = f"Unknown variable {listed}: define it in the environment's variables."
        else:
            message = f"Unknown variables {listed}: define them in the environment's variables."
        super().__init__(message)


def variables_for(
    environment: Environment | None, extra: Mapping[str, Any] | None = None, *, masked: bool = False
) -> dict[str, str]:
    """Every name a template may use, with its value; secrets shown as `••••1a2b` when `masked`."""
    values: dict[str, str] = {}
    if environment is not None:
        builtins = {
            "baseUrl": environment.base_url.rstrip("/"),
            "apiBaseUrl": environment.effective_api_base_url,
            "authEmail": environment.auth_email,
            "authPassword": environment.auth_password,
            # A static token, else the token of the last API login while it is cached.
            "authToken": environment.auth_token or cached_token(environment) or "",
        }
        for name, value in builtins.items():
            shown = value
            if masked and name in SECRET_BUILTINS:
                shown = crypto.mask_password(value) if name == "authPassword" else crypto.mask(value)
            values[name] = values[BUILTIN_VARIABLES[name]] = shown
        values.update(environment.get_variables(reveal=not masked))
    # Captures may be numbers or booleans: they render as JSON would write them (42, true, null).
    values.update({name: v if isinstance(v, str) else json.dumps(v) for name, v in (extra or {}).items()})
    return values


def _substitute(template: str, lookup: Callable[[str], str | None], unknown: set[str]) -> str:
    def replace(match: re.Match) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        value = lookup(name.strip())
        if value is None:
            unknown.add(name.strip())
            return match.group(0)
        return value

    return PLACEHOLDER_RE.sub(replace, template)


def _render_all(obj: Any, values: dict[str, str], unknown: set[str]) -> Any:
    if isinstance(obj, str):
        return _substitute(obj, values.get, unknown)
    if isinstance(obj, dict):
        return {key: _render_all(value, values, unknown) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_render_all(item, values, unknown) for item in obj]
    return obj


def render(template: str, environment: Environment | None, extra: Mapping[str, Any] | None = None) -> str:
    """`template` with every `${name}` replaced; raises UnknownVariables naming every unknown name."""
    return render_value(template, environment, extra)


def render_value(obj: Any, environment: Environment | None, extra: Mapping[str, Any] | None = None) -> Any:
    """Render every string inside `obj` (dict values, list items, nested); other values pass through.

    Dict keys are left alone. All unknown names across the whole structure are reported together.
    """
    unknown: set[str] = set()
    rendered = _render_all(obj, variables_for(environment, extra), unknown)
    if unknown:
        raise UnknownVariables(unknown)
    return rendered


def preview(template: str, environment: Environment | None, extra: Mapping[str, Any] | None = None) -> str:
    """`render` for the environment page: the same output, with every secret value masked."""
    unknown: set[str] = set()
    rendered = _substitute(template, variables_for(environment, extra, masked=True).get, unknown)
    if unknown:
        raise UnknownVariables(unknown)
    return rendered
