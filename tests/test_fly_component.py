"""The Fly component's registrations (under the mock runtime) and its pure parts."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from fly_lifecycle import record
from stack_configs import staging_values
from test_fly_lifecycle import SECRETS, TOKEN, fly_sandbox

from components.config import ConfigError, parse_stack_config
from components.fly import flyjson
from components.fly.fly_toml import render_fly_toml, sandbox_spec
from components.fly.sandbox import (
    COMPONENT_TYPE,
    FlySandbox,
    FlySandboxArgs,
    parse_machine_count,
    secret_lines,
)
from tests.stack_configs import hardening_for
from tools.preview import artifacts
from tools.preview.mock_runtime import Secret, run_under_mocks

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "components" / "fly" / "scripts"
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"
COMMAND = "command:local:Command"


def test_component_registers_its_spec_and_fly_toml_as_inputs() -> None:
    run = record(fly_sandbox(), SECRETS)
    (component,) = run.of_type(COMPONENT_TYPE)
    assert component.name == "ops-agent-fly"
    spec = component.inputs["spec"]
    assert set(spec) == {
        "app",
        "region",
        "org",
        "image",
        "vm",
        "volume",
        "publicIps",
        "env",
        "secretNames",
        "healthCheck",
        "restart",
        "running",
        "deploy",
    }
    assert spec["vm"] == {"size": "shared-cpu-1x", "cpuKind": "shared", "cpus": 1, "memoryMb": 256}
    assert spec["volume"] == {"name": "ops_agent_data", "sizeGb": 1, "path": "/workspace"}
    assert spec["secretNames"] == ["RENDER_API_KEY", "SENTRY_AUTH_TOKEN"]
    assert spec["healthCheck"]["path"] == "/health" and spec["healthCheck"]["port"] == 8080
    assert spec["deploy"] == {
        "strategy": "immediate",
        "waitTimeoutSeconds": 300,
        "ha": False,
        "healthTimeoutSeconds": 300,
    }
    assert spec["publicIps"] is False and spec["running"] is True
    toml = tomllib.loads(component.inputs["flyToml"])
    assert toml["app"] == "morningai-sandbox-ops-agent" and toml["primary_region"] == "sin"
    assert toml["vm"] == [
        {"size": "shared-cpu-1x", "cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    ]


def test_children_are_commands_parented_to_the_component_with_derived_names() -> None:
    run = record(fly_sandbox(), SECRETS)
    (component,) = run.of_type(COMPONENT_TYPE)
    commands = run.of_type(COMMAND)
    assert sorted(c.name for c in commands) == sorted(
        f"ops-agent-fly-{part}" for part in ("app", "volume", "secrets", "deploy", "scale")
    )
    assert all(c.parent == component.urn for c in commands)
    deps = {c.name: {d.rsplit("::", 1)[1] for d in c.dependencies} for c in commands}
    assert deps["ops-agent-fly-volume"] == {"ops-agent-fly-app"}
    assert deps["ops-agent-fly-secrets"] == {"ops-agent-fly-volume"}
    assert deps["ops-agent-fly-deploy"] == {"ops-agent-fly-secrets"}
    assert deps["ops-agent-fly-scale"] == {"ops-agent-fly-deploy"}
    assert run.named("ops-agent-fly-app").inputs["triggers"] == ["morningai-sandbox-ops-agent"]


def test_command_strings_are_constants_and_values_travel_in_the_environment() -> None:
    run = record(fly_sandbox(), SECRETS)
    for command in run.of_type(COMMAND):
        for key in ("create", "update", "delete"):
            text = command.inputs.get(key)
            if text is not None:
                assert text.startswith("bash components/fly/scripts/")
                assert "morningai" not in text and "sin" not in text.split()
    volume_env = run.named("ops-agent-fly-volume").inputs["environment"]
    assert volume_env["FLY_APP"] == "morningai-sandbox-ops-agent"
    assert volume_env["FLY_VOLUME"] == "ops_agent_data" and volume_env["FLY_VOLUME_SIZE_GB"] == "1"


def test_secret_inputs_are_marked_secret_and_commands_that_echo_them_do_not_log() -> None:
    run = record(fly_sandbox(), SECRETS, token=TOKEN)
    secrets = run.named("ops-agent-fly-secrets")
    assert secrets.inputs["stdin"] == "[secret]"
    assert secrets.inputs["logging"] == "none"
    assert isinstance(secrets.secret_inputs["stdin"], Secret)
    for command in run.of_type(COMMAND):
        assert command.inputs["environment"] == "[secret]"  # the token is in every environment
    assert run.named("ops-agent-fly-deploy").inputs["logging"] == "stderr"
    plain = json.dumps([r.inputs for r in run.resources])
    for value in [*SECRETS.values(), TOKEN]:
        assert value not in plain


def test_without_a_token_config_the_environment_is_plain_and_has_no_token() -> None:
    run = record(fly_sandbox(), SECRETS)
    env = run.named("ops-agent-fly-scale").inputs["environment"]
    assert "FLY_API_TOKEN" not in env
    assert env["FLY_MACHINE_COUNT"] == "1"


def test_secret_values_must_match_the_declared_names() -> None:
    sandbox = fly_sandbox()

    def program() -> None:
        FlySandbox(
            sandbox.name,
            FlySandboxArgs(sandbox=sandbox, hardening=hardening_for(sandbox), secrets={}),
        )

    with pytest.raises(ValueError, match=r"missing: \['RENDER_API_KEY', 'SENTRY_AUTH_TOKEN'\]"):
        run_under_mocks(program, {})


def test_secret_with_a_line_break_is_rejected_by_name_not_value() -> None:
    with pytest.raises(ValueError, match="'RENDER_API_KEY' contains a line break") as error:
        secret_lines({"RENDER_API_KEY": "abc\nEVIL=1"})
    assert "abc" not in str(error.value)
    assert secret_lines({"B": "2", "A": "x=y"}) == "A=x=y\nB=2\n"


@pytest.mark.parametrize("app", ["x; rm -rf ~", "Morning", "a--b", "-abc", "ab", "a" * 64])
def test_config_rejects_fly_app_names_fly_would_reject(app: str) -> None:
    values = staging_values()
    next(s for s in values["sandboxes"] if s["platform"] == "fly")["fly"]["app"] = app
    with pytest.raises(ConfigError, match=r"sandboxes\[1\]\.fly\.app"):
        parse_stack_config(values)


def test_fly_toml_has_the_runbook_limits_no_secrets_and_a_restart_policy() -> None:
    text = render_fly_toml(fly_sandbox())
    toml = tomllib.loads(text)
    assert toml["build"] == {"image": fly_sandbox().image}
    assert "@sha256:" in toml["build"]["image"]
    assert toml["env"] == {"AGENT_TYPE": "ops_agent", "MCP_SERVER_URL": "http://localhost:8080"}
    (service,) = toml["services"]
    assert service["internal_port"] == 8080 and "ports" not in service
    (check,) = service["http_checks"]
    assert (check["method"], check["path"]) == ("GET", "/health")
    assert toml["mounts"] == {
        "source": "ops_agent_data",
        "destination": "/workspace",
        "initial_size": "1gb",
    }
    assert toml["restart"] == [{"policy": "on-failure", "retries": 3, "processes": ["app"]}]
    assert "RENDER_API_KEY" not in text and "processes" not in toml and "files" not in toml


def test_fly_toml_escapes_values_instead_of_templating_them() -> None:
    sandbox = fly_sandbox(environment={"NOTE": 'x"\n[env]\nEVIL = "1'})
    toml = tomllib.loads(render_fly_toml(sandbox))
    assert toml["env"] == {"NOTE": 'x"\n[env]\nEVIL = "1'}


def test_fly_toml_carries_launcher_files_and_process_command() -> None:
    text = render_fly_toml(
        fly_sandbox(),
        files=[{"guest_path": "/opt/launcher/policy.json", "raw_value": "e30="}],
        process_command=["/opt/launcher/run", "--", "python", "-m", "agent x"],
    )
    toml = tomllib.loads(text)
    assert toml["files"] == [{"guest_path": "/opt/launcher/policy.json", "raw_value": "e30="}]
    assert toml["processes"] == {"app": "/opt/launcher/run -- python -m 'agent x'"}


@pytest.mark.parametrize(
    ("files", "command", "message"),
    [
        ([{"guest_path": "relative", "raw_value": "x"}], None, "absolute path"),
        ([{"guest_path": "/a", "raw_value": "x", "secret_name": "S"}], None, "exactly one"),
        (None, [], "non-empty"),
        (None, ["run", ""], "non-empty"),
    ],
)
def test_fly_toml_rejects_bad_launcher_parts(
    files: list[dict[str, str]] | None, command: list[str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_fly_toml(fly_sandbox(), files=files, process_command=command)


def test_spec_follows_config_changes() -> None:
    spec = sandbox_spec(fly_sandbox(running=False, publicIps=True, deployStrategy="rolling"))
    assert spec["running"] is False and spec["publicIps"] is True
    assert spec["deploy"]["strategy"] == "rolling"


def test_machine_count_parsing() -> None:
    assert parse_machine_count("1", 0) == 1
    assert parse_machine_count("", 1) == 1
    with pytest.raises(ValueError, match="expected a machine count"):
        parse_machine_count("oops", 1)


def test_flyjson_reads_flyctl_output() -> None:
    apps = [{"Name": "a-b-c", "Organization": {"Slug": "team"}}]
    assert flyjson.app_org(apps, "a-b-c") == "team"
    assert flyjson.app_org(apps, "a-b") is None
    volumes = [
        {"id": "vol_old", "name": "data", "state": "destroyed", "size_gb": 1},
        {"id": "vol_new", "name": "data", "state": "created", "size_gb": 3},
    ]
    assert flyjson.volume(volumes, "data") == ("vol_new", 3)
    started = {"id": "m1", "state": "started", "checks": [{"name": "c", "status": "passing"}]}
    assert flyjson.health({"Machines": [started]}) == (True, "passing")
    assert flyjson.health({"Machines": []}) == (False, "no machine is running")
    failing = {**started, "checks": [{"name": "c", "status": "critical", "output": "502\nx"}]}
    assert flyjson.health({"Machines": [failing]}) == (
        False,
        "check c on machine m1 is critical: 502",
    )
    assert flyjson.health({"Machines": [{**started, "checks": []}]})[0] is False
    assert flyjson.answer(["machine-count"], {"Machines": [started, failing]}) == (0, "2")
    with pytest.raises(ValueError, match="usage"):
        flyjson.answer(["volume"], [])


def test_scripts_are_shellcheck_clean_and_strict() -> None:
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert len(scripts) == 6
    result = subprocess.run(
        [str(SHELLCHECK), "-x", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout
    for script in scripts:
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n")
        assert script.name == "lib.sh" or "set -euo pipefail" in text
        assert not re.search(r"^\s*set -[a-z]*x", text, re.MULTILINE)


def test_offline_preview_writes_a_parseable_fly_toml_with_the_runbook_vm_limits() -> None:
    configs = artifacts.fly_configs(record(fly_sandbox(), SECRETS))
    assert list(configs) == ["ops-agent-fly"]
    toml = tomllib.loads(configs["ops-agent-fly"])
    (vm,) = toml["vm"]
    assert (vm["size"], vm["cpus"], vm["memory_mb"]) == ("shared-cpu-1x", 1, 256)
