"""Route 53 Resolver DNS Firewall: the VPC resolves the allowlisted names and nothing else.

Security groups cannot see names, so a host entry's port is open to every address; this
firewall is what keeps the sandbox from looking up any other name. It does not stop a
connection to an address the sandbox already knows (see the README's egress section).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import EgressRule

# Evaluated after any rule groups AWS Firewall Manager puts first (priority 100 and below).
ASSOCIATION_PRIORITY = 200
ALLOW_PRIORITY = 100
BLOCK_PRIORITY = 200
BLOCK_EVERYTHING = "*"

# Registries whose blobs come from a second host; the sandbox needs both names to pull.
_REGISTRY_BLOB_HOSTS: Mapping[str, tuple[str, ...]] = {
    "ghcr.io": ("ghcr.io", "pkg-containers.githubusercontent.com"),
    "docker.io": ("registry-1.docker.io", "auth.docker.io", "production.cloudflare.docker.com"),
}


def aws_service_domains(region: str, secrets_backends: Iterable[str]) -> list[str]:
    """Names Fargate itself looks up for a task: ECR, the ECR layer bucket, Logs, secrets.

    The interface endpoints answer these names with private addresses, but the lookup still
    goes through the VPC resolver and so through this firewall.
    """
    domains = [
        f"api.ecr.{region}.amazonaws.com",
        f"*.dkr.ecr.{region}.amazonaws.com",
        f"prod-{region}-starport-layer-bucket.s3.{region}.amazonaws.com",
        f"logs.{region}.amazonaws.com",
    ]
    backends = set(secrets_backends)
    if "ssm" in backends:
        domains.append(f"ssm.{region}.amazonaws.com")
    if "secretsmanager" in backends:
        domains.append(f"secretsmanager.{region}.amazonaws.com")
    return domains


def registry_domains(image: str) -> tuple[str, ...]:
    """The names a pull of ``image`` looks up (the registry, and its blob host if separate)."""
    first, _, rest = image.partition("/")
    is_host = bool(rest) and ("." in first or ":" in first or first == "localhost")
    registry = first.split(":")[0] if is_host else "docker.io"
    return _REGISTRY_BLOB_HOSTS.get(registry, (registry,))


def allowed_domains(
    egress: Sequence[EgressRule],
    region: str,
    secrets_backends: Iterable[str],
    images: Iterable[str] = (),
) -> list[str]:
    """Every name the VPC may resolve: host entries, AWS service names, image registries.

    In a stable order (hosts first, as listed), without duplicates.
    """
    names = [rule.host for rule in egress if rule.host is not None]
    names += aws_service_domains(region, secrets_backends)
    for image in images:
        names += registry_domains(image)
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class DnsFirewallArgs:
    vpc_id: pulumi.Input[str]
    domains: Sequence[str]
    tags: Mapping[str, str]


class DnsFirewall(pulumi.ComponentResource):
    """Allow the listed names, answer NXDOMAIN for every other name, and fail closed."""

    rule_group_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: DnsFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agent-sandbox:aws:DnsFirewall", name, None, opts)
        if not args.domains:
            raise ValueError(f"{name}: the DNS firewall needs at least one allowed domain")
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        allowed = aws.route53.ResolverFirewallDomainList(
            f"{name}-allowed",
            name=f"{name}-allowed",
            domains=list(args.domains),
            tags=tags,
            opts=child,
        )
        everything = aws.route53.ResolverFirewallDomainList(
            f"{name}-everything",
            name=f"{name}-everything",
            domains=[BLOCK_EVERYTHING],
            tags=tags,
            opts=child,
        )
        group = aws.route53.ResolverFirewallRuleGroup(
            f"{name}-rules", name=f"{name}-rules", tags=tags, opts=child
        )
        aws.route53.ResolverFirewallRule(
            f"{name}-allow-listed",
            name=f"{name}-allow-listed",
            firewall_rule_group_id=group.id,
            firewall_domain_list_id=allowed.id,
            action="ALLOW",
            priority=ALLOW_PRIORITY,
            # An allowed name may be a CNAME to a CDN name; trust the chain of a name we allow
            # instead of listing every CDN host.
            firewall_domain_redirection_action="TRUST_REDIRECTION_DOMAIN",
            opts=child,
        )
        aws.route53.ResolverFirewallRule(
            f"{name}-block-rest",
            name=f"{name}-block-rest",
            firewall_rule_group_id=group.id,
            firewall_domain_list_id=everything.id,
            action="BLOCK",
            block_response="NXDOMAIN",
            priority=BLOCK_PRIORITY,
            opts=child,
        )
        aws.route53.ResolverFirewallRuleGroupAssociation(
            f"{name}-association",
            name=f"{name}-association",
            firewall_rule_group_id=group.id,
            vpc_id=args.vpc_id,
            priority=ASSOCIATION_PRIORITY,
            # Mutation protection would make `pulumi destroy` and rule-group replacement fail;
            # the sandbox has no IAM rights to touch the association anyway.
            mutation_protection="DISABLED",
            tags=tags,
            opts=child,
        )
        # If the firewall cannot answer, queries fail instead of resolving unfiltered.
        aws.route53.ResolverFirewallConfig(
            f"{name}-fail-closed",
            resource_id=args.vpc_id,
            firewall_fail_open="DISABLED",
            opts=child,
        )
        self.rule_group_id = group.id
        self.register_outputs({"ruleGroupId": group.id})
