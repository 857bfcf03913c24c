"""How the launcher and its spec reach the sandbox on each platform.

Fargate: the container's entryPoint is `python3 -c <bootstrap>`, where the bootstrap carries the
launcher source (zlib + base64) and the spec travels in an environment variable the launcher
deletes before exec. Nothing has to be added to the image. ECS caps a task definition at 64 KiB,
so `task_definition_bytes` reports what this adds.
Fly: the launcher and the spec are files written into the Machine (fly.toml [[files]]), and the
process command is wrapped to run the launcher first.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAUNCHER_SOURCE = Path(__file__).resolve().parent.parent / "launcher" / "sandbox_launcher.py"
SPEC_ENV = "SANDBOX_HARDENING_SPEC"
FLY_LAUNCHER_PATH = "/etc/sandbox/sandbox_launcher.py"
FLY_SPEC_PATH = "/etc/sandbox/hardening.json"
ECS_TASK_DEFINITION_LIMIT = 64 * 1024


class DeliveryError(ValueError):
    """The launcher cannot be delivered as asked; the message says why."""


@dataclass(frozen=True)
class LauncherDelivery:
    entry_point: list[str]
    command: list[str]
    environment: dict[str, str]

    @property
    def task_definition_bytes(self) -> int:
        """Bytes these strings add to the registered task definition's JSON."""
        return len(
            json.dumps(
                {
                    "entryPoint": self.entry_point,
                    "command": self.command,
                    "environment": [{"name": k, "value": v} for k, v in self.environment.items()],
                }
            ).encode()
        )


@dataclass(frozen=True)
class FlyLauncherDelivery:
    files: list[dict[str, str]]
    process_command: list[str]


def launcher_source() -> bytes:
    return LAUNCHER_SOURCE.read_bytes()


def _pack(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 9)).decode("ascii")


def encode_spec(spec: dict[str, Any]) -> str:
    """The spec as the launcher's --spec-env reads it: compact JSON, zlib, base64."""
    return _pack(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())


def decode_spec(encoded: str) -> dict[str, Any]:
    """The inverse of encode_spec, for checks that read a rendered task definition."""
    spec: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(encoded)))
    return spec


def _check_command(command: Sequence[str]) -> list[str]:
    if not command or any(not isinstance(part, str) or not part for part in command):
        raise DeliveryError(
            f"agent command {list(command)!r} is not allowed; allowed: a non-empty list of "
            "non-empty strings, e.g. ['python3', '-m', 'agent_server']"
        )
    return list(command)


def bootstrap_code() -> str:
    """`python3 -c` text that unpacks the launcher and runs it on the env-var spec."""
    return (
        "import base64,sys,zlib\n"
        'g={"__name__":"sandbox_launcher"}\n'
        f'exec(zlib.decompress(base64.b64decode("{_pack(launcher_source())}")),g)\n'
        f'g["main"](["--spec-env","{SPEC_ENV}","--",*sys.argv[1:]])\n'
    )


def fargate_delivery(spec: dict[str, Any], command: Sequence[str]) -> LauncherDelivery:
    delivery = LauncherDelivery(
        entry_point=["python3", "-c", bootstrap_code()],
        command=_check_command(command),
        environment={SPEC_ENV: encode_spec(spec)},
    )
    if delivery.task_definition_bytes > ECS_TASK_DEFINITION_LIMIT // 2:
        raise DeliveryError(
            f"the launcher and its spec take {delivery.task_definition_bytes} bytes of the "
            f"task definition; allowed: at most half of ECS's {ECS_TASK_DEFINITION_LIMIT}"
        )
    return delivery


def fly_delivery(spec: dict[str, Any], command: Sequence[str]) -> FlyLauncherDelivery:
    spec_json = json.dumps(spec, indent=1, sort_keys=True).encode()
    return FlyLauncherDelivery(
        files=[
            {
                "guest_path": FLY_LAUNCHER_PATH,
                "raw_value": base64.b64encode(launcher_source()).decode("ascii"),
            },
            {
                "guest_path": FLY_SPEC_PATH,
                "raw_value": base64.b64encode(spec_json).decode("ascii"),
            },
        ],
        process_command=[
            "python3",
            FLY_LAUNCHER_PATH,
            "--spec",
            FLY_SPEC_PATH,
            "--",
            *_check_command(command),
        ],
    )
