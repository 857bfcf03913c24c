"""The botocore-backed ECS schema check: valid requests pass, every kind of mistake is named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.fargate.container_definition import fargate_hardening
from components.fargate.sandbox import launcher_for
from components.fargate.task_definition import build_register_task_definition
from components.program import hardening_model
from sandbox_policies.ecs_schema import (
    AWS_INTEGER_MAX,
    validate_container_definitions,
    validate_register_task_definition,
)
from tests.stack_configs import ROOT, staging_config

SEED = ROOT / "tests" / "reference" / "seed" / "fargate-task-definition.json"
SEED_VALUES = {
    "$TASK_FAMILY": "ops-agent-sandbox",
    "$ACCOUNT_ID": "123456789012",
    "$IMAGE_URL": "ghcr.io/rc918/morningai-ops-agent-sandbox:latest",
    "$REGION": "us-west-2",
}


def _request() -> dict[str, Any]:
    config = staging_config()
    sandbox = config.fargate_sandboxes[0]
    hardening = fargate_hardening(hardening_model(sandbox, config))
    return build_register_task_definition(
        sandbox,
        hardening=hardening,
        launcher=launcher_for(sandbox, hardening),
        region="us-west-2",
        account_id="123456789012",
        execution_role_arn="arn:aws:iam::123456789012:role/exec",
        task_role_arn="arn:aws:iam::123456789012:role/task",
    )


def _seed() -> dict[str, Any]:
    text = Path(SEED).read_text()
    for variable, value in SEED_VALUES.items():
        text = text.replace(variable, value)
    assert "$" not in text
    seed: dict[str, Any] = json.loads(text)
    return seed


def test_the_built_request_is_valid() -> None:
    assert validate_register_task_definition(_request()) == []


def test_the_seed_is_schema_valid_so_its_flaws_need_the_policy_pack() -> None:
    # botocore accepts the seed as written: nofile 65536, NET_BIND_SERVICE and the missing
    # read-only root are semantic problems, not schema ones.
    seed = _seed()
    assert validate_register_task_definition(seed) == []
    container = seed["containerDefinitions"][0]
    assert "readonlyRootFilesystem" not in container
    assert container["linuxParameters"]["capabilities"]["add"] == ["NET_BIND_SERVICE"]


def test_a_misspelled_control_is_an_error_with_a_suggestion() -> None:
    request = _request()
    container = request["containerDefinitions"][0]
    container["readOnlyRootFilesystem"] = container.pop("readonlyRootFilesystem")
    errors = validate_register_task_definition(request)
    assert len(errors) == 1
    assert 'Unknown parameter in containerDefinitions[0]: "readOnlyRootFilesystem"' in errors[0]
    assert errors[0].endswith('(did you mean "readonlyRootFilesystem"?)')


def test_a_misspelled_nested_key_is_named_with_its_path() -> None:
    request = _request()
    parameters = request["containerDefinitions"][0]["linuxParameters"]
    parameters["capabilites"] = parameters.pop("capabilities")
    errors = validate_register_task_definition(request)
    assert errors == [
        'Unknown parameter in containerDefinitions[0].linuxParameters: "capabilites", must be '
        "one of: capabilities, devices, initProcessEnabled, sharedMemorySize, tmpfs, maxSwap, "
        'swappiness (did you mean "capabilities"?)'
    ]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("ulimits", 0, "softLimit"), "1024", "containerDefinitions[0].ulimits[0].softLimit"),
        (("readonlyRootFilesystem",), "true", "containerDefinitions[0].readonlyRootFilesystem"),
        (("portMappings", 0, "containerPort"), 80.5, "containerDefinitions[0].portMappings[0]"),
        (("healthCheck", "command"), "CMD python3", "containerDefinitions[0].healthCheck.command"),
    ],
)
def test_a_wrong_type_is_an_error(path: tuple[Any, ...], value: object, expected: str) -> None:
    request = _request()
    target: Any = request["containerDefinitions"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = validate_register_task_definition(request)
    assert len(errors) == 1
    assert errors[0].startswith(f"Invalid type for parameter {expected}")


def test_a_missing_required_field_is_an_error() -> None:
    request = _request()
    del request["family"]
    del request["containerDefinitions"][0]["secrets"][0]["valueFrom"]
    assert validate_register_task_definition(request) == [
        'Missing required parameter in input: "family"',
        'Missing required parameter in containerDefinitions[0].secrets[0]: "valueFrom"',
    ]


def test_an_enum_outside_the_model_is_not_botocores_concern() -> None:
    # botocore does not check enums client-side; the policy pack checks values like ulimit names.
    request = _request()
    request["containerDefinitions"][0]["ulimits"][0]["name"] = "nofiles"
    assert validate_register_task_definition(request) == []


def test_integers_beyond_32_bits_are_errors() -> None:
    request = _request()
    request["containerDefinitions"][0]["ulimits"][2]["hardLimit"] = 10 * 1024**3
    assert validate_register_task_definition(request) == [
        "Invalid value for parameter containerDefinitions[0].ulimits[2].hardLimit, value: "
        f"10737418240, valid max value: {AWS_INTEGER_MAX} (the ECS API's integers are 32-bit)"
    ]
    request["containerDefinitions"][0]["ulimits"][2]["hardLimit"] = AWS_INTEGER_MAX
    assert validate_register_task_definition(request) == []


def test_container_definitions_alone() -> None:
    definitions = copy.deepcopy(_request()["containerDefinitions"])
    assert validate_container_definitions(definitions) == []
    definitions[0]["privileged"] = "no"
    errors = validate_container_definitions(definitions)
    assert len(errors) == 1
    assert "containerDefinitions[0].privileged" in errors[0]
    assert validate_container_definitions([{"ulimits": [{"name": "nproc", "softLimit": 1}]}]) == [
        'Missing required parameter in containerDefinitions[0].ulimits[0]: "hardLimit"'
    ]
