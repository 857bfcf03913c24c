"""Plain views of resource properties, with preview-time unknowns made explicit.

pulumi_policy hands a policy its properties behind a proxy that raises UnknownValueError on
the first unknown value it touches, which would abandon the whole policy for one unknown
field. The rules instead read a plain copy in which every unknown is the UNKNOWN marker, so
each check can skip exactly what it cannot judge yet; the engine calls Analyze again with
known values before anything is created.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from pulumi_policy import proxy


class _Unknown:
    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = _Unknown()
_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)


def plain(value: Any) -> Any:
    """A copy of ``value`` with pulumi_policy's proxies removed and unknowns as UNKNOWN."""
    if isinstance(value, (proxy._DictProxy, proxy._ListProxy)):
        return plain(value["__target"])
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, str) and value in _SENTINELS:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN


def as_int(value: Any) -> int | None:
    """An integer from an int, an integral float or a numeric string (ECS takes cpu as "256")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_list(value: Any) -> list[Any]:
    """A list property; absent, unknown or mistyped values read as empty."""
    return list(value) if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def strings(value: Any) -> list[str]:
    """A string-or-list property (IAM's Action, Resource) as a list of its known strings."""
    if isinstance(value, str):
        return [value]
    return [item for item in as_list(value) if isinstance(item, str)]


class JsonError(ValueError):
    """A property that should hold JSON text does not."""


def json_property(value: Any, *, expect: type) -> Any:
    """Parse a JSON-text property (containerDefinitions, IAM documents).

    Returns UNKNOWN when the text is unknown during preview; raises JsonError (never
    anything else) when the text is missing, malformed or of the wrong JSON type. Providers
    also accept the already-parsed structure, so that is taken as is.
    """
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, expect) and not isinstance(value, str):
        return plain(value)
    if not isinstance(value, str):
        raise JsonError(f"expected JSON text, got {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply"
        raise JsonError(f"malformed JSON ({detail})") from None
    if not isinstance(parsed, expect):
        raise JsonError(f"expected a JSON {expect.__name__}, got {type(parsed).__name__}")
    return parsed
