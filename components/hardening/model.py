"""One runtime-hardening model per sandbox, independent of the platform that enforces it.

Each platform component maps this model to its native controls, and the launcher applies what a
platform cannot. Keeping the values in one place means Fargate and Fly cannot drift apart: a
runbook number changes here (through the config) or nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from components.config import EgressRule, Hardening
from components.seccomp import profile_sha256

Platform = Literal["fargate", "fly"]
PLATFORMS: tuple[Platform, ...] = ("fargate", "fly")
MIB = 1024 * 1024
TMP_PATH = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not a host temp file
WORKSPACE_PATH = "/workspace"
TMP_OPTIONS = ("noexec", "nosuid", "nodev")


class HardeningModelError(ValueError):
    """A value the model cannot hold; the message names it and what is allowed."""


@dataclass(frozen=True)
class Rlimit:
    soft: int
    hard: int


@dataclass(frozen=True)
class TmpMount:
    path: str
    size_mib: int
    options: tuple[str, ...]

    @property
    def size_bytes(self) -> int:
        return self.size_mib * MIB


@dataclass(frozen=True)
class HardeningModel:
    """Everything the runtime enforces for one sandbox (issue 5, §3)."""

    platform: Platform
    seccomp_profile: str
    seccomp_profile_sha256: str
    capabilities_drop: tuple[str, ...]
    capabilities_add: tuple[str, ...]
    no_new_privileges: bool
    readonly_root_filesystem: bool
    tmp: TmpMount
    workspace_path: str
    rlimits: dict[str, Rlimit]
    pids_limit: int
    cpu: float
    memory_mib: int
    uid: int
    gid: int
    egress: tuple[EgressRule, ...]
    launcher: bool

    @property
    def writable_paths(self) -> tuple[str, ...]:
        return (self.tmp.path, self.workspace_path)

    @classmethod
    def from_config(
        cls,
        hardening: Hardening,
        *,
        platform: Platform,
        cpu: float,
        memory_mib: int,
        egress: Sequence[EgressRule],
    ) -> HardeningModel:
        """cpu is in vCPUs (Fargate's 256 units is 0.25), memory in MiB."""
        if platform not in PLATFORMS:
            raise HardeningModelError(
                f"platform {platform!r} is not allowed; allowed: {', '.join(PLATFORMS)}"
            )
        if not cpu > 0:
            raise HardeningModelError(f"cpu {cpu!r} is not allowed; allowed: more than 0 vCPU")
        if memory_mib < 1:
            raise HardeningModelError(f"memory {memory_mib!r} MiB is not allowed; allowed: >= 1")
        limits = hardening.ulimits
        return cls(
            platform=platform,
            seccomp_profile=hardening.seccomp_profile,
            seccomp_profile_sha256=profile_sha256(hardening.seccomp_profile),
            capabilities_drop=("ALL",),
            capabilities_add=tuple(hardening.capabilities_add),
            no_new_privileges=True,
            readonly_root_filesystem=hardening.readonly_root_filesystem,
            tmp=TmpMount(TMP_PATH, hardening.tmp_size_mib, TMP_OPTIONS),
            workspace_path=WORKSPACE_PATH,
            rlimits={
                "nofile": Rlimit(limits.nofile.soft, limits.nofile.hard),
                "nproc": Rlimit(limits.nproc.soft, limits.nproc.hard),
                "fsize": Rlimit(limits.fsize.soft, limits.fsize.hard),
                "cpu": Rlimit(limits.cpu.soft, limits.cpu.hard),
            },
            pids_limit=hardening.pids_limit,
            cpu=float(cpu),
            memory_mib=memory_mib,
            uid=hardening.run_as.uid,
            gid=hardening.run_as.gid,
            egress=tuple(egress),
            launcher=hardening.launcher,
        )
