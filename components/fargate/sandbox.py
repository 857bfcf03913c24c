"""One hardened sandbox on Fargate: its task definition, service, logs, roles and firewall.

The component maps the sandbox's HardeningModel to Fargate: what ECS can express goes into the
container definition, and the launcher (started as the container's entryPoint) applies the rest
inside the task. Loosening a control takes an explicit config value, which the policy pack
then reports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws.egress import EgressRuleSpec, PlatformEgress, create_sandbox_security_group
from components.config import FargateSandbox as FargateSandboxConfig
from components.fargate.container_definition import (
    build_container_definitions,
    fargate_hardening,
    task_volumes,
    ulimit_overflows,
)
from components.fargate.iam import create_execution_role, create_task_role
from components.fargate.task_definition import (
    NETWORK_MODE,
    REQUIRES_COMPATIBILITIES,
    RUNTIME_PLATFORM,
    log_group_name,
    task_family,
)
from components.hardening.delivery import LauncherDelivery, fargate_delivery
from components.hardening.model import HardeningModel
from components.hardening.spec import to_launcher_spec


@dataclass(frozen=True)
class FargateSandboxArgs:
    sandbox: FargateSandboxConfig
    hardening: HardeningModel
    cluster_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    egress_rules: Sequence[EgressRuleSpec]
    region: str
    platform_egress: PlatformEgress | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def launcher_for(
    sandbox: FargateSandboxConfig, hardening: HardeningModel
) -> LauncherDelivery | None:
    """The launcher's entryPoint, command and spec, or None when the config turns it off."""
    if not hardening.launcher:
        return None
    return fargate_delivery(to_launcher_spec(hardening), sandbox.command)


def desired_count(sandbox: FargateSandboxConfig) -> int:
    """Stopped sandboxes keep their service at 0 tasks; RunTask can still start one on demand."""
    return sandbox.fargate.desired_count if sandbox.running else 0


class FargateSandbox(pulumi.ComponentResource):
    container_definitions: pulumi.Output[str]
    task_definition_arn: pulumi.Output[str]
    service_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    task_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: FargateSandboxArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agent-sandbox:fargate:FargateSandbox", name, None, opts)
        sandbox = args.sandbox
        if name != sandbox.name:
            raise ValueError(
                f"component name {name!r} differs from sandbox name {sandbox.name!r}; allowed: "
                "the sandbox's name, from which every child's name derives"
            )
        for message in ulimit_overflows(sandbox.hardening.ulimits):
            pulumi.log.warn(f"sandbox {name!r} {message}", resource=self)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "agent-sandbox:sandbox": name}
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account_id = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition

        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(name),
            retention_in_days=sandbox.fargate.log_retention_days,
            tags=tags,
            opts=child,
        )
        execution_role = create_execution_role(
            sandbox,
            account_id=account_id,
            partition=partition,
            region=args.region,
            tags=tags,
            parent=self,
        )
        task_role = create_task_role(sandbox, account_id=account_id, tags=tags, parent=self)
        security_group = create_sandbox_security_group(
            name, args.vpc_id, args.egress_rules, args.platform_egress, tags, self
        )

        hardening = fargate_hardening(args.hardening)
        launcher = launcher_for(sandbox, hardening)
        # Depends only on values known at preview (the account, not the roles' ARNs), so the
        # policy pack sees the real container definitions before anything is created.
        container_definitions = pulumi.Output.all(account_id, partition).apply(
            lambda values: json.dumps(
                build_container_definitions(
                    sandbox,
                    hardening=hardening,
                    region=args.region,
                    log_group_name=log_group_name(name),
                    account_id=values[0],
                    partition=values[1],
                    launcher=launcher,
                ),
                sort_keys=True,
            )
        )
        task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=task_family(name),
            container_definitions=container_definitions,
            cpu=str(sandbox.fargate.cpu),
            memory=str(sandbox.fargate.memory),
            network_mode=NETWORK_MODE,
            requires_compatibilities=list(REQUIRES_COMPATIBILITIES),
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family=RUNTIME_PLATFORM["operatingSystemFamily"],
                cpu_architecture=RUNTIME_PLATFORM["cpuArchitecture"],
            ),
            volumes=[
                aws.ecs.TaskDefinitionVolumeArgs(name=volume["name"]) for volume in task_volumes()
            ],
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            tags=tags,
            opts=child,
        )
        service = aws.ecs.Service(
            f"{name}-service",
            cluster=args.cluster_arn,
            task_definition=task_definition.arn,
            desired_count=desired_count(sandbox),
            launch_type="FARGATE",
            platform_version=sandbox.fargate.platform_version,
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[security_group.id],
                assign_public_ip=sandbox.fargate.assign_public_ip,
            ),
            enable_execute_command=sandbox.fargate.enable_execute_command,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            enable_ecs_managed_tags=True,
            propagate_tags="TASK_DEFINITION",
            wait_for_steady_state=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )

        self.container_definitions = task_definition.container_definitions
        self.task_definition_arn = task_definition.arn
        self.service_name = service.name
        self.log_group_name = logs.name
        self.security_group_id = security_group.id
        self.execution_role_arn = execution_role.arn
        self.task_role_arn = task_role.arn
        self.register_outputs(
            {
                "task_definition_arn": self.task_definition_arn,
                "service_name": self.service_name,
                "log_group_name": self.log_group_name,
                "security_group_id": self.security_group_id,
                "execution_role_arn": self.execution_role_arn,
                "task_role_arn": self.task_role_arn,
            }
        )
