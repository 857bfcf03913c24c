"""The stack's shared AWS network: private subnets, endpoints and the DNS firewall.

Created once per stack. Sandboxes get only private addresses; each sandbox's own security
group (``components.aws.egress``) decides which of this network's paths it may use.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws.dns_firewall import DnsFirewall, DnsFirewallArgs, allowed_domains
from components.aws.egress import PlatformEgress
from components.aws.endpoints import create_endpoints
from components.config import CreateNetwork, EgressRule, ExistingNetwork


@dataclass(frozen=True)
class SandboxNetworkArgs:
    network: CreateNetwork | ExistingNetwork
    egress: Sequence[EgressRule]
    region: str
    secrets_backends: frozenset[str]
    """Subset of {"ssm", "secretsmanager"}: the secret stores the Fargate sandboxes read."""
    tags: Mapping[str, str]
    images: Sequence[str] = ()
    """The Fargate sandboxes' images; their registries' names must resolve for a pull."""


@dataclass(frozen=True)
class SubnetPlan:
    private: tuple[str, ...]
    """One CIDR per availability zone, in the zones' order."""
    public: str
    """A /28 at the top of the VPC block, for the NAT gateway only."""


def plan_subnets(vpc_cidr: str, zone_count: int) -> SubnetPlan:
    """Carve the VPC block: a private subnet per zone from the bottom, the NAT's /28 at the top.

    Private subnets are a sixteenth of the block (/20 in a /16), but at least a /26 so that
    the endpoints' addresses and the tasks fit. Both positions are fixed, so adding a zone
    never moves an existing subnet.
    """
    network = ipaddress.IPv4Network(vpc_cidr)
    if not 1 <= zone_count <= 3:
        raise ValueError(f"{zone_count} availability zones is not allowed; allowed: 1 to 3")
    private_prefix = min(network.prefixlen + 4, 26)
    private = tuple(str(block) for block in network.subnets(new_prefix=private_prefix))
    public = list(network.subnets(new_prefix=28))[-1]
    return SubnetPlan(private=private[:zone_count], public=str(public))


class SandboxNetwork(pulumi.ComponentResource):
    """Where the Fargate sandboxes run, and the egress paths they may use.

    In "create" mode the VPC has private subnets only (no public address is ever mapped) and
    VPC endpoints for ECR, S3, Logs and the secret stores, so AWS-service traffic never leaves
    the VPC. The one NAT gateway exists because the agent must reach its allowlisted hosts
    (api.render.com, sentry.io, github.com) on the internet; the sandbox security group and
    the DNS firewall decide what may use it. In "existing" mode the VPC's owner runs routing
    and endpoints; only the DNS firewall is added (unless turned off).
    """

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    platform_egress: PlatformEgress
    dns_firewall_rule_group_id: pulumi.Output[str] | None
    allowed_domains: list[str]

    def __init__(
        self, name: str, args: SandboxNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("agent-sandbox:aws:SandboxNetwork", name, None, opts)
        self._name = name
        self._tags = dict(args.tags)
        if isinstance(args.network, CreateNetwork):
            self._create(args.network, args)
            use_dns_firewall = True
        else:
            self.vpc_id = pulumi.Output.from_input(args.network.vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(
                list(args.network.private_subnet_ids)
            )
            self.platform_egress = PlatformEgress(
                endpoint_security_group_ids={}, s3_prefix_list_id=None
            )
            use_dns_firewall = args.network.dns_firewall

        self.dns_firewall_rule_group_id = None
        self.allowed_domains = []
        if use_dns_firewall:
            self.allowed_domains = allowed_domains(
                args.egress, args.region, args.secrets_backends, args.images
            )
            firewall = DnsFirewall(
                f"{name}-dns-firewall",
                DnsFirewallArgs(vpc_id=self.vpc_id, domains=self.allowed_domains, tags=self._tags),
                pulumi.ResourceOptions(parent=self),
            )
            self.dns_firewall_rule_group_id = firewall.rule_group_id

        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "dnsFirewallRuleGroupId": self.dns_firewall_rule_group_id,
                "allowedDomains": self.allowed_domains,
            }
        )

    def _tagged(self, label: str) -> dict[str, str]:
        return {**self._tags, "Name": f"{self._name}-{label}"}

    def _create(self, network: CreateNetwork, args: SandboxNetworkArgs) -> None:
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        plan = plan_subnets(network.cidr, len(network.availability_zones))
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=network.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,  # required for the endpoints' private DNS names
            tags=self._tagged("vpc"),
            opts=child,
        )
        # CIS: the default group allows all traffic between its members; adopt it with no rules.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags=self._tagged("default-closed"), opts=child
        )
        private_table = aws.ec2.RouteTable(
            f"{name}-private-rt", vpc_id=vpc.id, tags=self._tagged("private"), opts=child
        )
        subnets: list[aws.ec2.Subnet] = []
        for zone, cidr in zip(network.availability_zones, plan.private, strict=True):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=self._tagged(f"private-{zone}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}-rt",
                subnet_id=subnet.id,
                route_table_id=private_table.id,
                opts=child,
            )
            subnets.append(subnet)
        if network.nat_gateway:
            self._nat(vpc, plan.public, network.availability_zones[0], private_table)

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in subnets])
        self.platform_egress = create_endpoints(
            name,
            vpc_id=vpc.id,
            vpc_cidr=network.cidr,
            subnet_ids=[subnet.id for subnet in subnets],
            route_table_ids=[private_table.id],
            region=args.region,
            secrets_backends=args.secrets_backends,
            tags=self._tags,
            parent=self,
        )

    def _nat(
        self, vpc: aws.ec2.Vpc, public_cidr: str, zone: str, private_table: aws.ec2.RouteTable
    ) -> None:
        """One NAT gateway in a /28 public subnet that holds nothing else.

        One, not one per zone: a zone outage only pauses the agent's calls to its hosts, and a
        NAT gateway per zone would double the network's standing cost.
        """
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=self._tagged("igw"), opts=child
        )
        public = aws.ec2.Subnet(
            f"{name}-public-nat",
            vpc_id=vpc.id,
            cidr_block=public_cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=self._tagged("public-nat"),
            opts=child,
        )
        public_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags=self._tagged("public"), opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default",
            route_table_id=public_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-nat-rt",
            subnet_id=public.id,
            route_table_id=public_table.id,
            opts=child,
        )
        address = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags=self._tagged("nat"), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            subnet_id=public.id,
            allocation_id=address.id,
            connectivity_type="public",
            tags=self._tagged("nat"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )
        aws.ec2.Route(
            f"{name}-private-default",
            route_table_id=private_table.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
            opts=child,
        )
