"""The shared network: private subnets, endpoints with their own groups, NAT, DNS firewall."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

import pytest

from components.aws.dns_firewall import allowed_domains, registry_domains
from components.aws.egress import create_sandbox_security_group
from components.aws.endpoints import interface_endpoints
from components.aws.network import SandboxNetwork, SandboxNetworkArgs, plan_subnets
from components.config import CreateNetwork, EgressRule, ExistingNetwork
from tests.stack_configs import staging_config
from tools.preview.mock_runtime import RecordedResource, RecordedRun, run_under_mocks

REGION = "us-west-2"
TAGS = {"project": "agent-sandbox", "environment": "test"}
IMAGE = "ghcr.io/rc918/agent@sha256:" + "a" * 64
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
SUBNET = "aws:ec2/subnet:Subnet"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
DOMAIN_LIST = "aws:route53/resolverFirewallDomainList:ResolverFirewallDomainList"
FIREWALL_RULE = "aws:route53/resolverFirewallRule:ResolverFirewallRule"
ASSOCIATION = (
    "aws:route53/resolverFirewallRuleGroupAssociation:ResolverFirewallRuleGroupAssociation"
)
FIREWALL_CONFIG = "aws:route53/resolverFirewallConfig:ResolverFirewallConfig"
# Resource types that take no tags.
UNTAGGED = {
    "aws:ec2/route:Route",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
    FIREWALL_RULE,
    FIREWALL_CONFIG,
}


def _create(**overrides: Any) -> CreateNetwork:
    return CreateNetwork.model_validate(
        {"mode": "create", "availabilityZones": ["us-west-2a", "us-west-2b"], **overrides}
    )


def _existing(**overrides: Any) -> ExistingNetwork:
    return ExistingNetwork.model_validate(
        {
            "mode": "existing",
            "vpcId": "vpc-0123456789abcdef0",
            "privateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
            **overrides,
        }
    )


def _run(
    network: CreateNetwork | ExistingNetwork,
    secrets_backends: frozenset[str] = frozenset({"ssm"}),
    egress: Sequence[EgressRule] | None = None,
) -> tuple[RecordedRun, list[SandboxNetwork]]:
    built: list[SandboxNetwork] = []
    args = SandboxNetworkArgs(
        network=network,
        egress=staging_config().egress if egress is None else egress,
        region=REGION,
        secrets_backends=secrets_backends,
        tags=TAGS,
        images=[IMAGE],
    )
    run = run_under_mocks(lambda: built.append(SandboxNetwork("net", args)), {"aws:region": REGION})
    return run, built


def _descends_from(run: RecordedRun, resource: RecordedResource, ancestor_urn: str) -> bool:
    by_urn = {item.urn: item for item in run.resources}
    parent = resource.parent
    while parent in by_urn:
        if parent == ancestor_urn:
            return True
        parent = by_urn[parent].parent
    return parent == ancestor_urn


# --------------------------------------------------------------------------- subnet plan


def test_subnet_plan_for_staging_is_a_20_per_zone_and_a_28_at_the_top() -> None:
    plan = plan_subnets("10.40.0.0/16", 2)

    assert plan.private == ("10.40.0.0/20", "10.40.16.0/20")
    assert plan.public == "10.40.255.240/28"


@pytest.mark.parametrize("prefix", range(16, 25))
@pytest.mark.parametrize("zones", [2, 3])
def test_subnet_plan_never_overlaps_and_stays_in_the_vpc(prefix: int, zones: int) -> None:
    vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
    plan = plan_subnets(str(vpc), zones)
    blocks = [ipaddress.IPv4Network(cidr) for cidr in (*plan.private, plan.public)]

    assert len(plan.private) == zones
    assert all(block.subnet_of(vpc) for block in blocks)
    assert all(not a.overlaps(b) for i, a in enumerate(blocks) for b in blocks[i + 1 :])
    assert all(ipaddress.IPv4Network(cidr).prefixlen <= 26 for cidr in plan.private)


def test_subnet_plan_rejects_an_impossible_zone_count() -> None:
    with pytest.raises(ValueError, match="4 availability zones is not allowed; allowed: 1 to 3"):
        plan_subnets("10.40.0.0/16", 4)


# --------------------------------------------------------------------------- create mode


def test_create_mode_builds_a_private_vpc_with_a_locked_default_group() -> None:
    run, _ = _run(_create(cidr="10.40.0.0/16"))
    vpc = run.named("net-vpc")

    assert vpc.inputs["cidrBlock"] == "10.40.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True
    default_group = run.named("net-default-sg").inputs
    assert default_group["vpcId"] == "net-vpc-id"
    assert "ingress" not in default_group and "egress" not in default_group
    private = [s for s in run.of_type(SUBNET) if "private" in s.name]
    assert sorted((s.inputs["availabilityZone"], s.inputs["cidrBlock"]) for s in private) == [
        ("us-west-2a", "10.40.0.0/20"),
        ("us-west-2b", "10.40.16.0/20"),
    ]
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in run.of_type(SUBNET))
    component = run.named("net")
    assert component.type == "agent-sandbox:aws:SandboxNetwork"
    assert all(_descends_from(run, r, component.urn) for r in run.resources if r is not component)


def test_create_mode_has_one_nat_and_private_default_route_through_it() -> None:
    run, _ = _run(_create())

    assert [s.name for s in run.of_type(SUBNET) if "public" in s.name] == ["net-public-nat"]
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 1
    nat = run.named("net-nat").inputs
    assert (nat["subnetId"], nat["allocationId"]) == ("net-public-nat-id", "net-nat-eip-id")
    assert run.named("net-nat-eip").inputs["domain"] == "vpc"
    routes = {r.name: r.inputs for r in run.of_type("aws:ec2/route:Route")}
    assert routes["net-private-default"] == {
        "routeTableId": "net-private-rt-id",
        "destinationCidrBlock": "0.0.0.0/0",
        "natGatewayId": "net-nat-id",
    }
    assert routes["net-public-default"]["gatewayId"] == "net-igw-id"
    associations = {
        r.inputs["subnetId"]: r.inputs["routeTableId"]
        for r in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    assert associations == {
        "net-private-us-west-2a-id": "net-private-rt-id",
        "net-private-us-west-2b-id": "net-private-rt-id",
        "net-public-nat-id": "net-public-rt-id",
    }


def test_without_nat_there_is_no_public_path_at_all() -> None:
    run, _ = _run(_create(natGateway=False))
    types = {r.type for r in run.resources}

    assert not types & {
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/route:Route",
    }
    assert sorted(s.name for s in run.of_type(SUBNET)) == [
        "net-private-us-west-2a",
        "net-private-us-west-2b",
    ]


def test_each_interface_endpoint_has_its_own_group_open_to_the_vpc_only() -> None:
    run, (network,) = _run(_create(cidr="10.40.0.0/16"), secrets_backends=frozenset({"ssm"}))
    interfaces = [e for e in run.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Interface"]

    assert sorted(e.inputs["serviceName"] for e in interfaces) == [
        "com.amazonaws.us-west-2.ecr.api",
        "com.amazonaws.us-west-2.ecr.dkr",
        "com.amazonaws.us-west-2.logs",
        "com.amazonaws.us-west-2.ssm",
    ]
    group_ids = [e.inputs["securityGroupIds"] for e in interfaces]
    assert all(len(ids) == 1 for ids in group_ids)
    assert len({ids[0] for ids in group_ids}) == len(interfaces)
    for endpoint in interfaces:
        assert endpoint.inputs["privateDnsEnabled"] is True
        assert endpoint.inputs["subnetIds"] == [
            "net-private-us-west-2a-id",
            "net-private-us-west-2b-id",
        ]
        (group_id,) = endpoint.inputs["securityGroupIds"]
        ingress = [
            r.inputs for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group_id
        ]
        assert len(ingress) == 1
        (rule,) = ingress
        assert (rule["ipProtocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
        assert rule["cidrIpv4"] == "10.40.0.0/16"
        assert rule["description"]
    assert len(run.of_type(INGRESS)) == len(interfaces)
    assert sorted(network.platform_egress.endpoint_security_group_ids) == [
        "ecr-api",
        "ecr-dkr",
        "logs",
        "ssm",
    ]


def test_platform_egress_points_a_sandbox_group_at_the_endpoints_and_the_s3_prefix_list() -> None:
    def program() -> None:
        network = SandboxNetwork(
            "net",
            SandboxNetworkArgs(_create(), staging_config().egress, REGION, frozenset(), TAGS),
        )
        create_sandbox_security_group(
            "ops-agent", network.vpc_id, [], network.platform_egress, TAGS, network
        )

    run = run_under_mocks(program, {"aws:region": REGION})
    rules = {
        r.name: r.inputs.get("referencedSecurityGroupId") or r.inputs.get("prefixListId")
        for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    }

    assert rules == {
        "ops-agent-egress-endpoint-ecr-api": "net-ecr-api-endpoint-sg-id",
        "ops-agent-egress-endpoint-ecr-dkr": "net-ecr-dkr-endpoint-sg-id",
        "ops-agent-egress-endpoint-logs": "net-logs-endpoint-sg-id",
        "ops-agent-egress-s3-gateway": "pl-0mock00000000000",
    }
    assert run.named("ops-agent-sg").inputs["vpcId"] == "net-vpc-id"


def test_s3_gateway_serves_the_private_route_table_and_only_ecr_layers() -> None:
    run, _ = _run(_create())
    (gateway,) = [e for e in run.of_type(ENDPOINT) if e.inputs["vpcEndpointType"] == "Gateway"]

    assert gateway.inputs["serviceName"] == "com.amazonaws.us-west-2.s3"
    assert gateway.inputs["routeTableIds"] == ["net-private-rt-id"]
    (statement,) = json.loads(gateway.inputs["policy"])["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"] == "arn:aws:s3:::prod-us-west-2-starport-layer-bucket/*"


@pytest.mark.parametrize(
    ("backends", "secret_services"),
    [
        (frozenset(), []),
        (frozenset({"ssm"}), ["ssm"]),
        (frozenset({"secretsmanager"}), ["secretsmanager"]),
        (frozenset({"ssm", "secretsmanager"}), ["secretsmanager", "ssm"]),
    ],
)
def test_secrets_endpoints_exist_only_for_the_stores_in_use(
    backends: frozenset[str], secret_services: list[str]
) -> None:
    run, _ = _run(_create(), secrets_backends=backends)
    services = sorted(e.inputs["serviceName"].rsplit(".", 1)[-1] for e in run.of_type(ENDPOINT))

    assert services == sorted(["api", "dkr", "logs", "s3", *secret_services])
    assert len(run.of_type(SECURITY_GROUP)) == 3 + len(secret_services)


def test_an_unknown_secrets_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="secrets backend 'vault' is not allowed; allowed: "):
        interface_endpoints({"vault"})


# --------------------------------------------------------------------------- DNS firewall


def _firewall(run: RecordedRun) -> dict[str, Any]:
    lists = {r.name: r.inputs for r in run.of_type(DOMAIN_LIST)}
    rules = {r.name: r.inputs for r in run.of_type(FIREWALL_RULE)}
    (association,) = run.of_type(ASSOCIATION)
    (config,) = run.of_type(FIREWALL_CONFIG)
    return {
        "lists": lists,
        "rules": rules,
        "association": association.inputs,
        "config": config.inputs,
    }


def test_dns_firewall_allows_exactly_the_listed_names_and_blocks_the_rest() -> None:
    run, (network,) = _run(_create(), secrets_backends=frozenset({"ssm"}))
    firewall = _firewall(run)

    expected = [
        "api.render.com",
        "sentry.io",
        "github.com",
        "api.ecr.us-west-2.amazonaws.com",
        "*.dkr.ecr.us-west-2.amazonaws.com",
        "prod-us-west-2-starport-layer-bucket.s3.us-west-2.amazonaws.com",
        "logs.us-west-2.amazonaws.com",
        "ssm.us-west-2.amazonaws.com",
        "ghcr.io",
        "pkg-containers.githubusercontent.com",
    ]
    assert network.allowed_domains == expected
    assert firewall["lists"]["net-dns-firewall-allowed"]["domains"] == expected
    assert firewall["lists"]["net-dns-firewall-everything"]["domains"] == ["*"]
    allow = firewall["rules"]["net-dns-firewall-allow-listed"]
    block = firewall["rules"]["net-dns-firewall-block-rest"]
    assert (allow["action"], allow["firewallDomainListId"]) == (
        "ALLOW",
        "net-dns-firewall-allowed-id",
    )
    assert (block["action"], block["blockResponse"]) == ("BLOCK", "NXDOMAIN")
    assert block["firewallDomainListId"] == "net-dns-firewall-everything-id"
    assert allow["priority"] < block["priority"]
    assert (
        allow["firewallRuleGroupId"] == block["firewallRuleGroupId"] == "net-dns-firewall-rules-id"
    )
    assert firewall["association"]["vpcId"] == "net-vpc-id"
    assert firewall["association"]["firewallRuleGroupId"] == "net-dns-firewall-rules-id"
    assert firewall["association"]["priority"] in range(101, 9901)
    assert firewall["config"] == {"resourceId": "net-vpc-id", "firewallFailOpen": "DISABLED"}


def test_secrets_names_are_allowed_only_for_the_stores_in_use() -> None:
    egress = staging_config().egress

    assert not [d for d in allowed_domains(egress, REGION, ()) if "ssm" in d or "secrets" in d]
    both = allowed_domains(egress, REGION, ("ssm", "secretsmanager"))
    assert {"ssm.us-west-2.amazonaws.com", "secretsmanager.us-west-2.amazonaws.com"} <= set(both)
    assert len(both) == len(set(both))


@pytest.mark.parametrize(
    ("image", "names"),
    [
        ("ghcr.io/org/app@sha256:" + "a" * 64, ("ghcr.io", "pkg-containers.githubusercontent.com")),
        (
            "library/alpine@sha256:" + "a" * 64,
            ("registry-1.docker.io", "auth.docker.io", "production.cloudflare.docker.com"),
        ),
        ("registry.example.com:5000/app@sha256:" + "a" * 64, ("registry.example.com",)),
    ],
)
def test_image_registries_map_to_the_names_a_pull_looks_up(
    image: str, names: tuple[str, ...]
) -> None:
    assert registry_domains(image) == names


# --------------------------------------------------------------------------- existing mode


def test_existing_mode_creates_only_the_dns_firewall_for_the_given_vpc() -> None:
    run, (network,) = _run(_existing())
    created = {r.type for r in run.resources}

    assert created == {
        "agent-sandbox:aws:SandboxNetwork",
        "agent-sandbox:aws:DnsFirewall",
        DOMAIN_LIST,
        "aws:route53/resolverFirewallRuleGroup:ResolverFirewallRuleGroup",
        FIREWALL_RULE,
        ASSOCIATION,
        FIREWALL_CONFIG,
    }
    firewall = _firewall(run)
    assert firewall["association"]["vpcId"] == "vpc-0123456789abcdef0"
    assert firewall["config"]["resourceId"] == "vpc-0123456789abcdef0"
    assert network.platform_egress.endpoint_security_group_ids == {}
    assert network.platform_egress.s3_prefix_list_id is None


def test_existing_mode_without_dns_firewall_creates_nothing() -> None:
    run, (network,) = _run(_existing(dnsFirewall=False))

    assert [r.type for r in run.resources] == ["agent-sandbox:aws:SandboxNetwork"]
    assert network.allowed_domains == []
    assert network.dns_firewall_rule_group_id is None


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize("mode", ["create", "existing"])
def test_every_taggable_resource_carries_the_stack_tags(mode: str) -> None:
    run, _ = _run(_create() if mode == "create" else _existing())
    custom = [r for r in run.resources if r.custom and r.type not in UNTAGGED]

    assert custom
    for resource in custom:
        tags = resource.inputs.get("tags", {})
        assert {key: tags.get(key) for key in TAGS} == TAGS, resource.name
