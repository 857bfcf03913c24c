"""Turns a Pulumi.<stack>.yaml into the config map the engine would hand the program.

The engine passes every value as a string, structured values JSON-encoded, and tells the
program which keys are secret. Secure values are ciphertext only the stack's secrets provider
can open, so the offline preview substitutes a placeholder and keeps them marked secret: it
never needs the passphrase, and a placeholder can never leak a real value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT = "agent-sandbox"
SECRET_PLACEHOLDER_VALUE = "offline-preview-placeholder"  # noqa: S105 - stands in for one


class StackFileError(ValueError):
    """The stack file is missing or is not a Pulumi stack config file."""


@dataclass
class EngineConfig:
    values: dict[str, str]
    secret_keys: list[str]
    warnings: list[str] = field(default_factory=list)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The stack file's ``config:`` mapping, keys as written (``project:key``)."""
    if not path.is_file():
        raise StackFileError(f"{path.name}: no such stack file")
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{path.name}: expected a mapping with a 'config:' mapping")
    return dict(document.get("config") or {})


def project_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """This project's keys without the ``agent-sandbox:`` prefix (what variants edit)."""
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :]: value for key, value in config.items() if key.startswith(prefix)}


def with_project_values(config: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    prefix = f"{PROJECT}:"
    merged = {key: value for key, value in config.items() if not key.startswith(prefix)}
    merged.update({f"{prefix}{key}": value for key, value in values.items()})
    return merged


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def to_engine_config(config: Mapping[str, Any]) -> EngineConfig:
    """Encode values as the engine does, with placeholders for secure and missing secrets."""
    engine = EngineConfig(values={}, secret_keys=[])
    for key, value in config.items():
        if _is_secure(value):
            engine.values[key] = SECRET_PLACEHOLDER_VALUE
            engine.secret_keys.append(key)
        elif isinstance(value, str):
            engine.values[key] = value
        else:
            engine.values[key] = json.dumps(value)
    for key in _referenced_secret_keys(config):
        if key not in engine.values:
            engine.values[key] = SECRET_PLACEHOLDER_VALUE
            engine.secret_keys.append(key)
            engine.warnings.append(
                f"{key} is not set in the stack file; the preview uses a placeholder. "
                f"`pulumi up` needs it: pulumi config set --secret {key.split(':', 1)[1]}"
            )
    return engine


def _referenced_secret_keys(config: Mapping[str, Any]) -> list[str]:
    sandboxes = config.get(f"{PROJECT}:sandboxes")
    keys: list[str] = []
    if not isinstance(sandboxes, list):
        return keys
    for sandbox in sandboxes:
        secrets = sandbox.get("secrets", []) if isinstance(sandbox, dict) else []
        for secret in secrets if isinstance(secrets, list) else []:
            if isinstance(secret, dict) and isinstance(secret.get("configKey"), str):
                keys.append(f"{PROJECT}:{secret['configKey']}")
    return keys
