"""Stack configs for tests, starting from the real staging stack file."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from components.config import FargateSandbox, FlySandbox, StackConfig, parse_stack_config
from components.hardening.model import HardeningModel
from components.program import hardening_model
from tools.preview.stack_file import project_values, read_stack_file

ROOT = Path(__file__).resolve().parent.parent
_STAGING = project_values(read_stack_file(ROOT / "Pulumi.staging.yaml"))


def staging_values() -> dict[str, Any]:
    """A fresh, mutable copy of staging's ``agent-sandbox:`` values."""
    return copy.deepcopy(_STAGING)


def staging_config() -> StackConfig:
    return parse_stack_config(staging_values())


def hardening_for(sandbox: FargateSandbox | FlySandbox) -> HardeningModel:
    """The sandbox's hardening model, with staging's egress allowlist."""
    return hardening_model(sandbox, staging_config())
