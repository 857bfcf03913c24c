"""ECS task definition policies: the runbook's container hardening, checked per container.

``containerDefinitions`` is JSON text; only ``ecs-task-schema`` reports text that does not
parse, so one malformed document is one violation, not fourteen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from . import ecs_schema
from .rule import Config, Param, Resource, Rule, integer, rule_family, string_list
from .secrets import secret_params, secret_problems
from .values import UNKNOWN, JsonError, as_dict, as_int, as_list, as_str, is_unknown, json_property

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
TYPES = (TASK_DEFINITION,)
GIB = 1024**3
FARGATE_ONLY_CAPABILITY = "SYS_PTRACE"
# Fargate's valid task sizes: cpu units -> memory MiB (AWS ECS developer guide, "Task size").
FARGATE_CPU_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}
DIGEST_PINNED = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
ROOT_USERS = frozenset({"root", "0"})


def containers(resource: Resource) -> list[tuple[str, dict[str, Any]]]:
    """(label, definition) per container; [] when the JSON is unknown or malformed."""
    try:
        parsed = json_property(resource.props.get("containerDefinitions"), expect=list)
    except JsonError:
        return []
    if is_unknown(parsed):
        return []
    found = []
    for index, definition in enumerate(parsed):
        if isinstance(definition, dict):
            name = as_str(definition.get("name"))
            found.append((f"container {name!r}" if name else f"container #{index}", definition))
    return found


def on_fargate(resource: Resource) -> bool:
    return "FARGATE" in as_list(resource.props.get("requiresCompatibilities"))


# --------------------------------------------------------------------------- checks


def _readonly_root(resource: Resource, _: Config) -> Iterator[str]:
    for label, container in containers(resource):
        value = container.get("readonlyRootFilesystem")
        if value is not True:
            yield f"{label} has readonlyRootFilesystem {value!r}; it must be true"


def _not_privileged(resource: Resource, _: Config) -> Iterator[str]:
    for label, container in containers(resource):
        if container.get("privileged") not in (None, False):
            yield f"{label} sets privileged {container.get('privileged')!r}"


def _non_root(resource: Resource, _: Config) -> Iterator[str]:
    for label, container in containers(resource):
        user = container.get("user")
        if not isinstance(user, str) or not user.strip():
            yield f"{label} sets no user, so it runs as the image's user (root by default)"
        elif user.split(":", 1)[0].strip() in ROOT_USERS:
            yield f"{label} runs as user {user!r}, which is root"


def _normalize_capability(name: Any) -> str:
    return str(name).upper().removeprefix("CAP_")


def _capabilities(resource: Resource, config: Config) -> Iterator[str]:
    allowed = {_normalize_capability(name) for name in config.get_strs("allowedCapabilities")}
    fargate = on_fargate(resource)
    for label, container in containers(resource):
        capabilities = as_dict(as_dict(container.get("linuxParameters")).get("capabilities"))
        dropped = {_normalize_capability(name) for name in as_list(capabilities.get("drop"))}
        if "ALL" not in dropped:
            yield f"{label} does not drop ALL capabilities"
        for added in as_list(capabilities.get("add")):
            capability = _normalize_capability(added)
            if capability not in allowed:
                yield (
                    f"{label} adds capability {capability}, which is not "
                    f"in the allowlist {sorted(allowed)}"
                )
            elif fargate and capability != FARGATE_ONLY_CAPABILITY:
                yield f"{label} adds capability {capability}; Fargate accepts only SYS_PTRACE"


def _no_docker_security_options(resource: Resource, _: Config) -> Iterator[str]:
    if not on_fargate(resource):
        return
    for label, container in containers(resource):
        if container.get("dockerSecurityOptions"):
            yield (
                f"{label} sets dockerSecurityOptions, which Fargate rejects at registration; "
                "the sandbox's launcher applies no-new-privileges and seccomp instead"
            )


ULIMITS = ("nofile", "nproc", "fsize", "cpu")


def _ulimits(resource: Resource, config: Config) -> Iterator[str]:
    for label, container in containers(resource):
        by_name = {
            str(item.get("name")): item
            for item in as_list(container.get("ulimits"))
            if isinstance(item, dict)
        }
        for name in ULIMITS:
            limit = by_name.get(name)
            if limit is None:
                yield f"{label} sets no {name} ulimit"
                continue
            for side, key in (("soft", "softLimit"), ("hard", "hardLimit")):
                value = as_int(limit.get(key))
                maximum = config.get_int(f"{name}{side.capitalize()}Max")
                if value is None or value < 0:
                    yield f"{label} {name} ulimit has no valid {key}"
                elif value > maximum:
                    yield f"{label} {name} {side} limit is {value}; allowed: at most {maximum}"


def _task_size(resource: Resource, config: Config) -> Iterator[str]:
    cpu_value, memory_value = resource.props.get("cpu"), resource.props.get("memory")
    if is_unknown(cpu_value) or is_unknown(memory_value):
        return
    cpu, memory = as_int(cpu_value), as_int(memory_value)
    if cpu is None or memory is None:
        yield f"task-level cpu {cpu_value!r} and memory {memory_value!r} must both be set"
        return
    if on_fargate(resource) and memory not in FARGATE_CPU_MEMORY.get(cpu, ()):
        yield f"cpu {cpu} with memory {memory} MiB is not a valid Fargate task size"
    if cpu > config.get_int("maxCpu"):
        yield f"cpu {cpu} units exceeds the maximum {config.get_int('maxCpu')}"
    if memory > config.get_int("maxMemoryMib"):
        yield f"memory {memory} MiB exceeds the maximum {config.get_int('maxMemoryMib')}"


def _network_mode(resource: Resource, _: Config) -> Iterator[str]:
    mode = resource.props.get("networkMode")
    if not is_unknown(mode) and mode != "awsvpc":
        yield f"networkMode is {mode!r}; it must be 'awsvpc'"


def _host_namespaces(resource: Resource, _: Config) -> Iterator[str]:
    for key in ("pidMode", "ipcMode"):
        if resource.props.get(key) == "host":
            yield f"{key} is 'host', which shares the host's namespace"


def _logging(resource: Resource, _: Config) -> Iterator[str]:
    for label, container in containers(resource):
        log = as_dict(container.get("logConfiguration"))
        if not as_str(log.get("logDriver")):
            yield f"{label} has no logConfiguration with a logDriver"


def _environment_secrets(resource: Resource, config: Config) -> Iterator[str]:
    for label, container in containers(resource):
        environment = {
            str(item.get("name")): item.get("value")
            for item in as_list(container.get("environment"))
            if isinstance(item, dict)
        }
        for problem in secret_problems(environment, config):
            yield f"{label} environment: {problem}"


def _image_digest(resource: Resource, _: Config) -> Iterator[str]:
    for label, container in containers(resource):
        image = container.get("image")
        if not isinstance(image, str) or not DIGEST_PINNED.match(image):
            yield f"{label} image {image!r} is not pinned by digest"


def _distinct_roles(resource: Resource, _: Config) -> Iterator[str]:
    execution, task = resource.props.get("executionRoleArn"), resource.props.get("taskRoleArn")
    if is_unknown(execution) or is_unknown(task):
        return
    if not as_str(task):
        yield "the task has no taskRoleArn, so the agent's calls would fall back to no identity"
    elif execution == task:
        yield "executionRoleArn and taskRoleArn are the same role"


_SCHEMA_KEYS = (
    "family",
    "cpu",
    "memory",
    "networkMode",
    "requiresCompatibilities",
    "executionRoleArn",
    "taskRoleArn",
    "pidMode",
    "ipcMode",
)


def _schema(resource: Resource, _: Config) -> Iterator[str]:
    try:
        parsed = json_property(resource.props.get("containerDefinitions"), expect=list)
    except JsonError as error:
        yield f"containerDefinitions is not a valid JSON list: {error}"
        return
    if parsed is UNKNOWN:
        return
    params: dict[str, Any] = {"containerDefinitions": parsed}
    for key in _SCHEMA_KEYS:
        value = resource.props.get(key)
        if value is not None and not is_unknown(value):
            params[key] = value
    params.setdefault("family", "schema-check")
    yield from (
        f"containerDefinitions: {line}"
        for line in ecs_schema.validate_register_task_definition(params)
    )


# --------------------------------------------------------------------------- rules

_HIGH, _CRITICAL, _MEDIUM = Severity.HIGH, Severity.CRITICAL, Severity.MEDIUM


_task_rule = rule_family(TYPES, ("ecs", "task-definition"), _HIGH)


def _ulimit_params() -> tuple[Param, ...]:
    runbook = {
        "nofile": (1024, 2048),
        "nproc": (100, 100),
        "fsize": (10 * GIB, 10 * GIB),
        "cpu": (3600, 3600),
    }
    params = []
    for name, (soft, hard) in runbook.items():
        params.append(integer(f"{name}SoftMax", soft, f"Highest allowed soft {name} ulimit."))
        params.append(integer(f"{name}HardMax", hard, f"Highest allowed hard {name} ulimit."))
    return tuple(params)


RULES: tuple[Rule, ...] = (
    _task_rule(
        "ecs-task-readonly-root",
        "Every container has a read-only root filesystem.",
        "Filesystem: read-only root",
        "set readonlyRootFilesystem: true "
        "(hardening.readonlyRootFilesystem) and mount /workspace and /tmp as volumes",
        _readonly_root,
        scanners=("Checkov CKV_AWS_336", "Security Hub ECS.5"),
    ),
    _task_rule(
        "ecs-task-not-privileged",
        "No container runs privileged.",
        "Capabilities: drop ALL",
        "remove privileged from the container definition",
        _not_privileged,
        severity=_CRITICAL,
        scanners=("Checkov CKV_AWS_334", "Security Hub ECS.4"),
    ),
    _task_rule(
        "ecs-task-non-root-user",
        "Every container runs as a non-root user.",
        "Security options: the agent runs unprivileged",
        "set user to a non-zero uid:gid (hardening.runAs)",
        _non_root,
        scanners=("Security Hub ECS.1",),
    ),
    _task_rule(
        "ecs-task-capabilities",
        "Every container drops ALL capabilities and adds only "
        "allowlisted ones (Fargate accepts only SYS_PTRACE).",
        "Capabilities: drop ALL",
        "drop ALL and remove the added capability, or add it to allowedCapabilities with a reason",
        _capabilities,
        params=(string_list("allowedCapabilities", (), "Capabilities a container may add."),),
    ),
    _task_rule(
        "ecs-task-no-docker-security-options",
        "No container sets dockerSecurityOptions on Fargate, which rejects them.",
        "Security options: no-new-privileges, seccomp",
        "remove dockerSecurityOptions; on Fargate the launcher "
        "applies no-new-privileges and the seccomp profile",
        _no_docker_security_options,
        severity=_MEDIUM,
    ),
    _task_rule(
        "ecs-task-ulimits",
        "Every container sets the nofile, nproc, fsize and cpu "
        "ulimits within the runbook's limits.",
        "ulimits: nproc 100/100, nofile 1024/2048, fsize 10 GiB, cpu 3600 s",
        "set the ulimit within the limit (hardening.ulimits)",
        _ulimits,
        params=_ulimit_params(),
    ),
    _task_rule(
        "ecs-task-size",
        "Task cpu and memory are a valid Fargate pair and within the configured maximum.",
        "Resources: 1 vCPU",
        "choose a valid Fargate cpu/memory pair within the maximum (fargate.cpu, fargate.memory)",
        _task_size,
        severity=_MEDIUM,
        params=(
            integer("maxCpu", 1024, "Highest task cpu, in CPU units (1024 = 1 vCPU).", 256),
            integer("maxMemoryMib", 2048, "Highest task memory, in MiB.", 512),
        ),
    ),
    _task_rule(
        "ecs-task-network-mode",
        "The task uses the awsvpc network mode, so its own security group applies.",
        "Egress: only DNS and HTTPS",
        "set networkMode: awsvpc",
        _network_mode,
        scanners=("Security Hub ECS.17",),
    ),
    _task_rule(
        "ecs-task-no-host-namespaces",
        "pidMode and ipcMode are not 'host'.",
        "Security options: isolation from the host",
        "remove pidMode/ipcMode or set them to 'task'",
        _host_namespaces,
        scanners=("Checkov CKV_AWS_335", "Security Hub ECS.3"),
    ),
    _task_rule(
        "ecs-task-logging",
        "Every container has a log configuration.",
        "Audit: the sandbox's output is kept",
        "give each container a logConfiguration (awslogs to the sandbox's log group)",
        _logging,
        severity=_MEDIUM,
        scanners=("Security Hub ECS.9",),
    ),
    _task_rule(
        "ecs-task-no-plaintext-secrets",
        "No container environment variable has a secret-looking name or value.",
        "Secrets: never in plain text",
        "move the value to secrets (SSM Parameter Store or "
        "Secrets Manager) and reference it by ARN",
        _environment_secrets,
        severity=_CRITICAL,
        scanners=("Security Hub ECS.8", "Trivy AVD-AWS-0036"),
        params=secret_params(),
    ),
    _task_rule(
        "ecs-task-image-digest",
        "Every container image is pinned by digest.",
        "Supply chain: the image that was reviewed is the image that runs",
        "pin the image as repository@sha256:<digest>",
        _image_digest,
    ),
    _task_rule(
        "ecs-task-distinct-roles",
        "The task has its own task role, different from the execution role.",
        "Least privilege: the agent never holds the role that pulls images and secrets",
        "give the task a dedicated taskRoleArn",
        _distinct_roles,
        scanners=("Checkov CKV_AWS_249",),
    ),
    _task_rule(
        "ecs-task-schema",
        "Container definitions are valid JSON and valid against the ECS API's "
        "schema (botocore); an unknown key is a violation.",
        "Every control: a misspelled key is a control silently not applied",
        "fix the named key or value so it matches RegisterTaskDefinition",
        _schema,
    ),
)
