"""The ECS cluster every Fargate sandbox of a stack runs in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class SandboxClusterArgs:
    tags: Mapping[str, str] = field(default_factory=dict)


class SandboxCluster(pulumi.ComponentResource):
    """One cluster per stack, with Container Insights on so every sandbox's usage is visible."""

    cluster_arn: pulumi.Output[str]
    cluster_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SandboxClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agent-sandbox:aws:SandboxCluster", name, None, opts)
        cluster = aws.ecs.Cluster(
            name,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cluster_arn = cluster.arn
        self.cluster_name = cluster.name
        self.register_outputs({"cluster_arn": self.cluster_arn, "cluster_name": self.cluster_name})
