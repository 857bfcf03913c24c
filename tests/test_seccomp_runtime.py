"""The profile loaded for real, with libseccomp, in a child process (issue 5 §2 a, b and the
seed). Each case is its own process: a seccomp filter cannot be removed once loaded."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from components.seccomp import load_profile, profile_path

HELPER = Path(__file__).resolve().parent / "seccomp_workload.py"
SEED = Path(__file__).resolve().parent / "reference" / "seed" / "seccomp-profile.json"
PROFILE = profile_path()


def run_helper(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HELPER), str(profile), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def helper_json(profile: Path, *args: str) -> dict[str, Any]:
    result = run_helper(profile, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_the_agents_workload_runs_under_the_profile(tmp_path: Path) -> None:
    results = helper_json(PROFILE, "workload", str(tmp_path))
    assert results == {
        "start_python": "ok",
        "threads": "ok",
        "health_server": "ok",
        "shell_subprocess": "ok",
        "files": "ok",
        "resolve_localhost": "ok",
        "tcp_and_udp": "ok",
        "git": "ok",
    }


def test_every_denied_syscall_returns_the_profiles_errno() -> None:
    results = helper_json(PROFILE, "denied")
    named = {k: v for k, v in results.items() if not k.startswith("sweep:")}
    swept = {k.removeprefix("sweep:"): v for k, v in results.items() if k.startswith("sweep:")}
    assert named.pop("clone3") == errno.ENOSYS  # so glibc falls back to the filtered clone
    assert named == dict.fromkeys(named, errno.EPERM)
    for label in (
        "ptrace",
        "process_vm_readv",
        "name_to_handle_at",
        "personality(PER_LINUX32)",
        "userfaultfd",
        "io_uring_setup",
        "keyctl",
        "add_key",
        "request_key",
        "clone(CLONE_NEWUSER)",
        "unshare(CLONE_NEWUSER)",
        "socket(AF_VSOCK)",
    ):
        assert label in named
    # The sweep calls every named syscall number the profile does not allow, with zero args.
    assert swept.pop("clone3") == errno.ENOSYS
    assert swept == dict.fromkeys(swept, errno.EPERM)
    assert {"mount", "kexec_load", "init_module", "bpf", "setns", "reboot"} <= set(swept)
    assert len(swept) > 80


def test_the_profile_starts_python_and_the_seeds_profile_does_not() -> None:
    """Why the project replaced the runbook's profile: a 79-syscall allowlist without clone,
    getrandom, newfstatat or prlimit64, under which Python 3.11 cannot even start."""
    code = "import sys; print('started', sys.version_info[:2])"
    ours = run_helper(PROFILE, "exec", "/usr/bin/python3", "-c", code)
    assert ours.returncode == 0 and ours.stdout.startswith("started"), ours.stderr
    seed = run_helper(SEED, "exec", "/usr/bin/python3", "-c", code)
    assert seed.returncode != 0
    assert "started" not in seed.stdout

    seed_names = set(json.loads(SEED.read_text())["syscalls"][0]["names"])
    assert len(seed_names) == 79
    ours_names = set(load_profile()["syscalls"][0]["names"])
    for missing in ("clone", "getrandom", "newfstatat", "prlimit64"):
        assert missing not in seed_names
    assert {"getrandom", "newfstatat", "prlimit64"} <= ours_names
