"""The runbook's controls, one entry each: what the control matrix reports on, per platform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Enforcer = Literal["platform", "launcher", "unavailable"]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    runbook: str
    """The runbook's wording (docs/sandbox-security-hardening-runbook.md in the seed repo)."""


CONTROLS: tuple[Control, ...] = (
    Control("capabilities", "All capabilities dropped", "Capabilities: drop ALL"),
    Control("no-new-privileges", "no_new_privs set", "Security options: no-new-privileges"),
    Control("seccomp", "Seccomp filter loaded", "Security options: the seccomp profile"),
    Control("apparmor", "AppArmor profile", "Security options: the AppArmor profile"),
    Control("readonly-root", "Read-only root filesystem", "Filesystem: a read-only root"),
    Control(
        "tmp-tmpfs",
        "/tmp a size-limited noexec tmpfs",  # noqa: S108 - the sandbox's path, not ours
        "Filesystem: /tmp 1 GB tmpfs, noexec",
    ),
    Control("writable-paths", "Only /tmp and /workspace writable", "Filesystem: only /workspace"),
    Control("non-root", "Runs as a non-root uid/gid", "(seed image: agentuser 1001)"),
    Control("ulimit-nofile", "nofile 1024/2048", "ulimits: nofile 1024/2048"),
    Control("ulimit-nproc", "nproc 100/100", "ulimits: nproc 100/100"),
    Control("ulimit-fsize", "fsize 10 GiB", "ulimits: fsize 10 GiB"),
    Control("ulimit-cpu", "cpu 3600 s", "ulimits: cpu 3600 s"),
    Control("pids-limit", "At most 100 processes", "pids limit 100"),
    Control("egress-ports", "Egress only to allowlisted ports", "Egress: DNS udp 53, TCP 443"),
    Control("dns-allowlist", "Only allowlisted names resolve", "DNS allowlist"),
    Control("resources", "CPU and memory limits", "Resources: 1 vCPU; 256 MB on Fly"),
    Control("no-public-ip", "No public IP, no inbound traffic", "(seed: --no-public-ips)"),
)
CONTROL_IDS = frozenset(control.id for control in CONTROLS)
