"""The sandbox's two IAM roles: ECS's execution role and the agent's own task role.

They are separate so that what ECS needs to start the task (pull the image, write logs, read
the declared secrets) is never available to the agent's code, whose task role holds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import FargateSandbox
from components.fargate.container_definition import secret_value_from

ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"


def execution_managed_policy_arn(partition: str) -> str:
    return f"arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def ecs_tasks_trust_policy(account_id: str) -> dict[str, Any]:
    """Only ECS tasks of this account may assume the role (guards against a confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ECS_TASKS_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def secret_read_policy(
    sandbox: FargateSandbox, *, partition: str, region: str, account_id: str
) -> dict[str, Any] | None:
    """Read access to exactly the sandbox's declared secrets; None when it declares none."""
    ssm_arns: list[str] = []
    secrets_manager_arns: list[str] = []
    for secret in sandbox.secrets:
        arn = secret_value_from(secret, partition=partition, region=region, account_id=account_id)
        (ssm_arns if secret.ssm_parameter is not None else secrets_manager_arns).append(arn)
    statements: list[dict[str, Any]] = []
    if ssm_arns:
        statements.append(
            {
                "Sid": "ReadDeclaredParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameters",
                "Resource": sorted(ssm_arns),
            }
        )
    if secrets_manager_arns:
        statements.append(
            {
                "Sid": "ReadDeclaredSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sorted(secrets_manager_arns),
            }
        )
    if not statements:
        return None
    return {"Version": "2012-10-17", "Statement": statements}


def _json(document: pulumi.Output[Mapping[str, Any]]) -> pulumi.Output[str]:
    return document.apply(lambda value: json.dumps(value, sort_keys=True))


def create_execution_role(
    sandbox: FargateSandbox,
    *,
    account_id: pulumi.Output[str],
    partition: pulumi.Output[str],
    region: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """The role ECS uses to start the task: the managed policy, plus declared secrets only."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{sandbox.name}-execution-role",
        assume_role_policy=_json(account_id.apply(ecs_tasks_trust_policy)),
        description=f"ECS starts agent-sandbox {sandbox.name}: image pull, logs, its secrets",
        tags=dict(tags),
        opts=opts,
    )
    aws.iam.RolePolicyAttachment(
        f"{sandbox.name}-execution-managed-policy",
        role=role.name,
        policy_arn=partition.apply(execution_managed_policy_arn),
        opts=opts,
    )
    if sandbox.secrets:
        document = pulumi.Output.all(account_id, partition).apply(
            lambda values: secret_read_policy(
                sandbox, partition=values[1], region=region, account_id=values[0]
            )
        )
        aws.iam.RolePolicy(
            f"{sandbox.name}-execution-secrets",
            role=role.name,
            policy=document.apply(lambda value: json.dumps(value, sort_keys=True)),
            opts=opts,
        )
    return role


def create_task_role(
    sandbox: FargateSandbox,
    *,
    account_id: pulumi.Output[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.iam.Role:
    """The agent's own identity. It holds no permissions; grant any explicitly, per sandbox."""
    return aws.iam.Role(
        f"{sandbox.name}-task-role",
        assume_role_policy=_json(account_id.apply(ecs_tasks_trust_policy)),
        description=f"agent-sandbox {sandbox.name} task identity; no permissions",
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent),
    )
