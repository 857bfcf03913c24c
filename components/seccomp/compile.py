"""Compile an OCI/Docker seccomp profile to classic BPF for one architecture with libseccomp.

The sandbox image has no libseccomp, so the IaC compiles here (at preview/up) and the launcher
only hands the bytes to the kernel. Only the profile features this project uses are accepted;
anything else (capability-conditional rules, kernel-version gates, unknown keys, a syscall name
the target architecture lacks) is an error rather than silently ignored, because a silently
dropped rule changes what the agent may do.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyseccomp

from components.seccomp.profile import SeccompProfileError

Arch = Literal["x86_64", "aarch64"]
ARCHES: tuple[Arch, ...] = ("x86_64", "aarch64")

# OCI architecture names -> libseccomp tokens (also the AUDIT_ARCH value in seccomp_data.arch).
SCMP_ARCH: dict[str, int] = {
    "SCMP_ARCH_X86_64": pyseccomp.Arch.X86_64,
    "SCMP_ARCH_X86": pyseccomp.Arch.X86,
    "SCMP_ARCH_X32": pyseccomp.Arch.X32,
    "SCMP_ARCH_AARCH64": pyseccomp.Arch.AARCH64,
    "SCMP_ARCH_ARM": pyseccomp.Arch.ARM,
}
ARCH_TOKEN: dict[Arch, int] = {"x86_64": pyseccomp.Arch.X86_64, "aarch64": pyseccomp.Arch.AARCH64}
OCI_ARCH: dict[Arch, str] = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
# includes.arches uses Go's names in Docker's profiles; accept ours too.
GO_ARCH: dict[str, Arch] = {
    "amd64": "x86_64",
    "x86_64": "x86_64",
    "arm64": "aarch64",
    "aarch64": "aarch64",
}
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": pyseccomp.NE,
    "SCMP_CMP_LT": pyseccomp.LT,
    "SCMP_CMP_LE": pyseccomp.LE,
    "SCMP_CMP_EQ": pyseccomp.EQ,
    "SCMP_CMP_GE": pyseccomp.GE,
    "SCMP_CMP_GT": pyseccomp.GT,
    "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
}
RULE_KEYS = frozenset({"names", "action", "args", "errnoRet", "includes", "comment"})
PROFILE_KEYS = frozenset(
    {"defaultAction", "defaultErrnoRet", "archMap", "architectures", "syscalls"}
)
# Sub-architectures an OCI "architectures" list may pair with each target.
COMPATIBLE_SUBARCHES: dict[Arch, frozenset[str]] = {
    "x86_64": frozenset({"SCMP_ARCH_X86", "SCMP_ARCH_X32"}),
    "aarch64": frozenset({"SCMP_ARCH_ARM"}),
}


def _action(name: object, errno_ret: object, where: str) -> int:
    if name == "SCMP_ACT_ALLOW":
        return int(pyseccomp.ALLOW)
    if name == "SCMP_ACT_ERRNO":
        code = errno.EPERM if errno_ret is None else errno_ret
        if not isinstance(code, int) or not 0 < code < 4096:
            raise SeccompProfileError(f"{where}: errnoRet {code!r} is not allowed; allowed: 1-4095")
        return int(pyseccomp.ERRNO(code))
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return int(pyseccomp.KILL_THREAD)
    if name == "SCMP_ACT_KILL_PROCESS":
        return int(pyseccomp.KILL_PROCESS)
    if name == "SCMP_ACT_TRAP":
        return int(pyseccomp.TRAP)
    if name == "SCMP_ACT_LOG":
        return int(pyseccomp.LOG)
    raise SeccompProfileError(
        f"{where}: action {name!r} is not allowed; allowed: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, "
        "SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG"
    )


def _arches_for(profile: Mapping[str, Any], arch: Arch) -> list[int]:
    """The target architecture and the sub-architectures the profile gives it.

    Docker's archMap names them per architecture; the plain OCI "architectures" list (the
    seed's format) names them all together.
    """
    listed = profile.get("architectures")
    if listed is not None and "archMap" not in profile:
        if OCI_ARCH[arch] not in listed:
            raise SeccompProfileError(
                f"architectures has no {OCI_ARCH[arch]}; the profile cannot be compiled for {arch}"
            )
        subs = sorted(set(listed) & COMPATIBLE_SUBARCHES[arch])
        return [ARCH_TOKEN[arch], *(SCMP_ARCH[sub] for sub in subs)]
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == OCI_ARCH[arch]:
            tokens = [ARCH_TOKEN[arch]]
            for sub in entry.get("subArchitectures") or ():
                if sub not in SCMP_ARCH:
                    raise SeccompProfileError(
                        f"archMap: sub-architecture {sub!r} is not allowed; allowed: "
                        f"{', '.join(SCMP_ARCH)}"
                    )
                tokens.append(SCMP_ARCH[sub])
            return tokens
    raise SeccompProfileError(
        f"archMap has no entry for {OCI_ARCH[arch]}; the profile cannot be compiled for {arch}"
    )


def _rule_applies(rule: Mapping[str, Any], arch: Arch, where: str) -> bool:
    includes = rule.get("includes") or {}
    unknown = sorted(set(includes) - {"arches"})
    if unknown:
        raise SeccompProfileError(
            f"{where}: includes.{unknown[0]} is not supported; allowed: includes.arches"
        )
    arches = includes.get("arches")
    if not arches:
        return True
    for name in arches:
        if name not in GO_ARCH:
            raise SeccompProfileError(
                f"{where}: includes.arches {name!r} is not allowed; allowed: {', '.join(GO_ARCH)}"
            )
    return arch in {GO_ARCH[name] for name in arches}


def _conditions(rule: Mapping[str, Any], where: str) -> list[pyseccomp.Arg]:
    conditions = []
    for arg in rule.get("args") or ():
        op = arg.get("op")
        if op not in OPERATORS:
            raise SeccompProfileError(
                f"{where}: operator {op!r} is not allowed; allowed: {', '.join(OPERATORS)}"
            )
        index, value, value_two = arg.get("index"), arg.get("value"), arg.get("valueTwo", 0)
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise SeccompProfileError(f"{where}: argument index {index!r}; allowed: 0-5")
        for number in (value, value_two):
            if not isinstance(number, int) or not 0 <= number < 2**64:
                raise SeccompProfileError(f"{where}: value {number!r}; allowed: 0 to 2**64-1")
        if op == "SCMP_CMP_MASKED_EQ":
            # OCI puts the mask in value and the expected bits in valueTwo (as runc does).
            conditions.append(pyseccomp.Arg(index, pyseccomp.MASKED_EQ, value, value_two))
        else:
            conditions.append(pyseccomp.Arg(index, OPERATORS[op], value))
    return conditions


def build_filter(profile: Mapping[str, Any], arch: Arch) -> pyseccomp.SyscallFilter:
    """A libseccomp filter holding exactly the profile's rules for one architecture."""
    if arch not in ARCHES:
        raise SeccompProfileError(f"architecture {arch!r} is not allowed; allowed: x86_64, aarch64")
    unknown = sorted(set(profile) - PROFILE_KEYS)
    if unknown:
        raise SeccompProfileError(
            f"profile key {unknown[0]!r} is not allowed; allowed: {', '.join(sorted(PROFILE_KEYS))}"
        )
    default = _action(profile.get("defaultAction"), profile.get("defaultErrnoRet"), "defaultAction")
    seccomp_filter = pyseccomp.SyscallFilter(default)
    # Syscalls of an architecture not in the filter are killed, not just refused: a 32-bit
    # entry point is a way around every rule written for the 64-bit numbers.
    seccomp_filter.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.KILL_PROCESS)
    tokens = _arches_for(profile, arch)
    for token in tokens:
        if not seccomp_filter.exist_arch(token):
            seccomp_filter.add_arch(token)
    native = pyseccomp.system_arch()
    if native not in tokens:
        seccomp_filter.remove_arch(native)
    for position, rule in enumerate(profile.get("syscalls") or ()):
        where = f"syscalls[{position}]"
        unknown_keys = sorted(set(rule) - RULE_KEYS)
        if unknown_keys:
            raise SeccompProfileError(
                f"{where}: key {unknown_keys[0]!r} is not supported; allowed: "
                f"{', '.join(sorted(RULE_KEYS))}"
            )
        if not _rule_applies(rule, arch, where):
            continue
        action = _action(rule.get("action"), rule.get("errnoRet"), where)
        conditions = _conditions(rule, where)
        for name in rule.get("names") or ():
            if pyseccomp.resolve_syscall(ARCH_TOKEN[arch], name) < 0:
                raise SeccompProfileError(
                    f"{where}: syscall {name!r} does not exist on {arch} (libseccomp "
                    "knows no such number); allowed: a syscall of that architecture, or gate "
                    "the rule with includes.arches"
                )
            # libseccomp takes numbers in the build host's namespace and translates them by
            # name to each architecture in the filter (best effort on sub-architectures, as
            # runc does).
            number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
            seccomp_filter.add_rule(action, number, *conditions)
    return seccomp_filter


def compile_bpf(profile: Mapping[str, Any], arch: Arch) -> bytes:
    """The filter as the kernel takes it: an array of struct sock_filter, 8 bytes each.

    The same profile and libseccomp version always give the same bytes, so the spec's sha256
    only changes when the profile (or the compiler) does.
    """
    seccomp_filter = build_filter(profile, arch)
    with tempfile.TemporaryFile() as output:
        seccomp_filter.export_bpf(output)
        output.seek(0, os.SEEK_SET)
        program = output.read()
    if not program or len(program) % 8:
        raise SeccompProfileError(f"libseccomp produced {len(program)} bytes for {arch}")
    return program


def allowed_names(profile: Mapping[str, Any], arch: Arch) -> Sequence[str]:
    """Names with at least one ALLOW rule on this architecture (conditional or not)."""
    names: set[str] = set()
    for position, rule in enumerate(profile.get("syscalls") or ()):
        if rule.get("action") == "SCMP_ACT_ALLOW" and _rule_applies(
            rule, arch, f"syscalls[{position}]"
        ):
            names.update(rule.get("names") or ())
    return sorted(names)
