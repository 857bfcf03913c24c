"""The fake flyctl behaves like flyctl where the component relies on it, and the scripts never
let a value become shell code even when called directly."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from test_fly_lifecycle import APP, ROOT, Harness


def flyctl(fly: Harness, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "tests" / "fake_flyctl" / "flyctl"), *argv],
        env={**fly.env, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def fly(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["deploy", "--x"], "Error: unknown flag: --x"),
        (["deploy", "-z"], "Error: unknown shorthand flag: 'z' in -z"),
        (["frobnicate"], 'Error: unknown command "frobnicate" for "flyctl"'),
        (["apps", "frob"], 'Error: unknown command "frob" for "flyctl apps"'),
        (["volumes", "create", "data", "--size", "big"], 'invalid argument "big" for "-s, --size"'),
        (["deploy", "--wait-timeout", "soon"], 'time: invalid duration "soon"'),
        (["status", "--app"], "Error: flag needs an argument: --app"),
        (["apps", "destroy", APP], "Error: yes flag must be specified when not running"),
        (["status", "--app", APP, "--json"], f'Error: Could not find App "{APP}"'),
    ],
)
def test_rejects_what_flyctl_rejects(fly: Harness, argv: list[str], error: str) -> None:
    result = flyctl(fly, *argv)
    assert result.returncode == 1
    assert error in result.stderr
    assert fly.calls()[-1]["argv"] == argv and fly.calls()[-1]["exit"] == 1


def test_needs_a_token(fly: Harness) -> None:
    result = flyctl(fly, "apps", "list", FLY_API_TOKEN="")
    assert result.returncode == 1
    assert "no access token available" in result.stderr


def test_fail_at_by_index_and_by_command(fly: Harness) -> None:
    assert flyctl(fly, "apps", "list", FAKE_FLYCTL_FAIL_AT="1").returncode == 1
    assert flyctl(fly, "apps", "list", FAKE_FLYCTL_FAIL_AT="1").returncode == 0
    failed = flyctl(fly, "apps", "create", APP, FAKE_FLYCTL_FAIL_AT="apps create")
    assert failed.returncode == 1 and "injected failure of flyctl apps create" in failed.stderr
    assert json.loads(flyctl(fly, "apps", "list", "--json").stdout) == []


def test_slow_calls_take_the_given_time(fly: Harness) -> None:
    started = time.monotonic()
    assert flyctl(fly, "apps", "list", FAKE_FLYCTL_SLOW="0.3").returncode == 0
    assert time.monotonic() - started >= 0.3


def test_staged_secrets_apply_only_on_deploy(fly: Harness, tmp_path: Path) -> None:
    flyctl(fly, "apps", "create", APP, "--org", "personal")
    subprocess.run(
        [str(ROOT / "tests" / "fake_flyctl" / "flyctl"), "secrets", "import", "-a", APP, "--stage"],
        env=fly.env,
        input="A=1\nB=x=y\n",
        text=True,
        check=True,
        capture_output=True,
    )
    app = fly.app()
    assert app is not None and app["staged"] == {"A": "1", "B": "x=y"} and app["secrets"] == {}
    config = tmp_path / "fly.toml"
    config.write_text(f'app = "{APP}"\nprimary_region = "sin"\n')
    deployed = flyctl(
        fly,
        "deploy",
        "-c",
        str(config),
        "-i",
        "img@sha256:" + "0" * 64,
        "--ha=false",
        "--strategy",
        "immediate",
    )
    assert deployed.returncode == 0, deployed.stderr
    app = fly.app()
    assert app is not None and app["secrets"] == {"A": "1", "B": "x=y"} and app["staged"] == {}
    assert app["ips"] == ["shared-v4", "v6"]  # no --no-public-ips: flyctl allocates them


def test_app_script_rejects_an_injected_name_before_calling_flyctl(fly: Harness) -> None:
    marker = fly.tmp / "pwned"
    result = subprocess.run(
        ["/bin/sh", "-c", "bash components/fly/scripts/app.sh create"],
        cwd=ROOT,
        env={**fly.env, "FLY_APP": f"x; touch {marker}", "FLY_ORG": "personal"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "is not a valid Fly app name" in result.stderr
    assert not marker.exists() and fly.calls() == []


def test_scripts_reject_an_unknown_action_and_missing_variables(fly: Harness) -> None:
    def run(script: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", f"bash components/fly/scripts/{script}"],
            cwd=ROOT,
            env={**fly.env, "FLY_APP": APP, **env},
            capture_output=True,
            text=True,
            check=False,
        )

    assert "usage: app.sh create|delete" in run("app.sh destroy", FLY_ORG="personal").stderr
    missing = run("deploy.sh")
    assert missing.returncode == 1 and "FLY_TOML is not set" in missing.stderr
    bad_count = run("scale.sh", FLY_REGION="sin", FLY_MACHINE_COUNT="2")
    assert "machine count '2' is not 0 or 1" in bad_count.stderr
