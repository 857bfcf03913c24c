"""The pack's metadata: every policy complete, the README table generated from the registry,
scanner ids where the issue names them, waivers judged by level, and failing closed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pulumi_policy import EnforcementLevel, PolicyResourceOptions, ResourceValidationArgs, Severity

from sandbox_policies.config_schema import config_problems
from sandbox_policies.docs import policy_table
from sandbox_policies.pack import INTERNAL_ERROR, build_policies, to_policy
from sandbox_policies.registry import RULES, rule
from sandbox_policies.rule import Rule
from sandbox_policies.waivers import waiver_problems

README = Path(__file__).resolve().parent.parent / "README.md"
ADVISORY_BY_DESIGN = {"ecs-cluster-container-insights", "sg-descriptions", "log-group-kms"}
REASON = "accepted by platform-engineering until the sandbox moves"


def test_every_policy_has_a_name_description_severity_remediation_and_level() -> None:
    names = [item.name for item in RULES]
    assert len(names) == len(set(names))
    for item in RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", item.name)
        assert "Runbook:" in item.description and "Scanner equivalents:" in item.description
        assert item.remediation and isinstance(item.severity, Severity)
        assert item.message("x is wrong").endswith(f"Fix: {item.remediation}")
    advisory = {item.name for item in RULES if item.level == EnforcementLevel.ADVISORY}
    assert advisory == ADVISORY_BY_DESIGN
    assert {p.name for p in build_policies()} == set(names)


@pytest.mark.parametrize(
    ("name", "scanner"),
    [
        ("ecs-task-readonly-root", "CKV_AWS_336"),
        ("sg-no-unrestricted-egress", "CKV_AWS_382"),
        ("ecs-service-no-public-ip", "CKV_AWS_333"),
        ("ecs-task-distinct-roles", "CKV_AWS_249"),
    ],
)
def test_descriptions_name_the_scanner_checks_covering_the_same_ground(
    name: str, scanner: str
) -> None:
    assert scanner in rule(name).description


def test_every_default_satisfies_its_own_schema_and_every_policy_takes_a_waiver_reason() -> None:
    for item in RULES:
        defaults = {param.name: param.default for param in item.params}
        assert config_problems(item.name, defaults, item.config_properties) == []
        assert "waiverReason" in item.config_properties


def test_the_readme_table_is_the_registry() -> None:
    assert policy_table() in README.read_text()
    for item in RULES:
        assert f"| `{item.name}` | {item.level.value} |" in policy_table()


def test_a_waiver_needs_a_reason_only_when_it_lowers_a_level() -> None:
    declared = {"a": EnforcementLevel.MANDATORY, "b": EnforcementLevel.ADVISORY}
    lowered = {"a": (EnforcementLevel.ADVISORY, {}), "b": (EnforcementLevel.DISABLED, {})}
    assert [line.split(":")[0] for line in waiver_problems(declared, lowered)] == ["a", "b"]
    short = {"a": (EnforcementLevel.DISABLED, {"waiverReason": "   too short   "})}
    assert len(waiver_problems(declared, short)) == 1
    reasoned = {"a": (EnforcementLevel.DISABLED, {"waiverReason": REASON})}
    raised = {"b": (EnforcementLevel.MANDATORY, {})}
    unchanged = {"a": (EnforcementLevel.MANDATORY, {})}
    for requested in (reasoned, raised, unchanged):
        assert waiver_problems(declared, requested) == []


def test_a_check_that_raises_becomes_a_violation_not_a_crash() -> None:
    def broken(_resource: object, _config: object) -> list[str]:
        raise KeyError("surprise")

    item = Rule(
        name="broken-check",
        summary="Raises.",
        runbook="none",
        remediation="fix the check",
        severity=Severity.LOW,
        resource_types=("aws:s3/bucket:Bucket",),
        check=broken,
    )
    reported: list[str] = []
    args = ResourceValidationArgs(
        "aws:s3/bucket:Bucket",
        {},
        "urn:pulumi:s::p::aws:s3/bucket:Bucket::b",
        "b",
        PolicyResourceOptions(False, [], None, [], None, []),  # type: ignore[arg-type]
        None,
    )
    to_policy(item).validate(args, lambda message, urn=None: reported.append(message))
    assert reported == [item.message(f"{INTERNAL_ERROR} (KeyError)")]


def test_a_rule_must_have_exactly_one_kind_of_check() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        Rule(name="x-y", summary="s", runbook="r", remediation="m", severity=Severity.LOW)
    with pytest.raises(TypeError, match="resource_types"):
        Rule(
            name="x-y",
            summary="s",
            runbook="r",
            remediation="m",
            severity=Severity.LOW,
            check=lambda resource, config: [],
        )
