"""Renders the preview's artifacts from what the program registered.

Everything here is derived from the recorded registrations, not from the config, so the files
show what `pulumi up` would send to AWS and Fly, including anything a component got wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tools.preview.mock_runtime import RecordedResource, RecordedRun

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
FLY_SANDBOX = "agent-sandbox:fly:Sandbox"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DOMAIN_LIST = "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList"
FIREWALL_RULE = "aws:route53/resolverFirewallRule:ResolverFirewallRule"

# Provider input name -> RegisterTaskDefinition parameter, where they differ or need reshaping.
_TASK_DEFINITION_SCALARS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
)


def owner_name(run: RecordedRun, resource: RecordedResource) -> str:
    """The name of the component that owns ``resource`` (the sandbox it belongs to)."""
    parents = {item.urn: item for item in run.resources}
    current = resource
    while current.custom and current.parent in parents:
        current = parents[current.parent]
    return current.name


def register_task_definition_input(resource: RecordedResource) -> dict[str, Any]:
    """The RegisterTaskDefinition request the AWS provider would send for this resource.

    The result is what ``aws ecs register-task-definition --cli-input-json`` accepts.
    """
    inputs = resource.inputs
    request: dict[str, Any] = {
        key: inputs[key] for key in _TASK_DEFINITION_SCALARS if inputs.get(key) is not None
    }
    request["containerDefinitions"] = json.loads(inputs["containerDefinitions"])
    if inputs.get("volumes"):
        request["volumes"] = [_volume(volume) for volume in inputs["volumes"]]
    platform = inputs.get("runtimePlatform")
    if platform:
        request["runtimePlatform"] = dict(platform)
    storage = inputs.get("ephemeralStorage")
    if storage:
        request["ephemeralStorage"] = {"sizeInGiB": storage["sizeInGib"]}
    tags = inputs.get("tags")
    if isinstance(tags, Mapping) and tags:
        request["tags"] = [{"key": key, "value": value} for key, value in sorted(tags.items())]
    return request


def _volume(volume: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {"name": volume["name"]}
    if volume.get("hostPath"):
        shaped["host"] = {"sourcePath": volume["hostPath"]}
    return shaped


def task_definitions(run: RecordedRun) -> dict[str, dict[str, Any]]:
    """Sandbox name -> its RegisterTaskDefinition input."""
    return {
        owner_name(run, resource): register_task_definition_input(resource)
        for resource in run.of_type(TASK_DEFINITION)
    }


def fly_configs(run: RecordedRun) -> dict[str, str]:
    """Sandbox name -> the fly.toml its component renders and deploys."""
    return {resource.name: str(resource.inputs["flyToml"]) for resource in run.of_type(FLY_SANDBOX)}


def _destination(rule: Mapping[str, Any], groups: Mapping[str, str]) -> str:
    if rule.get("cidrIpv4"):
        return str(rule["cidrIpv4"])
    if rule.get("cidrIpv6"):
        return str(rule["cidrIpv6"])
    if rule.get("prefixListId"):
        return f"prefix list {rule['prefixListId']}"
    if rule.get("referencedSecurityGroupId"):
        referenced = str(rule["referencedSecurityGroupId"])
        return f"security group {groups.get(referenced, referenced)}"
    return "?"


def _ports(rule: Mapping[str, Any]) -> str:
    if str(rule.get("ipProtocol")) == "-1":
        return "all"
    low, high = rule.get("fromPort"), rule.get("toPort")
    return str(low) if low == high else f"{low}-{high}"


def egress_table(run: RecordedRun) -> str:
    """Every security-group rule and DNS-firewall list the stack declares, as a text table."""
    groups = {f"{resource.name}-id": resource.name for resource in run.of_type(SECURITY_GROUP)}
    rows: list[tuple[str, ...]] = []
    for type_, direction in ((EGRESS_RULE, "egress"), (INGRESS_RULE, "ingress")):
        for resource in run.of_type(type_):
            rule = resource.inputs
            group = groups.get(str(rule.get("securityGroupId")), str(rule.get("securityGroupId")))
            rows.append(
                (
                    group,
                    direction,
                    str(rule.get("ipProtocol")),
                    _ports(rule),
                    _destination(rule, groups),
                    str(rule.get("description", "")),
                )
            )
    header = ("security group", "direction", "protocol", "port", "destination", "description")
    lines = _table(header, sorted(rows))
    lists = {resource.urn: resource for resource in run.of_type(DOMAIN_LIST)}
    firewall_rules = run.of_type(FIREWALL_RULE)
    if firewall_rules:
        lines += ["", "DNS firewall (Route 53 Resolver), in priority order:"]
        ordered = sorted(firewall_rules, key=lambda item: int(item.inputs.get("priority", 0)))
        for firewall_rule in ordered:
            domains = _domains_of(firewall_rule, lists)
            inputs = firewall_rule.inputs
            lines.append(f"  {inputs.get('priority')}: {inputs.get('action')} {', '.join(domains)}")
    return "\n".join(lines) + "\n"


def _domains_of(rule: RecordedResource, lists: Mapping[str, RecordedResource]) -> list[str]:
    list_id = str(rule.inputs.get("firewallDomainListId", ""))
    for domain_list in lists.values():
        if list_id == f"{domain_list.name}-id":
            return [str(domain) for domain in domain_list.inputs.get("domains", [])]
    return [list_id]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def render(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    return [render(header), render(["-" * width for width in widths]), *map(render, rows)]


def resource_table(run: RecordedRun) -> str:
    """What `pulumi up` would register: type, name and parent, in registration order."""
    names = {resource.urn: resource.name for resource in run.resources}
    rows = [
        (resource.type, resource.name, names.get(resource.parent, "(stack)"))
        for resource in run.resources
    ]
    return "\n".join(_table(("type", "name", "parent"), rows)) + "\n"
