"""The sandbox profile as data: names, structure, compilation and the compiled verdicts."""

from __future__ import annotations

import copy
import errno
import hashlib
import json

import pyseccomp
import pytest

from components.seccomp import (
    ARCHES,
    SeccompProfileError,
    allowed_names,
    bpf,
    compile_bpf,
    load_profile,
    profile_path,
    profile_sha256,
)
from components.seccomp.compile import ARCH_TOKEN, GO_ARCH

PROFILE = load_profile()
ISSUE_DENIALS = [
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "name_to_handle_at",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "open_by_handle_at",
    "clone3",
]
NS_MASK = 0x7E020000
CLONE_NEWUSER = 0x10000000
CLONE_THREAD_FLAGS = 0x3D0F00  # what glibc's pthread_create passes


def verdict(arch: str, name: str, *args: int) -> tuple[int, int]:
    program = compile_bpf(PROFILE, arch)  # type: ignore[arg-type]
    token = ARCH_TOKEN[arch]  # type: ignore[index]
    return bpf.action(bpf.run(program, pyseccomp.resolve_syscall(token, name), token, args))


ALLOW = (bpf.SECCOMP_RET_ALLOW, 0)
EPERM = (bpf.SECCOMP_RET_ERRNO, errno.EPERM)


def test_profile_shape_is_oci_with_errno_default_and_both_arches() -> None:
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO"
    assert PROFILE["defaultErrnoRet"] == errno.EPERM
    assert PROFILE["archMap"] == [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": []},
    ]
    assert profile_sha256() == hashlib.sha256(profile_path().read_bytes()).hexdigest()


@pytest.mark.parametrize("arch", ARCHES)
def test_every_syscall_name_resolves_on_each_architecture_it_applies_to(arch: str) -> None:
    checked = 0
    for rule in PROFILE["syscalls"]:
        arches = {GO_ARCH[a] for a in rule.get("includes", {}).get("arches", ARCHES)}
        if arch not in arches:
            continue
        for name in rule["names"]:
            assert pyseccomp.resolve_syscall(ARCH_TOKEN[arch], name) >= 0, (arch, name)  # type: ignore[index]
            checked += 1
    assert checked > 240


def test_a_typo_in_a_syscall_name_fails_compilation() -> None:
    profile = copy.deepcopy(PROFILE)
    profile["syscalls"][0]["names"].append("getppidd")
    for arch in ARCHES:
        with pytest.raises(SeccompProfileError, match="'getppidd' does not exist on"):
            compile_bpf(profile, arch)


def test_an_x86_only_name_outside_an_arch_gated_rule_fails_for_aarch64() -> None:
    profile = copy.deepcopy(PROFILE)
    profile["syscalls"][0]["names"].append("open")
    assert compile_bpf(profile, "x86_64")
    with pytest.raises(SeccompProfileError, match="'open' does not exist on aarch64"):
        compile_bpf(profile, "aarch64")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(flags=["SECCOMP_FILTER_FLAG_LOG"]), "profile key 'flags'"),
        (lambda p: p["syscalls"][2].update(includes={"caps": ["CAP_SYS_ADMIN"]}), "includes.caps"),
        (lambda p: p["syscalls"][2].update(excludes={"arches": ["s390"]}), "key 'excludes'"),
        (lambda p: p["syscalls"][2].update(action="SCMP_ACT_NOTIFY"), "SCMP_ACT_NOTIFY"),
        (lambda p: p["syscalls"][2]["args"][0].update(op="SCMP_CMP_LIKE"), "SCMP_CMP_LIKE"),
        (lambda p: p["syscalls"][2]["args"][0].update(index=6), "argument index 6"),
        (lambda p: p["syscalls"][3].update(errnoRet=0), "errnoRet 0"),
        (lambda p: p.update(archMap=p["archMap"][:1]), "no entry for SCMP_ARCH_AARCH64"),
        (lambda p: p["syscalls"][1]["includes"].update(arches=["sparc"]), "'sparc'"),
    ],
)
def test_unsupported_profile_features_are_errors_not_silently_dropped(change, message) -> None:  # type: ignore[no-untyped-def]
    profile = copy.deepcopy(PROFILE)
    change(profile)
    with pytest.raises(SeccompProfileError, match=message):
        compile_bpf(profile, "aarch64")


def test_unknown_profile_name_is_refused() -> None:
    with pytest.raises(SeccompProfileError, match="'docker' is not allowed; allowed: sandbox"):
        load_profile("docker")


@pytest.mark.parametrize("arch", ARCHES)
def test_compilation_is_deterministic_and_within_kernel_limits(arch: str) -> None:
    first = compile_bpf(PROFILE, arch)  # type: ignore[arg-type]
    again = compile_bpf(json.loads(json.dumps(PROFILE)), arch)  # type: ignore[arg-type]
    assert first == again
    instructions = bpf.decode(first)
    assert len(instructions) in range(101, bpf.BPF_MAXINSNS + 1)
    assert compile_bpf(PROFILE, "x86_64") != compile_bpf(PROFILE, "aarch64")


@pytest.mark.parametrize("arch", ARCHES)
def test_compiled_verdicts_for_each_architecture(arch: str) -> None:
    """The aarch64 program is checked too, by interpreting it: no aarch64 machine needed."""
    for name in ("read", "execve", "getrandom", "newfstatat", "prlimit64", "rseq", "wait4"):
        assert verdict(arch, name) == ALLOW, name
    assert verdict(arch, "clone", CLONE_THREAD_FLAGS) == ALLOW
    assert verdict(arch, "clone", 0x11) == ALLOW  # fork: SIGCHLD
    for flag in (0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000):
        assert flag & NS_MASK
        assert verdict(arch, "clone", 0x11 | flag) == EPERM, hex(flag)
    assert verdict(arch, "clone3") == (bpf.SECCOMP_RET_ERRNO, errno.ENOSYS)
    for domain in (1, 2, 10):
        assert verdict(arch, "socket", domain, 1) == ALLOW
    assert verdict(arch, "socket", 16, 3, 0) == ALLOW
    for domain, protocol in ((16, 9), (17, 0), (38, 0), (40, 0), (2 | 1 << 32, 0)):
        assert verdict(arch, "socket", domain, 3, protocol) == EPERM, (domain, protocol)
    assert verdict(arch, "personality", 0xFFFFFFFF) == ALLOW
    for persona in (0, 8, 0x0040000, 0x1_FFFFFFFF):
        assert verdict(arch, "personality", persona) == EPERM
    for name in ISSUE_DENIALS:
        if name != "clone3":
            assert verdict(arch, name) == EPERM, name


@pytest.mark.parametrize("arch", ARCHES)
def test_other_architectures_are_killed_not_filtered(arch: str) -> None:
    program = compile_bpf(PROFILE, arch)  # type: ignore[arg-type]
    for foreign in (pyseccomp.Arch.X86, pyseccomp.Arch.ARM, pyseccomp.Arch.X32):
        assert bpf.run(program, 0, foreign) == bpf.SECCOMP_RET_KILL_PROCESS
    other = ARCH_TOKEN["aarch64" if arch == "x86_64" else "x86_64"]
    assert bpf.run(program, 0, other) == bpf.SECCOMP_RET_KILL_PROCESS


def test_x32_syscall_numbers_are_killed_on_x86_64() -> None:
    program = compile_bpf(PROFILE, "x86_64")
    assert bpf.run(program, 0x40000000 | 39, pyseccomp.Arch.X86_64) == bpf.SECCOMP_RET_KILL_PROCESS


def test_issue_denials_are_allowed_by_no_rule() -> None:
    for arch in ARCHES:
        allowed = set(allowed_names(PROFILE, arch))
        assert not allowed & set(ISSUE_DENIALS), arch
        assert {"clone", "socket", "personality"} <= allowed


def test_bpf_reader_rejects_malformed_programs() -> None:
    with pytest.raises(bpf.BpfError, match="whole number"):
        bpf.decode(b"\x00" * 12)
    with pytest.raises(bpf.BpfError, match="4097 instructions"):
        bpf.decode(b"\x06\x00\x00\x00\x00\x00\xff\x7f" * 4097)
    with pytest.raises(bpf.BpfError, match="opcode 0xff"):
        bpf.run(b"\xff\x00\x00\x00\x00\x00\x00\x00", 0, 0)
    with pytest.raises(bpf.BpfError, match="off its end"):
        bpf.run(b"\x00\x00\x00\x00\x00\x00\x00\x00", 0, 0)
