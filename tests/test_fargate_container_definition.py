"""The hardened container definition and IAM documents, as pure data (no Pulumi engine)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from components.config import FargateSandbox, parse_stack_config
from components.fargate.container_definition import (
    ECS_ULIMIT_MAX,
    build_container_definitions,
    fargate_hardening,
    health_check_command,
    ulimit_overflows,
)
from components.fargate.iam import ecs_tasks_trust_policy, secret_read_policy
from components.fargate.task_definition import build_register_task_definition
from components.hardening.delivery import LauncherDelivery
from components.hardening.model import HardeningModel
from components.program import hardening_model
from sandbox_policies.ecs_schema import validate_register_task_definition
from tests.stack_configs import staging_values

ACCOUNT = "123456789012"
SECRET_ARN = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:ops/github-token-AbCdEf"


def _sandbox(**changes: Any) -> FargateSandbox:
    values = staging_values()
    values["sandboxes"][0].update(changes)
    return parse_stack_config(values).fargate_sandboxes[0]


def _hardening(sandbox: FargateSandbox) -> HardeningModel:
    return fargate_hardening(hardening_model(sandbox, parse_stack_config(staging_values())))


def _launcher(environment: dict[str, str]) -> LauncherDelivery:
    return LauncherDelivery(
        entry_point=["/usr/bin/python3", "/opt/launcher/launch.py"],
        command=["python", "mcp_client.py"],
        environment=environment,
    )


def _container(sandbox: FargateSandbox, **kwargs: Any) -> dict[str, Any]:
    definitions = build_container_definitions(
        sandbox,
        hardening=_hardening(sandbox),
        region="us-west-2",
        log_group_name="/agent-sandbox/ops-agent",
        account_id=ACCOUNT,
        **kwargs,
    )
    assert len(definitions) == 1
    return definitions[0]


def test_runbook_controls_are_on_by_default() -> None:
    container = _container(_sandbox())
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "1001:1001"
    assert container["essential"] is True
    assert container["linuxParameters"] == {
        "capabilities": {"drop": ["ALL"], "add": []},
        "initProcessEnabled": True,
    }
    assert container["ulimits"] == [
        {"name": "nofile", "softLimit": 1024, "hardLimit": 2048},
        {"name": "nproc", "softLimit": 100, "hardLimit": 100},
        {"name": "fsize", "softLimit": ECS_ULIMIT_MAX, "hardLimit": ECS_ULIMIT_MAX},
        {"name": "cpu", "softLimit": 3600, "hardLimit": 3600},
    ]
    assert container["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False},
        {"sourceVolume": "workspace", "containerPath": "/workspace", "readOnly": False},
    ]
    assert "dockerSecurityOptions" not in container
    assert "privileged" not in container
    assert "entryPoint" not in container


def test_service_plumbing_fields() -> None:
    container = _container(_sandbox())
    assert container["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert container["healthCheck"] == {
        "command": health_check_command(8080, "/health"),
        "interval": 30,
        "timeout": 5,
        "retries": 3,
        "startPeriod": 60,
    }
    assert container["healthCheck"]["command"][:3] == ["CMD", "python3", "-c"]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/agent-sandbox/ops-agent",
            "awslogs-region": "us-west-2",
            "awslogs-stream-prefix": "sandbox",
        },
    }


def test_secrets_are_arns_and_never_environment() -> None:
    sandbox = _sandbox(
        secrets=[
            {"name": "RENDER_API_KEY", "ssmParameter": "/agent-sandbox/staging/render"},
            {"name": "GITHUB_TOKEN", "secretsManagerArn": SECRET_ARN},
        ]
    )
    container = _container(sandbox, partition="aws-us-gov")
    assert container["secrets"] == [
        {
            "name": "RENDER_API_KEY",
            "valueFrom": (
                f"arn:aws-us-gov:ssm:us-west-2:{ACCOUNT}:parameter/agent-sandbox/staging/render"
            ),
        },
        {"name": "GITHUB_TOKEN", "valueFrom": SECRET_ARN},
    ]
    assert container["environment"] == [
        {"name": "AGENT_TYPE", "value": "ops_agent"},
        {"name": "MCP_SERVER_URL", "value": "http://localhost:8080"},
    ]


def test_loosened_controls_come_from_config() -> None:
    sandbox = _sandbox(
        hardening={
            "readonlyRootFilesystem": False,
            "runAs": {"uid": 2000, "gid": 3000},
            "capabilitiesAdd": ["SYS_PTRACE"],
            "ulimits": {"nofile": {"soft": 4096, "hard": 8192}},
        },
        fargate={"cpu": 512, "memory": 1024, "containerPort": 9000, "healthCheckPath": "/ready"},
    )
    container = _container(sandbox)
    assert container["readonlyRootFilesystem"] is False
    assert container["user"] == "2000:3000"
    assert container["linuxParameters"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}
    assert container["ulimits"][0] == {"name": "nofile", "softLimit": 4096, "hardLimit": 8192}
    assert container["portMappings"] == [{"containerPort": 9000, "protocol": "tcp"}]
    assert "http://127.0.0.1:9000/ready" in container["healthCheck"]["command"][3]


def test_capabilities_fargate_rejects_fail_early() -> None:
    sandbox = _sandbox(hardening={"capabilitiesAdd": ["NET_BIND_SERVICE"]})
    with pytest.raises(
        ValueError, match=r"'NET_BIND_SERVICE' is not allowed on Fargate; allowed: SYS_PTRACE"
    ):
        _container(sandbox)


def test_fsize_over_the_ecs_maximum_is_lowered_and_reported() -> None:
    runbook_default = _sandbox()
    assert ulimit_overflows(runbook_default.hardening.ulimits) == []
    assert _container(runbook_default)["ulimits"][2] == {
        "name": "fsize",
        "softLimit": 2**31 - 1,
        "hardLimit": 2**31 - 1,
    }
    explicit = _sandbox(
        hardening={"ulimits": {"fsize": {"soft": 8 * 1024**3, "hard": 8 * 1024**3}}}
    )
    assert ulimit_overflows(explicit.hardening.ulimits) == [
        "hardening.ulimits.fsize: soft 8589934592 / hard 8589934592 exceeds the ECS maximum "
        "2147483647; Fargate gets 2147483647 (stricter)"
    ]
    small = _sandbox(hardening={"ulimits": {"fsize": {"soft": 1024**3, "hard": 2 * 1024**3 - 1}}})
    assert ulimit_overflows(small.hardening.ulimits) == []
    assert _container(small)["ulimits"][2] == {
        "name": "fsize",
        "softLimit": 1024**3,
        "hardLimit": 2 * 1024**3 - 1,
    }


def test_launcher_entry_point_and_environment() -> None:
    assert "entryPoint" not in _container(_sandbox()) and "command" not in _container(_sandbox())
    container = _container(_sandbox(), launcher=_launcher({"LAUNCHER_MODE": "fargate"}))
    assert container["entryPoint"] == ["/usr/bin/python3", "/opt/launcher/launch.py"]
    assert container["command"] == ["python", "mcp_client.py"]
    assert {"name": "LAUNCHER_MODE", "value": "fargate"} in container["environment"]
    assert [item["name"] for item in container["environment"]] == sorted(
        item["name"] for item in container["environment"]
    )


@pytest.mark.parametrize("name", ["AGENT_TYPE", "RENDER_API_KEY"])
def test_launcher_cannot_shadow_config_or_secrets(name: str) -> None:
    with pytest.raises(ValueError, match=rf"{name}' of sandbox 'ops-agent' is set twice"):
        _container(_sandbox(), launcher=_launcher({name: "x"}))


def test_register_request_is_complete_and_schema_valid() -> None:
    request = build_register_task_definition(
        _sandbox(),
        hardening=_hardening(_sandbox()),
        region="us-west-2",
        account_id=ACCOUNT,
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/exec",
        task_role_arn=f"arn:aws:iam::{ACCOUNT}:role/task",
    )
    assert request["family"] == "agent-sandbox-ops-agent"
    assert request["networkMode"] == "awsvpc"
    assert request["requiresCompatibilities"] == ["FARGATE"]
    assert (request["cpu"], request["memory"]) == ("256", "512")
    assert request["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }
    assert request["volumes"] == [{"name": "tmp"}, {"name": "workspace"}]
    assert "pidMode" not in request
    assert validate_register_task_definition(request) == []


def test_trust_policy_admits_only_this_accounts_ecs_tasks() -> None:
    assert ecs_tasks_trust_policy(ACCOUNT)["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_secret_policy_names_exactly_the_declared_secrets() -> None:
    no_secrets = _sandbox(secrets=[])
    assert (
        secret_read_policy(no_secrets, partition="aws", region="us-west-2", account_id=ACCOUNT)
        is None
    )
    only_manager = _sandbox(secrets=[{"name": "GITHUB_TOKEN", "secretsManagerArn": SECRET_ARN}])
    assert secret_read_policy(
        only_manager, partition="aws", region="us-west-2", account_id=ACCOUNT
    ) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadDeclaredSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": [SECRET_ARN],
            }
        ],
    }


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def _server(status: int) -> Iterator[int]:
    handler = type("Handler", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_health_check_command_really_probes(status: int, healthy: bool) -> None:
    with _server(status) as port:
        command = health_check_command(port, "/health")
        result = subprocess.run(
            [sys.executable, *command[2:]], check=False, capture_output=True, timeout=10
        )
    assert (result.returncode == 0) is healthy


def test_health_check_fails_when_nothing_listens() -> None:
    with _server(200) as port:
        pass
    command = health_check_command(port, "/health")
    result = subprocess.run(
        [sys.executable, *command[2:]], check=False, capture_output=True, timeout=10
    )
    assert result.returncode != 0
