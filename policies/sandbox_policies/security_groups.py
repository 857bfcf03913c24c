"""Security group policies over inline rules and the separate rule resources alike.

A group's rules can be declared three ways (inline on aws.ec2.SecurityGroup, as
aws.ec2.SecurityGroupRule, or as aws.vpc.SecurityGroupEgressRule/IngressRule); each is
normalized to one SgRule so a rule cannot slip past a policy by its spelling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Severity

from .rule import ADVISORY, Config, Resource, Rule, integer_list
from .values import as_int, as_list, as_str, is_unknown

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC_EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
TYPES = (SECURITY_GROUP, SG_RULE, VPC_EGRESS_RULE, VPC_INGRESS_RULE)
RULE_TYPES = (SG_RULE, VPC_EGRESS_RULE, VPC_INGRESS_RULE)
PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
PULUMI_DEFAULT_DESCRIPTION = "Managed by Pulumi"
_PROTOCOL_NAMES = {"-1": "-1", "all": "-1", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


@dataclass(frozen=True)
class SgRule:
    direction: str
    label: str
    protocol: str | None
    """Normalized: "-1" for all, "tcp", "udp", ...; None when unknown during preview."""
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]
    description: str | None

    @property
    def all_protocols(self) -> bool:
        return self.protocol == "-1"

    @property
    def all_ports(self) -> bool:
        if self.all_protocols:
            return True
        return self.protocol in ("tcp", "udp") and (self.from_port, self.to_port) == (0, 65535)

    @property
    def public_cidrs(self) -> list[str]:
        return sorted(PUBLIC_CIDRS.intersection(self.cidrs))

    def describe(self) -> str:
        if self.all_protocols:
            ports = "all protocols"
        elif self.from_port == self.to_port:
            ports = f"{self.protocol} {self.from_port}"
        else:
            ports = f"{self.protocol} {self.from_port}-{self.to_port}"
        return f"{self.label} ({ports})"


def _protocol(value: Any) -> str | None:
    if is_unknown(value) or value is None:
        return None
    name = str(value).strip().lower()
    return _PROTOCOL_NAMES.get(name, name)


def _cidrs(*values: Any) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        else:
            found.extend(item for item in as_list(value) if isinstance(item, str))
    return tuple(found)


def sg_rules(resource: Resource) -> list[SgRule]:
    """Every rule ``resource`` declares, normalized; [] for other resource types."""
    props = resource.props
    if resource.type == SECURITY_GROUP:
        rules = []
        for direction in ("ingress", "egress"):
            for index, item in enumerate(as_list(props.get(direction))):
                if not isinstance(item, dict):
                    continue
                rules.append(
                    SgRule(
                        direction,
                        f"inline {direction}[{index}]",
                        _protocol(item.get("protocol")),
                        as_int(item.get("fromPort")),
                        as_int(item.get("toPort")),
                        _cidrs(item.get("cidrBlocks"), item.get("ipv6CidrBlocks")),
                        as_str(item.get("description")),
                    )
                )
        return rules
    if resource.type == SG_RULE:
        kind = props.get("type")
        if kind not in ("ingress", "egress"):
            return []
        return [
            SgRule(
                str(kind),
                f"{kind} rule",
                _protocol(props.get("protocol")),
                as_int(props.get("fromPort")),
                as_int(props.get("toPort")),
                _cidrs(props.get("cidrBlocks"), props.get("ipv6CidrBlocks")),
                as_str(props.get("description")),
            )
        ]
    if resource.type in (VPC_EGRESS_RULE, VPC_INGRESS_RULE):
        direction = "egress" if resource.type == VPC_EGRESS_RULE else "ingress"
        return [
            SgRule(
                direction,
                f"{direction} rule",
                _protocol(props.get("ipProtocol")),
                as_int(props.get("fromPort")),
                as_int(props.get("toPort")),
                _cidrs(props.get("cidrIpv4"), props.get("cidrIpv6")),
                as_str(props.get("description")),
            )
        ]
    return []


def unrestricted_egress(rule: SgRule) -> bool:
    return rule.direction == "egress" and bool(rule.public_cidrs) and rule.all_ports


def _no_unrestricted_egress(resource: Resource, _: Config) -> Iterator[str]:
    for rule in sg_rules(resource):
        if unrestricted_egress(rule):
            yield f"{rule.describe()} allows egress on every port to {', '.join(rule.public_cidrs)}"


def _egress_ports(resource: Resource, config: Config) -> Iterator[str]:
    allowed = sorted(set(config.get_ints("allowedEgressPorts")))
    for rule in sg_rules(resource):
        if rule.direction != "egress" or rule.protocol is None:
            continue
        if rule.protocol not in ("tcp", "udp"):
            yield f"{rule.describe()}: only TCP or UDP egress to ports {allowed} is allowed"
            continue
        low, high = rule.from_port, rule.to_port
        if low is None or high is None:
            continue
        if not 0 <= low <= high <= 65535:
            yield f"{rule.describe()} has an invalid port range"
        elif not set(range(low, high + 1)) <= set(allowed):
            yield f"{rule.describe()} opens ports outside the allowlist {allowed}"


def _no_public_ingress(resource: Resource, _: Config) -> Iterator[str]:
    for rule in sg_rules(resource):
        if rule.direction == "ingress" and rule.public_cidrs:
            yield f"{rule.describe()} allows ingress from {', '.join(rule.public_cidrs)}"


def _descriptions(resource: Resource, _: Config) -> Iterator[str]:
    if resource.type == SECURITY_GROUP:
        description = resource.props.get("description")
        if not is_unknown(description) and (
            not as_str(description) or description == PULUMI_DEFAULT_DESCRIPTION
        ):
            yield "the security group has no description of its purpose"
    for rule in sg_rules(resource):
        if not rule.description:
            yield f"{rule.describe()} has no description"


RULES: tuple[Rule, ...] = (
    Rule(
        name="sg-no-unrestricted-egress",
        summary=(
            "No security group rule allows egress on all protocols "
            "or all ports to 0.0.0.0/0 or ::/0."
        ),
        runbook="Egress: only DNS (udp 53) and HTTPS to the allowlist",
        remediation=(
            "replace it with one rule per allowlisted destination and port (config 'egress')"
        ),
        severity=Severity.CRITICAL,
        scanners=("Checkov CKV_AWS_382", "Trivy AVD-AWS-0104"),
        resource_types=TYPES,
        check=_no_unrestricted_egress,
        tags=("network", "egress"),
    ),
    Rule(
        name="sg-egress-ports",
        summary="Every egress rule is TCP or UDP to ports in the configured allowlist.",
        runbook="Egress: only DNS (udp 53) and TCP 443",
        remediation=(
            "restrict the rule to the allowlisted ports, or add the port to allowedEgressPorts"
        ),
        severity=Severity.HIGH,
        params=(integer_list("allowedEgressPorts", (53, 443), "Ports egress rules may open."),),
        resource_types=TYPES,
        check=_egress_ports,
        tags=("network", "egress"),
    ),
    Rule(
        name="sg-no-public-ingress",
        summary="No security group rule allows ingress from 0.0.0.0/0 or ::/0.",
        runbook="Network: the sandbox takes no inbound traffic",
        remediation="remove the rule or limit it to the VPC's CIDR or a referenced security group",
        severity=Severity.CRITICAL,
        scanners=("Checkov CKV_AWS_277", "Trivy AVD-AWS-0107"),
        resource_types=TYPES,
        check=_no_public_ingress,
        tags=("network", "ingress"),
    ),
    Rule(
        name="sg-descriptions",
        summary="Security groups and their rules carry a description.",
        runbook="Audit: every opening says why it exists",
        remediation="add a description naming the destination and purpose",
        severity=Severity.LOW,
        level=ADVISORY,
        scanners=("Checkov CKV_AWS_23", "Trivy AVD-AWS-0099", "Trivy AVD-AWS-0124"),
        resource_types=TYPES,
        check=_descriptions,
        tags=("network",),
    ),
)
