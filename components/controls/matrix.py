"""The control matrix: for each runbook control and platform, what enforces it, read off the
rendered configuration itself.

Each entry is derived from what would be deployed (the container definition, the fly.toml,
and the launcher spec they carry), never from the config's intent, so the matrix cannot claim
a control that nothing enforces: if the launcher is not in the rendered entryPoint, no
launcher control is claimed, and if readonlyRootFilesystem is false, the read-only root is
reported unavailable.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.controls.catalog import CONTROLS, Enforcer
from components.hardening.delivery import (
    FLY_LAUNCHER_PATH,
    FLY_SPEC_PATH,
    SPEC_ENV,
    bootstrap_code,
    decode_spec,
    launcher_source,
)

GIB = 1024**3


@dataclass(frozen=True)
class Coverage:
    enforced_by: Enforcer
    detail: str
    """The setting that enforces the control, or why nothing can."""

    def to_json(self) -> dict[str, str]:
        return {"enforcedBy": self.enforced_by, "detail": self.detail}


Matrix = dict[str, Coverage]


@dataclass(frozen=True)
class EgressFacts:
    """What the stack attaches to a Fargate sandbox's network path."""

    security_group_rules: Sequence[str]
    """One 'protocol port destination' line per rule."""
    dns_firewall_domains: Sequence[str] | None
    """The allowed names, or None when no DNS firewall is associated with the VPC."""


def _verified_blobs(spec: Mapping[str, Any]) -> bool:
    """Each architecture's filter bytes match their sha256, as the launcher will check."""
    arches = spec.get("seccomp", {}).get("arch", {})
    if not arches:
        return False
    for entry in arches.values():
        blob = base64.b64decode(entry["bpfBase64"])
        if not blob or hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            return False
    return True


def _launcher_coverage(spec: Mapping[str, Any] | None, where: str) -> Matrix:
    """What the launcher enforces on either platform, given the spec it will read."""
    if spec is None:
        reason = f"the launcher is not in the {where} (hardening.launcher is false)"
        return {
            control: Coverage("unavailable", reason) for control in ("no-new-privileges", "seccomp")
        }
    covered: Matrix = {
        "no-new-privileges": Coverage("launcher", "prctl(PR_SET_NO_NEW_PRIVS) before exec"),
    }
    if _verified_blobs(spec):
        covered["seccomp"] = Coverage(
            "launcher",
            f"profile {spec['seccomp']['profile']} (sha256 "
            f"{spec['seccomp']['profileSha256'][:12]}...), BPF for "
            f"{', '.join(sorted(spec['seccomp']['arch']))} loaded with prctl(PR_SET_SECCOMP)",
        )
    else:
        covered["seccomp"] = Coverage("unavailable", "the spec's BPF does not match its sha256")
    return covered


def _rlimit_detail(name: str, soft: int, hard: int) -> str:
    if name == "fsize":
        return f"fsize {soft}/{hard} bytes ({hard / GIB:.1f} GiB)"
    return f"{name} {soft}/{hard}"


# --------------------------------------------------------------------------- Fargate


def fargate_launcher_spec(container: Mapping[str, Any]) -> dict[str, Any] | None:
    """The launcher spec a container runs under, or None unless it starts our launcher."""
    entry_point = container.get("entryPoint")
    if entry_point != ["python3", "-c", bootstrap_code()]:
        return None
    for variable in container.get("environment", []):
        if variable.get("name") == SPEC_ENV:
            return decode_spec(variable["value"])
    return None


def fargate_matrix(
    container: Mapping[str, Any], task: Mapping[str, Any], egress: EgressFacts
) -> Matrix:
    """Coverage on Fargate, from one container definition and its task's cpu/memory/network."""
    spec = fargate_launcher_spec(container)
    matrix = _launcher_coverage(spec, "container's entryPoint")
    capabilities = container.get("linuxParameters", {}).get("capabilities", {})
    if capabilities.get("drop") == ["ALL"]:
        added = capabilities.get("add") or []
        matrix["capabilities"] = Coverage(
            "platform", f"linuxParameters.capabilities drop [ALL], add {added or '[]'}"
        )
    else:
        matrix["capabilities"] = Coverage("unavailable", "capabilities.drop is not [ALL]")
    matrix["apparmor"] = Coverage(
        "unavailable",
        "Fargate has no AppArmor setting and rejects dockerSecurityOptions; the launcher "
        "cannot load an LSM profile",
    )
    readonly = container.get("readonlyRootFilesystem") is True
    matrix["readonly-root"] = (
        Coverage("platform", "readonlyRootFilesystem: true")
        if readonly
        else Coverage("unavailable", "readonlyRootFilesystem is not true")
    )
    matrix["tmp-tmpfs"] = Coverage(
        "unavailable",
        "Fargate has no tmpfs and the task cannot gain CAP_SYS_ADMIN to mount one; /tmp is an "
        "ephemeral task volume, exec-able and not size-limited (fsize still caps each file)",
    )
    mounts = sorted(mount["containerPath"] for mount in container.get("mountPoints", []))
    matrix["writable-paths"] = (
        Coverage("platform", f"read-only root plus task volumes at {', '.join(mounts)}")
        if readonly
        else Coverage("unavailable", "the root filesystem is writable")
    )
    uid = str(container.get("user", "")).split(":", 1)[0]
    matrix["non-root"] = (
        Coverage("platform", f"user {container['user']}")
        if uid not in ("", "0", "root")
        else Coverage("unavailable", "the container's user is root or unset")
    )
    ulimits = {limit["name"]: limit for limit in container.get("ulimits", [])}
    for name in ("nofile", "nproc", "fsize", "cpu"):
        limit = ulimits.get(name)
        matrix[f"ulimit-{name}"] = (
            Coverage(
                "platform",
                "ulimits " + _rlimit_detail(name, limit["softLimit"], limit["hardLimit"]),
            )
            if limit
            else Coverage("unavailable", f"no {name} ulimit in the container definition")
        )
    nproc = ulimits.get("nproc")
    matrix["pids-limit"] = (
        Coverage(
            "platform",
            f"ulimits nproc {nproc['hardLimit']}: RLIMIT_NPROC counts every process and thread "
            "of the sandbox user (Fargate has no cgroup pids setting)",
        )
        if nproc
        else Coverage("unavailable", "no nproc ulimit, and Fargate has no pids limit")
    )
    matrix["egress-ports"] = (
        Coverage("platform", "security group egress: " + "; ".join(egress.security_group_rules))
        if egress.security_group_rules
        else Coverage("unavailable", "no security-group egress rules")
    )
    matrix["dns-allowlist"] = (
        Coverage(
            "platform",
            "Route 53 Resolver DNS Firewall: allows "
            f"{len(egress.dns_firewall_domains)} names, blocks every other (NXDOMAIN)",
        )
        if egress.dns_firewall_domains
        else Coverage("unavailable", "no DNS firewall is associated with the VPC")
    )
    matrix["resources"] = Coverage(
        "platform", f"task cpu {task['cpu']} units, memory {task['memory']} MiB"
    )
    matrix["no-public-ip"] = (
        Coverage("platform", "service assignPublicIp: false, no ingress rules")
        if task.get("assignPublicIp") is False
        else Coverage("unavailable", "the service assigns a public IP")
    )
    return _ordered(matrix)


# --------------------------------------------------------------------------- Fly


def _file(fly: Mapping[str, Any], path: str) -> bytes | None:
    for entry in fly.get("files", []):
        if entry.get("guest_path") == path and "raw_value" in entry:
            return base64.b64decode(entry["raw_value"])
    return None


def fly_launcher_spec(fly: Mapping[str, Any]) -> dict[str, Any] | None:
    """The spec the Machine's process runs under, or None unless fly.toml wraps it in ours."""
    try:
        command = shlex.split(str(fly.get("processes", {}).get("app", "")))
    except ValueError:  # unbalanced quotes: not our wrapped command
        return None
    if command[:4] != ["python3", FLY_LAUNCHER_PATH, "--spec", FLY_SPEC_PATH]:
        return None
    if _file(fly, FLY_LAUNCHER_PATH) != launcher_source():
        return None
    spec = _file(fly, FLY_SPEC_PATH)
    return None if spec is None else dict(json.loads(spec))


def fly_matrix(fly: Mapping[str, Any], *, public_ips: bool) -> Matrix:
    """Coverage on a Fly Machine (a Firecracker VM: no container runtime applies anything)."""
    spec = fly_launcher_spec(fly)
    matrix = _launcher_coverage(spec, "fly.toml process command")
    if spec is None:
        no_launcher = Coverage("unavailable", "the launcher is not in the fly.toml process command")
        matrix.update(dict.fromkeys(FLY_LAUNCHER_CONTROLS, no_launcher))
    else:
        matrix.update(_fly_launcher_controls(spec))
    matrix["apparmor"] = Coverage(
        "unavailable", "a Fly Machine exposes no AppArmor policy; the launcher cannot load one"
    )
    no_firewall = "Fly Machines have no egress firewall or DNS policy"
    matrix["egress-ports"] = Coverage("unavailable", no_firewall)
    matrix["dns-allowlist"] = Coverage("unavailable", no_firewall)
    (vm,) = fly.get("vm", [{}])
    matrix["resources"] = Coverage(
        "platform", f"[[vm]] {vm.get('size')}, {vm.get('cpus')} cpu, {vm.get('memory_mb')} MB"
    )
    has_public_handlers = any(service.get("ports") for service in fly.get("services", []))
    matrix["no-public-ip"] = (
        Coverage("platform", "deploy --no-public-ips, no IPs allocated, no [[services.ports]]")
        if not public_ips and not has_public_handlers
        else Coverage("unavailable", "public IPs or public service ports are configured")
    )
    return _ordered(matrix)


# What only the launcher enforces on Fly, besides no_new_privs and seccomp.
FLY_LAUNCHER_CONTROLS = (
    "capabilities",
    "readonly-root",
    "tmp-tmpfs",
    "writable-paths",
    "non-root",
    "ulimit-nofile",
    "ulimit-nproc",
    "ulimit-fsize",
    "ulimit-cpu",
    "pids-limit",
)


def _fly_launcher_controls(spec: Mapping[str, Any]) -> Matrix:
    matrix: Matrix = {
        "capabilities": Coverage(
            "launcher",
            "bounding set dropped to "
            f"{spec.get('capabilities') or '[]'}, then setresuid to a non-root uid",
        ),
        "non-root": Coverage("launcher", f"setresgid/setresuid to {spec['uid']}:{spec['gid']}"),
    }
    mount_step = spec.get("mountStep")
    tmp = spec["tmp"]
    if mount_step and spec.get("readOnlyRoot"):
        matrix["readonly-root"] = Coverage("launcher", "every storage mount remounted read-only")
        matrix["writable-paths"] = Coverage(
            "launcher", f"writable: {', '.join(spec['writablePaths'])}"
        )
    else:
        reason = "the spec turns the read-only root off"
        matrix["readonly-root"] = Coverage("unavailable", reason)
        matrix["writable-paths"] = Coverage("unavailable", reason)
    matrix["tmp-tmpfs"] = (
        Coverage(
            "launcher",
            f"tmpfs {tmp['path']} size {tmp['sizeBytes'] // (1024 * 1024)} MiB, "
            f"{','.join(tmp['options'])}",
        )
        if mount_step
        else Coverage("unavailable", "the spec has no mount step")
    )
    for name, limit in spec["rlimits"].items():
        matrix[f"ulimit-{name}"] = Coverage(
            "launcher", "setrlimit " + _rlimit_detail(name, limit["soft"], limit["hard"])
        )
    matrix["pids-limit"] = Coverage(
        "launcher",
        f"RLIMIT_NPROC {spec['rlimits']['nproc']['hard']} for the sandbox user, who owns every "
        "process in the Machine after the launcher",
    )
    if set(matrix) != set(FLY_LAUNCHER_CONTROLS):
        raise ValueError(f"the launcher spec reports {sorted(matrix)}; expected the Fly set")
    return matrix


def _ordered(matrix: Matrix) -> Matrix:
    missing = [control.id for control in CONTROLS if control.id not in matrix]
    if missing:
        raise ValueError(f"the control matrix misses {', '.join(missing)}")
    return {control.id: matrix[control.id] for control in CONTROLS}


def matrix_json(matrix: Matrix) -> dict[str, dict[str, str]]:
    return {control: coverage.to_json() for control, coverage in matrix.items()}
