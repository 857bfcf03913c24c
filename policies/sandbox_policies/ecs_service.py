"""ECS service and cluster policies: how the sandbox's task is exposed and observed."""

from __future__ import annotations

import re
from collections.abc import Iterator

from pulumi_policy import Severity

from .rule import ADVISORY, Config, Resource, Rule, text
from .values import as_dict, as_list, is_unknown

SERVICE = "aws:ecs/service:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _version(text_value: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(text_value)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _no_public_ip(resource: Resource, _: Config) -> Iterator[str]:
    network = as_dict(resource.props.get("networkConfiguration"))
    if network.get("assignPublicIp") is True:
        yield "networkConfiguration.assignPublicIp is true"


def _platform_version(resource: Resource, config: Config) -> Iterator[str]:
    version = resource.props.get("platformVersion")
    if version is None or is_unknown(version) or version == "LATEST":
        return
    minimum = config.get_str("minimumPlatformVersion")
    parsed, floor = _version(str(version)), _version(minimum)
    if parsed is None or floor is None or parsed < floor:
        yield f"platformVersion is {version!r}; allowed: LATEST or at least {minimum}"


def _exec_disabled(resource: Resource, _: Config) -> Iterator[str]:
    if resource.props.get("enableExecuteCommand") is True:
        yield "enableExecuteCommand is true, which opens a shell into the sandbox"


def _security_groups(resource: Resource, _: Config) -> Iterator[str]:
    network = resource.props.get("networkConfiguration")
    if is_unknown(network):
        return
    groups = as_dict(network).get("securityGroups")
    if is_unknown(groups):
        return
    if not as_list(groups):
        yield (
            "networkConfiguration.securityGroups is empty, so the "
            "VPC's default security group applies"
        )


def _container_insights(resource: Resource, _: Config) -> Iterator[str]:
    settings = as_list(resource.props.get("settings"))
    if any(is_unknown(item) for item in settings):
        return
    enabled = any(
        isinstance(item, dict)
        and item.get("name") == "containerInsights"
        and item.get("value") in ("enabled", "enhanced")
        for item in settings
    )
    if not enabled:
        yield "the cluster's containerInsights setting is not enabled"


RULES: tuple[Rule, ...] = (
    Rule(
        name="ecs-service-no-public-ip",
        summary="The ECS service assigns no public IP to its tasks.",
        runbook="Egress: only through the allowlist, never directly from the internet",
        remediation="set assignPublicIp: false (fargate.assignPublicIp) and run in private subnets",
        severity=Severity.HIGH,
        scanners=("Checkov CKV_AWS_333", "Security Hub ECS.2"),
        resource_types=(SERVICE,),
        check=_no_public_ip,
        tags=("ecs", "network"),
    ),
    Rule(
        name="ecs-service-platform-version",
        summary="The Fargate platform version is LATEST or at least the configured minimum.",
        runbook="Patching: the platform gets security fixes",
        remediation="set platformVersion: LATEST (fargate.platformVersion)",
        severity=Severity.MEDIUM,
        scanners=("Checkov CKV_AWS_332", "Security Hub ECS.10"),
        params=(
            text("minimumPlatformVersion", "1.4.0", "Oldest allowed Fargate platform version."),
        ),
        resource_types=(SERVICE,),
        check=_platform_version,
        tags=("ecs",),
    ),
    Rule(
        name="ecs-service-exec-disabled",
        summary="ECS Exec is disabled on the service.",
        runbook="Access: no interactive shell into the sandbox",
        remediation="set enableExecuteCommand: false (fargate.enableExecuteCommand)",
        severity=Severity.HIGH,
        resource_types=(SERVICE,),
        check=_exec_disabled,
        tags=("ecs",),
    ),
    Rule(
        name="ecs-service-security-groups",
        summary="The service names its security groups explicitly.",
        runbook="Egress: only DNS and HTTPS to the allowlist",
        remediation=(
            "set networkConfiguration.securityGroups to the sandbox's egress-allowlist group"
        ),
        severity=Severity.HIGH,
        resource_types=(SERVICE,),
        check=_security_groups,
        tags=("ecs", "network"),
    ),
    Rule(
        name="ecs-cluster-container-insights",
        summary="Container Insights is enabled on the cluster.",
        runbook="Audit: resource use is observable",
        remediation="add the setting containerInsights = enabled to the cluster",
        severity=Severity.LOW,
        level=ADVISORY,
        scanners=("Checkov CKV_AWS_65", "Security Hub ECS.12", "Trivy AVD-AWS-0034"),
        resource_types=(CLUSTER,),
        check=_container_insights,
        tags=("ecs",),
    ),
)
