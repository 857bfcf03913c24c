"""Registers a sandbox's control matrix as a resource of its own.

The policy pack sees only what the program registers, so the matrix is registered (parented to
its sandbox) rather than only exported: `sandbox-control-coverage` then judges it like any
other resource, in `pulumi preview --policy-pack` and in the offline preview alike.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from typing import Any

import pulumi

from components.aws.egress import EgressRuleSpec
from components.aws.network import SandboxNetwork
from components.config import FargateSandbox, FlySandbox
from components.controls.matrix import EgressFacts, Matrix, fargate_matrix, fly_matrix, matrix_json
from components.fargate.sandbox import FargateSandbox as FargateSandboxComponent
from components.fly.sandbox import FlySandbox as FlySandboxComponent

COMPONENT_TYPE = "agent-sandbox:controls:ControlMatrix"


class ControlMatrix(pulumi.ComponentResource):
    controls: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        *,
        sandbox: str,
        platform: str,
        matrix: pulumi.Input[Matrix],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        controls = pulumi.Output.from_input(matrix).apply(matrix_json)
        properties: dict[str, Any] = {
            "sandbox": sandbox,
            "platform": platform,
            "controls": controls,
        }
        super().__init__(COMPONENT_TYPE, name, properties, opts)
        self.controls = controls
        self.register_outputs(properties)


def fargate_control_matrix(
    sandbox: FargateSandbox,
    component: FargateSandboxComponent,
    rules: Sequence[EgressRuleSpec],
    network: SandboxNetwork,
) -> ControlMatrix:
    """The Fargate sandbox's matrix, derived from the container definitions it registers."""
    egress = EgressFacts(
        security_group_rules=[f"{r.ip_protocol} {r.from_port} to {r.destination}" for r in rules],
        dns_firewall_domains=(
            network.allowed_domains if network.dns_firewall_rule_group_id is not None else None
        ),
    )
    task = {
        "cpu": str(sandbox.fargate.cpu),
        "memory": str(sandbox.fargate.memory),
        "assignPublicIp": sandbox.fargate.assign_public_ip,
    }

    def matrix(container_definitions: str) -> Matrix:
        (container,) = json.loads(container_definitions)
        return fargate_matrix(container, task, egress)

    return ControlMatrix(
        f"{sandbox.name}-controls",
        sandbox=sandbox.name,
        platform="fargate",
        matrix=component.container_definitions.apply(matrix),
        opts=pulumi.ResourceOptions(parent=component),
    )


def fly_control_matrix(sandbox: FlySandbox, component: FlySandboxComponent) -> ControlMatrix:
    """The Fly sandbox's matrix, derived from the fly.toml it deploys."""
    return ControlMatrix(
        f"{sandbox.name}-controls",
        sandbox=sandbox.name,
        platform="fly",
        matrix=component.fly_toml.apply(
            lambda text: fly_matrix(tomllib.loads(text), public_ips=sandbox.fly.public_ips)
        ),
        opts=pulumi.ResourceOptions(parent=component),
    )
