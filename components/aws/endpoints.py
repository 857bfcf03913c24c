"""The VPC endpoints Fargate needs to pull images, ship logs and read secrets without a NAT.

AWS-service traffic then never leaves the VPC, and the sandbox's security group can allow
it by endpoint security group and S3 prefix list instead of by open port.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.aws.egress import PlatformEgress

# Endpoint name (used in resource names) -> service suffix, in a fixed order.
BASE_INTERFACE_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("ecr-api", "ecr.api"),
    ("ecr-dkr", "ecr.dkr"),
    ("logs", "logs"),
)
SECRETS_INTERFACE_ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("ssm", "ssm"),
    ("secretsmanager", "secretsmanager"),
)
SECRETS_BACKENDS = frozenset(backend for backend, _ in SECRETS_INTERFACE_ENDPOINTS)


def interface_endpoints(secrets_backends: Iterable[str]) -> list[tuple[str, str]]:
    """The interface endpoints to create: ECR and Logs always, a secrets store when used."""
    backends = frozenset(secrets_backends)
    unknown = sorted(backends - SECRETS_BACKENDS)
    if unknown:
        raise ValueError(
            f"secrets backend {unknown[0]!r} is not allowed; allowed: "
            f"{', '.join(sorted(SECRETS_BACKENDS))}"
        )
    chosen = [endpoint for endpoint in SECRETS_INTERFACE_ENDPOINTS if endpoint[0] in backends]
    return [*BASE_INTERFACE_ENDPOINTS, *chosen]


def ecr_layer_bucket_policy(region: str) -> str:
    """Lets the S3 gateway serve only ECR's layer bucket, so it is no route to other buckets."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EcrImageLayers",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::prod-{region}-starport-layer-bucket/*",
                }
            ],
        }
    )


def create_endpoints(
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    vpc_cidr: str,
    subnet_ids: Sequence[pulumi.Input[str]],
    route_table_ids: Sequence[pulumi.Input[str]],
    region: str,
    secrets_backends: Iterable[str],
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> PlatformEgress:
    """Interface endpoints (private DNS, each with its own security group) and the S3 gateway."""
    opts = pulumi.ResourceOptions(parent=parent)
    group_ids: dict[str, pulumi.Input[str]] = {}
    for endpoint, service in interface_endpoints(secrets_backends):
        group = aws.ec2.SecurityGroup(
            f"{name}-{endpoint}-endpoint-sg",
            vpc_id=vpc_id,
            description=f"{service} interface endpoint: HTTPS from inside the VPC only",
            tags={**tags, "Name": f"{name}-{endpoint}-endpoint"},
            opts=opts,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-{endpoint}-endpoint-https-in",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=vpc_cidr,
            description=f"HTTPS to {service} from the VPC {vpc_cidr}",
            tags=dict(tags),
            opts=opts,
        )
        aws.ec2.VpcEndpoint(
            f"{name}-{endpoint}-endpoint",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region}.{service}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=list(subnet_ids),
            security_group_ids=[group.id],
            tags={**tags, "Name": f"{name}-{endpoint}"},
            opts=opts,
        )
        group_ids[endpoint] = group.id
    s3 = aws.ec2.VpcEndpoint(
        f"{name}-s3-endpoint",
        vpc_id=vpc_id,
        service_name=f"com.amazonaws.{region}.s3",
        vpc_endpoint_type="Gateway",
        route_table_ids=list(route_table_ids),
        policy=ecr_layer_bucket_policy(region),
        tags={**tags, "Name": f"{name}-s3"},
        opts=opts,
    )
    return PlatformEgress(
        endpoint_security_group_ids=group_ids, s3_prefix_list_id=s3.prefix_list_id
    )
