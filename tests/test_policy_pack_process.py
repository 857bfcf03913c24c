"""The pack as the engine runs it: its own process, spoken to over the Analyzer protocol.

tools.policy_runner starts ``python -m pulumi.policy <engine> policies`` from the pack's
folder, reads the port it prints, and makes the engine's calls in the engine's order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi_policy import proxy

from sandbox_policies.registry import RULES
from tests.policy_fixtures import container, fly_sandbox, resource, service, task_definition
from tools.policy_runner import (
    PolicyPackError,
    configure_request,
    load_policy_config,
    policy_pack,
    run_policy_pack,
)

PROJECT, STACK = "agent-sandbox", "policytest"
REASON = "The staging Fly sandbox needs 2 GB for a browser smoke test; owner platform."


def run(resources: list, config: dict | None = None) -> list:
    return run_policy_pack(resources, stack=STACK, project=PROJECT, policy_config=config)


def test_the_pack_starts_as_the_cli_starts_it_and_declares_every_policy() -> None:
    with policy_pack(stack=STACK, project=PROJECT) as pack:
        reply, policies = pack.info()
        version = pack.plugin_version()
        process = pack.process
    assert process.poll() is not None, "the pack process must be stopped afterwards"
    assert reply.name == "agent-sandbox-policies"
    assert reply.supportsConfig
    assert version
    declared = {policy.name: policy.level for policy in policies}
    assert declared == {rule.name: rule.level.value for rule in RULES}
    ulimits = next(policy for policy in policies if policy.name == "ecs-task-ulimits")
    assert ulimits.config_schema["properties"]["nofileSoftMax"]["default"] == 1024
    assert "waiverReason" in ulimits.config_schema["properties"]
    assert all("Runbook:" in policy.description for policy in policies)


def test_analyze_and_analyze_stack_report_violations_with_names_and_levels() -> None:
    bad_task = task_definition([container(readonlyRootFilesystem=False, privileged=True)])
    found = {(v.policy, v.level, v.urn) for v in run([bad_task, fly_sandbox(publicIps=True)])}
    assert ("ecs-task-readonly-root", "mandatory", bad_task.urn) in found
    assert ("ecs-task-not-privileged", "mandatory", bad_task.urn) in found
    assert ("fly-no-public-ips", "mandatory", fly_sandbox().urn) in found
    assert run([task_definition()]) == []


def test_a_policy_config_file_tightens_a_threshold(tmp_path: Path) -> None:
    path = tmp_path / "tight.json"
    path.write_text(json.dumps({"ecs-task-ulimits": {"nofileSoftMax": 512}}))
    tight = run([task_definition()], load_policy_config(path))
    assert [(v.policy, v.level) for v in tight] == [("ecs-task-ulimits", "mandatory")]
    assert "nofile soft limit is 1024; allowed: at most 512" in tight[0].message


def test_a_waiver_without_a_reason_is_refused_by_the_pack() -> None:
    for waiver in (
        {"enforcementLevel": "advisory"},
        "disabled",
        {"enforcementLevel": "disabled", "waiverReason": "because"},
    ):
        with pytest.raises(PolicyPackError) as refused:
            run([fly_sandbox()], {"fly-vm-size": waiver})
        assert "fly-vm-size" in str(refused.value)
        assert "waiverReason" in str(refused.value)
    with pytest.raises(
        PolicyPackError, match="ecs-task-readonly-root: enforcementLevel 'advisory'"
    ):
        run([fly_sandbox()], {"all": "advisory"})


def test_a_waiver_with_a_reason_lowers_only_that_policy() -> None:
    big = {"size": "shared-cpu-1x", "cpuKind": "shared", "cpus": 1, "memoryMb": 2048}
    waived = {"fly-vm-size": {"enforcementLevel": "advisory", "waiverReason": REASON}}
    found = run([fly_sandbox(vm=big), fly_sandbox(publicIps=True)], waived)
    levels = {(v.policy, v.level) for v in found}
    assert ("fly-vm-size", "advisory") in levels
    assert ("fly-no-public-ips", "mandatory") in levels
    disabled = {"fly-vm-size": {"enforcementLevel": "disabled", "waiverReason": REASON}}
    assert run([fly_sandbox(vm=big)], disabled) == []


def test_bad_policy_config_is_refused_with_the_key_and_what_is_allowed() -> None:
    with pytest.raises(PolicyPackError) as refused:
        run([task_definition()], {"ecs-task-ulimits": {"nofileSoftMax": "lots", "nofileHardMx": 1}})
    message = str(refused.value)
    assert "nofileSoftMax: 'lots' is not allowed; allowed: integer" in message
    assert "unknown config key 'nofileHardMx'" in message
    with pytest.raises(PolicyPackError, match="no such policy"):
        run([task_definition()], {"ecs-task-readonly-rot": {"enforcementLevel": "mandatory"}})


def test_unknown_values_during_preview_never_crash_the_pack() -> None:
    unknown_task = task_definition(
        containerDefinitions=proxy.UNKNOWN_STRING_VALUE,
        cpu=proxy.UNKNOWN_STRING_VALUE,
        taskRoleArn=proxy.UNKNOWN_STRING_VALUE,
    )
    unknown_service = service(
        networkConfiguration=proxy.UNKNOWN_OBJECT_VALUE, platformVersion=proxy.UNKNOWN_STRING_VALUE
    )
    partly = fly_sandbox(region=proxy.UNKNOWN_STRING_VALUE, healthCheck=proxy.UNKNOWN_OBJECT_VALUE)
    group = resource(
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "rule",
        {"ipProtocol": proxy.UNKNOWN_STRING_VALUE, "cidrIpv4": "0.0.0.0/0", "description": "x"},
    )
    unknown_matrix = resource(
        "agent-sandbox:controls:ControlMatrix",
        "ops-agent-controls",
        {"platform": "fly", "controls": proxy.UNKNOWN_OBJECT_VALUE},
    )
    found = run([unknown_task, unknown_service, partly, group, unknown_matrix])
    assert found == []


def test_the_configure_request_fills_in_levels_and_schema_defaults() -> None:
    with policy_pack(stack=STACK, project=PROJECT) as pack:
        _, policies = pack.info()
    request = configure_request(
        policies, {"all": "mandatory", "sg-egress-ports": {"allowedEgressPorts": [443]}}
    )
    assert set(request.policyConfig) == {rule.name for rule in RULES}
    ports = request.policyConfig["sg-egress-ports"].properties["allowedEgressPorts"]
    assert list(ports) == [443]
    assert request.policyConfig["log-group-retention"].properties["minimumRetentionDays"] == 30
