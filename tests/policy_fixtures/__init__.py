"""Drives the policy pack in-process through its real Analyzer servicer, for fast tests.

The requests are built by the same functions the out-of-process runner sends over gRPC
(tools.policy_runner), and the servicer is the one the pack serves, so these tests see what
the engine would see; only the socket is missing. test_policy_pack_process covers that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import empty_pb2

from components.controls.catalog import CONTROLS
from components.fargate.container_definition import fargate_hardening
from components.fly.fly_toml import render_fly_toml
from components.hardening.delivery import fargate_delivery, fly_delivery
from components.hardening.spec import to_launcher_spec
from sandbox_policies.pack import PACK_LEVEL, PACK_NAME, build_policies
from sandbox_policies.waivers import WaiverEnforcingServicer
from tests.stack_configs import hardening_for, staging_config
from tools.policy_runner import (
    Violation,
    analyze_request,
    configure_request,
    policy_infos,
    stack_request,
    to_violation,
)
from tools.preview.mock_runtime import RecordedResource

STACK = "policytest"
PROJECT = "agent-sandbox"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
DIGEST = "sha256:" + "ab" * 32
IMAGE = f"ghcr.io/rc918/morningai-ops-agent-sandbox@{DIGEST}"
GIB = 1024**3


class AbortedError(Exception):
    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class FakeContext:
    """The grpc.ServicerContext surface the servicer uses."""

    def abort(self, code: Any, details: str) -> None:
        raise AbortedError(code, details)


def servicer() -> WaiverEnforcingServicer:
    return WaiverEnforcingServicer(PACK_NAME, "0.0.1", build_policies(), PACK_LEVEL)


def configure(
    analyzer: WaiverEnforcingServicer, policy_config: Mapping[str, Any] | None = None
) -> None:
    infos = policy_infos(analyzer.GetAnalyzerInfo(empty_pb2.Empty(), FakeContext()))
    analyzer.Configure(configure_request(infos, policy_config), FakeContext())


def analyze(
    resources: Sequence[RecordedResource], policy_config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Every violation the pack reports for ``resources``, as the engine would collect them."""
    analyzer = servicer()
    configure(analyzer, policy_config)
    violations: list[Violation] = []
    for resource in resources:
        reply = analyzer.Analyze(analyze_request(resource), FakeContext())
        violations += [to_violation(item, resource.urn) for item in reply.diagnostics]
    reply = analyzer.AnalyzeStack(stack_request(resources), FakeContext())
    return violations + [to_violation(item, "") for item in reply.diagnostics]


def of(violations: Sequence[Violation], policy: str) -> list[Violation]:
    return [violation for violation in violations if violation.policy == policy]


def resource(
    type_: str,
    name: str,
    inputs: Mapping[str, Any],
    *,
    parent: RecordedResource | None = None,
    dependencies: Sequence[RecordedResource] = (),
) -> RecordedResource:
    parent_urn = parent.urn if parent is not None else STACK_URN
    qualified = f"{parent.urn.split('::')[2]}${type_}" if parent is not None else type_
    return RecordedResource(
        urn=f"urn:pulumi:{STACK}::{PROJECT}::{qualified}::{name}",
        type=type_,
        name=name,
        parent=parent_urn,
        custom=not type_.startswith("agent-sandbox:"),
        inputs=dict(inputs),
        secret_inputs=dict(inputs),
        dependencies=tuple(item.urn for item in dependencies),
    )


# --------------------------------------------------------------------------- hardened resources


AGENT_COMMAND = ["python", "mcp_client.py"]
_STAGING = staging_config()
# The real launcher, as the components deliver it for staging's sandboxes.
FARGATE_LAUNCHER = fargate_delivery(
    to_launcher_spec(fargate_hardening(hardening_for(_STAGING.fargate_sandboxes[0]))),
    AGENT_COMMAND,
)
_FLY_LAUNCHER = fly_delivery(
    to_launcher_spec(hardening_for(_STAGING.fly_sandboxes[0])), AGENT_COMMAND
)


def container(**overrides: Any) -> dict[str, Any]:
    """A container definition that meets every runbook control, started by the launcher."""
    definition: dict[str, Any] = {
        "name": "agent",
        "image": IMAGE,
        "essential": True,
        "readonlyRootFilesystem": True,
        "user": "1001:1001",
        "linuxParameters": {
            "capabilities": {"drop": ["ALL"], "add": []},
            "initProcessEnabled": True,
            "tmpfs": [{"containerPath": "/tmp", "size": 1024, "mountOptions": ["noexec"]}],
        },
        "ulimits": [
            {"name": "nofile", "softLimit": 1024, "hardLimit": 2048},
            {"name": "nproc", "softLimit": 100, "hardLimit": 100},
            {"name": "fsize", "softLimit": 2**31 - 1, "hardLimit": 2**31 - 1},
            {"name": "cpu", "softLimit": 3600, "hardLimit": 3600},
        ],
        "entryPoint": FARGATE_LAUNCHER.entry_point,
        "command": FARGATE_LAUNCHER.command,
        "environment": [
            {"name": "AGENT_TYPE", "value": "ops_agent"},
            *({"name": k, "value": v} for k, v in FARGATE_LAUNCHER.environment.items()),
        ],
        "secrets": [
            {
                "name": "RENDER_API_KEY",
                "valueFrom": "arn:aws:ssm:us-west-2:123456789012:parameter/agent/render",
            }
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/agent-sandbox/ops-agent",
                "awslogs-region": "us-west-2",
                "awslogs-stream-prefix": "agent",
            },
        },
    }
    definition.update(overrides)
    return definition


def task_inputs(
    containers: Sequence[Mapping[str, Any]] | None = None, **overrides: Any
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "family": "ops-agent",
        "containerDefinitions": json.dumps(list(containers or [container()])),
        "cpu": "256",
        "memory": "512",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "executionRoleArn": "arn:aws:iam::123456789012:role/ops-agent-execution",
        "taskRoleArn": "arn:aws:iam::123456789012:role/ops-agent-task",
    }
    inputs.update(overrides)
    return inputs


def task_definition(containers: Sequence[Mapping[str, Any]] | None = None, **overrides: Any):
    return resource(
        "aws:ecs/taskDefinition:TaskDefinition",
        "ops-agent-task",
        task_inputs(containers, **overrides),
    )


def service_inputs(**overrides: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "cluster": "arn:aws:ecs:us-west-2:123456789012:cluster/sandboxes",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "enableExecuteCommand": False,
        "networkConfiguration": {
            "assignPublicIp": False,
            "securityGroups": ["sg-0123456789abcdef0"],
            "subnets": ["subnet-0123456789abcdef0"],
        },
    }
    inputs.update(overrides)
    return inputs


def service(**overrides: Any) -> RecordedResource:
    return resource("aws:ecs/service:Service", "ops-agent-service", service_inputs(**overrides))


def fly_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "app": "morningai-sandbox-ops-agent",
        "region": "sin",
        "org": "personal",
        "image": IMAGE,
        "vm": {"size": "shared-cpu-1x", "cpuKind": "shared", "cpus": 1, "memoryMb": 256},
        "volume": {"name": "ops_agent_data", "sizeGb": 1, "path": "/workspace"},
        "publicIps": False,
        "env": {"AGENT_TYPE": "ops_agent"},
        "secretNames": ["RENDER_API_KEY"],
        "healthCheck": {
            "path": "/health",
            "port": 8080,
            "method": "GET",
            "interval": "30s",
            "timeout": "5s",
            "gracePeriod": "10s",
        },
        "restart": {"policy": "on-failure", "maxRetries": 3},
        "running": True,
        "deploy": {
            "strategy": "immediate",
            "waitTimeoutSeconds": 300,
            "ha": False,
            "healthTimeoutSeconds": 300,
        },
    }
    spec.update(overrides)
    return spec


FLY_TOML = render_fly_toml(
    _STAGING.fly_sandboxes[0],
    files=_FLY_LAUNCHER.files,
    process_command=_FLY_LAUNCHER.process_command,
)


def fly_sandbox(fly_toml: str = FLY_TOML, **overrides: Any) -> RecordedResource:
    return resource(
        "agent-sandbox:fly:Sandbox",
        "ops-agent-fly",
        {"spec": fly_spec(**overrides), "flyToml": fly_toml},
    )


CONTROL_IDS = tuple(control.id for control in CONTROLS)


def control_matrix(
    platform: str = "fargate", unavailable: Sequence[str] = (), missing: Sequence[str] = ()
) -> RecordedResource:
    """A ControlMatrix registration: every control enforced except those named."""
    controls = {
        control: (
            {"enforcedBy": "unavailable", "detail": "nothing here can"}
            if control in unavailable
            else {"enforcedBy": "platform", "detail": "a setting"}
        )
        for control in CONTROL_IDS
        if control not in missing
    }
    return resource(
        "agent-sandbox:controls:ControlMatrix",
        f"ops-agent-{platform}-controls",
        {"sandbox": "ops-agent", "platform": platform, "controls": controls},
    )
