"""Stack config validation: every bad value fails with one message naming key, value and rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.config import (
    FARGATE_CPU_MEMORY,
    ConfigError,
    FargateSandbox,
    FlySandbox,
    parse_stack_config,
)
from tests.stack_configs import staging_values

Mutation = Callable[[dict[str, Any]], None]


def _error_for(mutate: Mutation) -> str:
    values = staging_values()
    mutate(values)
    with pytest.raises(ConfigError) as raised:
        parse_stack_config(values)
    return str(raised.value)


def test_staging_is_valid_and_secure_by_default() -> None:
    config = parse_stack_config(staging_values())
    fargate, fly = config.sandboxes
    assert isinstance(fargate, FargateSandbox) and isinstance(fly, FlySandbox)
    assert fargate.hardening.readonly_root_filesystem is True
    assert (fargate.hardening.run_as.uid, fargate.hardening.run_as.gid) == (1001, 1001)
    assert fargate.hardening.capabilities_add == ()
    assert fargate.hardening.ulimits.nofile.soft == 1024
    assert fargate.hardening.ulimits.nofile.hard == 2048
    assert fargate.hardening.ulimits.nproc.hard == 100
    assert fargate.hardening.ulimits.fsize.hard == 10 * 1024**3
    assert fargate.hardening.ulimits.cpu.hard == 3600
    assert fargate.fargate.assign_public_ip is False
    assert fargate.fargate.enable_execute_command is False
    assert (fargate.fargate.cpu, fargate.fargate.memory) == (256, 512)
    assert fly.fly.public_ips is False
    assert (fly.fly.vm_size, fly.fly.memory_mb, fly.fly.cpus) == ("shared-cpu-1x", 256, 1)
    assert fly.fly.restart.policy == "on-failure"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda v: v["sandboxes"][0].update(imagePullPolicy="always"),
            "agent-sandbox:sandboxes[0]: unknown key 'imagePullPolicy'; allowed keys: agentType,",
            id="unknown-sandbox-key",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0]["fargate"].update(cpus=1),
            "agent-sandbox:sandboxes[0].fargate: unknown key 'cpus'; allowed keys: assignPublicIp,",
            id="unknown-nested-key",
        ),
        pytest.param(
            lambda v: v.update(sandbox=[]),
            "agent-sandbox:sandbox: unknown config key; allowed keys: egress, flyApiToken,",
            id="unknown-top-level-key",
        ),
        pytest.param(
            lambda v: v["sandboxes"].append(dict(v["sandboxes"][0])),
            "agent-sandbox:sandboxes[2].name: 'ops-agent' is already used by another sandbox",
            id="duplicate-sandbox-name",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(name="Ops_Agent"),
            "agent-sandbox:sandboxes[0].name: 'Ops_Agent' is not allowed; allowed: 2-32 lowercase",
            id="name-invalid-for-aws-and-fly",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(name="a" * 33),
            f"agent-sandbox:sandboxes[0].name: '{'a' * 33}' is not allowed",
            id="name-too-long-for-iam",
        ),
        pytest.param(
            lambda v: v["sandboxes"][1]["fly"].update(app="x; rm -rf ~"),
            "agent-sandbox:sandboxes[1].fly.app: 'x; rm -rf ~' is not allowed; allowed: 3-63",
            id="fly-app-name-injection",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(image="python:3.11"),
            "agent-sandbox:sandboxes[0].image: 'python:3.11' is not allowed; allowed: an image "
            "pinned by digest",
            id="image-not-pinned",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(image="ghcr.io/a/b:latest@sha256:abc"),
            "agent-sandbox:sandboxes[0].image: 'ghcr.io/a/b:latest@sha256:abc' is not allowed",
            id="image-short-digest",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0]["fargate"].update(cpu=256, memory=4096),
            "agent-sandbox:sandboxes[0].fargate.memory: 4096 MiB is not allowed with cpu 256; "
            "allowed: 512, 1024, 2048",
            id="fargate-pair-256",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0]["fargate"].update(cpu=1024, memory=1024),
            "agent-sandbox:sandboxes[0].fargate.memory: 1024 MiB is not allowed with cpu 1024; "
            "allowed: 2048 to 8192 in steps of 1024",
            id="fargate-pair-1024",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0]["fargate"].update(cpu=384),
            "agent-sandbox:sandboxes[0].fargate.cpu: 384 is not allowed; allowed: 256, 512, 1024",
            id="fargate-cpu",
        ),
        pytest.param(
            lambda v: v["egress"].append({"ports": [443], "description": "nowhere"}),
            "agent-sandbox:egress[4].host: host=None, cidr=None is not allowed; allowed: exactly "
            "one of 'host' or 'cidr'",
            id="egress-without-destination",
        ),
        pytest.param(
            lambda v: v["egress"].append(
                {"host": "a.com", "cidr": "10.0.0.0/8", "ports": [443], "description": "both"}
            ),
            "agent-sandbox:egress[4].host: host='a.com', cidr='10.0.0.0/8' is not allowed",
            id="egress-with-both-destinations",
        ),
        pytest.param(
            lambda v: v["egress"][1].update(ports=[0]),
            "agent-sandbox:egress[1].ports: port 0 is not allowed; allowed: 1 to 65535",
            id="port-zero",
        ),
        pytest.param(
            lambda v: v["egress"][1].update(ports=[443, 65536]),
            "agent-sandbox:egress[1].ports: port 65536 is not allowed; allowed: 1 to 65535",
            id="port-too-high",
        ),
        pytest.param(
            lambda v: v["egress"].append(
                {"cidr": "0.0.0.0/0", "ports": [443], "protocol": "tcp", "description": "all"}
            ),
            "agent-sandbox:egress[4].cidr: '0.0.0.0/0' would allow traffic to every address",
            id="all-traffic-ipv4",
        ),
        pytest.param(
            lambda v: v["egress"].append({"cidr": "::/0", "ports": [53], "description": "all"}),
            "agent-sandbox:egress[4].cidr: '::/0' would allow traffic to every address",
            id="all-traffic-ipv6",
        ),
        pytest.param(
            lambda v: v["egress"][1].update(protocol="all"),
            "agent-sandbox:egress[1].protocol: 'all' is not allowed; allowed: 'tcp' or 'udp'",
            id="all-protocols",
        ),
        pytest.param(
            lambda v: v["egress"][1].update(host="api.render.com; curl x"),
            "agent-sandbox:egress[1].host: 'api.render.com; curl x' is not allowed",
            id="host-not-a-dns-name",
        ),
        pytest.param(
            lambda v: v["egress"].append(
                {"host": "ntp.example.com", "ports": [123], "protocol": "udp", "description": "t"}
            ),
            "agent-sandbox:egress[4].protocol: 'udp' for host 'ntp.example.com' is not allowed",
            id="udp-host-entry",
        ),
        pytest.param(
            lambda v: v["egress"].append(
                {"host": "dns.example.com", "ports": [443, 53], "description": "t"}
            ),
            "agent-sandbox:egress[4].ports: port 53 for host 'dns.example.com' is not allowed",
            id="host-entry-on-dns-port",
        ),
        pytest.param(
            lambda v: v["egress"].append(
                {"host": "dot.example.com", "ports": [853], "description": "t"}
            ),
            "agent-sandbox:egress[4].ports: port 853 for host 'dot.example.com' is not allowed",
            id="host-entry-on-dns-over-tls",
        ),
        pytest.param(
            lambda v: v["egress"][0].update(description="DNS to the VPC's resolver"),
            'agent-sandbox:egress[0].description: "DNS to the VPC\'s resolver" is not allowed',
            id="description-ec2-rejects",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(platform="kubernetes"),
            "agent-sandbox:sandboxes[0].platform: 'kubernetes' is not allowed; allowed: "
            "'fargate', 'fly'",
            id="unknown-platform",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(hardening={"capabilitiesAdd": ["CAP_SYS_ADMIN"]}),
            "agent-sandbox:sandboxes[0].hardening.capabilitiesAdd: 'CAP_SYS_ADMIN' is not allowed",
            id="capability-spelling",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0].update(
                secrets=[{"name": "TOKEN", "configKey": "opsAgentRenderApiKey"}]
            ),
            "agent-sandbox:sandboxes[0]: secret 'TOKEN' uses 'configKey', which is for Fly",
            id="fargate-secret-from-config",
        ),
        pytest.param(
            lambda v: v["sandboxes"][0]["environment"].update(RENDER_API_KEY="x"),
            "agent-sandbox:sandboxes[0]: 'RENDER_API_KEY' is both a secret and an environment",
            id="secret-shadowed-by-environment",
        ),
        pytest.param(
            lambda v: v["sandboxes"][1]["fly"].update(memoryMb=300),
            "agent-sandbox:sandboxes[1].fly.memoryMb: memory 300 MB is not allowed; allowed: "
            "multiples of 256",
            id="fly-memory-step",
        ),
        pytest.param(
            lambda v: v["sandboxes"][1]["fly"].update(region="mars"),
            "agent-sandbox:sandboxes[1].fly.region: 'mars' is not allowed; allowed: ams, arn",
            id="fly-region",
        ),
        pytest.param(
            lambda v: v.pop("network"),
            "agent-sandbox: 'network' is required when a sandbox runs on Fargate",
            id="fargate-without-network",
        ),
        pytest.param(
            lambda v: v["network"].update(cidr="8.8.0.0/16"),
            "agent-sandbox:network.cidr: '8.8.0.0/16' is not allowed; allowed: a private IPv4",
            id="public-vpc-cidr",
        ),
        pytest.param(
            lambda v: v.update(monthlyBudgetUsd=-5),
            "agent-sandbox:monthlyBudgetUsd: -5 is not allowed: Input should be greater than 0",
            id="negative-budget",
        ),
    ],
)
def test_bad_value_names_key_value_and_rule(mutate: Mutation, expected: str) -> None:
    message = _error_for(mutate)
    assert expected in message
    assert len(message.splitlines()) == 1, message


def test_every_problem_is_reported_at_once() -> None:
    def two_problems(values: dict[str, Any]) -> None:
        values["sandboxes"][0].update(image="python:3.11")
        values["egress"][1].update(ports=[70000])

    lines = _error_for(two_problems).splitlines()
    assert sorted(line.split(":")[1] for line in lines) == ["egress[1].ports", "sandboxes[0].image"]


@given(
    cpu=st.sampled_from(sorted(FARGATE_CPU_MEMORY)),
    memory=st.integers(min_value=256, max_value=32768).map(lambda m: m - m % 256),
)
def test_fargate_sizes_match_the_aws_table(cpu: int, memory: int) -> None:
    values = staging_values()
    values["sandboxes"][0]["fargate"].update(cpu=cpu, memory=memory)
    allowed = memory in FARGATE_CPU_MEMORY[cpu]
    if allowed:
        assert parse_stack_config(values).sandboxes[0].fargate.memory == memory  # type: ignore[union-attr]
    else:
        with pytest.raises(ConfigError, match=rf"fargate\.memory: {memory} MiB is not allowed"):
            parse_stack_config(values)


def test_fargate_table_is_the_documented_one() -> None:
    assert FARGATE_CPU_MEMORY[256] == (512, 1024, 2048)
    assert FARGATE_CPU_MEMORY[512] == (1024, 2048, 3072, 4096)
    assert (FARGATE_CPU_MEMORY[1024][0], FARGATE_CPU_MEMORY[1024][-1]) == (2048, 8192)
    assert (FARGATE_CPU_MEMORY[2048][0], FARGATE_CPU_MEMORY[2048][-1]) == (4096, 16384)
    assert (FARGATE_CPU_MEMORY[4096][0], FARGATE_CPU_MEMORY[4096][-1]) == (8192, 30720)


def test_loosened_controls_are_accepted_for_the_policy_pack_to_judge() -> None:
    values = staging_values()
    values["sandboxes"][0]["hardening"] = {
        "readonlyRootFilesystem": False,
        "ulimits": {"nofile": {"soft": 65536, "hard": 65536}},
    }
    hardening = parse_stack_config(values).sandboxes[0].hardening
    assert hardening.readonly_root_filesystem is False
    assert hardening.ulimits.nofile.hard == 65536
    assert hardening.ulimits.nproc.hard == 100  # untouched controls keep the runbook value
