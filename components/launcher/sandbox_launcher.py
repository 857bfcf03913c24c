#!/usr/bin/env python3
"""Sandbox launcher: applies the hardening the platform cannot, then execs the agent.

It runs inside the sandbox as the first process, before any agent code, and uses only the
standard library, so the image needs nothing but python3. Every step either succeeds and is
verified, or the launcher exits non-zero with a message naming the step: the agent never runs
with part of its hardening missing.

Steps, in order:
1. read the hardening spec (a file, or an environment variable that is removed before exec);
2. when the spec has a mountStep (Fly, where the launcher is root): a size-limited tmpfs on the
   tmp path with its options, the writable paths kept writable, every other mount read-only;
3. the rlimits;
4. the uid and gid, with no supplementary groups (verified, including that root cannot be
   regained);
5. no_new_privs;
6. the seccomp filter: BPF compiled by the IaC, checked against its sha256, loaded with
   prctl(PR_SET_SECCOMP). It is loaded last, so the agent's profile need not allow setuid or mount;
7. exec of the agent's command.

Usage: sandbox_launcher.py (--spec FILE | --spec-env NAME) -- COMMAND [ARG...]
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import platform
import resource
import sys
import zlib
from typing import Any, NoReturn

SPEC_ENV = "SANDBOX_HARDENING_SPEC"
SPEC_VERSION = 1
EXIT_REFUSED = 111

PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
SECCOMP_MODE_FILTER = 2
BPF_MAXINSNS = 4096

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MOUNT_OPTION_FLAGS = {
    "ro": MS_RDONLY,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
TMP_OPTIONS = ("noexec", "nosuid", "nodev")
# Kernel interfaces, not storage: their writability is governed by permissions, not mounts.
PSEUDO_FILESYSTEMS = frozenset(
    [
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "mqueue",
        "securityfs",
        "debugfs",
        "tracefs",
        "bpf",
        "pstore",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "binfmt_misc",
        "efivarfs",
        "autofs",
        "nsfs",
        "rpc_pipefs",
        "selinuxfs",
    ]
)
RLIMITS = {
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "cpu": resource.RLIMIT_CPU,
}
# capabilities(7) in number order.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]
MACHINE_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class RefusedError(Exception):
    """A step could not be applied or verified; the agent must not start."""


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_ulong,
        ctypes.c_char_p,
    ]
    libc.mount.restype = ctypes.c_int
    libc.prctl.restype = ctypes.c_int
    return libc


LIBC = _libc()


def _errno_text() -> str:
    number = ctypes.get_errno()
    return f"{os.strerror(number)} (errno {number})"


def _prctl(option: int, arg2: int = 0, pointer: object = None) -> int:
    third = ctypes.c_ulong(0) if pointer is None else pointer
    zero = ctypes.c_ulong(0)
    return int(LIBC.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), third, zero, zero))


# --------------------------------------------------------------------------- 1. spec


def read_spec(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    if "--" not in argv:
        raise RefusedError("usage: sandbox_launcher.py (--spec FILE | --spec-env NAME) -- COMMAND")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    if not command:
        raise RefusedError("no command to run after '--'")
    if len(options) != 2 or options[0] not in ("--spec", "--spec-env"):
        raise RefusedError("usage: sandbox_launcher.py (--spec FILE | --spec-env NAME) -- COMMAND")
    try:
        if options[0] == "--spec":
            with open(options[1], "rb") as handle:
                text = handle.read()
        else:
            encoded = os.environ.get(options[1])
            if not encoded:
                raise RefusedError(f"environment variable {options[1]} is not set")
            text = zlib.decompress(base64.b64decode(encoded, validate=True))
        spec = json.loads(text)
    except RefusedError:
        raise
    except (OSError, ValueError, zlib.error) as error:
        raise RefusedError(f"cannot read the hardening spec: {error}") from None
    return check_spec(spec), command


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise RefusedError(f"invalid hardening spec: {message}")


def _is_int(value: object, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def check_spec(spec: object) -> dict[str, Any]:
    _require(isinstance(spec, dict), "not a JSON object")
    assert isinstance(spec, dict)
    _require(spec.get("version") == SPEC_VERSION, f"version must be {SPEC_VERSION}")
    _require(_is_int(spec.get("uid")) and _is_int(spec.get("gid")), "uid and gid must be >= 0")
    rlimits: Any = spec.get("rlimits")
    _require(
        isinstance(rlimits, dict) and set(rlimits) == set(RLIMITS),
        f"rlimits must set exactly {', '.join(sorted(RLIMITS))}",
    )
    for name, limit in rlimits.items():
        _require(
            isinstance(limit, dict)
            and _is_int(limit.get("soft"))
            and _is_int(limit.get("hard"))
            and limit["soft"] <= limit["hard"],
            f"rlimits.{name} must be {{soft, hard}} with 0 <= soft <= hard",
        )
    paths: Any = spec.get("writablePaths")
    _require(
        isinstance(paths, list)
        and all(isinstance(p, str) and p.startswith("/") and p != "/" for p in paths),
        "writablePaths: absolute paths, not /",
    )
    tmp: Any = spec.get("tmp")
    _require(
        isinstance(tmp, dict)
        and isinstance(tmp.get("path"), str)
        and tmp["path"] in paths
        and _is_int(tmp.get("sizeBytes"), 1)
        and set(TMP_OPTIONS) <= set(tmp.get("options") or ()),
        "tmp needs a path among writablePaths, sizeBytes > 0 and options noexec,nosuid,nodev",
    )
    for option in tmp["options"]:
        _require(option in MOUNT_OPTION_FLAGS, f"tmp option {option!r} is not a mount flag")
    mount_step = spec.get("mountStep")
    _require(mount_step is None or isinstance(mount_step, dict), "mountStep must be an object")
    capabilities = spec.get("capabilities", [])
    _require(
        isinstance(capabilities, list) and all(isinstance(c, str) for c in capabilities),
        "capabilities must be a list of names",
    )
    seccomp = spec.get("seccomp")
    _require(
        isinstance(seccomp, dict) and isinstance(seccomp.get("arch"), dict),
        "seccomp.arch is required",
    )
    return spec


# --------------------------------------------------------------------------- 2. mounts


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, index = [], 0
    while index < len(field):
        code = field[index + 1 : index + 4]
        if field[index] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(field[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def mounts() -> list[dict[str, Any]]:
    """/proc/self/mountinfo in mount order: later entries cover earlier ones at the same path."""
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            separator = fields.index("-")
            entries.append(
                {
                    "target": _unescape(fields[4]),
                    "options": set(fields[5].split(",")),
                    "fstype": fields[separator + 1],
                }
            )
    return entries


def top_mount(path: str) -> dict[str, Any] | None:
    found = None
    for entry in mounts():
        if entry["target"] == path:
            found = entry
    return found


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None, *, what: str
) -> None:
    def encode(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    if LIBC.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        raise RefusedError(f"{what}: mount({target}) failed: {_errno_text()}")


def _flags(options: set[str]) -> int:
    return sum(flag for name, flag in MOUNT_OPTION_FLAGS.items() if name in options)


def apply_mounts(spec: dict[str, Any]) -> None:
    if os.geteuid() != 0:
        raise RefusedError(
            f"the mount step needs root (the platform started the launcher as uid {os.geteuid()})"
        )
    tmp = spec["tmp"]
    writable = [os.path.realpath(path) for path in spec["writablePaths"]]
    tmp_path = os.path.realpath(tmp["path"])
    for path in writable:
        if not os.path.isdir(path):
            raise RefusedError(f"writable path {path} is not a directory")
        # A writable path that is only a directory of / would go read-only with /: make it its
        # own mount first (on Fly /workspace already is one, the volume).
        if path != tmp_path and top_mount(path) is None:
            _mount(path, path, None, MS_BIND | MS_REC, None, what="keep writable")
    _mount(
        "tmpfs",
        tmp_path,
        "tmpfs",
        _flags(set(tmp["options"])),
        f"size={tmp['sizeBytes']},mode=1777",
        what="tmpfs",
    )
    if spec.get("readOnlyRoot", True):
        done: set[str] = set()
        for entry in reversed(mounts()):
            target = entry["target"]
            if target in done or entry["fstype"] in PSEUDO_FILESYSTEMS:
                continue
            done.add(target)
            if "rw" not in entry["options"] or any(_under(target, p) for p in writable):
                continue
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | _flags(entry["options"] - {"ro"})
            _mount(None, target, None, flags, None, what="read-only remount")
    verify_mounts(spec)


def verify_mounts(spec: dict[str, Any]) -> None:
    tmp = top_mount(os.path.realpath(spec["tmp"]["path"]))
    if tmp is None or tmp["fstype"] != "tmpfs" or not set(spec["tmp"]["options"]) <= tmp["options"]:
        raise RefusedError(
            f"verify: {spec['tmp']['path']} is not a tmpfs with {spec['tmp']['options']}"
        )
    if spec.get("readOnlyRoot", True):
        root = top_mount("/")
        if root is None or "ro" not in root["options"]:
            raise RefusedError("verify: / is still writable")
    for path in spec["writablePaths"]:
        entry = top_mount(os.path.realpath(path))
        if entry is None or "rw" not in entry["options"]:
            raise RefusedError(f"verify: writable path {path} is not a writable mount")


# --------------------------------------------------------------------------- 3. rlimits


def apply_rlimits(spec: dict[str, Any]) -> None:
    for name, limit in sorted(spec["rlimits"].items()):
        wanted = (limit["soft"], limit["hard"])
        try:
            resource.setrlimit(RLIMITS[name], wanted)
        except (OSError, ValueError) as error:
            raise RefusedError(f"rlimit {name}={wanted}: {error}") from None
        if resource.getrlimit(RLIMITS[name]) != wanted:
            raise RefusedError(f"verify: rlimit {name} is {resource.getrlimit(RLIMITS[name])}")


# --------------------------------------------------------------------------- 4. uid/gid


def _capability_numbers(names: list[str]) -> set[int]:
    known = {name: number for number, name in enumerate(CAPABILITIES)}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise RefusedError(f"capability {unknown[0]} cannot be kept; allowed: {', '.join(known)}")
    return {known[name] for name in names}


def drop_privileges(spec: dict[str, Any]) -> None:
    uid, gid = spec["uid"], spec["gid"]
    keep = _capability_numbers(spec.get("capabilities", []))
    if os.geteuid() == 0:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            last = int(handle.read())
        for capability in range(last + 1):
            if capability not in keep and _prctl(PR_CAPBSET_DROP, capability) != 0:
                raise RefusedError(
                    f"cannot drop capability {capability} from the bounding set: {_errno_text()}"
                )
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        except OSError as error:
            raise RefusedError(f"cannot switch to uid {uid} gid {gid}: {error}") from None
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise RefusedError(
            f"verify: running as uid {os.getresuid()} gid {os.getresgid()}, expected {uid}:{gid}"
        )
    if not set(os.getgroups()) <= {gid}:
        raise RefusedError(f"verify: supplementary groups {os.getgroups()} remain")
    if uid != 0:
        try:
            os.setuid(0)
        except PermissionError:
            return
        raise RefusedError("verify: the process could switch back to root")


# --------------------------------------------------------------------------- 5-6. nnp, seccomp


def set_no_new_privs() -> None:
    if _prctl(PR_SET_NO_NEW_PRIVS, 1) != 0 or _prctl(PR_GET_NO_NEW_PRIVS) != 1:
        raise RefusedError(f"cannot set no_new_privs: {_errno_text()}")


def seccomp_program(spec: dict[str, Any]) -> bytes:
    arch = MACHINE_ARCH.get(platform.machine())
    if arch is None:
        raise RefusedError(f"no seccomp filter for machine {platform.machine()!r}")
    entry = spec["seccomp"]["arch"].get(arch)
    if not isinstance(entry, dict):
        raise RefusedError(f"the spec has no seccomp filter for {arch}")
    try:
        program = base64.b64decode(entry.get("bpfBase64", ""), validate=True)
    except ValueError as error:
        raise RefusedError(f"seccomp filter for {arch} is not base64: {error}") from None
    digest = hashlib.sha256(program).hexdigest()
    if digest != entry.get("sha256"):
        raise RefusedError(
            f"seccomp filter for {arch} has sha256 {digest}, the spec says {entry.get('sha256')}"
        )
    if not program or len(program) % 8 or len(program) // 8 > BPF_MAXINSNS:
        raise RefusedError(
            f"seccomp filter for {arch} is {len(program)} bytes, not 1-4096 8-byte instructions"
        )
    return program


def load_seccomp(program: bytes) -> None:
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog)) != 0:
        raise RefusedError(f"the kernel refused the seccomp filter: {_errno_text()}")
    with open("/proc/self/status", encoding="ascii") as handle:
        status = dict(line.split(":\t", 1) for line in handle if ":\t" in line)
    if status.get("Seccomp", "").strip() != str(SECCOMP_MODE_FILTER):
        raise RefusedError("verify: seccomp filter mode is not active")


# --------------------------------------------------------------------------- main


def main(argv: list[str]) -> NoReturn:
    step = "read the hardening spec"
    try:
        spec, command = read_spec(argv)
        environment = {k: v for k, v in os.environ.items() if k != SPEC_ENV}
        if spec.get("mountStep") is not None:
            step = "mount /tmp and make the root read-only"
            apply_mounts(spec)
        step = "set rlimits"
        apply_rlimits(spec)
        step = "drop to the agent's uid/gid"
        drop_privileges(spec)
        step = "set no_new_privs"
        set_no_new_privs()
        step = "load the seccomp filter"
        load_seccomp(seccomp_program(spec))
        step = f"exec {command[0]}"
        os.execvpe(command[0], command, environment)  # noqa: S606 - argv, no shell
    except RefusedError as error:
        message = str(error)
    except Exception as error:
        message = f"{type(error).__name__}: {error}"
    sys.stderr.write(f"sandbox-launcher: refusing to start the agent: {step}: {message}\n")
    sys.stderr.flush()
    os._exit(EXIT_REFUSED)


if __name__ == "__main__":
    main(sys.argv[1:])
