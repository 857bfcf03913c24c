"""Insecure variants of a stack, each breaking exactly one control the policy pack must block.

A variant either edits the stack's config (for controls the config lets a stack loosen, so
that the program itself builds the insecure resource) or patches the recorded registrations
(for what config validation or the components refuse on purpose, such as a privileged
container: the pack must still block it if someone bypasses the components).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from components.hardening.delivery import SPEC_ENV, decode_spec, encode_spec
from tools.preview.mock_runtime import RecordedResource, Secret

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
ROLE = "aws:iam/role:Role"
FAKE_GITHUB_TOKEN = "ghp_" + "0123456789abcdefghij" * 2  # shaped like a token, not a token

ConfigEdit = Callable[[dict[str, Any]], dict[str, Any]]
ResourcePatch = Callable[[list[RecordedResource]], list[RecordedResource]]


@dataclass(frozen=True)
class Variant:
    """One broken control, and the mandatory policy that must block it."""

    description: str
    policy: str
    apply_to_config: ConfigEdit | None = None
    apply_to_resources: ResourcePatch | None = None


# --------------------------------------------------------------------------- config edits


def _edit_sandboxes(platform: str, edit: Callable[[dict[str, Any]], None]) -> ConfigEdit:
    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        changed = copy.deepcopy(raw)
        sandboxes = [s for s in changed.get("sandboxes", []) if s.get("platform") == platform]
        if not sandboxes:
            raise ValueError(f"this variant needs a {platform} sandbox in the stack")
        for sandbox in sandboxes:
            edit(sandbox)
        return changed

    return apply


def _set(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(sandbox: dict[str, Any]) -> None:
        node = sandbox
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return edit


# --------------------------------------------------------------------------- resource patches


def _with_inputs(resource: RecordedResource, inputs: Mapping[str, Any]) -> RecordedResource:
    return replace(resource, inputs=dict(inputs), secret_inputs=dict(inputs))


def _patch_type(type_: str, patch: Callable[[dict[str, Any]], dict[str, Any]]) -> ResourcePatch:
    def apply(resources: list[RecordedResource]) -> list[RecordedResource]:
        if not any(resource.type == type_ for resource in resources):
            raise ValueError(f"this variant needs a {type_} in the stack")
        return [
            _with_inputs(r, patch(copy.deepcopy(dict(r.secret_inputs)))) if r.type == type_ else r
            for r in resources
        ]

    return apply


def _containers(edit: Callable[[dict[str, Any]], None]) -> ResourcePatch:
    def patch(inputs: dict[str, Any]) -> dict[str, Any]:
        text = inputs["containerDefinitions"]
        secret = isinstance(text, Secret)
        definitions = json.loads(text.value if secret else text)
        for definition in definitions:
            edit(definition)
        dumped = json.dumps(definitions)
        inputs["containerDefinitions"] = Secret(dumped) if secret else dumped
        return inputs

    return _patch_type(TASK_DEFINITION, patch)


def _add_capability(definition: dict[str, Any]) -> None:
    capabilities = definition.setdefault("linuxParameters", {}).setdefault("capabilities", {})
    capabilities["add"] = [*capabilities.get("add", []), "SYS_ADMIN"]


def _add_secret_env(definition: dict[str, Any]) -> None:
    definition.setdefault("environment", []).append(
        {"name": "GITHUB_TOKEN", "value": FAKE_GITHUB_TOKEN}
    )


def _latest_image(definition: dict[str, Any]) -> None:
    definition["image"] = definition["image"].split("@", 1)[0].rsplit(":", 1)[0] + ":latest"


def _egress_everywhere(resources: list[RecordedResource]) -> list[RecordedResource]:
    """Turn the sandbox group's first egress rule into "all traffic to 0.0.0.0/0"."""
    rules = [r for r in resources if r.type == EGRESS_RULE]
    if not rules:
        raise ValueError(f"this variant needs a {EGRESS_RULE} in the stack")
    target = rules[0]
    inputs = {
        key: value
        for key, value in target.secret_inputs.items()
        if key not in ("fromPort", "toPort", "cidrIpv4", "cidrIpv6", "prefixListId")
    }
    inputs.update(ipProtocol="-1", cidrIpv4="0.0.0.0/0", description="all traffic anywhere")
    return [_with_inputs(r, inputs) if r is target else r for r in resources]


def _task_role_wildcard(resources: list[RecordedResource]) -> list[RecordedResource]:
    roles = [r for r in resources if r.type == ROLE and r.name.endswith("-task-role")]
    if not roles:
        raise ValueError("this variant needs a task role (a Role named '*-task-role')")
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    policy = {"name": "everything", "policy": json.dumps(document)}
    return [
        _with_inputs(r, {**r.secret_inputs, "inlinePolicies": [policy]}) if r in roles else r
        for r in resources
    ]


def _privileged(definition: dict[str, Any]) -> None:
    definition["privileged"] = True


def _host_pid(inputs: dict[str, Any]) -> dict[str, Any]:
    inputs["pidMode"] = "host"
    return inputs


def _misspelled_readonly(definition: dict[str, Any]) -> None:
    definition["readOnlyRootFilesystem"] = definition.pop("readonlyRootFilesystem", True)


def _other_seccomp_profile(definition: dict[str, Any]) -> None:
    """The launcher spec now names a profile other than the reviewed one (a swapped filter)."""
    for variable in definition.get("environment", []):
        if variable["name"] == SPEC_ENV:
            spec = decode_spec(variable["value"])
            spec["seccomp"]["profileSha256"] = "0" * 64
            variable["value"] = encode_spec(spec)


VARIANTS: dict[str, Variant] = {
    "readonly-root-off": Variant(
        "the Fargate container's root filesystem is writable",
        "ecs-task-readonly-root",
        apply_to_config=_edit_sandboxes(
            "fargate", _set("hardening", "readonlyRootFilesystem", value=False)
        ),
    ),
    "nofile-65536": Variant(
        "the seed's nofile ulimit of 65536",
        "ecs-task-ulimits",
        apply_to_config=_edit_sandboxes(
            "fargate",
            _set("hardening", "ulimits", "nofile", value={"soft": 65536, "hard": 65536}),
        ),
    ),
    "public-ip": Variant(
        "the Fargate service assigns a public IP",
        "ecs-service-no-public-ip",
        apply_to_config=_edit_sandboxes("fargate", _set("fargate", "assignPublicIp", value=True)),
    ),
    "ecs-exec": Variant(
        "ECS Exec is enabled",
        "ecs-service-exec-disabled",
        apply_to_config=_edit_sandboxes(
            "fargate", _set("fargate", "enableExecuteCommand", value=True)
        ),
    ),
    "old-platform": Variant(
        "Fargate platform 1.3.0",
        "ecs-service-platform-version",
        apply_to_config=_edit_sandboxes(
            "fargate", _set("fargate", "platformVersion", value="1.3.0")
        ),
    ),
    "short-log-retention": Variant(
        "logs kept for one day",
        "log-group-retention",
        apply_to_config=_edit_sandboxes("fargate", _set("fargate", "logRetentionDays", value=1)),
    ),
    "stack-budget-exceeded": Variant(
        "the stack config's own budget lowered to $50, under staging's estimate",
        "stack-monthly-cost",
        apply_to_config=lambda raw: {**raw, "monthlyBudgetUsd": 50},
    ),
    "over-budget": Variant(
        "ten 1-vCPU tasks, beyond the $150 budget",
        "stack-monthly-cost",
        apply_to_config=_edit_sandboxes(
            "fargate",
            lambda sandbox: sandbox.setdefault("fargate", {}).update(
                cpu=1024, memory=2048, desiredCount=10
            ),
        ),
    ),
    "fly-memory-2048": Variant(
        "a 2 GB Fly Machine",
        "fly-vm-size",
        apply_to_config=_edit_sandboxes("fly", _set("fly", "memoryMb", value=2048)),
    ),
    "fly-public-ip": Variant(
        "the Fly app gets public IPs",
        "fly-no-public-ips",
        apply_to_config=_edit_sandboxes("fly", _set("fly", "publicIps", value=True)),
    ),
    "fly-region": Variant(
        "the Fly sandbox moves to iad",
        "fly-region",
        apply_to_config=_edit_sandboxes("fly", _set("fly", "region", value="iad")),
    ),
    "fly-big-volume": Variant(
        "a 50 GB Fly volume",
        "fly-volume-size",
        apply_to_config=_edit_sandboxes("fly", _set("fly", "volume", value={"sizeGb": 50})),
    ),
    "fly-secret-env": Variant(
        "a token in the Fly sandbox's plain environment",
        "fly-no-plaintext-secrets",
        apply_to_config=_edit_sandboxes(
            "fly",
            lambda sandbox: sandbox.setdefault("environment", {}).update(HELPER=FAKE_GITHUB_TOKEN),
        ),
    ),
    "privileged": Variant(
        "a privileged container",
        "ecs-task-not-privileged",
        apply_to_resources=_containers(_privileged),
    ),
    "cap-sys-admin": Variant(
        "the container adds SYS_ADMIN",
        "ecs-task-capabilities",
        apply_to_resources=_containers(_add_capability),
    ),
    "secret-in-environment": Variant(
        "a GitHub token in the container's plain environment",
        "ecs-task-no-plaintext-secrets",
        apply_to_resources=_containers(_add_secret_env),
    ),
    "latest-image": Variant(
        "the image is :latest instead of a digest",
        "ecs-task-image-digest",
        apply_to_resources=_containers(_latest_image),
    ),
    "misspelled-key": Variant(
        "readOnlyRootFilesystem spelled the way ECS ignores",
        "ecs-task-schema",
        apply_to_resources=_containers(_misspelled_readonly),
    ),
    "host-pid": Variant(
        "the task shares the host's PID namespace",
        "ecs-task-no-host-namespaces",
        apply_to_resources=_patch_type(TASK_DEFINITION, _host_pid),
    ),
    "egress-everywhere": Variant(
        "the sandbox's group allows all traffic to 0.0.0.0/0",
        "sg-no-unrestricted-egress",
        apply_to_resources=_egress_everywhere,
    ),
    "task-role-wildcard": Variant(
        "the task role allows * on *",
        "iam-no-wildcard-actions",
        apply_to_resources=_task_role_wildcard,
    ),
    "launcher-off": Variant(
        "the Fargate agent starts without the launcher (no seccomp, no no_new_privs)",
        "sandbox-runs-under-launcher",
        apply_to_config=_edit_sandboxes("fargate", _set("hardening", "launcher", value=False)),
    ),
    "fly-launcher-off": Variant(
        "the Fly agent starts without the launcher (no read-only root, tmpfs or seccomp)",
        "sandbox-runs-under-launcher",
        apply_to_config=_edit_sandboxes("fly", _set("hardening", "launcher", value=False)),
    ),
    "seccomp-profile-swapped": Variant(
        "the launcher spec names an unreviewed seccomp profile",
        "sandbox-runs-under-launcher",
        apply_to_resources=_containers(_other_seccomp_profile),
    ),
}
