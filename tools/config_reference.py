"""Renders the README's config reference from the config model itself.

The model's field docstrings and defaults are the single source; `make docs` (tools.readme)
writes the table into the README and a test fails when they drift.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components.config import (
    CreateNetwork,
    ExistingNetwork,
    FargateSandbox,
    FlySandbox,
    StackConfig,
    _SandboxBase,
)

# (heading, model, key prefix, fields to leave out because another heading has them).
_COMMON = frozenset(_SandboxBase.model_fields)
_SECTIONS: tuple[tuple[str, type[BaseModel], str, frozenset[str]], ...] = (
    ("agent-sandbox:<key>", StackConfig, "", frozenset()),
    ("sandboxes[], every platform", _SandboxBase, "sandboxes[].", frozenset()),
    ("sandboxes[], platform: fargate", FargateSandbox, "sandboxes[].", _COMMON),
    ("sandboxes[], platform: fly", FlySandbox, "sandboxes[].", _COMMON),
    ("network, mode: create", CreateNetwork, "network.", frozenset()),
    ("network, mode: existing", ExistingNetwork, "network.", frozenset()),
)
_NOT_EXPANDED = {"sandboxes", "network"}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in typing.get_args(annotation):
        found += _models_in(argument)
    return found


def _type_name(annotation: Any) -> str:  # noqa: PLR0911 - one return per kind of type
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(value) for value in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " \\| ".join(dict.fromkeys(names))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "map of string"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo, inherited: Any = PydanticUndefined) -> str:
    value = inherited
    if value is PydanticUndefined:
        if field.is_required():
            return "**required**"
        value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        return "below"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | dict) and not value:
        return "empty"
    return f"`{value}`"


def _rows(
    model: type[BaseModel],
    prefix: str,
    defaults: BaseModel | None = None,
    skip: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, str, str, str]]:
    """Rows for ``model``'s fields; nested models are expanded with their defaults' values."""
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = prefix + (field.alias or name)
        inherited = getattr(defaults, name) if defaults is not None else PydanticUndefined
        default = _default(field, inherited)
        description = field.description or ""
        nested = _models_in(field.annotation)
        is_list = typing.get_origin(field.annotation) is tuple
        if key in _NOT_EXPANDED or len(nested) != 1:
            yield key, _type_name(field.annotation), default, description
            continue
        yield key, "list of object" if is_list else "object", default, description
        value = (
            inherited
            if inherited is not PydanticUndefined
            else field.get_default(call_default_factory=True)
        )
        nested_defaults = value if isinstance(value, BaseModel) else None
        yield from _rows(nested[0], f"{key}[]." if is_list else f"{key}.", nested_defaults)


def render() -> str:
    lines: list[str] = []
    for title, model, prefix, skip in _SECTIONS:
        lines += [f"#### `{title}`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, type_name, default, meaning in _rows(model, prefix, skip=skip):
            lines.append(f"| `{key}` | {type_name} | {default} | {meaning} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render())
