"""Spotting secrets in plain-text environment variables, by name and by value shape.

Messages name the variable and the kind of value, never the value itself: a violation is
printed and stored, and must not leak what it found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .rule import Config, Param, string_list

SECRET_NAME_FRAGMENTS = (
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "CREDENTIAL",
)
SECRET_VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "an AWS access key id",
        re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    ),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b"),
    ),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
)


def secret_params() -> tuple[Param, ...]:
    return (
        string_list(
            "secretNameFragments",
            SECRET_NAME_FRAGMENTS,
            "Case-insensitive fragments that mark an environment variable name as a secret.",
        ),
    )


def secret_problems(environment: Mapping[str, Any], config: Config) -> Iterator[str]:
    fragments = [fragment.upper() for fragment in config.get_strs("secretNameFragments")]
    for name, value in sorted(environment.items()):
        hit = next((fragment for fragment in fragments if fragment in name.upper()), None)
        if hit is not None:
            yield f"{name} has a secret-looking name (contains {hit})"
            continue
        if isinstance(value, str):
            for kind, pattern in SECRET_VALUE_SHAPES:
                if pattern.search(value):
                    yield f"the value of {name} looks like {kind}"
                    break
