"""Reads this stack's config from the Pulumi runtime and validates it before anything is created."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from components.config import PROJECT, ConfigError, StackConfig, parse_stack_config, read_raw_config


def _all_config_values() -> dict[str, str]:
    # pulumi.Config reads one key at a time; unknown-key detection needs the whole map.
    values = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    return values


def load_stack_config() -> StackConfig:
    """The validated stack config, or a ConfigError listing every bad key.

    Raised before the program registers any resource, so a bad config creates nothing.
    """
    stack_config = parse_stack_config(read_raw_config(_all_config_values()))
    config = pulumi.Config(PROJECT)
    for sandbox in stack_config.fly_sandboxes:
        for secret in sandbox.secrets:
            key = secret.config_key
            assert key is not None  # guaranteed by FlySandbox validation
            if config.get(key) is None:
                raise ConfigError(
                    f"{PROJECT}:{key}: is required by sandbox {sandbox.name!r} secret "
                    f"{secret.name!r}; set it with `pulumi config set --secret {key}`"
                )
            if not runtime_config.is_config_secret(f"{PROJECT}:{key}"):
                raise ConfigError(
                    f"{PROJECT}:{key}: is stored in plain text; allowed: a secret value, "
                    f"set with `pulumi config set --secret {key}`"
                )
    return stack_config
