"""The stack's egress allowlist as security-group rules.

Kept as pure data first (``egress_rule_specs``) so the rules can be tested and checked
without a Pulumi engine; the offline preview prints what the stack registers from them. A security
group matches addresses and ports, never names: a host entry therefore opens only its port,
and the DNS firewall (``components.aws.dns_firewall``) is what restricts the names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.config import EgressRule

ANY_IPV4 = "0.0.0.0/0"
ENFORCED_BY_SG = "security group"
ENFORCED_BY_SG_AND_DNS = "security group (port) + DNS firewall (name)"
_PORT_NAMES = {443: "HTTPS", 80: "HTTP", 22: "SSH"}


@dataclass(frozen=True)
class EgressRuleSpec:
    """One security-group egress rule: one protocol, one port, one destination network."""

    key: str
    """Stable and unique within a stack; becomes part of the rule's resource name."""
    ip_protocol: Literal["tcp", "udp"]
    from_port: int
    to_port: int
    cidr_ipv4: str | None
    cidr_ipv6: str | None
    description: str
    destination: str
    """The CIDR, or the host names (comma-separated) whose port this rule opens."""
    enforced_by: str


@dataclass(frozen=True)
class PlatformEgress:
    """HTTPS egress Fargate itself needs: to the interface endpoints and to S3 for ECR layers.

    Empty when the stack uses an existing VPC, whose owner runs the endpoints; HTTPS then
    leaves through the host entries' port rule.
    """

    endpoint_security_group_ids: Mapping[str, pulumi.Input[str]]
    """Interface endpoint name (such as "ecr-api") -> that endpoint's security group id.

    Keyed by name, not a single Output list, so the rules exist (and show) at preview time
    and keep their resource names when an endpoint is added.
    """
    s3_prefix_list_id: pulumi.Input[str] | None


def _key_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cidr_key(protocol: str, port: int, cidr: str) -> str:
    network = ipaddress.ip_network(cidr)
    # ":" and "." both become "-"; the version marker keeps v4 and v6 keys apart.
    marker = "" if network.version == 4 else "v6-"
    address = str(network.network_address).replace(".", "-").replace(":", "-")
    return f"{protocol}-{port}-{marker}{address}-{network.prefixlen}"


def _host_description(port: int, hosts: Sequence[str]) -> str:
    label = _PORT_NAMES.get(port, "TCP")
    suffix = " (names enforced by the DNS firewall)"
    listed = list(hosts)
    while True:
        more = len(hosts) - len(listed)
        names = ", ".join(listed) + (f" and {more} more" if more else "")
        description = f"{label} {port} to {names}{suffix}"
        if len(description) <= 255 or len(listed) == 1:
            return description[:255]
        listed.pop()


def egress_rule_specs(egress: Sequence[EgressRule]) -> list[EgressRuleSpec]:
    """The security-group rules for an allowlist: one per protocol, port and destination.

    CIDR entries allow exactly that network and port. Host entries allow their TCP port to any
    IPv4 address, one rule per port shared by all hosts on it, because names are enforced by
    the DNS firewall, not here. No rule ever allows all protocols or a port range.
    The config model already limits host entries to TCP on non-DNS ports.
    """
    cidr_rules: dict[tuple[str, int, str], list[str]] = {}
    host_ports: dict[int, list[str]] = {}
    for rule in egress:
        if rule.host is not None:
            for port in rule.ports:
                hosts = host_ports.setdefault(port, [])
                if rule.host not in hosts:
                    hosts.append(rule.host)
            continue
        assert rule.cidr is not None  # EgressRule requires exactly one of host or cidr
        for port in rule.ports:
            descriptions = cidr_rules.setdefault((rule.protocol, port, rule.cidr), [])
            if rule.description not in descriptions:
                descriptions.append(rule.description)

    specs: list[EgressRuleSpec] = []
    for (protocol, port, cidr), descriptions in cidr_rules.items():
        ipv6 = ipaddress.ip_network(cidr).version == 6
        specs.append(
            EgressRuleSpec(
                key=_cidr_key(protocol, port, cidr),
                ip_protocol="udp" if protocol == "udp" else "tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=None if ipv6 else cidr,
                cidr_ipv6=cidr if ipv6 else None,
                description="; ".join(descriptions)[:255],
                destination=cidr,
                enforced_by=ENFORCED_BY_SG,
            )
        )
    for port, hosts in host_ports.items():
        specs.append(
            EgressRuleSpec(
                # Named for the port only, so adding a host edits this rule instead of
                # replacing it.
                key=f"tcp-{port}-hosts",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=ANY_IPV4,
                cidr_ipv6=None,
                description=_host_description(port, hosts),
                destination=", ".join(hosts),
                enforced_by=ENFORCED_BY_SG_AND_DNS,
            )
        )
    return specs


def create_sandbox_security_group(  # noqa: PLR0917 - the signature the Fargate component calls
    name: str,
    vpc_id: pulumi.Input[str],
    rules: Sequence[EgressRuleSpec],
    platform_egress: PlatformEgress | None,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A sandbox's security group: the allowlist's egress rules, and no ingress at all.

    The sandbox takes no inbound traffic; its health check runs inside the container.
    """
    opts = pulumi.ResourceOptions(parent=parent)
    # No inline ingress/egress: the provider revokes AWS's default allow-all egress rule when it
    # creates a group in a VPC, and inline rules (even `egress=[]`) would fight the separate
    # SecurityGroupEgressRule resources below on every update.
    group = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=vpc_id,
        description=f"Sandbox {name}: egress allowlist only, no ingress",
        tags={**tags, "Name": f"{name}-sg"},
        opts=opts,
    )
    for spec in rules:
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress-{spec.key}",
            security_group_id=group.id,
            ip_protocol=spec.ip_protocol,
            from_port=spec.from_port,
            to_port=spec.to_port,
            cidr_ipv4=spec.cidr_ipv4,
            cidr_ipv6=spec.cidr_ipv6,
            description=spec.description,
            tags=dict(tags),
            opts=opts,
        )
    if platform_egress is not None:
        _platform_rules(name, group, platform_egress, tags, opts)
    return group


def _platform_rules(
    name: str,
    group: aws.ec2.SecurityGroup,
    platform_egress: PlatformEgress,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    def https_rule(suffix: str, description: str, **destination: pulumi.Input[str]) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-egress-{suffix}",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description=description,
            tags=dict(tags),
            opts=opts,
            **destination,
        )

    for endpoint, group_id in sorted(platform_egress.endpoint_security_group_ids.items()):
        https_rule(
            f"endpoint-{endpoint}",
            f"HTTPS to the {endpoint} interface endpoint",
            referenced_security_group_id=group_id,
        )
    if platform_egress.s3_prefix_list_id is not None:
        https_rule(
            "s3-gateway",
            "HTTPS to S3 through the gateway endpoint (ECR image layers)",
            prefix_list_id=platform_egress.s3_prefix_list_id,
        )
