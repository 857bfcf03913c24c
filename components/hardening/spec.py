"""The launcher spec: the part of the hardening model the launcher enforces, as JSON.

It carries the seccomp filter already compiled to BPF for each architecture, with each blob's
sha256, because the sandbox image has no libseccomp; the launcher refuses a blob whose hash does
not match. The mount step is only in Fly specs: on Fargate the launcher is not root and ECS
applies the read-only root itself.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

import pyseccomp

from components.hardening.model import HardeningModel
from components.seccomp import ARCHES, Arch, SeccompProfileError, compile_bpf, load_profile
from components.seccomp import bpf as bpf_reader
from components.seccomp.compile import ARCH_TOKEN

SPEC_VERSION = 1


# Checked in every compiled filter before it ships: the agent can exec, and cannot ptrace.
MUST_ALLOW = ("execve", "read", "write", "exit_group")
MUST_DENY = ("ptrace", "process_vm_readv", "unshare", "mount")


@cache
def compiled_filter(profile: str, arch: Arch) -> bytes:
    program = compile_bpf(load_profile(profile), arch)
    token = ARCH_TOKEN[arch]
    for name in (*MUST_ALLOW, *MUST_DENY):
        verdict, _ = bpf_reader.action(
            bpf_reader.run(program, pyseccomp.resolve_syscall(token, name), token)
        )
        if (verdict == bpf_reader.SECCOMP_RET_ALLOW) != (name in MUST_ALLOW):
            raise SeccompProfileError(
                f"seccomp profile {profile!r} for {arch}: {name} would be "
                f"{'denied' if name in MUST_ALLOW else 'allowed'}; the launcher spec needs it "
                f"{'allowed' if name in MUST_ALLOW else 'denied'}"
            )
    return program


def to_launcher_spec(model: HardeningModel) -> dict[str, Any]:
    arches: dict[str, dict[str, str]] = {}
    for arch in ARCHES:
        program = compiled_filter(model.seccomp_profile, arch)
        arches[arch] = {
            "bpfBase64": base64.b64encode(program).decode("ascii"),
            "sha256": hashlib.sha256(program).hexdigest(),
        }
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "platform": model.platform,
        "uid": model.uid,
        "gid": model.gid,
        "capabilities": list(model.capabilities_add),
        "noNewPrivileges": model.no_new_privileges,
        "rlimits": {
            name: {"soft": limit.soft, "hard": limit.hard}
            for name, limit in sorted(model.rlimits.items())
        },
        "tmp": {
            "path": model.tmp.path,
            "sizeBytes": model.tmp.size_bytes,
            "options": list(model.tmp.options),
        },
        "readOnlyRoot": model.readonly_root_filesystem,
        "writablePaths": list(model.writable_paths),
        "seccomp": {
            "profile": model.seccomp_profile,
            "profileSha256": model.seccomp_profile_sha256,
            "arch": arches,
        },
    }
    if model.platform == "fly":
        spec["mountStep"] = {"tmpfs": model.tmp.path, "keepWritable": [model.workspace_path]}
    return spec
