"""The full RegisterTaskDefinition request for a sandbox, as one pure function.

The component registers exactly these values, and tests and the preview validate the same
dict against botocore's ECS model, so what is checked is what is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.config import FargateSandbox
from components.fargate.container_definition import build_container_definitions, task_volumes
from components.hardening.delivery import LauncherDelivery
from components.hardening.model import HardeningModel

NETWORK_MODE = "awsvpc"
REQUIRES_COMPATIBILITIES = ("FARGATE",)
RUNTIME_PLATFORM: Mapping[str, str] = {
    "operatingSystemFamily": "LINUX",
    "cpuArchitecture": "X86_64",
}


def task_family(sandbox_name: str) -> str:
    return f"agent-sandbox-{sandbox_name}"


def log_group_name(sandbox_name: str) -> str:
    return f"/agent-sandbox/{sandbox_name}"


def build_register_task_definition(
    sandbox: FargateSandbox,
    *,
    hardening: HardeningModel,
    region: str,
    account_id: str,
    execution_role_arn: str,
    task_role_arn: str,
    partition: str = "aws",
    launcher: LauncherDelivery | None = None,
) -> dict[str, Any]:
    """RegisterTaskDefinition's input for resolved values; pidMode is deliberately unset."""
    return {
        "family": task_family(sandbox.name),
        "taskRoleArn": task_role_arn,
        "executionRoleArn": execution_role_arn,
        "networkMode": NETWORK_MODE,
        "requiresCompatibilities": list(REQUIRES_COMPATIBILITIES),
        "cpu": str(sandbox.fargate.cpu),
        "memory": str(sandbox.fargate.memory),
        "runtimePlatform": dict(RUNTIME_PLATFORM),
        "volumes": task_volumes(),
        "containerDefinitions": build_container_definitions(
            sandbox,
            hardening=hardening,
            region=region,
            log_group_name=log_group_name(sandbox.name),
            account_id=account_id,
            partition=partition,
            launcher=launcher,
        ),
    }
