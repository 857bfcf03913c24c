"""Staging passes the pack; each insecure variant of staging is blocked by the named policy.

The program, components and pack are the real ones: variants edit the staging config or
the recorded registrations, the program runs under the preview's mocks, and the pack judges
the result over the Analyzer protocol with staging's policy config (and its Fly waiver).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.policy_runner import configure_request, load_policy_config, policy_pack
from tools.preview.pipeline import evaluate, policy_config_path, preview_stack
from tools.preview.variants import VARIANTS

STAGING = "staging"


def test_staging_has_no_mandatory_violation_and_records_the_verdict(tmp_path: Path) -> None:
    result = preview_stack(STAGING, out_dir=tmp_path)
    assert result.exit_code == 0
    assert result.mandatory_violations == []
    document = json.loads((tmp_path / "preview.json").read_text())
    recorded = {(v["policy"], v["level"]) for v in document["policy"]["violations"]}
    assert all(level != "mandatory" for _, level in recorded)


def test_a_variant_fails_the_preview_with_the_policy_in_preview_json(tmp_path: Path) -> None:
    result = preview_stack(STAGING, variant="privileged", out_dir=tmp_path)
    assert result.exit_code == 1
    document = json.loads((tmp_path / "preview.json").read_text())
    blocked = [v for v in document["policy"]["violations"] if v["level"] == "mandatory"]
    assert [v["policy"] for v in blocked] == ["ecs-task-not-privileged"]
    assert blocked[0]["urn"].endswith("aws:ecs/taskDefinition:TaskDefinition::ops-agent-task")


def test_staging_without_its_accepted_gaps_is_blocked_by_control_coverage() -> None:
    run, _ = evaluate(STAGING)
    with policy_pack(stack=STAGING, project=run.project) as pack:
        _, policies = pack.info()
        pack.configure(configure_request(policies, None))
        found = pack.analyze(run.resources)
    blocked = [v for v in found if v.level == "mandatory"]
    assert {v.policy for v in blocked} == {"sandbox-control-coverage"}
    gaps = sorted((v.urn.rsplit("::", 1)[1], v.message.split("'")[1]) for v in blocked)
    assert gaps == [
        ("ops-agent-controls", "apparmor"),
        ("ops-agent-controls", "tmp-tmpfs"),
        ("ops-agent-fly-controls", "apparmor"),
        ("ops-agent-fly-controls", "dns-allowlist"),
        ("ops-agent-fly-controls", "egress-ports"),
    ]


@pytest.fixture(scope="module")
def verdicts() -> dict[str, list]:
    """Every variant judged by one pack process, configured as staging is."""
    config = load_policy_config(policy_config_path(STAGING))
    baseline, _ = evaluate(STAGING)
    found: dict[str, list] = {}
    with policy_pack(stack=STAGING, project=baseline.project) as pack:
        _, policies = pack.info()
        pack.configure(configure_request(policies, config))
        for name, variant in VARIANTS.items():
            if variant.apply_to_config is not None:
                resources = evaluate(STAGING, variant=name)[0].resources
            else:
                # Resource patches need no new program run; the baseline's is patched.
                assert variant.apply_to_resources is not None
                resources = variant.apply_to_resources(list(baseline.resources))
            found[name] = pack.analyze(resources)
    return found


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_insecure_variant_is_blocked_by_its_named_policy(
    name: str, verdicts: dict[str, list]
) -> None:
    mandatory = {v.policy for v in verdicts[name] if v.level == "mandatory"}
    assert VARIANTS[name].policy in mandatory, f"{name}: blocked only by {sorted(mandatory)}"


def test_stack_policies_follow_the_real_programs_parents_and_dependencies(
    verdicts: dict[str, list],
) -> None:
    blocked = [
        v for v in verdicts["egress-everywhere"] if v.policy == "stack-sandbox-egress-restricted"
    ]
    assert [v.level for v in blocked] == ["mandatory"]
    assert blocked[0].urn.endswith("aws:ecs/service:Service::ops-agent-service")
    assert "'ops-agent-sg'" in blocked[0].message


def test_the_variants_cover_the_issue_list() -> None:
    required = {
        "readonly-root-off",
        "privileged",
        "egress-everywhere",
        "nofile-65536",
        "public-ip",
        "secret-in-environment",
        "latest-image",
        "cap-sys-admin",
        "task-role-wildcard",
        "fly-memory-2048",
        "fly-public-ip",
    }
    assert required <= set(VARIANTS)


def test_a_variant_that_cannot_apply_says_so() -> None:
    with pytest.raises(ValueError, match="needs a aws:ecs/taskDefinition"):
        VARIANTS["privileged"].apply_to_resources([])  # type: ignore[misc]
