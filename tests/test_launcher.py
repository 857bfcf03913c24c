"""The sandbox launcher run for real, as root, in a child process (issue 5 §4).

Mount steps run inside `unshare --mount --propagation private`, so nothing outside the child's
mount namespace changes. The target is /usr/bin/python3 (the image's interpreter), which reports
what it sees from inside as JSON.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.config import EgressRule, Hardening
from components.hardening import (
    SPEC_ENV,
    HardeningModel,
    bootstrap_code,
    encode_spec,
    fargate_delivery,
    to_launcher_spec,
)
from components.hardening.delivery import LAUNCHER_SOURCE

PYTHON = "/usr/bin/python3"
MARKER = "TARGET-RAN"
EGRESS = (EgressRule(host="github.com", ports=(443,), description="git"),)
TARGET = r"""
import ctypes, json, os, resource, subprocess, sys, threading
status = dict(l.split(":\t", 1) for l in open("/proc/self/status") if ":\t" in l)
libc = ctypes.CDLL(None, use_errno=True)
ptrace = libc.ptrace(2, os.getppid(), 0, 0)
ptrace_errno = ctypes.get_errno()
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as error:
        return error.errno
def write(path):
    with open(path, "w") as handle:
        handle.write("x")
results = []
thread = threading.Thread(target=lambda: results.append(sum(range(10))))
thread.start(); thread.join()
report = {
    "marker": "TARGET-RAN",
    "uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(),
    "rlimits": {n: resource.getrlimit(getattr(resource, "RLIMIT_" + n.upper()))
                for n in ("nofile", "nproc", "fsize", "cpu")},
    "no_new_privs": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
    "cap_bounding": status["CapBnd"].strip(), "cap_effective": status["CapEff"].strip(),
    "ptrace": [ptrace, ptrace_errno],
    "spec_env": [k for k in os.environ if k.startswith("SANDBOX_HARDENING")],
    "thread": results,
    "shell": subprocess.run(["/bin/sh", "-c", "echo hi"], capture_output=True).stdout.decode(),
    "argv": sys.argv[1:],
}
paths = json.loads(os.environ.get("PROBE_PATHS", "{}"))
for name, path in paths.items():
    report["write:" + name] = attempt(lambda: write(path))
if "tmp" in paths:
    tmp = os.path.dirname(paths["tmp"])
    shutil_copy = open("/bin/true", "rb").read()
    exe = os.path.join(tmp, "true")
    with open(exe, "wb") as handle:
        handle.write(shutil_copy)
    os.chmod(exe, 0o755)
    report["exec_from_tmp"] = attempt(lambda: subprocess.run([exe], check=True))
    stats = os.statvfs(tmp)
    report["tmp_bytes"] = stats.f_blocks * stats.f_frsize
print(json.dumps(report))
"""


def model(platform: str = "fly", **hardening: Any) -> HardeningModel:
    return HardeningModel.from_config(
        Hardening.model_validate(hardening),
        platform=platform,  # type: ignore[arg-type]
        cpu=1,
        memory_mib=256,
        egress=EGRESS,
    )


@pytest.fixture
def sandbox_dir() -> Iterator[Path]:
    # Outside /tmp (pytest's tmp_path is under a root-only folder the agent uid cannot enter).
    folder = Path(tempfile.mkdtemp(prefix="launcher-test-", dir="/var/tmp"))
    folder.chmod(0o755)
    for name in ("workspace", "tmp"):
        (folder / name).mkdir()
        os.chown(folder / name, 1001, 1001)
    yield folder
    shutil.rmtree(folder)


def fly_spec(folder: Path, **hardening: Any) -> dict[str, Any]:
    spec = to_launcher_spec(model("fly", **hardening))
    spec["tmp"]["path"] = str(folder / "tmp")
    spec["writablePaths"] = [str(folder / "tmp"), str(folder / "workspace")]
    return spec


def launch(
    folder: Path,
    spec: dict[str, Any],
    *,
    mount_namespace: bool = True,
    as_user: str | None = None,
    target: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    spec_file = folder / "spec.json"
    spec_file.write_text(json.dumps(spec))
    spec_file.chmod(0o644)
    # The checkout may not be readable by other users (a 0700 temp dir, /root): run a copy.
    launcher = folder / "sandbox_launcher.py"
    shutil.copyfile(LAUNCHER_SOURCE, launcher)
    launcher.chmod(0o644)
    probe = {
        "workspace": str(folder / "workspace" / "probe"),
        "tmp": str(folder / "tmp" / "probe"),
        "root": str(folder / "probe-on-root"),
    }
    command = [PYTHON, str(launcher), "--spec", str(spec_file), "--"]
    command += target or [PYTHON, "-c", TARGET, "arg-one"]
    if as_user:
        command = [
            "setpriv",
            f"--reuid={as_user}",
            f"--regid={as_user}",
            "--clear-groups",
            *command,
        ]
    if mount_namespace:
        command = ["unshare", "--mount", "--propagation", "private", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PROBE_PATHS": json.dumps(probe)},
    )


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 111, (result.returncode, result.stdout, result.stderr)
    assert MARKER not in result.stdout
    assert "sandbox-launcher: refusing to start the agent" in result.stderr
    assert message in result.stderr, result.stderr


def test_fly_launch_applies_every_step_before_the_agent_runs(sandbox_dir: Path) -> None:
    seen = report(launch(sandbox_dir, fly_spec(sandbox_dir)))
    assert seen["marker"] == MARKER and seen["argv"] == ["arg-one"]
    assert seen["uid"] == [1001, 1001, 1001] and seen["gid"] == [1001, 1001, 1001]
    assert seen["groups"] == []
    assert seen["rlimits"] == {
        "nofile": [1024, 2048],
        "nproc": [100, 100],
        "fsize": [10 * 1024**3, 10 * 1024**3],
        "cpu": [3600, 3600],
    }
    assert seen["no_new_privs"] == "1"
    assert seen["seccomp"] == "2"
    assert seen["ptrace"] == [-1, 1]  # EPERM
    assert seen["cap_bounding"] == seen["cap_effective"] == "0000000000000000"
    # The agent still works: threads, a shell.
    assert seen["thread"] == [45] and seen["shell"] == "hi\n"
    # Only the tmpfs and the workspace are writable; the tmpfs is noexec and 1 GiB.
    assert seen["write:workspace"] == "ok" and seen["write:tmp"] == "ok"
    assert seen["write:root"] == 30  # EROFS
    assert seen["exec_from_tmp"] == 13  # EACCES: noexec
    assert seen["tmp_bytes"] == 1024 * 1024**2


def test_mounts_stay_inside_the_childs_mount_namespace(sandbox_dir: Path) -> None:
    report(launch(sandbox_dir, fly_spec(sandbox_dir)))
    probe = sandbox_dir / "probe-after"
    probe.write_text("the host's root is still writable")
    assert probe.read_text().startswith("the host")


def test_fargate_bootstrap_runs_the_launcher_from_the_environment(sandbox_dir: Path) -> None:
    """What ECS runs: entryPoint python3 -c <bootstrap>, the spec in an env var, the agent's
    command as arguments. Here started as root (it drops); on Fargate it starts as 1001."""
    spec = to_launcher_spec(model("fargate"))
    delivery = fargate_delivery(spec, [PYTHON, "-c", TARGET, "arg-one"])
    result = subprocess.run(
        [*delivery.entry_point, *delivery.command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", **delivery.environment},
    )
    seen = report(result)
    assert seen["uid"] == [1001, 1001, 1001] and seen["seccomp"] == "2"
    assert seen["spec_env"] == []  # the launcher removed the spec before exec
    assert seen["rlimits"]["nofile"] == [1024, 2048]


def test_already_the_agent_user_is_verified_not_changed(sandbox_dir: Path) -> None:
    spec = to_launcher_spec(model("fargate"))
    seen = report(launch(sandbox_dir, spec, mount_namespace=False, as_user="1001"))
    assert seen["uid"] == [1001, 1001, 1001] and seen["no_new_privs"] == "1"
    assert seen["seccomp"] == "2"


def test_started_as_another_user_it_refuses(sandbox_dir: Path) -> None:
    spec = to_launcher_spec(model("fargate"))
    refused(
        launch(sandbox_dir, spec, mount_namespace=False, as_user="1002"),
        "running as uid (1002, 1002, 1002) gid (1002, 1002, 1002), expected 1001:1001",
    )


def test_mount_step_without_root_refuses(sandbox_dir: Path) -> None:
    refused(
        launch(sandbox_dir, fly_spec(sandbox_dir), as_user="1001"),
        "the mount step needs root",
    )


def corrupt(spec: dict[str, Any], program: bytes, *, digest: str | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(spec)
    changed["seccomp"]["arch"]["x86_64"] = {
        "bpfBase64": base64.b64encode(program).decode(),
        "sha256": digest or hashlib.sha256(program).hexdigest(),
    }
    return changed


def test_a_corrupt_filter_with_a_matching_hash_is_refused_by_the_kernel(sandbox_dir: Path) -> None:
    bad_opcode = b"\xff\xff\x00\x00\x00\x00\x00\x00" * 4
    spec = corrupt(fly_spec(sandbox_dir), bad_opcode)
    refused(launch(sandbox_dir, spec), "the kernel refused the seccomp filter: Invalid argument")


def test_a_wrong_sha256_is_refused(sandbox_dir: Path) -> None:
    spec = fly_spec(sandbox_dir)
    program = base64.b64decode(spec["seccomp"]["arch"]["x86_64"]["bpfBase64"])
    spec = corrupt(spec, program, digest="0" * 64)
    refused(launch(sandbox_dir, spec), "has sha256")


def test_a_truncated_filter_is_refused(sandbox_dir: Path) -> None:
    spec = fly_spec(sandbox_dir)
    program = base64.b64decode(spec["seccomp"]["arch"]["x86_64"]["bpfBase64"])
    refused(launch(sandbox_dir, corrupt(spec, program[:-3])), "8-byte instructions")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["seccomp"]["arch"].pop("x86_64"), "no seccomp filter for x86_64"),
        (lambda s: s.update(version=2), "version must be 1"),
        (lambda s: s["rlimits"].pop("nproc"), "rlimits must set exactly"),
        (lambda s: s["rlimits"]["nofile"].update(soft=4096), "0 <= soft <= hard"),
        (lambda s: s["tmp"].update(options=["nosuid"]), "noexec,nosuid,nodev"),
        (lambda s: s.update(writablePaths=["/"]), "writablePaths"),
        (lambda s: s.update(capabilities=["SYS_WIZARD"]), "capability SYS_WIZARD"),
    ],
)
def test_bad_specs_never_run_the_target(sandbox_dir: Path, change: Any, message: str) -> None:
    spec = fly_spec(sandbox_dir)
    change(spec)
    refused(launch(sandbox_dir, spec), message)


def test_unreadable_spec_and_missing_command_are_refused(sandbox_dir: Path) -> None:
    (sandbox_dir / "broken.json").write_text("{not json")
    broken = subprocess.run(
        [PYTHON, str(LAUNCHER_SOURCE), "--spec", str(sandbox_dir / "broken.json"), "--", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    refused(broken, "cannot read the hardening spec")
    no_command = subprocess.run(
        [PYTHON, str(LAUNCHER_SOURCE), "--spec", str(sandbox_dir / "broken.json"), "--"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    refused(no_command, "no command to run")
    no_env = subprocess.run(
        [PYTHON, "-c", bootstrap_code(), "true"],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    refused(no_env, f"environment variable {SPEC_ENV} is not set")
    garbage = subprocess.run(
        [PYTHON, "-c", bootstrap_code(), "true"],
        capture_output=True, text=True, check=False, env={SPEC_ENV: "not-base64!"},
    )  # fmt: skip
    refused(garbage, "cannot read the hardening spec")


def test_a_missing_agent_binary_is_reported_after_hardening(sandbox_dir: Path) -> None:
    result = launch(sandbox_dir, fly_spec(sandbox_dir), target=["/nonexistent/agent"])
    refused(result, "exec /nonexistent/agent")


def test_spec_env_round_trip_matches_the_spec() -> None:
    spec = to_launcher_spec(model("fargate"))
    assert json.loads(zlib.decompress(base64.b64decode(encode_spec(spec)))) == spec
