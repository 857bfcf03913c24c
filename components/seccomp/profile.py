"""The project's seccomp profiles, read from the JSON files shipped beside this module.

The JSON file is the single source of truth: Docker-compatible tools can load it as is, and the
IaC compiles it to BPF for the launcher. Its sha256 is recorded in the launcher spec so a deploy
shows which profile text a sandbox runs under.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent
PROFILE_NAMES = ("sandbox",)


class SeccompProfileError(ValueError):
    """A profile cannot be used as written; the message names the rule and the problem."""


def profile_path(name: str = "sandbox") -> Path:
    if name not in PROFILE_NAMES:
        raise SeccompProfileError(
            f"seccomp profile {name!r} is not allowed; allowed: {', '.join(PROFILE_NAMES)}"
        )
    return PROFILE_DIR / f"{name}.json"


def load_profile(name: str = "sandbox") -> dict[str, Any]:
    profile: Any = json.loads(profile_path(name).read_bytes())
    if not isinstance(profile, dict):
        raise SeccompProfileError(f"seccomp profile {name!r} is not a JSON object")
    return profile


def profile_sha256(name: str = "sandbox") -> str:
    """sha256 of the file's bytes, not of re-serialised JSON, so it matches `sha256sum`."""
    return hashlib.sha256(profile_path(name).read_bytes()).hexdigest()
