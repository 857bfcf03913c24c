"""The offline preview, run for every Pulumi.<stack>.yaml in the repo, as `make preview` runs it."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from components.controls.matrix import fargate_launcher_spec, fly_launcher_spec
from components.hardening.spec import compiled_filter
from components.seccomp import profile_sha256
from sandbox_policies.ecs_schema import validate_register_task_definition
from tests.stack_configs import ROOT
from tools.preview.pipeline import PreviewResult, preview_stack
from tools.preview.stack_file import SECRET_PLACEHOLDER_VALUE

STACKS = sorted(path.name.split(".")[1] for path in ROOT.glob("Pulumi.*.yaml"))


@pytest.fixture(scope="module", params=STACKS)
def previewed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> PreviewResult:
    out = tmp_path_factory.mktemp(f"preview-{request.param}")
    return preview_stack(request.param, out_dir=out)


def test_the_repo_has_a_staging_stack() -> None:
    assert "staging" in STACKS


def test_every_stack_previews_without_a_mandatory_violation(previewed: PreviewResult) -> None:
    assert previewed.mandatory_violations == []
    assert previewed.exit_code == 0


def test_preview_json_has_the_documented_shape(previewed: PreviewResult) -> None:
    document = json.loads(previewed.artifacts["preview"].read_text())
    assert set(document) == {"project", "stack", "resources", "policy"}
    assert (document["project"], document["stack"]) == ("agent-sandbox", previewed.stack)
    assert len(document["resources"]) == len(previewed.run.resources) > 0
    for resource in document["resources"]:
        assert set(resource) == {"urn", "type", "name", "parent", "inputs"}
        assert resource["urn"].endswith(f"::{resource['name']}")
    urns = {resource["urn"] for resource in document["resources"]}
    stack = previewed.stack
    stack_urn = f"urn:pulumi:{stack}::agent-sandbox::pulumi:pulumi:Stack::agent-sandbox-{stack}"
    assert all(resource["parent"] in urns | {stack_urn} for resource in document["resources"])
    for violation in document["policy"]["violations"]:
        assert set(violation) == {"policy", "level", "urn", "message"}


def test_secret_values_never_reach_the_preview(previewed: PreviewResult) -> None:
    for path in previewed.artifacts.values():
        assert SECRET_PLACEHOLDER_VALUE not in path.read_text(), path.name


def test_task_definitions_pass_the_ecs_api_schema(previewed: PreviewResult) -> None:
    task_definitions = [key for key in previewed.artifacts if key.startswith("task-definition-")]
    for key in task_definitions:
        request = json.loads(previewed.artifacts[key].read_text())
        assert validate_register_task_definition(request) == []


def _task_definition(result: PreviewResult, sandbox: str) -> dict[str, Any]:
    return json.loads(result.artifacts[f"task-definition-{sandbox}"].read_text())


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> PreviewResult:
    return preview_stack("staging", out_dir=tmp_path_factory.mktemp("staging"))


def test_staging_fargate_sandbox_carries_every_control(staging: PreviewResult) -> None:
    request = _task_definition(staging, "ops-agent")
    (container,) = request["containerDefinitions"]
    assert request["networkMode"] == "awsvpc"
    assert request["requiresCompatibilities"] == ["FARGATE"]
    assert (request["cpu"], request["memory"]) == ("256", "512")
    assert request["taskRoleArn"] != request["executionRoleArn"]
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "1001:1001"
    assert container["linuxParameters"]["capabilities"] == {"add": [], "drop": ["ALL"]}
    assert container["linuxParameters"]["initProcessEnabled"] is True
    assert "privileged" not in container and "dockerSecurityOptions" not in container
    ulimits = {
        limit["name"]: (limit["softLimit"], limit["hardLimit"]) for limit in container["ulimits"]
    }
    assert ulimits["nofile"] == (1024, 2048)
    assert ulimits["nproc"] == (100, 100)
    assert ulimits["cpu"] == (3600, 3600)
    assert ulimits["fsize"] == (2**31 - 1, 2**31 - 1)  # ECS's 32-bit maximum, under 10 GiB
    assert {mount["containerPath"] for mount in container["mountPoints"]} == {"/tmp", "/workspace"}
    assert {name for name in (e["name"] for e in container["environment"])}.isdisjoint(
        {"RENDER_API_KEY", "SENTRY_AUTH_TOKEN"}
    )
    assert {secret["name"] for secret in container["secrets"]} == {
        "RENDER_API_KEY",
        "SENTRY_AUTH_TOKEN",
    }
    assert "/health" in " ".join(container["healthCheck"]["command"])
    assert "8080" in " ".join(container["healthCheck"]["command"])
    service = staging.run.named("ops-agent-service").inputs
    assert service["networkConfiguration"]["assignPublicIp"] is False
    assert service["platformVersion"] == "LATEST"
    assert service["enableExecuteCommand"] is False
    assert service["desiredCount"] == 1


def test_staging_fly_sandbox_matches_the_seed_with_its_mistakes_fixed(
    staging: PreviewResult,
) -> None:
    fly = tomllib.loads(staging.artifacts["fly-ops-agent-fly"].read_text())
    assert fly["app"] == "morningai-sandbox-ops-agent"
    assert fly["primary_region"] == "sin"
    assert fly["vm"] == [
        {"size": "shared-cpu-1x", "cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    ]
    assert fly["mounts"]["destination"] == "/workspace"
    assert fly["mounts"]["initial_size"] == "1gb"
    assert "@sha256:" in fly["build"]["image"] and "dockerfile" not in fly["build"]
    assert fly["env"]["AGENT_TYPE"] == "ops_agent"
    assert {"RENDER_API_KEY", "SENTRY_AUTH_TOKEN"}.isdisjoint(fly["env"])
    checks = fly["services"][0]["http_checks"]
    assert [(check["path"], check["method"].upper()) for check in checks] == [("/health", "GET")]
    assert fly["services"][0]["internal_port"] == 8080
    assert "ports" not in fly["services"][0]  # no public handlers: the sandbox takes no traffic
    assert fly["restart"][0]["policy"] == "on-failure"


def test_egress_table_lists_the_runbook_allowlist(staging: PreviewResult) -> None:
    table = staging.artifacts["egress"].read_text()
    assert "udp       53    169.254.169.253/32" in table
    assert "HTTPS 443 to api.render.com, sentry.io, github.com" in table
    assert "200: BLOCK *" in table


def test_make_preview_cli_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "tools.preview", "--stack", "staging", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "Preview of stack 'staging'" in ok.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "tools.preview", "--stack", "nope", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "Pulumi.nope.yaml: no such stack file" in missing.stderr


def test_staging_runs_both_agents_under_the_launcher_with_the_profiles_bpf(
    staging: PreviewResult,
) -> None:
    (container,) = _task_definition(staging, "ops-agent")["containerDefinitions"]
    fly = tomllib.loads(staging.artifacts["fly-ops-agent-fly"].read_text())
    specs = {"fargate": fargate_launcher_spec(container), "fly": fly_launcher_spec(fly)}
    for platform, spec in specs.items():
        assert spec is not None, platform
        assert spec["platform"] == platform
        assert spec["seccomp"]["profileSha256"] == profile_sha256()
        for arch in ("x86_64", "aarch64"):
            blob = base64.b64decode(spec["seccomp"]["arch"][arch]["bpfBase64"])
            assert blob == compiled_filter("sandbox", arch)
            assert hashlib.sha256(blob).hexdigest() == spec["seccomp"]["arch"][arch]["sha256"]
    assert container["command"] == ["python", "mcp_client.py"]
    assert fly["processes"]["app"].endswith("-- python mcp_client.py")
