"""Runtime-hardening policies: every sandbox runs under the launcher with the pinned seccomp
profile, and the control matrix leaves no runbook control unenforced without a written reason.

Neither Fargate nor a Fly Machine applies seccomp or no_new_privs for us; the launcher does,
from a spec the IaC embeds in the task definition or the fly.toml. These checks read that spec
back out of what the program registers, so a sandbox started any other way is caught at
preview. The pinned hashes change only with a reviewed change to the profile or launcher.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shlex
import tomllib
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from .graph import FLY_SANDBOX
from .rule import Config, Param, Resource, Rule, text
from .values import JsonError, as_dict, as_list, is_unknown, json_property

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
CONTROL_MATRIX = "agent-sandbox:controls:ControlMatrix"

# sha256 of components/seccomp/sandbox.json and components/launcher/sandbox_launcher.py;
# tests/test_policies_hardening.py fails when either file changes without these.
SANDBOX_PROFILE_SHA256 = "d303ebec4334e605185f4b81fd585c9dcee848816d4abc4860e1bea58afb536b"
LAUNCHER_SHA256 = "742e8a003528df644648fd0f0b89280e3d8da7a8fe351c0b1dc2685cb218c296"

SPEC_ENV = "SANDBOX_HARDENING_SPEC"
FLY_LAUNCHER_PATH = "/etc/sandbox/sandbox_launcher.py"
FLY_SPEC_PATH = "/etc/sandbox/hardening.json"
ARCHES = ("aarch64", "x86_64")
_PACKED_LAUNCHER = re.compile(r'b64decode\("([A-Za-z0-9+/=]+)"\)')

# The runbook controls the matrix must report (components/controls/catalog.py).
CONTROL_IDS = (
    "capabilities",
    "no-new-privileges",
    "seccomp",
    "apparmor",
    "readonly-root",
    "tmp-tmpfs",
    "writable-paths",
    "non-root",
    "ulimit-nofile",
    "ulimit-nproc",
    "ulimit-fsize",
    "ulimit-cpu",
    "pids-limit",
    "egress-ports",
    "dns-allowlist",
    "resources",
    "no-public-ip",
)


def _spec_problems(spec: Any, where: str, config: Config) -> Iterator[str]:
    if not isinstance(spec, dict):
        yield f"{where}: the launcher spec is not a JSON object"
        return
    if spec.get("noNewPrivileges") is not True:
        yield f"{where}: the launcher spec does not set no_new_privs"
    seccomp = as_dict(spec.get("seccomp"))
    expected = config.get_str("profileSha256")
    if seccomp.get("profileSha256") != expected:
        yield (
            f"{where}: the seccomp profile's sha256 is {seccomp.get('profileSha256')!r}; "
            f"allowed: {expected} (components/seccomp/sandbox.json)"
        )
    arches = as_dict(seccomp.get("arch"))
    for arch in ARCHES:
        entry = as_dict(arches.get(arch))
        try:
            blob = base64.b64decode(str(entry.get("bpfBase64", "")), validate=True)
        except binascii.Error:
            blob = b""
        if not blob or hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
            yield f"{where}: the {arch} seccomp filter is missing or does not match its sha256"


def _launcher_problem(source: bytes | None, where: str, config: Config) -> Iterator[str]:
    expected = config.get_str("launcherSha256")
    if source is None or hashlib.sha256(source).hexdigest() != expected:
        yield (f"{where}: the launcher is not the reviewed sandbox_launcher.py (sha256 {expected})")


def _packed_launcher(entry_point: list[Any]) -> bytes | None:
    match = _PACKED_LAUNCHER.search(str(entry_point[2])) if len(entry_point) == 3 else None
    if match is None:
        return None
    try:
        return zlib.decompress(base64.b64decode(match.group(1)))
    except (binascii.Error, zlib.error):
        return None


def _container_problems(container: Mapping[str, Any], config: Config) -> Iterator[str]:
    where = f"container {container.get('name')!r}"
    entry_point = container.get("entryPoint")
    environment = {
        item.get("name"): item.get("value")
        for item in as_list(container.get("environment"))
        if isinstance(item, dict)
    }
    if not isinstance(entry_point, list) or entry_point[:2] != ["python3", "-c"]:
        yield f"{where} does not start under the sandbox launcher (entryPoint python3 -c)"
        return
    yield from _launcher_problem(_packed_launcher(entry_point), where, config)
    encoded = environment.get(SPEC_ENV)
    if not isinstance(encoded, str):
        yield f"{where} carries no launcher spec ({SPEC_ENV})"
        return
    try:
        spec = json.loads(zlib.decompress(base64.b64decode(encoded)))
    except (binascii.Error, zlib.error, ValueError):
        yield f"{where}: {SPEC_ENV} is not a valid launcher spec"
        return
    yield from _spec_problems(spec, where, config)


def _task_definition(resource: Resource, config: Config) -> Iterator[str]:
    try:
        definitions = json_property(resource.props.get("containerDefinitions"), expect=list)
    except JsonError as error:
        yield f"containerDefinitions: {error}"
        return
    if is_unknown(definitions):
        return
    for container in definitions:
        if isinstance(container, dict):
            yield from _container_problems(container, config)


def _fly_file(fly: Mapping[str, Any], path: str) -> bytes | None:
    for entry in as_list(fly.get("files")):
        if isinstance(entry, dict) and entry.get("guest_path") == path:
            try:
                return base64.b64decode(str(entry.get("raw_value", "")), validate=True)
            except binascii.Error:
                return None
    return None


def _fly_sandbox(resource: Resource, config: Config) -> Iterator[str]:
    text_value = resource.props.get("flyToml")
    if text_value is None or is_unknown(text_value):
        return
    try:
        fly = tomllib.loads(str(text_value))
    except tomllib.TOMLDecodeError as error:
        yield f"flyToml is not valid TOML ({error})"
        return
    try:
        command = shlex.split(str(as_dict(fly.get("processes")).get("app", "")))
    except ValueError:  # unbalanced quotes
        command = []
    if command[:4] != ["python3", FLY_LAUNCHER_PATH, "--spec", FLY_SPEC_PATH]:
        yield "the Machine's process does not start under the sandbox launcher"
        return
    yield from _launcher_problem(_fly_file(fly, FLY_LAUNCHER_PATH), "fly.toml", config)
    spec_bytes = _fly_file(fly, FLY_SPEC_PATH)
    try:
        spec = json.loads(spec_bytes) if spec_bytes is not None else None
    except ValueError:
        spec = None
    if spec is None:
        yield f"fly.toml carries no valid launcher spec at {FLY_SPEC_PATH}"
        return
    yield from _spec_problems(spec, "fly.toml", config)


def _runs_under_launcher(resource: Resource, config: Config) -> Iterator[str]:
    if resource.type == TASK_DEFINITION:
        yield from _task_definition(resource, config)
    else:
        yield from _fly_sandbox(resource, config)


def _coverage(resource: Resource, config: Config) -> Iterator[str]:
    controls = resource.props.get("controls")
    if is_unknown(controls):
        return
    platform = str(resource.props.get("platform"))
    accepted = config.get_object("acceptedGaps")
    reported = as_dict(controls)
    for control in CONTROL_IDS:
        coverage = as_dict(reported.get(control))
        enforced_by = coverage.get("enforcedBy")
        if enforced_by not in ("platform", "launcher", "unavailable"):
            yield f"control {control!r} is not reported for {platform}"
        elif enforced_by == "unavailable" and f"{platform}/{control}" not in accepted:
            yield (
                f"control {control!r} is enforced by nothing on {platform}: "
                f"{coverage.get('detail', 'no reason given')}"
            )


def _accepted_gaps() -> Param:
    return Param(
        "acceptedGaps",
        {
            "type": "object",
            "default": {},
            "propertyNames": {"pattern": f"^(fargate|fly)/({'|'.join(CONTROL_IDS)})$"},
            "additionalProperties": {"type": "string", "minLength": 20},
            "description": (
                "Controls a platform cannot enforce that this stack accepts, as "
                "'<platform>/<control>' -> the written reason (at least 20 characters)."
            ),
        },
    )


RULES: tuple[Rule, ...] = (
    Rule(
        name="sandbox-runs-under-launcher",
        summary=(
            "Every sandbox starts under the reviewed launcher, with no_new_privs and the "
            "pinned seccomp profile compiled for x86_64 and aarch64."
        ),
        runbook="Security options: no-new-privileges, the seccomp profile",
        remediation=(
            "keep hardening.launcher: true; if the profile or launcher changed on purpose, "
            "update profileSha256/launcherSha256 in the pack after review"
        ),
        severity=Severity.CRITICAL,
        resource_types=(TASK_DEFINITION, FLY_SANDBOX),
        check=_runs_under_launcher,
        params=(
            text("profileSha256", SANDBOX_PROFILE_SHA256, "sha256 of the seccomp profile."),
            text("launcherSha256", LAUNCHER_SHA256, "sha256 of sandbox_launcher.py."),
        ),
        tags=("hardening",),
    ),
    Rule(
        name="sandbox-control-coverage",
        summary=(
            "The sandbox's control matrix reports every runbook control, and each one is "
            "enforced by the platform or the launcher unless the stack accepts the gap in "
            "writing."
        ),
        runbook="Every control of the runbook",
        remediation=(
            "enforce the control, or add '<platform>/<control>': '<reason>' to this policy's "
            "acceptedGaps"
        ),
        severity=Severity.HIGH,
        resource_types=(CONTROL_MATRIX,),
        check=_coverage,
        params=(_accepted_gaps(),),
        tags=("hardening",),
    ),
)
