"""The pack's hardening policies are pinned to the files they protect."""

from __future__ import annotations

import hashlib

from components.controls.catalog import CONTROLS
from components.hardening.delivery import launcher_source
from components.seccomp import profile_sha256
from sandbox_policies import hardening
from sandbox_policies.config_schema import value_problems
from tests.policy_fixtures import analyze, control_matrix, of


def test_the_pinned_profile_hash_is_the_profile_in_the_repo() -> None:
    assert profile_sha256() == hardening.SANDBOX_PROFILE_SHA256, (
        "components/seccomp/sandbox.json changed: review it, then update SANDBOX_PROFILE_SHA256"
    )


def test_the_pinned_launcher_hash_is_the_launcher_in_the_repo() -> None:
    assert hashlib.sha256(launcher_source()).hexdigest() == hardening.LAUNCHER_SHA256, (
        "sandbox_launcher.py changed: review it, then update LAUNCHER_SHA256"
    )


def test_the_pack_checks_exactly_the_catalog_controls() -> None:
    assert tuple(control.id for control in CONTROLS) == hardening.CONTROL_IDS


def test_an_accepted_gap_needs_a_known_key_and_a_written_reason() -> None:
    schema = hardening._accepted_gaps().schema
    assert value_problems("acceptedGaps", {"fly/egress-ports": "too short"}, schema) == [
        "acceptedGaps.fly/egress-ports: 'too short' is too short; allowed: at least 20 characters"
    ]
    assert value_problems("acceptedGaps", {"gke/seccomp": "x" * 30}, schema)[0].startswith(
        "acceptedGaps: key 'gke/seccomp' is not allowed; allowed: keys matching"
    )
    assert value_problems("acceptedGaps", {"fargate/tmp-tmpfs": "x" * 30}, schema) == []


def test_an_accepted_gap_covers_only_its_own_platform_and_control() -> None:
    config = {"sandbox-control-coverage": {"acceptedGaps": {"fly/apparmor": "x" * 30}}}
    fly = of(
        analyze([control_matrix("fly", unavailable=["apparmor"])], config),
        "sandbox-control-coverage",
    )
    assert fly == []
    fargate = of(
        analyze([control_matrix("fargate", unavailable=["apparmor"])], config),
        "sandbox-control-coverage",
    )
    assert [v.message.split(":")[0] for v in fargate] == [
        "control 'apparmor' is enforced by nothing on fargate"
    ]
