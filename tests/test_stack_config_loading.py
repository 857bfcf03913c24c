"""Reading config through the Pulumi runtime: structured values, secrets, and fail-before-create."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, StackConfig
from components.stack_config import load_stack_config
from tests.stack_configs import ROOT, staging_values
from tools.preview.mock_runtime import RecordedResource, run_program_file, run_under_mocks
from tools.preview.stack_file import to_engine_config, with_project_values

SECRET_KEYS = ["agent-sandbox:opsAgentRenderApiKey", "agent-sandbox:opsAgentSentryAuthToken"]


def _engine_values(values: dict[str, Any], **extra: str) -> dict[str, str]:
    engine = {f"agent-sandbox:{key}": json.dumps(value) for key, value in values.items()}
    engine["aws:region"] = "us-west-2"
    engine.update(extra)
    return engine


def _load(config: dict[str, str], secret_keys: list[str]) -> StackConfig:
    loaded: list[StackConfig] = []
    run_under_mocks(lambda: loaded.append(load_stack_config()), config, secret_keys=secret_keys)
    return loaded[0]


def test_structured_values_are_read_through_pulumi_config() -> None:
    config = _engine_values(
        staging_values(),
        **{key: "value-from-secret-config" for key in SECRET_KEYS},
    )
    loaded = _load(config, SECRET_KEYS)
    assert [sandbox.name for sandbox in loaded.sandboxes] == ["ops-agent", "ops-agent-fly"]
    assert loaded.egress[1].host == "api.render.com"


def test_a_fly_secret_stored_in_plain_text_is_rejected() -> None:
    config = _engine_values(staging_values(), **{key: "plain" for key in SECRET_KEYS})
    with pytest.raises(ConfigError) as raised:
        _load(config, SECRET_KEYS[1:])
    assert str(raised.value).startswith(
        "agent-sandbox:opsAgentRenderApiKey: is stored in plain text; allowed: a secret value"
    )


def test_a_missing_fly_secret_names_the_command_that_sets_it() -> None:
    config = _engine_values(staging_values(), **{SECRET_KEYS[0]: "set"})
    with pytest.raises(ConfigError) as raised:
        _load(config, SECRET_KEYS)
    assert "pulumi config set --secret opsAgentSentryAuthToken" in str(raised.value)


def test_bad_config_fails_before_any_resource_is_registered() -> None:
    values = staging_values()
    values["sandboxes"][0]["image"] = "python:3.11"
    engine = to_engine_config(with_project_values({"aws:region": "us-west-2"}, values))
    recorded: list[RecordedResource] = []
    with pytest.raises(ConfigError, match=r"sandboxes\[0\]\.image: 'python:3.11' is not allowed"):
        run_program_file(
            ROOT / "__main__.py",
            engine.values,
            stack="staging",
            secret_keys=engine.secret_keys,
            recorded=recorded,
        )
    assert recorded == []


def test_offline_engine_config_marks_placeholders_secret_and_warns() -> None:
    engine = to_engine_config(
        with_project_values({"aws:region": "us-west-2"}, staging_values())
        | {"agent-sandbox:flyApiToken": {"secure": "v1:abc:def"}}
    )
    assert sorted(engine.secret_keys) == sorted([*SECRET_KEYS, "agent-sandbox:flyApiToken"])
    assert "v1:abc:def" not in json.dumps(engine.values)
    assert len(engine.warnings) == 2
    assert "pulumi config set --secret opsAgentRenderApiKey" in engine.warnings[0]


def test_a_fly_api_token_in_plain_text_is_rejected() -> None:
    secrets = {key: "value" for key in SECRET_KEYS}
    config = _engine_values(staging_values(), **secrets, **{"agent-sandbox:flyApiToken": "fo1_x"})
    with pytest.raises(ConfigError, match=r"^agent-sandbox:flyApiToken: is stored in plain text"):
        _load(config, SECRET_KEYS)
    loaded = _load(config, [*SECRET_KEYS, "agent-sandbox:flyApiToken"])
    assert loaded.fly_api_token is None  # read as a secret Output by the program, never here


def test_a_structured_key_that_is_not_json_names_the_key() -> None:
    config = _engine_values(staging_values(), **{key: "v" for key in SECRET_KEYS})
    config["agent-sandbox:egress"] = "[{not json"
    with pytest.raises(ConfigError, match=r"^agent-sandbox:egress: is not valid JSON/YAML"):
        _load(config, SECRET_KEYS)
