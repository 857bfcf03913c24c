"""Every policy, through the pack's real Analyzer servicer: a resource it blocks, one it passes.

Each case asserts the policy's name and its enforcement level, and the passing resources
must not trip that policy. The hardened stack at the end must trip no policy at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox_policies.registry import RULES
from tests.policy_fixtures import (
    analyze,
    container,
    control_matrix,
    fly_sandbox,
    of,
    resource,
    service,
    task_definition,
)
from tools.preview.mock_runtime import RecordedResource

M, A = "mandatory", "advisory"
SG = "aws:ec2/securityGroup:SecurityGroup"
VPC_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
VPC_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EC2_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
REPOSITORY = "aws:ecr/repository:Repository"


def without(definition: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in definition.items() if k != key}


def ulimits(**changes: tuple[int, int]) -> list[dict[str, Any]]:
    limits = {item["name"]: item for item in container()["ulimits"]}
    for name, (soft, hard) in changes.items():
        limits[name] = {"name": name, "softLimit": soft, "hardLimit": hard}
    return list(limits.values())


def sg(**inputs: Any) -> RecordedResource:
    return resource(SG, "sandbox-sg", {"description": "Sandbox egress allowlist", **inputs})


def egress(**inputs: Any) -> RecordedResource:
    base = {"securityGroupId": "sg-1", "description": "HTTPS to the allowlist"}
    return resource(VPC_EGRESS, "sandbox-egress", {**base, **inputs})


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource_: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource_}


def role_policy(*statements: dict[str, Any]) -> RecordedResource:
    return resource(ROLE_POLICY, "task-policy", {"role": "task", "policy": document(*statements)})


def trust(*principals: dict[str, Any]) -> RecordedResource:
    statements = [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
        for principal in principals
    ]
    return resource(ROLE, "task-role", {"assumeRolePolicy": document(*statements)})


def log_group(**inputs: Any) -> RecordedResource:
    return resource(LOG_GROUP, "logs", {"name": "/agent-sandbox/ops-agent", **inputs})


def repository(**inputs: Any) -> RecordedResource:
    base = {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}}
    return resource(REPOSITORY, "images", {**base, **inputs})


def fargate_stack(
    *, rule: dict[str, Any] | None = None, sg_dependency: bool = True, **service_inputs: Any
) -> list[RecordedResource]:
    """A Fargate sandbox component with its service, task definition, group and one rule."""
    sandbox = resource("agent-sandbox:fargate:FargateSandbox", "ops-agent", {})
    group = resource(SG, "ops-agent-sg", {"description": "egress allowlist"}, parent=sandbox)
    task = resource(
        "aws:ecs/taskDefinition:TaskDefinition",
        "ops-agent-task",
        task_definition().inputs,
        parent=sandbox,
    )
    rule_inputs = rule or {
        "ipProtocol": "tcp",
        "fromPort": 443,
        "toPort": 443,
        "cidrIpv4": "140.82.112.0/20",
        "description": "HTTPS to github.com",
    }
    egress_rule = resource(
        VPC_EGRESS, "ops-agent-egress-https", rule_inputs, parent=sandbox, dependencies=[group]
    )
    svc = resource(
        "aws:ecs/service:Service",
        "ops-agent-service",
        service().inputs | service_inputs,
        parent=sandbox,
        dependencies=[task, group] if sg_dependency else [task],
    )
    return [sandbox, group, task, egress_rule, svc]


@dataclass
class Case:
    policy: str
    level: str
    bad: list[RecordedResource]
    good: list[RecordedResource]
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "ecs-task-readonly-root",
        M,
        [task_definition([container(readonlyRootFilesystem=False)])],
        [task_definition()],
    ),
    Case("ecs-task-not-privileged", M, [task_definition([container(privileged=True)])], []),
    Case(
        "ecs-task-non-root-user",
        M,
        [
            task_definition([container(user="0:0")]),
            task_definition([container(user="root")]),
            task_definition([without(container(), "user")]),
        ],
        [task_definition([container(user="agent")])],
    ),
    Case(
        "ecs-task-capabilities",
        M,
        [
            task_definition(
                [
                    container(
                        linuxParameters={"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}
                    )
                ]
            ),
            task_definition([container(linuxParameters={"capabilities": {"drop": [], "add": []}})]),
            task_definition(
                [
                    container(
                        linuxParameters={"capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE"]}}
                    )
                ]
            ),
        ],
        [],
    ),
    Case(
        "ecs-task-capabilities",
        M,
        [
            task_definition(
                [
                    container(
                        linuxParameters={"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}}
                    )
                ]
            )
        ],
        [
            task_definition(
                [
                    container(
                        linuxParameters={
                            "capabilities": {"drop": ["ALL"], "add": ["CAP_SYS_PTRACE"]}
                        }
                    )
                ]
            )
        ],
        config={"ecs-task-capabilities": {"allowedCapabilities": ["SYS_PTRACE", "NET_ADMIN"]}},
    ),
    Case(
        "ecs-task-no-docker-security-options",
        M,
        [task_definition([container(dockerSecurityOptions=["no-new-privileges"])])],
        [
            task_definition(
                [container(dockerSecurityOptions=["no-new-privileges"])],
                requiresCompatibilities=["EC2"],
            )
        ],
    ),
    Case(
        "ecs-task-ulimits",
        M,
        [
            task_definition([container(ulimits=ulimits(nofile=(65536, 65536)))]),
            task_definition([container(ulimits=ulimits(nproc=(100, 4096)))]),
            task_definition([container(ulimits=[u for u in ulimits() if u["name"] != "cpu"])]),
        ],
        [task_definition([container(ulimits=ulimits(nofile=(512, 1024)))])],
    ),
    Case(
        "ecs-task-size",
        M,
        [task_definition(cpu="256", memory="4096"), task_definition(cpu="2048", memory="4096")],
        [task_definition(cpu="1024", memory="2048")],
    ),
    Case("ecs-task-network-mode", M, [task_definition(networkMode="bridge")], []),
    Case(
        "ecs-task-no-host-namespaces",
        M,
        [task_definition(pidMode="host"), task_definition(ipcMode="host")],
        [task_definition(pidMode="task")],
    ),
    Case("ecs-task-logging", M, [task_definition([without(container(), "logConfiguration")])], []),
    Case(
        "ecs-task-no-plaintext-secrets",
        M,
        [
            task_definition([container(environment=[{"name": "GITHUB_TOKEN", "value": "x"}])]),
            task_definition([container(environment=[{"name": "db_password", "value": "x"}])]),
            task_definition(
                [container(environment=[{"name": "KEY_ID", "value": "AKIAIOSFODNN7EXAMPLE"}])]
            ),
            task_definition([container(environment=[{"name": "GH", "value": "ghp_" + "a1" * 18}])]),
        ],
        [
            task_definition(
                [
                    container(
                        environment=[{"name": "MCP_SERVER_URL", "value": "http://localhost:8080"}]
                    )
                ]
            )
        ],
    ),
    Case(
        "ecs-task-image-digest",
        M,
        [
            task_definition([container(image="ghcr.io/rc918/agent:latest")]),
            task_definition([container(image="ghcr.io/rc918/agent")]),
        ],
        [],
    ),
    Case(
        "ecs-task-distinct-roles",
        M,
        [
            task_definition(taskRoleArn="arn:aws:iam::123456789012:role/ops-agent-execution"),
            task_definition(taskRoleArn=None),
        ],
        [],
    ),
    Case(
        "ecs-task-schema",
        M,
        [
            task_definition(
                [without(container(), "readonlyRootFilesystem") | {"readOnlyRootFilesystem": True}]
            ),
            task_definition([container(memory="512")]),
            task_definition(containerDefinitions='[{"name": "agent",'),
            task_definition(containerDefinitions='{"name": "agent"}'),
        ],
        [],
    ),
    Case(
        "ecs-service-no-public-ip",
        M,
        [service(networkConfiguration={"assignPublicIp": True, "securityGroups": ["sg-1"]})],
        [service()],
    ),
    Case(
        "ecs-service-platform-version",
        M,
        [service(platformVersion="1.3.0"), service(platformVersion="latest-ish")],
        [service(platformVersion="1.4.0"), service(platformVersion=None)],
    ),
    Case("ecs-service-exec-disabled", M, [service(enableExecuteCommand=True)], []),
    Case(
        "ecs-service-security-groups",
        M,
        [service(networkConfiguration={"assignPublicIp": False, "subnets": ["subnet-1"]})],
        [],
    ),
    Case(
        "ecs-cluster-container-insights",
        A,
        [resource("aws:ecs/cluster:Cluster", "cluster", {"settings": []})],
        [
            resource(
                "aws:ecs/cluster:Cluster",
                "cluster",
                {"settings": [{"name": "containerInsights", "value": "enabled"}]},
            )
        ],
    ),
    Case(
        "sg-no-unrestricted-egress",
        M,
        [
            sg(
                egress=[
                    {
                        "protocol": "-1",
                        "fromPort": 0,
                        "toPort": 0,
                        "cidrBlocks": ["0.0.0.0/0"],
                        "description": "all",
                    }
                ]
            ),
            egress(ipProtocol="-1", cidrIpv6="::/0"),
            resource(
                EC2_RULE,
                "rule",
                {
                    "type": "egress",
                    "protocol": "tcp",
                    "fromPort": 0,
                    "toPort": 65535,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "description": "x",
                },
            ),
        ],
        [egress(ipProtocol="tcp", fromPort=443, toPort=443, cidrIpv4="0.0.0.0/0")],
    ),
    Case(
        "sg-egress-ports",
        M,
        [
            egress(ipProtocol="tcp", fromPort=8080, toPort=8080, cidrIpv4="10.0.0.0/8"),
            egress(ipProtocol="icmp", fromPort=-1, toPort=-1, cidrIpv4="10.0.0.0/8"),
            sg(
                egress=[
                    {
                        "protocol": "tcp",
                        "fromPort": 80,
                        "toPort": 443,
                        "cidrBlocks": ["10.0.0.0/8"],
                        "description": "web",
                    }
                ]
            ),
        ],
        [egress(ipProtocol="udp", fromPort=53, toPort=53, cidrIpv4="169.254.169.253/32")],
    ),
    Case(
        "sg-egress-ports",
        M,
        [egress(ipProtocol="udp", fromPort=53, toPort=53, cidrIpv4="169.254.169.253/32")],
        [egress(ipProtocol="tcp", fromPort=443, toPort=443, cidrIpv4="10.0.0.0/8")],
        config={"sg-egress-ports": {"allowedEgressPorts": [443]}},
    ),
    Case(
        "sg-no-public-ingress",
        M,
        [
            resource(
                VPC_INGRESS,
                "ssh",
                {
                    "ipProtocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrIpv4": "0.0.0.0/0",
                    "description": "ssh",
                },
            ),
            sg(
                ingress=[
                    {
                        "protocol": "tcp",
                        "fromPort": 443,
                        "toPort": 443,
                        "ipv6CidrBlocks": ["::/0"],
                        "description": "web",
                    }
                ]
            ),
            resource(
                EC2_RULE,
                "rule",
                {
                    "type": "ingress",
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "description": "x",
                },
            ),
        ],
        [
            resource(
                VPC_INGRESS,
                "https",
                {
                    "ipProtocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "cidrIpv4": "10.40.0.0/16",
                    "description": "from VPC",
                },
            )
        ],
    ),
    Case(
        "sg-descriptions",
        A,
        [
            sg(description="Managed by Pulumi"),
            egress(ipProtocol="tcp", fromPort=443, toPort=443, description=""),
        ],
        [sg()],
    ),
    Case(
        "log-group-retention",
        M,
        [log_group(), log_group(retentionInDays=7)],
        [log_group(retentionInDays=30)],
    ),
    Case(
        "log-group-kms",
        A,
        [log_group(retentionInDays=30)],
        [log_group(kmsKeyId="arn:aws:kms:us-west-2:123456789012:key/1")],
    ),
    Case(
        "iam-no-wildcard-actions",
        M,
        [
            role_policy(allow("*", "*")),
            resource(
                ROLE,
                "r",
                {
                    "inlinePolicies": [
                        {"name": "p", "policy": document(allow(["s3:*"], "arn:aws:s3:::b"))}
                    ]
                },
            ),
            role_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
            resource(ROLE_POLICY, "broken", {"role": "task", "policy": "{not json"}),
        ],
        [role_policy(allow("ssm:GetParameters", "arn:aws:ssm:us-west-2:123456789012:parameter/a"))],
    ),
    Case(
        "iam-no-wildcard-resources-on-write",
        M,
        [
            role_policy(allow(["s3:PutObject"], "*")),
            role_policy(allow("logs:CreateLogStream", ["*"])),
        ],
        [
            role_policy(allow("ecr:GetAuthorizationToken", "*")),
            role_policy(allow("s3:PutObject", "arn:aws:s3:::b/*")),
        ],
    ),
    Case(
        "iam-no-admin-attachments",
        M,
        [
            resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "a",
                {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            ),
            resource(ROLE, "r", {"managedPolicyArns": ["arn:aws:iam::aws:policy/IAMFullAccess"]}),
        ],
        [
            resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "a",
                {
                    "role": "r",
                    "policyArn": "arn:aws:iam::aws:policy/service-role/"
                    "AmazonECSTaskExecutionRolePolicy",
                },
            )
        ],
    ),
    Case(
        "iam-task-role-trust",
        M,
        [
            trust({"Service": "ecs-tasks.amazonaws.com"}, {"AWS": "*"}),
            trust({"Service": ["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"]}),
        ],
        [trust({"Service": "ecs-tasks.amazonaws.com"}), trust({"Service": "lambda.amazonaws.com"})],
    ),
    Case(
        "ecr-scan-on-push",
        M,
        [repository(imageScanningConfiguration={"scanOnPush": False})],
        [repository()],
    ),
    Case("ecr-immutable-tags", M, [repository(imageTagMutability="MUTABLE")], [repository()]),
    Case(
        "fly-vm-size",
        M,
        [
            fly_sandbox(
                vm={"size": "shared-cpu-1x", "cpuKind": "shared", "cpus": 1, "memoryMb": 2048}
            ),
            fly_sandbox(
                vm={"size": "performance-1x", "cpuKind": "performance", "cpus": 1, "memoryMb": 256}
            ),
        ],
        [fly_sandbox()],
    ),
    Case("fly-no-public-ips", M, [fly_sandbox(publicIps=True)], [fly_sandbox()]),
    Case(
        "sandbox-runs-under-launcher",
        M,
        [
            task_definition([without(container(), "entryPoint")]),
            task_definition([container(environment=[])]),
            task_definition([container(entryPoint=["python3", "-c", "print('not the launcher')"])]),
            fly_sandbox(fly_toml='app = "x"\n[processes]\napp = "python mcp_client.py"\n'),
        ],
        [task_definition(), fly_sandbox()],
    ),
    Case(
        "sandbox-control-coverage",
        M,
        [
            control_matrix("fargate", unavailable=["tmp-tmpfs"]),
            control_matrix("fly", missing=["seccomp"]),
        ],
        [
            control_matrix("fargate"),
            control_matrix("fly", unavailable=["egress-ports"]),
        ],
        config={
            "sandbox-control-coverage": {
                "acceptedGaps": {"fly/egress-ports": "Fly has no egress firewall; accepted."}
            }
        },
    ),
    Case(
        "fly-volume-size",
        M,
        [fly_sandbox(volume={"name": "data", "sizeGb": 50, "path": "/workspace"})],
        [fly_sandbox()],
    ),
    Case(
        "fly-no-plaintext-secrets",
        M,
        [
            fly_sandbox(env={"SENTRY_AUTH_TOKEN": "x"}),
            fly_sandbox(fly_toml='[env]\n  GH = "ghp_' + "b2" * 18 + '"\n'),
            fly_sandbox(fly_toml="[env\nbroken"),
        ],
        [fly_sandbox()],
    ),
    Case("fly-health-check", M, [fly_sandbox(healthCheck=None)], [fly_sandbox()]),
    Case(
        "fly-restart-policy",
        M,
        [fly_sandbox(restart=None), fly_sandbox(restart={"policy": "never", "maxRetries": 0})],
        [fly_sandbox()],
    ),
    Case("fly-region", M, [fly_sandbox(region="iad")], [fly_sandbox()]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.policy)
def test_policy_blocks_the_bad_and_passes_the_good(case: Case) -> None:
    for bad in case.bad:
        found = of(analyze([bad], case.config), case.policy)
        assert found, f"{case.policy} did not flag {bad.inputs}"
        assert {violation.level for violation in found} == {case.level}
        assert all(violation.urn == bad.urn for violation in found)
        assert all(" Fix: " in violation.message for violation in found)
    for good in case.good:
        assert of(analyze([good], case.config), case.policy) == [], good.inputs


def test_misspelled_container_key_names_the_key_and_the_right_spelling() -> None:
    bad = task_definition(
        [without(container(), "readonlyRootFilesystem") | {"readOnlyRootFilesystem": True}]
    )
    [violation] = of(analyze([bad]), "ecs-task-schema")
    assert '"readOnlyRootFilesystem"' in violation.message
    assert 'did you mean "readonlyRootFilesystem"' in violation.message


def test_malformed_container_definitions_are_one_violation_not_a_crash() -> None:
    violations = analyze([task_definition(containerDefinitions="[{")])
    assert sorted(violation.policy for violation in violations) == [
        "ecs-task-schema",
        "sandbox-runs-under-launcher",
    ]
    assert "malformed JSON" in violations[0].message


def test_secret_violations_never_repeat_the_secret_value() -> None:
    token = "ghp_" + "Z9" * 18
    bad = task_definition([container(environment=[{"name": "HELPER", "value": token}])])
    [violation] = of(analyze([bad]), "ecs-task-no-plaintext-secrets")
    assert "GitHub token" in violation.message
    assert token not in violation.message


def test_stack_policy_flags_a_fargate_service_whose_group_allows_all_egress() -> None:
    everything = {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0", "description": "all"}
    found = of(analyze(fargate_stack(rule=everything)), "stack-sandbox-egress-restricted")
    assert [violation.level for violation in found] == [M]
    assert found[0].urn.endswith("::ops-agent-service")
    assert of(analyze(fargate_stack()), "stack-sandbox-egress-restricted") == []


def test_stack_policy_flags_a_service_with_no_security_group_in_the_stack() -> None:
    found = of(analyze(fargate_stack(sg_dependency=False)), "stack-sandbox-egress-restricted")
    assert [violation.level for violation in found] == [M]
    assert "cannot be verified" in found[0].message


def test_no_service_runs_on_the_default_security_group() -> None:
    default = resource("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "vpc-default", {})
    svc = resource("aws:ecs/service:Service", "svc", service().inputs, dependencies=[default])
    found = of(analyze([default, svc]), "stack-no-default-security-group")
    assert [(violation.level, violation.urn) for violation in found] == [(M, svc.urn)]
    vpc = resource("aws:ec2/vpc:Vpc", "vpc", {"defaultSecurityGroupId": "sg-0default"})
    on_default = service(networkConfiguration={"securityGroups": ["sg-0default"], "subnets": ["s"]})
    assert len(of(analyze([vpc, on_default]), "stack-no-default-security-group")) == 1
    assert of(analyze(fargate_stack()), "stack-no-default-security-group") == []


def test_cost_policy_compares_the_estimate_with_the_budget() -> None:
    stack = fargate_stack(desiredCount=10)
    found = of(
        analyze(stack, {"stack-monthly-cost": {"monthlyBudgetUsd": 50}}), "stack-monthly-cost"
    )
    assert [violation.level for violation in found] == [M]
    # 10 x (0.25 vCPU x 0.04048 + 0.5 GB x 0.004445) x 730 h = $90.10
    assert "$90.10" in found[0].message
    assert "$50.00" in found[0].message
    assert of(analyze(stack), "stack-monthly-cost") == []


def test_the_stack_configs_budget_tightens_the_packs_ceiling_but_cannot_raise_it() -> None:
    stack = fargate_stack(desiredCount=10)  # $90.10 a month

    def declared(usd: float) -> RecordedResource:
        return resource("agent-sandbox:stack:Budget", "stack-budget", {"monthlyBudgetUsd": usd})

    [found] = of(analyze([*stack, declared(80)]), "stack-monthly-cost")
    assert "exceeds the budget $80.00" in found.message
    assert of(analyze([*stack, declared(100)]), "stack-monthly-cost") == []
    raised = analyze([*stack, declared(1000)], {"stack-monthly-cost": {"monthlyBudgetUsd": 50}})
    assert "exceeds the budget $50.00" in of(raised, "stack-monthly-cost")[0].message


def test_a_hardened_fargate_stack_trips_no_policy() -> None:
    hardened = [
        *fargate_stack(),
        resource(
            "aws:ecs/cluster:Cluster",
            "cluster",
            {"settings": [{"name": "containerInsights", "value": "enabled"}]},
        ),
        log_group(retentionInDays=30, kmsKeyId="arn:aws:kms:us-west-2:123456789012:key/1"),
        trust({"Service": "ecs-tasks.amazonaws.com"}),
        role_policy(allow("ssm:GetParameters", "arn:aws:ssm:us-west-2:123456789012:parameter/a")),
        repository(),
    ]
    assert analyze(hardened) == []


def test_every_rule_has_a_blocking_case() -> None:
    stack_tested = {"stack-sandbox-egress-restricted", "stack-no-default-security-group"}
    covered = {case.policy for case in CASES} | stack_tested | {"stack-monthly-cost"}
    assert covered == {rule.name for rule in RULES}
