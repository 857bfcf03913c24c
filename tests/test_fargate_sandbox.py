"""The FargateSandbox and SandboxCluster components under the mock runtime: what they register."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.aws.cluster import SandboxCluster, SandboxClusterArgs
from components.aws.egress import egress_rule_specs
from components.config import FargateSandbox as FargateSandboxConfig
from components.config import parse_stack_config
from components.fargate.container_definition import fargate_hardening
from components.fargate.sandbox import FargateSandbox, FargateSandboxArgs, launcher_for
from components.fargate.task_definition import build_register_task_definition
from components.hardening.delivery import SPEC_ENV, decode_spec
from components.program import hardening_model
from components.seccomp import profile_sha256
from sandbox_policies.ecs_schema import validate_register_task_definition
from tests.stack_configs import staging_config, staging_values
from tools.preview import mock_runtime
from tools.preview.artifacts import register_task_definition_input
from tools.preview.mock_runtime import RecordedResource, RecordedRun, run_under_mocks

ACCOUNT = mock_runtime.MOCK_ACCOUNT_ID
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SECRET_ARN = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:ops/github-token-AbCdEf"
COMPONENT = "agent-sandbox:fargate:FargateSandbox"


def _run(**changes: Any) -> RecordedRun:
    values = staging_values()
    values["sandboxes"][0].update(changes)
    config = parse_stack_config(values)
    sandbox = config.fargate_sandboxes[0]

    def program() -> None:
        component = FargateSandbox(
            sandbox.name,
            FargateSandboxArgs(
                sandbox=sandbox,
                hardening=hardening_model(sandbox, config),
                cluster_arn=f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/sandbox",
                vpc_id="vpc-0123456789abcdef0",
                subnet_ids=SUBNETS,
                egress_rules=egress_rule_specs(config.egress),
                region="us-west-2",
                tags=config.tags,
            ),
        )
        for attribute in (
            "task_definition_arn",
            "service_name",
            "log_group_name",
            "security_group_id",
            "execution_role_arn",
            "task_role_arn",
        ):
            pulumi.export(attribute, getattr(component, attribute))

    return run_under_mocks(program, {"aws:region": "us-west-2"})


@pytest.fixture(scope="module")
def staging() -> RecordedRun:
    return _run()


def _one(run: RecordedRun, type_: str) -> RecordedResource:
    matches = run.of_type(type_)
    assert len(matches) == 1, [resource.name for resource in matches]
    return matches[0]


def _container(run: RecordedRun) -> dict[str, Any]:
    task = _one(run, "aws:ecs/taskDefinition:TaskDefinition")
    definitions = json.loads(task.inputs["containerDefinitions"])
    assert len(definitions) == 1
    container: dict[str, Any] = definitions[0]
    return container


def _sandbox_config(**changes: Any) -> FargateSandboxConfig:
    values = staging_values()
    values["sandboxes"][0].update(changes)
    return parse_stack_config(values).fargate_sandboxes[0]


def test_children_are_parented_to_the_component(staging: RecordedRun) -> None:
    component = _one(staging, COMPONENT)
    assert component.name == "ops-agent"
    children = [resource for resource in staging.resources if resource is not component]
    assert {resource.parent for resource in children} == {component.urn}
    assert sorted(resource.type for resource in children) == sorted(
        [
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ecs/service:Service",
            "aws:ecs/taskDefinition:TaskDefinition",
            "aws:iam/role:Role",
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        ]
    )
    assert all(resource.name.startswith("ops-agent-") for resource in children)


def test_task_definition_inputs(staging: RecordedRun) -> None:
    task = _one(staging, "aws:ecs/taskDefinition:TaskDefinition").inputs
    assert task["family"] == "agent-sandbox-ops-agent"
    assert task["networkMode"] == "awsvpc"
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert (task["cpu"], task["memory"]) == ("256", "512")
    assert task["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    assert task["volumes"] == [{"name": "tmp"}, {"name": "workspace"}]
    assert "pidMode" not in task
    roles = {role.name: role for role in staging.of_type("aws:iam/role:Role")}
    assert task["executionRoleArn"].endswith(":role/ops-agent-execution-role-0000000")
    assert task["taskRoleArn"].endswith(":role/ops-agent-task-role-0000000")
    assert set(roles) == {"ops-agent-execution-role", "ops-agent-task-role"}


def test_container_controls_as_registered(staging: RecordedRun) -> None:
    container = _container(staging)
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "1001:1001"
    assert container["linuxParameters"] == {
        "capabilities": {"add": [], "drop": ["ALL"]},
        "initProcessEnabled": True,
    }
    assert {
        item["name"]: (item["softLimit"], item["hardLimit"]) for item in container["ulimits"]
    } == {
        "nofile": (1024, 2048),
        "nproc": (100, 100),
        "fsize": (2**31 - 1, 2**31 - 1),
        "cpu": (3600, 3600),
    }
    assert [mount["containerPath"] for mount in container["mountPoints"]] == ["/tmp", "/workspace"]
    assert "dockerSecurityOptions" not in container
    assert "privileged" not in container
    assert container["healthCheck"]["command"][:3] == ["CMD", "python3", "-c"]
    assert "http://127.0.0.1:8080/health" in container["healthCheck"]["command"][3]
    assert container["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/agent-sandbox/ops-agent"


def test_secrets_are_references_only(staging: RecordedRun) -> None:
    container = _container(staging)
    prefix = f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/agent-sandbox/staging/ops-agent"
    assert container["secrets"] == [
        {"name": "RENDER_API_KEY", "valueFrom": f"{prefix}/render-api-key"},
        {"name": "SENTRY_AUTH_TOKEN", "valueFrom": f"{prefix}/sentry-auth-token"},
    ]
    environment_names = {item["name"] for item in container["environment"]}
    assert environment_names == {"AGENT_TYPE", "MCP_SERVER_URL", "SANDBOX_HARDENING_SPEC"}


def test_registered_request_matches_the_pure_builder_and_is_valid(staging: RecordedRun) -> None:
    resource = _one(staging, "aws:ecs/taskDefinition:TaskDefinition")
    task = resource.inputs
    # What the preview writes for `aws ecs register-task-definition --cli-input-json`.
    registered = register_task_definition_input(resource)
    assert {"key": "agent-sandbox:sandbox", "value": "ops-agent"} in registered.pop("tags")
    sandbox = _sandbox_config()
    hardening = fargate_hardening(hardening_model(sandbox, staging_config()))
    expected = build_register_task_definition(
        sandbox,
        hardening=hardening,
        launcher=launcher_for(sandbox, hardening),
        region="us-west-2",
        account_id=ACCOUNT,
        execution_role_arn=task["executionRoleArn"],
        task_role_arn=task["taskRoleArn"],
    )
    assert registered == expected
    assert validate_register_task_definition(registered) == []


def test_service_inputs(staging: RecordedRun) -> None:
    service = _one(staging, "aws:ecs/service:Service").inputs
    assert service["launchType"] == "FARGATE"
    assert service["platformVersion"] == "LATEST"
    assert service["enableExecuteCommand"] is False
    assert service["desiredCount"] == 1
    assert service["waitForSteadyState"] is False
    assert service["propagateTags"] == "TASK_DEFINITION"
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["cluster"] == f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/sandbox"
    assert service["taskDefinition"].endswith("taskdefinition/ops-agent-task-0000000")
    assert service["networkConfiguration"] == {
        "assignPublicIp": False,
        "securityGroups": ["ops-agent-sg-id"],
        "subnets": SUBNETS,
    }


def test_log_group(staging: RecordedRun) -> None:
    logs = _one(staging, "aws:cloudwatch/logGroup:LogGroup").inputs
    assert logs["name"] == "/agent-sandbox/ops-agent"
    assert logs["retentionInDays"] == 30


def test_execution_role_reads_only_declared_secrets(staging: RecordedRun) -> None:
    attachment = _one(staging, "aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs
    assert attachment["role"] == "ops-agent-execution-role-0000000"
    assert attachment["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    )
    inline = _one(staging, "aws:iam/rolePolicy:RolePolicy").inputs
    assert inline["role"] == "ops-agent-execution-role-0000000"
    prefix = f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/agent-sandbox/staging/ops-agent"
    assert json.loads(inline["policy"])["Statement"] == [
        {
            "Sid": "ReadDeclaredParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameters",
            "Resource": [f"{prefix}/render-api-key", f"{prefix}/sentry-auth-token"],
        }
    ]


def test_roles_trust_only_this_accounts_ecs_tasks_and_task_role_has_nothing(
    staging: RecordedRun,
) -> None:
    for role in staging.of_type("aws:iam/role:Role"):
        trust = json.loads(role.inputs["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            }
        ]
        assert "inlinePolicies" not in role.inputs
        assert "managedPolicyArns" not in role.inputs
    attached_roles = {
        resource.inputs["role"]
        for resource in staging.resources
        if resource.type.startswith(("aws:iam/rolePolicy", "aws:iam/policyAttachment"))
    }
    assert attached_roles == {"ops-agent-execution-role-0000000"}


def test_security_group_comes_from_the_egress_module(staging: RecordedRun) -> None:
    group = _one(staging, "aws:ec2/securityGroup:SecurityGroup")
    assert group.name == "ops-agent-sg"
    assert group.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert "ingress" not in group.inputs
    assert "egress" not in group.inputs
    rules = staging.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert {rule.inputs["securityGroupId"] for rule in rules} == {"ops-agent-sg-id"}


def test_component_outputs(staging: RecordedRun) -> None:
    assert staging.outputs == {
        "task_definition_arn": (
            f"arn:aws:ecs:us-west-2:{ACCOUNT}:taskdefinition/ops-agent-task-0000000"
        ),
        "service_name": "ops-agent-service-0000000",
        "log_group_name": "/agent-sandbox/ops-agent",
        "security_group_id": "ops-agent-sg-id",
        "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ops-agent-execution-role-0000000",
        "task_role_arn": f"arn:aws:iam::{ACCOUNT}:role/ops-agent-task-role-0000000",
    }


def test_no_secrets_means_only_the_managed_policy() -> None:
    run = _run(secrets=[])
    assert run.of_type("aws:iam/rolePolicy:RolePolicy") == []
    assert len(run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")) == 1
    assert _container(run)["secrets"] == []


def test_secrets_manager_secret_and_stopped_sandbox() -> None:
    run = _run(
        running=False,
        secrets=[{"name": "GITHUB_TOKEN", "secretsManagerArn": SECRET_ARN}],
        fargate={"desiredCount": 2, "logRetentionDays": 7},
    )
    assert _one(run, "aws:ecs/service:Service").inputs["desiredCount"] == 0
    assert _one(run, "aws:cloudwatch/logGroup:LogGroup").inputs["retentionInDays"] == 7
    policy = json.loads(_one(run, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "ReadDeclaredSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [SECRET_ARN],
        }
    ]
    assert _container(run)["secrets"] == [{"name": "GITHUB_TOKEN", "valueFrom": SECRET_ARN}]


def test_explicit_loosening_reaches_the_registration() -> None:
    run = _run(
        hardening={"readonlyRootFilesystem": False},
        fargate={"assignPublicIp": True, "enableExecuteCommand": True, "platformVersion": "1.4.0"},
    )
    assert _container(run)["readonlyRootFilesystem"] is False
    service = _one(run, "aws:ecs/service:Service").inputs
    assert service["networkConfiguration"]["assignPublicIp"] is True
    assert service["enableExecuteCommand"] is True
    assert service["platformVersion"] == "1.4.0"


def test_the_agent_starts_under_the_launcher_unless_turned_off(staging: RecordedRun) -> None:
    container = _container(staging)
    assert container["entryPoint"][:2] == ["python3", "-c"]
    assert container["command"] == ["python", "mcp_client.py"]
    spec = decode_spec(next(e["value"] for e in container["environment"] if e["name"] == SPEC_ENV))
    assert spec["platform"] == "fargate"
    assert spec["rlimits"]["fsize"] == {"soft": 2**31 - 1, "hard": 2**31 - 1}
    assert spec["seccomp"]["profileSha256"] == profile_sha256()
    unhardened = _container(_run(hardening={"launcher": False}))
    assert "entryPoint" not in unhardened and "command" not in unhardened
    assert SPEC_ENV not in {e["name"] for e in unhardened["environment"]}


def test_cluster_has_container_insights() -> None:
    def program() -> None:
        cluster = SandboxCluster("sandbox-cluster", SandboxClusterArgs(tags={"project": "x"}))
        pulumi.export("arn", cluster.cluster_arn)
        pulumi.export("name", cluster.cluster_name)

    run = run_under_mocks(program, {"aws:region": "us-west-2"})
    component = _one(run, "agent-sandbox:aws:SandboxCluster")
    cluster = _one(run, "aws:ecs/cluster:Cluster")
    assert cluster.parent == component.urn
    assert cluster.inputs["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert cluster.inputs["tags"] == {"project": "x"}
    assert run.outputs == {
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/sandbox-cluster-0000000",
        "name": "sandbox-cluster-0000000",
    }
