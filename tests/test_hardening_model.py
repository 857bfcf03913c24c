"""The hardening model, the launcher spec made from it, and its delivery on each platform."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import sys
from typing import Any

import pytest

from components.config import EgressRule, Hardening
from components.hardening import (
    FLY_LAUNCHER_PATH,
    FLY_SPEC_PATH,
    SPEC_ENV,
    DeliveryError,
    HardeningModel,
    HardeningModelError,
    Rlimit,
    fargate_delivery,
    fly_delivery,
    launcher_source,
    to_launcher_spec,
)
from components.seccomp import profile_sha256

EGRESS = (
    EgressRule(host="api.render.com", ports=(443,), description="render"),
    EgressRule(cidr="10.0.0.2/32", ports=(53,), protocol="udp", description="dns"),
)
COMMAND = ["python3", "-m", "agent_server"]


def model(platform: str = "fly", **hardening: Any) -> HardeningModel:
    return HardeningModel.from_config(
        Hardening.model_validate(hardening),
        platform=platform,  # type: ignore[arg-type]
        cpu=0.25 if platform == "fargate" else 1,
        memory_mib=512 if platform == "fargate" else 256,
        egress=EGRESS,
    )


def test_defaults_are_the_runbooks_controls() -> None:
    m = model("fly")
    assert m.capabilities_drop == ("ALL",) and m.capabilities_add == ()
    assert m.no_new_privileges and m.readonly_root_filesystem
    assert m.writable_paths == ("/tmp", "/workspace")
    assert m.tmp.options == ("noexec", "nosuid", "nodev") and m.tmp.size_bytes == 1024**3
    assert m.rlimits == {
        "nofile": Rlimit(1024, 2048),
        "nproc": Rlimit(100, 100),
        "fsize": Rlimit(10 * 1024**3, 10 * 1024**3),
        "cpu": Rlimit(3600, 3600),
    }
    assert (m.pids_limit, m.uid, m.gid, m.cpu, m.memory_mib) == (100, 1001, 1001, 1.0, 256)
    assert m.egress == EGRESS
    assert m.seccomp_profile == "sandbox" and m.seccomp_profile_sha256 == profile_sha256()


def test_loosened_config_flows_through_for_the_policy_pack_to_see() -> None:
    m = model(
        "fargate",
        readonlyRootFilesystem=False,
        capabilitiesAdd=["SYS_PTRACE"],
        runAs={"uid": 2000, "gid": 3000},
        ulimits={"nofile": {"soft": 65536, "hard": 65536}},
        tmpSizeMib=64,
    )
    assert not m.readonly_root_filesystem
    assert m.capabilities_add == ("SYS_PTRACE",)
    assert (m.uid, m.gid) == (2000, 3000)
    assert m.rlimits["nofile"] == Rlimit(65536, 65536)
    assert m.tmp.size_bytes == 64 * 1024**2
    spec = to_launcher_spec(m)
    assert spec["readOnlyRoot"] is False and spec["capabilities"] == ["SYS_PTRACE"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"platform": "lambda"}, "platform 'lambda' is not allowed; allowed: fargate, fly"),
        ({"cpu": 0}, "cpu 0 is not allowed"),
        ({"memory_mib": 0}, "memory 0 MiB is not allowed"),
    ],
)
def test_bad_model_inputs_are_named(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"platform": "fly", "cpu": 1, "memory_mib": 256, "egress": EGRESS}
    arguments.update(kwargs)
    with pytest.raises(HardeningModelError, match=message):
        HardeningModel.from_config(Hardening(), **arguments)


def test_model_is_immutable() -> None:
    m = model()
    with pytest.raises(AttributeError):
        m.uid = 0  # type: ignore[misc]


def test_spec_is_json_with_both_architectures_and_matching_hashes() -> None:
    spec = to_launcher_spec(model("fly"))
    assert json.loads(json.dumps(spec)) == spec
    assert spec["version"] == 1 and spec["platform"] == "fly"
    assert (spec["uid"], spec["gid"]) == (1001, 1001)
    assert spec["tmp"] == {
        "path": "/tmp",
        "sizeBytes": 1024**3,
        "options": ["noexec", "nosuid", "nodev"],
    }
    assert spec["writablePaths"] == ["/tmp", "/workspace"] and spec["readOnlyRoot"] is True
    assert spec["mountStep"] == {"tmpfs": "/tmp", "keepWritable": ["/workspace"]}
    assert spec["seccomp"]["profileSha256"] == profile_sha256()
    for arch in ("x86_64", "aarch64"):
        entry = spec["seccomp"]["arch"][arch]
        program = base64.b64decode(entry["bpfBase64"])
        assert hashlib.sha256(program).hexdigest() == entry["sha256"]
        assert len(program) % 8 == 0
    assert spec == to_launcher_spec(model("fly"))  # deterministic: no diff on every preview


def test_fargate_spec_has_no_mount_step() -> None:
    spec = to_launcher_spec(model("fargate"))
    assert "mountStep" not in spec and spec["platform"] == "fargate"


def test_fargate_delivery_fits_the_task_definition() -> None:
    spec = to_launcher_spec(model("fargate"))
    delivery = fargate_delivery(spec, COMMAND)
    assert delivery.entry_point[:2] == ["python3", "-c"]
    assert delivery.command == COMMAND
    assert set(delivery.environment) == {SPEC_ENV}
    # ECS limits a whole task definition to 64 KiB; the launcher and spec take under 16 KiB.
    assert 4_000 < delivery.task_definition_bytes < 16 * 1024


def test_fly_delivery_writes_the_launcher_and_spec_and_wraps_the_command() -> None:
    spec = to_launcher_spec(model("fly"))
    delivery = fly_delivery(spec, COMMAND)
    files = {f["guest_path"]: base64.b64decode(f["raw_value"]) for f in delivery.files}
    assert files[FLY_LAUNCHER_PATH] == launcher_source()
    assert json.loads(files[FLY_SPEC_PATH]) == spec
    assert delivery.process_command == [
        "python3", FLY_LAUNCHER_PATH, "--spec", FLY_SPEC_PATH, "--", *COMMAND,
    ]  # fmt: skip


@pytest.mark.parametrize("command", [[], [""], ["python3", ""]])
def test_an_empty_agent_command_is_refused(command: list[str]) -> None:
    spec = to_launcher_spec(model("fly"))
    with pytest.raises(DeliveryError, match="is not allowed; allowed: a non-empty list"):
        fly_delivery(spec, command)
    with pytest.raises(DeliveryError, match="is not allowed"):
        fargate_delivery(spec, command)


def test_launcher_is_standard_library_only() -> None:
    tree = ast.parse(launcher_source())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0])
    assert {"ctypes", "os", "resource", "hashlib", "base64", "json"} <= names
    assert names <= sys.stdlib_module_names | {"__future__"}, names - sys.stdlib_module_names
