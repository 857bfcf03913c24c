"""Reads this stack's config through pulumi.Config and validates it before anything is created."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import (
    PROJECT,
    ConfigError,
    StackConfig,
    parse_stack_config,
    referenced_secret_keys,
)

_SECRET_FIELDS = frozenset({"flyApiToken"})


def _set_keys() -> set[str]:
    """Every ``agent-sandbox:`` key the stack sets; pulumi.Config reads one key at a time, so
    spotting a misspelled key needs the whole map."""
    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    prefix = f"{PROJECT}:"
    return {key[len(prefix) :] for key in values if key.startswith(prefix)}


def _read(config: pulumi.Config, key: str) -> Any:
    try:
        return config.get_object(key)
    except pulumi.ConfigTypeError:
        raise ConfigError(
            f"{PROJECT}:{key}: is not valid JSON/YAML; allowed: the structure in the config "
            "reference"
        ) from None


def _require_secret(key: str, purpose: str) -> None:
    if not runtime_config.is_config_secret(f"{PROJECT}:{key}"):
        raise ConfigError(
            f"{PROJECT}:{key}: is stored in plain text; allowed: a secret value ({purpose}), "
            f"set with `pulumi config set --secret {key}`"
        )


def load_stack_config() -> StackConfig:
    """The validated stack config, or a ConfigError listing every bad key.

    Raised before the program registers any resource, so a bad config creates nothing.
    """
    config = pulumi.Config(PROJECT)
    set_keys = _set_keys()
    # Secret values are never read here: they stay Outputs, read by the program as secrets.
    secret_keys = referenced_secret_keys(_read(config, "sandboxes")) | _SECRET_FIELDS
    stack_config = parse_stack_config(
        {key: _read(config, key) for key in sorted(set_keys - secret_keys)}
        | {key: None for key in set_keys & secret_keys}
    )
    if "flyApiToken" in set_keys:
        _require_secret("flyApiToken", "the Fly API token")
    for sandbox in stack_config.fly_sandboxes:
        for secret in sandbox.secrets:
            key = secret.config_key
            assert key is not None  # guaranteed by FlySandbox validation
            if key not in set_keys:
                raise ConfigError(
                    f"{PROJECT}:{key}: is required by sandbox {sandbox.name!r} secret "
                    f"{secret.name!r}; set it with `pulumi config set --secret {key}`"
                )
            _require_secret(key, f"secret {secret.name} of sandbox {sandbox.name}")
    return stack_config
