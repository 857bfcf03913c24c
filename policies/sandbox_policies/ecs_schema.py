"""Checks ECS task definitions against the ECS API's own model, shipped with botocore.

The Pulumi provider passes ``containerDefinitions`` to AWS as an opaque JSON string, so a
misspelled key (``readOnlyRootFilesystem``) or a wrong type is only found when AWS rejects
the registration -- or, worse, a misspelled control is silently ignored. Validating against
botocore's service model catches both offline. The component tests, the policy pack and the
offline preview all import this one module, so it depends on nothing but stdlib and botocore.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

OPERATION = "RegisterTaskDefinition"
# The AWS API's "Integer" is a signed 32-bit value; botocore checks only minimums, so larger
# values pass botocore and are then rejected by ECS. Checked here so they fail offline.
AWS_INTEGER_MAX = 2**31 - 1
_UNKNOWN_PARAMETER = re.compile(r'^Unknown parameter in (?P<where>\S+): "(?P<key>[^"]+)"')
_VALIDATION_FAMILY = "schema-validation"


@functools.cache
def _operation() -> OperationModel:
    """The ECS operation model; loading the service JSON costs ~100 ms, so it is loaded once."""
    model = botocore.session.get_session().get_service_model("ecs")
    return model.operation_model(OPERATION)


def _with_suggestion(line: str, shape: Shape) -> str:
    match = _UNKNOWN_PARAMETER.match(line)
    if not match:
        return line
    target = _shape_at(shape, match["where"])
    if target is None or target.type_name != "structure":
        return line
    members = list(target.members)
    close = difflib.get_close_matches(match["key"], members, n=1, cutoff=0.6)
    case_match = [name for name in members if name.lower() == match["key"].lower()]
    suggestion = (case_match or close or [None])[0]
    if suggestion is None:
        return line
    return f'{line} (did you mean "{suggestion}"?)'


def _shape_at(shape: Shape, where: str) -> Shape | None:
    """The shape at a botocore error path such as ``containerDefinitions[0].linuxParameters``."""
    current: Shape | None = shape
    for part in where.split("."):
        name = part.partition("[")[0]
        if current is not None and name and name != "input":
            current = current.members.get(name) if current.type_name == "structure" else None
        for _ in range(part.count("[")):
            current = (
                current.member if current is not None and current.type_name == "list" else None
            )
    return current


def _integer_range_errors(value: Any, shape: Shape, path: str) -> list[str]:
    if shape.type_name == "integer":
        if isinstance(value, int) and not isinstance(value, bool) and value > AWS_INTEGER_MAX:
            return [
                f"Invalid value for parameter {path}, value: {value}, valid max value: "
                f"{AWS_INTEGER_MAX} (the ECS API's integers are 32-bit)"
            ]
        return []
    errors: list[str] = []
    if shape.type_name == "structure" and isinstance(value, Mapping):
        members = shape.members
        for key, item in value.items():
            if key in members:
                errors += _integer_range_errors(item, members[key], f"{path}.{key}")
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            errors += _integer_range_errors(item, shape.member, f"{path}[{index}]")
    elif shape.type_name == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            errors += _integer_range_errors(item, shape.value, f"{path}.{key}")
    return errors


def validate_register_task_definition(params: Mapping[str, Any]) -> list[str]:
    """Every way ``params`` is not a valid RegisterTaskDefinition request; [] when it is.

    Each error is one line naming the parameter path, as botocore words it, with a
    "did you mean" for a misspelled key.
    """
    shape = _operation().input_shape
    assert shape is not None  # RegisterTaskDefinition always has an input
    report = ParamValidator().validate(dict(params), shape)
    errors = [
        _with_suggestion(line, shape)
        for line in report.generate_report().splitlines()
        if line.strip()
    ]
    errors += [
        line.replace("input.", "", 1) for line in _integer_range_errors(params, shape, "input")
    ]
    return errors


def validate_container_definitions(definitions: list[Any]) -> list[str]:
    """Errors in a ``containerDefinitions`` list alone (what Pulumi takes as a JSON string)."""
    return validate_register_task_definition(
        {"family": _VALIDATION_FAMILY, "containerDefinitions": definitions}
    )
