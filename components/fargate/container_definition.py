"""The sandbox's ECS container definition, as plain data with the ECS API's exact field names.

Built as Python data and serialized once, so a test or the policy pack can check every field
against botocore's ECS model. It maps the sandbox's HardeningModel to what ECS can express; the
rest (seccomp, no-new-privileges) is the launcher's, which this definition starts when the
model asks for it. A tmpfs for /tmp has no Fargate equivalent; the control matrix says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from components.config import FargateSandbox, SecretRef, Ulimit, Ulimits
from components.hardening.delivery import LauncherDelivery
from components.hardening.model import HardeningModel, Rlimit

# The only writable paths. Fargate has no tmpfs, so they are task volumes on ephemeral storage.
WRITABLE_VOLUMES: tuple[tuple[str, str], ...] = (
    ("tmp", "/tmp"),  # noqa: S108 - a mount point inside the container, not a host temp file
    ("workspace", "/workspace"),
)
# Fargate rejects every added capability except SYS_PTRACE (platform version 1.4.0 and later).
FARGATE_ADDABLE_CAPABILITIES = frozenset({"SYS_PTRACE"})
# ECS ulimit values are 32-bit signed integers; a larger value is rejected at registration.
ECS_ULIMIT_MAX = 2**31 - 1
LOG_STREAM_PREFIX = "sandbox"
HEALTH_CHECK_TIMING: Mapping[str, int] = {
    "interval": 30,
    "timeout": 5,
    "retries": 3,
    "startPeriod": 60,
}


def container_name(sandbox: FargateSandbox) -> str:
    return sandbox.name


def secret_value_from(secret: SecretRef, *, partition: str, region: str, account_id: str) -> str:
    """The ARN ECS reads the secret from; a full ARN works across regions and for any path."""
    if secret.secrets_manager_arn is not None:
        return secret.secrets_manager_arn
    if secret.ssm_parameter is None:
        raise ValueError(
            f"secret {secret.name!r} has no Fargate source; allowed: 'ssmParameter' or "
            "'secretsManagerArn'"
        )
    return f"arn:{partition}:ssm:{region}:{account_id}:parameter{secret.ssm_parameter}"


def ulimit_overflows(ulimits: Ulimits) -> list[str]:
    """The explicitly configured ulimits ECS cannot carry, each as one line for the deployer.

    The runbook's own fsize (10 GiB) is one of them; clamping the default is expected and is
    stated in the control matrix, so only values a stack set itself are reported.
    """
    messages = []
    for name in sorted(ulimits.model_fields_set):
        limit: Ulimit = getattr(ulimits, name)
        if limit.hard > ECS_ULIMIT_MAX or limit.soft > ECS_ULIMIT_MAX:
            messages.append(
                f"hardening.ulimits.{name}: soft {limit.soft} / hard {limit.hard} exceeds the "
                f"ECS maximum {ECS_ULIMIT_MAX}; Fargate gets {ECS_ULIMIT_MAX} (stricter)"
            )
    return messages


def fargate_hardening(model: HardeningModel) -> HardeningModel:
    """The model as Fargate can carry it: rlimits over ECS's 32-bit maximum are lowered to it.

    Lowering only tightens a limit. The launcher gets the same values, because on Fargate it
    starts unprivileged and could not raise a limit ECS already set.
    """
    clamped = {
        name: Rlimit(min(limit.soft, ECS_ULIMIT_MAX), min(limit.hard, ECS_ULIMIT_MAX))
        for name, limit in model.rlimits.items()
    }
    return dataclasses.replace(model, rlimits=clamped)


def ecs_ulimits(model: HardeningModel) -> list[dict[str, Any]]:
    """ECS ulimits, in the runbook's order, from a model already mapped by fargate_hardening."""
    return [
        {"name": name, "softLimit": limit.soft, "hardLimit": limit.hard}
        for name, limit in model.rlimits.items()
    ]


def health_check_command(port: int, path: str) -> list[str]:
    """A probe needing only python3 (the image need not have curl); non-2xx or no answer fails."""
    script = (
        "import sys, urllib.request; "
        f"r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4); "
        "sys.exit(0 if 200 <= r.status < 300 else 1)"
    )
    return ["CMD", "python3", "-c", script]


def _fargate_capabilities(sandbox: FargateSandbox, model: HardeningModel) -> list[str]:
    added = list(model.capabilities_add)
    rejected = [name for name in added if name not in FARGATE_ADDABLE_CAPABILITIES]
    if rejected:
        raise ValueError(
            f"sandboxes[{sandbox.name}].hardening.capabilitiesAdd: {rejected[0]!r} is not "
            f"allowed on Fargate; allowed: {', '.join(sorted(FARGATE_ADDABLE_CAPABILITIES))} "
            "(or none)"
        )
    return added


def _environment(
    sandbox: FargateSandbox, extra_environment: Mapping[str, str]
) -> list[dict[str, str]]:
    secret_names = {secret.name for secret in sandbox.secrets}
    for name in extra_environment:
        if name in secret_names or name in sandbox.environment:
            raise ValueError(
                f"environment variable {name!r} of sandbox {sandbox.name!r} is set twice (by "
                "the sandbox config and by the launcher); allowed: one of them"
            )
    merged = {**sandbox.environment, **extra_environment}
    return [{"name": name, "value": merged[name]} for name in sorted(merged)]


def build_container_definitions(
    sandbox: FargateSandbox,
    *,
    hardening: HardeningModel,
    region: str,
    log_group_name: str,
    account_id: str,
    partition: str = "aws",
    launcher: LauncherDelivery | None = None,
) -> list[dict[str, Any]]:
    """The task's one container definition, hardened from ``hardening`` (see fargate_hardening).

    With a ``launcher``, the container starts it (entryPoint) with the agent's command; without
    one the image's entrypoint runs. Secrets reach the container only as ``secrets`` ARNs.
    """
    settings = sandbox.fargate
    definition: dict[str, Any] = {
        "name": container_name(sandbox),
        "image": sandbox.image,
        "essential": True,
        "readonlyRootFilesystem": hardening.readonly_root_filesystem,
        "user": f"{hardening.uid}:{hardening.gid}",
        "linuxParameters": {
            "capabilities": {
                "drop": list(hardening.capabilities_drop),
                "add": _fargate_capabilities(sandbox, hardening),
            },
            "initProcessEnabled": True,
        },
        "ulimits": ecs_ulimits(hardening),
        "mountPoints": [
            {"sourceVolume": volume, "containerPath": path, "readOnly": False}
            for volume, path in WRITABLE_VOLUMES
        ],
        "portMappings": [{"containerPort": settings.container_port, "protocol": "tcp"}],
        "environment": _environment(sandbox, launcher.environment if launcher else {}),
        "secrets": [
            {
                "name": secret.name,
                "valueFrom": secret_value_from(
                    secret, partition=partition, region=region, account_id=account_id
                ),
            }
            for secret in sandbox.secrets
        ],
        "healthCheck": {
            "command": health_check_command(settings.container_port, settings.health_check_path),
            **HEALTH_CHECK_TIMING,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group_name,
                "awslogs-region": region,
                "awslogs-stream-prefix": LOG_STREAM_PREFIX,
            },
        },
    }
    if launcher is not None:
        definition["entryPoint"] = list(launcher.entry_point)
        definition["command"] = list(launcher.command)
    return [definition]


def task_volumes() -> list[dict[str, Any]]:
    """The task volumes backing the writable paths (Fargate bind mounts, no host path)."""
    return [{"name": volume} for volume, _ in WRITABLE_VOLUMES]
