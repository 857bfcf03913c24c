"""Stack policies: properties of how resources fit together, not of any one resource."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pulumi_policy import Severity

from .ecs_service import SERVICE
from .graph import FARGATE_SANDBOX, FLY_SANDBOX, StackGraph
from .rule import Config, Resource, Rule, StackFinding
from .security_groups import RULE_TYPES, SECURITY_GROUP, sg_rules, unrestricted_egress
from .values import as_dict, as_list, is_unknown

DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
VPC = "aws:ec2/vpc:Vpc"


def service_security_groups(graph: StackGraph, service: Resource) -> list[Resource]:
    return graph.dependencies(service, SECURITY_GROUP, DEFAULT_SECURITY_GROUP)


def _egress_restricted(resources: Sequence[Resource], _: Config) -> Iterator[StackFinding]:
    graph = StackGraph(resources)
    for sandbox in graph.of_type(FARGATE_SANDBOX):
        services = graph.descendants(sandbox, SERVICE)
        if not services:
            yield (
                sandbox.urn,
                f"Fargate sandbox {sandbox.name!r} has no ECS service to attach egress rules to",
            )
        for service in services:
            groups = service_security_groups(graph, service)
            if not groups:
                yield (
                    service.urn,
                    (
                        f"service {service.name!r} uses no security "
                        "group declared in this stack, so "
                        "its egress restrictions cannot be verified"
                    ),
                )
            for group in groups:
                rules = sg_rules(group) + [
                    rule for item in graph.dependents(group, *RULE_TYPES) for rule in sg_rules(item)
                ]
                for rule in rules:
                    if unrestricted_egress(rule):
                        yield (
                            service.urn,
                            (
                                f"service {service.name!r} uses security "
                                f"group {group.name!r}, whose "
                                f"{rule.describe()} allows egress everywhere"
                            ),
                        )
    for sandbox in graph.resources:
        if _is_sandbox_component(sandbox) and sandbox.type not in (FARGATE_SANDBOX, FLY_SANDBOX):
            yield (
                sandbox.urn,
                (
                    f"sandbox {sandbox.name!r} is of type "
                    f"{sandbox.type}, whose egress restrictions "
                    "this pack does not know how to verify"
                ),
            )


def _is_sandbox_component(resource: Resource) -> bool:
    return resource.type.startswith("agent-sandbox:") and resource.type.endswith("Sandbox")


def _no_default_security_group(resources: Sequence[Resource], _: Config) -> Iterator[StackFinding]:
    graph = StackGraph(resources)
    default_ids = {
        str(value)
        for vpc in graph.of_type(VPC)
        if isinstance(value := vpc.props.get("defaultSecurityGroupId"), str)
    }
    for service in graph.of_type(SERVICE):
        network = service.props.get("networkConfiguration")
        groups = as_dict(network).get("securityGroups")
        if is_unknown(network) or is_unknown(groups):
            continue
        ids = [group for group in as_list(groups) if isinstance(group, str)]
        if not as_list(groups):
            yield (
                service.urn,
                f"service {service.name!r} names no security group, so "
                "it runs on the VPC's default group",
            )
        elif default_ids.intersection(ids) or graph.dependencies(service, DEFAULT_SECURITY_GROUP):
            yield service.urn, f"service {service.name!r} runs on the VPC's default security group"


RULES: tuple[Rule, ...] = (
    Rule(
        name="stack-sandbox-egress-restricted",
        summary=(
            "Every sandbox has egress restrictions attached: each Fargate service's security "
            "groups are declared in the stack and none allows egress everywhere (Fly has no egress "
            "firewall: sandbox-control-coverage reports that gap on Fly)."
        ),
        runbook="Egress: only DNS and HTTPS to api.render.com, sentry.io, github.com",
        remediation="attach the sandbox's egress-allowlist security group to its service",
        severity=Severity.CRITICAL,
        stack_check=_egress_restricted,
        tags=("stack", "egress"),
    ),
    Rule(
        name="stack-no-default-security-group",
        summary="No ECS service runs on the VPC's default security group.",
        runbook="Egress: only the sandbox's own allowlist applies",
        remediation=(
            "give the service its own security group in networkConfiguration.securityGroups"
        ),
        severity=Severity.HIGH,
        stack_check=_no_default_security_group,
        tags=("stack", "network"),
    ),
)
