"""Validates a policy's config against its schema, inside the pack.

The Pulumi CLI validates --policy-pack-config against each policy's schema, but the pack is
also driven by other callers (the offline preview); checking again here means a threshold
of the wrong type is refused with a message naming it, instead of failing mid-analysis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "integer": lambda value: (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, float) and value.is_integer())
    ),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def _type_ok(value: Any, kind: str) -> bool:
    check = _TYPE_CHECKS.get(kind)
    return check is not None and check(value)


def value_problems(key: str, value: Any, schema: Mapping[str, Any]) -> list[str]:
    kind = str(schema.get("type", ""))
    if not _type_ok(value, kind):
        return [f"{key}: {value!r} is not allowed; allowed: {kind}"]
    problems: list[str] = []
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(
                f"{key}: {value!r} is not allowed; allowed: at least {schema['minimum']}"
            )
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(
                f"{key}: {value!r} is not allowed; allowed: at most {schema['maximum']}"
            )
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            problems.append(
                f"{key}: {value!r} is not allowed; allowed: more than {schema['exclusiveMinimum']}"
            )
    if kind == "string" and len(value.strip()) < int(schema.get("minLength", 0)):
        problems.append(
            f"{key}: {value!r} is too short; allowed: at least {schema['minLength']} characters"
        )
    if kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
        pattern = schema.get("propertyNames", {}).get("pattern")
        for name, item in sorted(value.items()):
            if pattern and not re.fullmatch(pattern, name):
                problems.append(
                    f"{key}: key {name!r} is not allowed; allowed: keys matching {pattern}"
                )
            problems += value_problems(f"{key}.{name}", item, schema["additionalProperties"])
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            problems += value_problems(f"{key}[{index}]", item, schema["items"])
    return problems


def config_problems(
    policy: str, given: Mapping[str, Any], properties: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """One line per problem in one policy's config; [] when it is valid."""
    problems: list[str] = []
    for key, value in sorted(given.items()):
        schema = properties.get(key)
        if schema is None:
            allowed = ", ".join(sorted(properties)) or "none"
            problems.append(f"{policy}: unknown config key {key!r}; allowed keys: {allowed}")
        else:
            problems += [f"{policy}: {line}" for line in value_problems(key, value, schema)]
    return problems
