"""Composes one stack from its validated config.

Shared AWS infrastructure (network, endpoints, DNS firewall, cluster) is created once per stack
and only when a sandbox runs on Fargate; every sandbox's own resources are named from the
sandbox's name, so adding a sandbox never renames an existing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

from components.aws.cluster import SandboxCluster, SandboxClusterArgs
from components.aws.egress import egress_rule_specs
from components.aws.network import SandboxNetwork, SandboxNetworkArgs
from components.budget import StackBudget
from components.config import PROJECT, FargateSandbox, FlySandbox, StackConfig
from components.controls.resource import (
    ControlMatrix,
    fargate_control_matrix,
    fly_control_matrix,
)
from components.fargate.sandbox import FargateSandbox as FargateSandboxComponent
from components.fargate.sandbox import FargateSandboxArgs
from components.fly.sandbox import FlySandbox as FlySandboxComponent
from components.fly.sandbox import FlySandboxArgs
from components.hardening.model import HardeningModel


@dataclass
class BuiltStack:
    """What the program created, and the values it exports."""

    network: SandboxNetwork | None = None
    cluster: SandboxCluster | None = None
    fargate: dict[str, FargateSandboxComponent] = field(default_factory=dict)
    fly: dict[str, FlySandboxComponent] = field(default_factory=dict)
    controls: dict[str, ControlMatrix] = field(default_factory=dict)

    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        if self.network is not None:
            outputs["vpcId"] = self.network.vpc_id
            outputs["privateSubnetIds"] = self.network.private_subnet_ids
            outputs["dnsAllowedDomains"] = self.network.allowed_domains
        if self.cluster is not None:
            outputs["clusterArn"] = self.cluster.cluster_arn
        outputs["fargateSandboxes"] = {
            name: {
                "taskDefinitionArn": sandbox.task_definition_arn,
                "serviceName": sandbox.service_name,
                "logGroupName": sandbox.log_group_name,
                "securityGroupId": sandbox.security_group_id,
            }
            for name, sandbox in self.fargate.items()
        }
        outputs["flySandboxes"] = {
            name: {
                "app": sandbox.app_name,
                "hostname": sandbox.hostname,
                "machineCount": sandbox.machine_count,
                "flyToml": sandbox.fly_toml,
            }
            for name, sandbox in self.fly.items()
        }
        outputs["controlMatrix"] = {name: matrix.controls for name, matrix in self.controls.items()}
        return outputs


def _secrets_backends(sandboxes: tuple[FargateSandbox, ...]) -> frozenset[str]:
    backends: set[str] = set()
    for sandbox in sandboxes:
        for secret in sandbox.secrets:
            if secret.ssm_parameter is not None:
                backends.add("ssm")
            if secret.secrets_manager_arn is not None:
                backends.add("secretsmanager")
    return frozenset(backends)


def hardening_model(sandbox: FargateSandbox | FlySandbox, config: StackConfig) -> HardeningModel:
    """The one runtime-hardening model of a sandbox, which its platform component maps."""
    if isinstance(sandbox, FargateSandbox):
        cpu, memory = sandbox.fargate.cpu / 1024, sandbox.fargate.memory
        platform: Literal["fargate", "fly"] = "fargate"
    else:
        cpu, memory, platform = float(sandbox.fly.cpus), sandbox.fly.memory_mb, "fly"
    return HardeningModel.from_config(
        sandbox.hardening, platform=platform, cpu=cpu, memory_mib=memory, egress=config.egress
    )


def _region() -> str:
    region = pulumi.Config("aws").get("region")
    if not region:
        raise pulumi.RunError(
            "aws:region: is required when a sandbox runs on Fargate; set it with "
            "`pulumi config set aws:region us-west-2`"
        )
    return region


def _build_fargate(config: StackConfig, built: BuiltStack) -> None:
    assert config.network is not None  # StackConfig requires a network for Fargate
    region = _region()
    built.network = SandboxNetwork(
        "sandbox-network",
        SandboxNetworkArgs(
            network=config.network,
            egress=config.egress,
            region=region,
            secrets_backends=_secrets_backends(config.fargate_sandboxes),
            tags=config.tags,
            images=tuple(sandbox.image for sandbox in config.fargate_sandboxes),
        ),
    )
    built.cluster = SandboxCluster("sandbox-cluster", SandboxClusterArgs(tags=config.tags))
    rules = egress_rule_specs(config.egress)
    for sandbox in config.fargate_sandboxes:
        component = built.fargate[sandbox.name] = FargateSandboxComponent(
            sandbox.name,
            FargateSandboxArgs(
                sandbox=sandbox,
                hardening=hardening_model(sandbox, config),
                cluster_arn=built.cluster.cluster_arn,
                vpc_id=built.network.vpc_id,
                subnet_ids=built.network.private_subnet_ids,
                egress_rules=rules,
                platform_egress=built.network.platform_egress,
                region=region,
                tags=config.tags,
            ),
        )
        built.controls[sandbox.name] = fargate_control_matrix(
            sandbox, component, rules, built.network
        )


def _build_fly(sandbox: FlySandbox, stack: StackConfig) -> FlySandboxComponent:
    config = pulumi.Config(PROJECT)
    secrets = {
        secret.name: config.require_secret(secret.config_key)
        for secret in sandbox.secrets
        if secret.config_key is not None
    }
    return FlySandboxComponent(
        sandbox.name,
        FlySandboxArgs(
            sandbox=sandbox,
            hardening=hardening_model(sandbox, stack),
            secrets=secrets,
            fly_api_token=config.get_secret("flyApiToken"),
        ),
    )


def build_stack(config: StackConfig) -> BuiltStack:
    built = BuiltStack()
    StackBudget("stack-budget", config.monthly_budget_usd)
    if config.fargate_sandboxes:
        _build_fargate(config, built)
    for sandbox in config.fly_sandboxes:
        component = _build_fly(sandbox, config)
        built.fly[sandbox.name] = component
        built.controls[sandbox.name] = fly_control_matrix(sandbox, component)
    return built
