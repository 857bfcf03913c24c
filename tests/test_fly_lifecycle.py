"""The Fly component's real scripts, run the way pulumi-command runs them, against the fake."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fly_lifecycle import CommandError, Lifecycle, base_environment, record
from stack_configs import staging_values

from components.config import FlySandbox as FlySandboxConfig
from components.config import parse_stack_config

ROOT = Path(__file__).resolve().parent.parent
FAKE_DIR = ROOT / "tests" / "fake_flyctl"
FAKE = FAKE_DIR / "flyctl"
APP = "morningai-sandbox-ops-agent"
SECRETS = {
    "RENDER_API_KEY": "rk-live-Zq81xT0pSecretValue",
    "SENTRY_AUTH_TOKEN": "sntrys-9fK2Secret",
}
TOKEN = "FlyV1 fm2_test-token-Q7hX"
NEW_IMAGE = "ghcr.io/rc918/morningai-ops-agent-sandbox@sha256:" + "ab" * 32
TOOLS = ("bash", "dirname", "mktemp", "rm", "sleep")


def fly_sandbox(**fly_changes: Any) -> FlySandboxConfig:
    values = staging_values()
    sandbox = next(s for s in values["sandboxes"] if s["platform"] == "fly")
    for key, value in fly_changes.items():
        if key in ("image", "running", "environment", "secrets"):
            sandbox[key] = value
        else:
            sandbox["fly"][key] = value
    values["sandboxes"] = [sandbox]
    return parse_stack_config(values).fly_sandboxes[0]


class Harness:
    """A stack's Commands plus the fake Fly account they act on."""

    def __init__(self, tmp: Path, with_flyctl: bool = True, token: str | None = TOKEN) -> None:
        self.tmp = tmp
        tools = tmp / "bin"
        tools.mkdir()
        for tool in TOOLS:
            (tools / tool).symlink_to(_which(tool))
        (tools / "python3").symlink_to(os.path.realpath(sys.executable))
        path = [FAKE_DIR, tools] if with_flyctl else [tools]
        extra = {"FLY_API_TOKEN": token} if token else {}
        self.env = base_environment(path, tmp, **extra)
        self.lifecycle = Lifecycle(ROOT, self.env)

    def up(self, sandbox: FlySandboxConfig, **overrides: str) -> list[tuple[str, str]]:
        steps = self.lifecycle.up(record(sandbox, SECRETS), overrides or None)
        return [(step.resource.removeprefix("ops-agent-fly-"), step.operation) for step in steps]

    def flyctl(self, *argv: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(FAKE), *argv],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def calls(self) -> list[dict[str, Any]]:
        log = self.tmp / "fly" / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def commands(self, since: int = 0) -> list[str]:
        return [call.get("command", "?") for call in self.calls()[since:]]

    def app(self) -> dict[str, Any] | None:
        state = json.loads((self.tmp / "fly" / "state.json").read_text())
        return state["apps"].get(APP)


def _which(tool: str) -> str:
    found = shutil.which(tool)
    assert found, f"{tool} is needed to run the Fly scripts"
    return found


@pytest.fixture
def fly(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_fresh_create_runs_each_concern_in_order(fly: Harness) -> None:
    steps = fly.up(fly_sandbox())
    assert steps == [
        ("app", "create"),
        ("volume", "create"),
        ("secrets", "create"),
        ("deploy", "create"),
        ("scale", "create"),
    ]
    commands = fly.commands()
    assert commands.index("apps create") < commands.index("volumes create")
    assert commands.index("secrets import") < commands.index("deploy")
    assert commands.count("deploy") == 1
    app = fly.app()
    assert app is not None
    assert app["secrets"] == SECRETS and app["staged"] == {}
    assert [v["name"] for v in app["volumes"]] == ["ops_agent_data"]
    assert len(app["machines"]) == 1 and app["machines"][0]["state"] == "started"
    assert app["ips"] == []
    release = app["releases"][0]
    assert release["ha"] is False and release["no_public_ips"] is True
    assert release["strategy"] == "immediate" and release["wait_timeout"] == "300s"
    assert release["config"]["vm"] == [
        {"size": "shared-cpu-1x", "cpu_kind": "shared", "cpus": 1, "memory_mb": 256}
    ]
    deploy_call = next(c for c in fly.calls() if c.get("command") == "deploy")
    config_path = deploy_call["argv"][deploy_call["argv"].index("--config") + 1]
    assert config_path.endswith("/fly.toml") and not Path(config_path).exists()
    assert fly.lifecycle.state["ops-agent-fly-scale"].stdout == "1"


def test_existing_app_is_adopted_not_created(fly: Harness) -> None:
    fly.flyctl("apps", "create", APP, "--org", "personal")
    before = len(fly.calls())
    steps = fly.up(fly_sandbox())
    assert steps[0] == ("app", "create")
    assert "apps create" not in fly.commands(before)
    assert fly.lifecycle.state["ops-agent-fly-app"].stdout == "adopted"
    assert fly.app() is not None and len(fly.app()["machines"]) == 1  # type: ignore[index]


def test_app_in_another_org_is_an_error_naming_both(fly: Harness) -> None:
    fly.flyctl("apps", "create", APP, "--org", "other-team")
    with pytest.raises(CommandError, match="exists in org 'other-team', not in the configured"):
        fly.up(fly_sandbox())


def test_second_up_without_change_runs_no_command(fly: Harness) -> None:
    fly.up(fly_sandbox())
    before = len(fly.calls())
    assert fly.up(fly_sandbox()) == []
    assert len(fly.calls()) == before


def test_image_change_runs_exactly_one_deploy_and_keeps_the_volume(fly: Harness) -> None:
    fly.up(fly_sandbox())
    volume_id = fly.app()["volumes"][0]["id"]  # type: ignore[index]
    before = len(fly.calls())
    assert fly.up(fly_sandbox(image=NEW_IMAGE)) == [("deploy", "update")]
    assert fly.commands(before).count("deploy") == 1
    assert {"apps create", "volumes create", "secrets import"}.isdisjoint(fly.commands(before))
    app = fly.app()
    assert app is not None
    assert [v["id"] for v in app["volumes"]] == [volume_id]
    assert app["machines"][0]["image"] == NEW_IMAGE
    assert app["machines"][0]["volume"] == volume_id
    assert len(app["releases"]) == 2


def test_running_false_scales_to_zero_without_deploying(fly: Harness) -> None:
    fly.up(fly_sandbox())
    volume_id = fly.app()["volumes"][0]["id"]  # type: ignore[index]
    before = len(fly.calls())
    steps = fly.up(fly_sandbox(running=False))
    assert ("scale", "update") in steps
    assert "deploy" not in fly.commands(before)
    assert fly.app()["machines"] == []  # type: ignore[index]
    assert fly.lifecycle.state["ops-agent-fly-scale"].stdout == "0"

    before = len(fly.calls())
    fly.up(fly_sandbox(running=True))
    assert "deploy" not in fly.commands(before)
    app = fly.app()
    assert app is not None and len(app["machines"]) == 1
    assert app["machines"][0]["volume"] == volume_id
    assert fly.lifecycle.state["ops-agent-fly-scale"].stdout == "1"


def test_deploy_while_stopped_keeps_the_sandbox_stopped(fly: Harness) -> None:
    fly.up(fly_sandbox(running=False))
    assert fly.app()["machines"] == []  # type: ignore[index]
    fly.up(fly_sandbox(running=False, image=NEW_IMAGE))
    app = fly.app()
    assert app is not None and app["machines"] == []
    assert app["releases"][-1]["image"] == NEW_IMAGE


def test_secret_change_stages_then_deploys_once(fly: Harness) -> None:
    fly.up(fly_sandbox())
    before = len(fly.calls())
    changed = dict(SECRETS, RENDER_API_KEY="rk-live-rotated-Value")
    steps = fly.lifecycle.up(record(fly_sandbox(), changed))
    assert [s.resource for s in steps] == ["ops-agent-fly-secrets", "ops-agent-fly-deploy"]
    assert fly.commands(before).count("secrets import") == 1
    assert fly.commands(before).count("deploy") == 1
    assert fly.app()["secrets"]["RENDER_API_KEY"] == "rk-live-rotated-Value"  # type: ignore[index]


def test_removed_secret_is_unset_in_the_same_rollout(fly: Harness) -> None:
    fly.up(fly_sandbox())
    only_render = [{"name": "RENDER_API_KEY", "configKey": "opsAgentRenderApiKey"}]
    fly.up(fly_sandbox(secrets=only_render))
    unset = [c for c in fly.calls() if c.get("command") == "secrets unset"]
    assert [c["argv"][2] for c in unset] == ["SENTRY_AUTH_TOKEN"]
    assert "--stage" in unset[0]["argv"]
    assert set(fly.app()["secrets"]) == {"RENDER_API_KEY"}  # type: ignore[index]


def test_token_rotation_redeploys_nothing(fly: Harness) -> None:
    fly.lifecycle.up(record(fly_sandbox(), SECRETS, token="FlyV1 first"))
    before = len(fly.calls())
    steps = fly.lifecycle.up(record(fly_sandbox(), SECRETS, token="FlyV1 second"))
    assert len(steps) == 5  # the token is an input of every Command
    assert {"deploy", "secrets import", "apps create", "volumes create"}.isdisjoint(
        fly.commands(before)
    )


def test_destroy_deletes_the_app_without_a_prompt(fly: Harness) -> None:
    fly.up(fly_sandbox())
    before = len(fly.calls())
    steps = fly.lifecycle.destroy()
    assert [s.resource.removeprefix("ops-agent-fly-") for s in steps] == [
        "scale",
        "deploy",
        "secrets",
        "volume",
        "app",
    ]
    destroy = [c for c in fly.calls()[before:] if c.get("command") == "apps destroy"]
    assert destroy[0]["argv"] == ["apps", "destroy", APP, "--yes"] and destroy[0]["exit"] == 0
    assert steps[-1].stderr.endswith(f"fly: app {APP} destroyed")
    assert fly.app() is None
    assert fly.lifecycle.state == {}


def test_destroy_when_the_app_is_already_gone_succeeds(fly: Harness) -> None:
    fly.up(fly_sandbox())
    fly.flyctl("apps", "destroy", APP, "--yes")
    before = len(fly.calls())
    fly.lifecycle.destroy()
    assert "apps destroy" not in fly.commands(before)
    assert fly.lifecycle.state == {}


def test_app_rename_creates_the_new_app_then_destroys_the_old(fly: Harness) -> None:
    fly.up(fly_sandbox())
    steps = fly.up(fly_sandbox(app="morningai-sandbox-ops-agent-2"))
    assert steps[0] == ("app", "create") and steps[-1] == ("app", "delete")
    state = json.loads((fly.tmp / "fly" / "state.json").read_text())
    assert list(state["apps"]) == ["morningai-sandbox-ops-agent-2"]
    assert len(state["apps"]["morningai-sandbox-ops-agent-2"]["machines"]) == 1


def test_failed_deploy_fails_the_update_with_flyctls_error_and_a_retry_converges(
    fly: Harness,
) -> None:
    fly.up(fly_sandbox())
    with pytest.raises(CommandError) as failure:
        fly.up(fly_sandbox(image=NEW_IMAGE), FAKE_FLYCTL_FAIL_AT="deploy")
    message = str(failure.value)
    assert "Error: failed to update machine: injected failure of flyctl deploy" in message
    assert f"flyctl deploy of app {APP} failed" in message
    assert fly.app()["machines"][0]["image"] != NEW_IMAGE  # type: ignore[index]

    assert fly.up(fly_sandbox(image=NEW_IMAGE)) == [("deploy", "update")]
    assert fly.app()["machines"][0]["image"] == NEW_IMAGE  # type: ignore[index]
    assert fly.up(fly_sandbox(image=NEW_IMAGE)) == []


def test_health_that_never_passes_fails_the_update_after_the_timeout(fly: Harness) -> None:
    fly.up(fly_sandbox())
    started = time.monotonic()
    with pytest.raises(CommandError) as failure:
        fly.up(
            fly_sandbox(image=NEW_IMAGE),
            FAKE_FLYCTL_HEALTH="critical",
            FLY_HEALTH_TIMEOUT_SECONDS="2",
        )
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert f"health checks of app {APP} did not pass within 2 s" in message
    assert "is critical: connect: refused" in message
    assert elapsed >= 1.0 and elapsed < 15  # bash SECONDS counts whole seconds
    assert fly.commands().count("status") >= 2


def test_health_that_passes_after_retries_succeeds(fly: Harness) -> None:
    steps = fly.up(fly_sandbox(), FAKE_FLYCTL_HEALTH_PASS_AFTER="1")
    assert steps[-1] == ("scale", "create")
    assert "waiting 1 s for health checks" in fly.lifecycle.history[3].stderr


def test_missing_flyctl_fails_clearly_before_anything_is_created(tmp_path: Path) -> None:
    fly = Harness(tmp_path, with_flyctl=False)
    with pytest.raises(CommandError, match="flyctl was not found on PATH"):
        fly.up(fly_sandbox())
    assert fly.calls() == [] and fly.lifecycle.state == {}


def test_missing_token_fails_clearly_before_anything_is_created(tmp_path: Path) -> None:
    fly = Harness(tmp_path, token=None)
    with pytest.raises(CommandError, match="FLY_API_TOKEN is not set"):
        fly.up(fly_sandbox())
    assert fly.calls() == [] and fly.lifecycle.state == {}


def test_token_from_secret_config_reaches_flyctl_only_through_the_environment(
    tmp_path: Path,
) -> None:
    fly = Harness(tmp_path, token=None)
    run = record(fly_sandbox(), SECRETS, token=TOKEN)
    fly.lifecycle.up(run)
    assert fly.app() is not None
    assert all(TOKEN not in " ".join(call["argv"]) for call in fly.calls())
    for resource in run.resources:
        assert TOKEN not in json.dumps(resource.inputs)


def test_secret_values_appear_in_no_argv_script_or_plain_input(fly: Harness) -> None:
    run = record(fly_sandbox(), SECRETS)
    fly.lifecycle.up(run)
    scripts = "".join(
        p.read_text()
        for p in (ROOT / "components" / "fly").rglob("*")
        if p.is_file() and p.suffix in (".sh", ".py")
    )
    plain_inputs = json.dumps([r.inputs for r in run.resources])
    argvs = json.dumps([call["argv"] for call in fly.calls()])
    logs = json.dumps([[s.stdout, s.stderr] for s in fly.lifecycle.history])
    for value in SECRETS.values():
        assert value not in argvs
        assert value not in scripts
        assert value not in plain_inputs
        assert value not in logs
    imported = [c for c in fly.calls() if c.get("command") == "secrets import"]
    assert imported[0]["stdin"] == "".join(f"{k}={v}\n" for k, v in sorted(SECRETS.items()))
