"""The control matrix: derived from the rendered task definition and fly.toml, it claims a
control only where the rendered configuration (or the launcher spec inside it) carries it."""

from __future__ import annotations

import base64
import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from components.controls.catalog import CONTROL_IDS, CONTROLS
from components.controls.matrix import (
    EgressFacts,
    fargate_launcher_spec,
    fargate_matrix,
    fly_launcher_spec,
    fly_matrix,
)
from components.hardening.delivery import SPEC_ENV, decode_spec, encode_spec
from tools.preview.pipeline import PreviewResult, preview_stack

EGRESS = EgressFacts(["udp 53 to 169.254.169.253/32"], ["api.render.com"])
TASK = {"cpu": "256", "memory": "512", "assignPublicIp": False}


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> PreviewResult:
    return preview_stack("staging", out_dir=tmp_path_factory.mktemp("matrix"), policy=False)


@pytest.fixture(scope="module")
def container(staging: PreviewResult) -> dict[str, Any]:
    request = json.loads(staging.artifacts["task-definition-ops-agent"].read_text())
    definition: dict[str, Any] = request["containerDefinitions"][0]
    return definition


@pytest.fixture(scope="module")
def fly(staging: PreviewResult) -> dict[str, Any]:
    return tomllib.loads(Path(staging.artifacts["fly-ops-agent-fly"]).read_text())


def _enforcers(matrix: dict[str, Any]) -> dict[str, str]:
    return {control: coverage["enforcedBy"] for control, coverage in matrix.items()}


def test_staging_exports_and_registers_the_matrix_for_both_sandboxes(
    staging: PreviewResult,
) -> None:
    exported = staging.run.outputs["controlMatrix"]
    assert set(exported) == {"ops-agent", "ops-agent-fly"}
    registered = {
        r.inputs["sandbox"]: r.inputs["controls"]
        for r in staging.run.of_type("agent-sandbox:controls:ControlMatrix")
    }
    assert registered == exported
    assert _enforcers(exported["ops-agent"]) == {
        "capabilities": "platform",
        "no-new-privileges": "launcher",
        "seccomp": "launcher",
        "apparmor": "unavailable",
        "readonly-root": "platform",
        "tmp-tmpfs": "unavailable",
        "writable-paths": "platform",
        "non-root": "platform",
        "ulimit-nofile": "platform",
        "ulimit-nproc": "platform",
        "ulimit-fsize": "platform",
        "ulimit-cpu": "platform",
        "pids-limit": "platform",
        "egress-ports": "platform",
        "dns-allowlist": "platform",
        "resources": "platform",
        "no-public-ip": "platform",
    }
    fly = _enforcers(exported["ops-agent-fly"])
    assert {c for c, by in fly.items() if by == "platform"} == {"resources", "no-public-ip"}
    assert {c for c, by in fly.items() if by == "unavailable"} == {
        "apparmor",
        "egress-ports",
        "dns-allowlist",
    }


def test_fargate_claims_match_the_rendered_task_definition(
    staging: PreviewResult, container: dict[str, Any]
) -> None:
    matrix = staging.run.outputs["controlMatrix"]["ops-agent"]
    assert container["readonlyRootFilesystem"] is True  # readonly-root: platform
    assert container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    assert container["user"] == "1001:1001" and "1001:1001" in matrix["non-root"]["detail"]
    for limit in container["ulimits"]:
        assert (
            f"{limit['softLimit']}/{limit['hardLimit']}"
            in matrix[f"ulimit-{limit['name']}"]["detail"]
        )
    spec = fargate_launcher_spec(container)
    assert spec is not None and spec["noNewPrivileges"] is True  # launcher claims
    assert spec["seccomp"]["profileSha256"][:12] in matrix["seccomp"]["detail"]


def test_fly_claims_match_the_rendered_fly_toml(
    staging: PreviewResult, fly: dict[str, Any]
) -> None:
    matrix = staging.run.outputs["controlMatrix"]["ops-agent-fly"]
    spec = fly_launcher_spec(fly)
    assert spec is not None
    assert spec["mountStep"] == {"tmpfs": "/tmp", "keepWritable": ["/workspace"]}
    assert "tmpfs /tmp size 1024 MiB, noexec,nosuid,nodev" in matrix["tmp-tmpfs"]["detail"]
    assert f"{spec['uid']}:{spec['gid']}" == "1001:1001" in matrix["non-root"]["detail"]
    assert spec["rlimits"]["fsize"]["hard"] == 10 * 1024**3  # Fly gets the runbook's 10 GiB
    assert fly["vm"][0]["memory_mb"] == 256 and "256 MB" in matrix["resources"]["detail"]


def test_every_catalog_control_is_reported_in_catalog_order(container: dict[str, Any]) -> None:
    assert list(fargate_matrix(container, TASK, EGRESS)) == [c.id for c in CONTROLS]
    assert len(CONTROL_IDS) == len(CONTROLS)


@pytest.mark.parametrize(
    ("mutate", "control"),
    [
        (lambda c: c.update(readonlyRootFilesystem=False), "readonly-root"),
        (lambda c: c.update(readonlyRootFilesystem=False), "writable-paths"),
        (lambda c: c.pop("entryPoint"), "seccomp"),
        (lambda c: c.pop("entryPoint"), "no-new-privileges"),
        (lambda c: c.update(entryPoint=["python3", "-c", "import os"]), "seccomp"),
        (lambda c: c.update(user="0:0"), "non-root"),
        (lambda c: c.pop("user"), "non-root"),
        (lambda c: c.update(ulimits=[]), "ulimit-nofile"),
        (lambda c: c.update(ulimits=[]), "pids-limit"),
        (lambda c: c["linuxParameters"]["capabilities"].update(drop=[]), "capabilities"),
    ],
)
def test_a_fargate_control_missing_from_the_render_is_not_claimed(
    container: dict[str, Any], mutate: Any, control: str
) -> None:
    assert fargate_matrix(container, TASK, EGRESS)[control].enforced_by != "unavailable"
    broken = copy.deepcopy(container)
    mutate(broken)
    assert fargate_matrix(broken, TASK, EGRESS)[control].enforced_by == "unavailable"


def test_a_corrupt_filter_is_not_claimed_as_seccomp(container: dict[str, Any]) -> None:
    broken = copy.deepcopy(container)
    for variable in broken["environment"]:
        if variable["name"] == SPEC_ENV:
            spec = decode_spec(variable["value"])
            blob = base64.b64decode(spec["seccomp"]["arch"]["x86_64"]["bpfBase64"])
            spec["seccomp"]["arch"]["x86_64"]["bpfBase64"] = base64.b64encode(blob[8:]).decode()
            variable["value"] = encode_spec(spec)
    matrix = fargate_matrix(broken, TASK, EGRESS)
    assert matrix["seccomp"].enforced_by == "unavailable"
    assert matrix["no-new-privileges"].enforced_by == "launcher"


def test_fargate_network_facts_decide_egress_and_public_ip(container: dict[str, Any]) -> None:
    closed = fargate_matrix(container, TASK, EgressFacts([], None))
    assert closed["egress-ports"].enforced_by == "unavailable"
    assert closed["dns-allowlist"].enforced_by == "unavailable"
    public = fargate_matrix(container, {**TASK, "assignPublicIp": True}, EGRESS)
    assert public["no-public-ip"].enforced_by == "unavailable"


def test_a_fly_machine_without_the_launcher_claims_nothing_the_launcher_does(
    fly: dict[str, Any],
) -> None:
    hardened = fly_matrix(fly, public_ips=False)
    bare = copy.deepcopy(fly)
    bare.pop("processes")
    unhardened = fly_matrix(bare, public_ips=False)
    launcher_controls = {c for c, cov in hardened.items() if cov.enforced_by == "launcher"}
    assert len(launcher_controls) == 12
    assert all(unhardened[c].enforced_by == "unavailable" for c in launcher_controls)
    tampered = copy.deepcopy(fly)
    tampered["files"][0]["raw_value"] = base64.b64encode(b"import os").decode()
    assert fly_matrix(tampered, public_ips=False)["seccomp"].enforced_by == "unavailable"
    assert fly_matrix(fly, public_ips=True)["no-public-ip"].enforced_by == "unavailable"
