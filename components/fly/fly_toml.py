"""The Fly sandbox's normalized spec and its fly.toml, both pure functions of the config.

The spec is what the component registers as its own inputs, so the policy pack judges exactly
what will be deployed; the fly.toml is rendered from the same spec with a TOML library so that
no config value can break out of a string template.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import tomli_w

from components.config import FlySandbox

WORKSPACE_PATH = "/workspace"
PROCESS_GROUP = "app"
# The seed's HTTP check timings: Fly runs the check on the host, so it works without public IPs.
HEALTH_CHECK_METHOD = "GET"
HEALTH_CHECK_INTERVAL = "30s"
HEALTH_CHECK_TIMEOUT = "5s"
HEALTH_CHECK_GRACE_PERIOD = "10s"


def sandbox_spec(sandbox: FlySandbox) -> dict[str, Any]:
    """The normalized spec (camelCase). Secret names only: their values never reach it."""
    fly = sandbox.fly
    return {
        "app": fly.app,
        "region": fly.region,
        "org": fly.org,
        "image": sandbox.image,
        "vm": {
            "size": fly.vm_size,
            "cpuKind": fly.cpu_kind,
            "cpus": fly.cpus,
            "memoryMb": fly.memory_mb,
        },
        "volume": {"name": fly.volume.name, "sizeGb": fly.volume.size_gb, "path": WORKSPACE_PATH},
        "publicIps": fly.public_ips,
        "env": dict(sandbox.environment),
        "secretNames": [secret.name for secret in sandbox.secrets],
        "healthCheck": {
            "path": fly.health_check_path,
            "port": fly.internal_port,
            "method": HEALTH_CHECK_METHOD,
            "interval": HEALTH_CHECK_INTERVAL,
            "timeout": HEALTH_CHECK_TIMEOUT,
            "gracePeriod": HEALTH_CHECK_GRACE_PERIOD,
        },
        "restart": {"policy": fly.restart.policy, "maxRetries": fly.restart.max_retries},
        "running": sandbox.running,
        "deploy": {
            "strategy": fly.deploy_strategy,
            "waitTimeoutSeconds": fly.wait_timeout_seconds,
            "ha": False,
            "healthTimeoutSeconds": fly.health_timeout_seconds,
        },
    }


def render_fly_toml(
    sandbox: FlySandbox,
    files: Sequence[Mapping[str, str]] | None = None,
    process_command: Sequence[str] | None = None,
) -> str:
    """fly.toml for ``flyctl deploy --config``.

    ``files`` become ``[[files]]`` entries and ``process_command`` the app process group's
    command; both exist so the launcher (which wraps the agent's entrypoint) can be delivered
    without changing this function's callers.
    """
    spec = sandbox_spec(sandbox)
    check = spec["healthCheck"]
    document: dict[str, Any] = {
        "app": spec["app"],
        "primary_region": spec["region"],
        "build": {"image": spec["image"]},
        "env": spec["env"],
    }
    if process_command is not None:
        if not process_command or any(not part for part in process_command):
            raise ValueError(
                f"process_command {list(process_command)!r} is not allowed; allowed: a non-empty "
                "list of non-empty arguments"
            )
        document["processes"] = {PROCESS_GROUP: shlex.join(process_command)}
    document["services"] = [
        {
            # No [[services.ports]]: nothing outside the private network may reach the sandbox.
            "internal_port": check["port"],
            "protocol": "tcp",
            "processes": [PROCESS_GROUP],
            "auto_stop_machines": "off",
            "auto_start_machines": False,
            "min_machines_running": 0,
            "http_checks": [
                {
                    "interval": check["interval"],
                    "timeout": check["timeout"],
                    "grace_period": check["gracePeriod"],
                    "method": check["method"],
                    "path": check["path"],
                    "protocol": "http",
                }
            ],
        }
    ]
    document["mounts"] = {
        "source": spec["volume"]["name"],
        "destination": spec["volume"]["path"],
        "initial_size": f"{spec['volume']['sizeGb']}gb",
    }
    document["vm"] = [
        {
            "size": spec["vm"]["size"],
            "cpu_kind": spec["vm"]["cpuKind"],
            "cpus": spec["vm"]["cpus"],
            "memory_mb": spec["vm"]["memoryMb"],
        }
    ]
    document["restart"] = [
        {
            "policy": spec["restart"]["policy"],
            "retries": spec["restart"]["maxRetries"],
            "processes": [PROCESS_GROUP],
        }
    ]
    if files:
        document["files"] = [_file_entry(entry) for entry in files]
    return tomli_w.dumps(document)


_FILE_SOURCES = ("raw_value", "local_path", "secret_name")


def _file_entry(entry: Mapping[str, str]) -> dict[str, str]:
    keys = set(entry)
    sources = keys & set(_FILE_SOURCES)
    if "guest_path" not in keys or len(sources) != 1 or keys - {"guest_path", *_FILE_SOURCES}:
        raise ValueError(
            f"[[files]] entry with keys {sorted(keys)!r} is not allowed; allowed: 'guest_path' "
            f"and exactly one of {', '.join(_FILE_SOURCES)}"
        )
    if not entry["guest_path"].startswith("/"):
        raise ValueError(
            f"[[files]] guest_path {entry['guest_path']!r} is not allowed; "
            "allowed: an absolute path"
        )
    return dict(entry)


def hostname(sandbox: FlySandbox) -> str:
    """Where the sandbox answers: its private 6PN name unless public IPs were allowed."""
    suffix = "fly.dev" if sandbox.fly.public_ips else "internal"
    return f"{sandbox.fly.app}.{suffix}"
