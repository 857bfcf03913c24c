"""The one shape every policy in the pack takes, and its typed configuration.

A Rule is plain data plus a check function, so tests call checks directly, the README table
is generated from the same objects, and ``pack.py`` turns each Rule into the pulumi_policy
Policy the engine talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

WAIVER_REASON = "waiverReason"
WAIVER_REASON_MIN_LENGTH = 20
WAIVER_REASON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": WAIVER_REASON_MIN_LENGTH,
    "description": (
        "Why this stack lowers this policy's enforcement level; required whenever it does."
    ),
}


@dataclass(frozen=True)
class Resource:
    """A resource as a check sees it: plain properties, with unknowns as values.UNKNOWN."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Param:
    """One policy config property: its JSON schema carries the runbook's value as default."""

    name: str
    schema: Mapping[str, Any]

    @property
    def default(self) -> Any:
        return self.schema["default"]


def integer(name: str, default: int, description: str, minimum: int = 0) -> Param:
    return Param(
        name,
        {"type": "integer", "default": default, "minimum": minimum, "description": description},
    )


def number(name: str, default: float, description: str) -> Param:
    return Param(
        name,
        {"type": "number", "default": default, "exclusiveMinimum": 0, "description": description},
    )


def string_list(name: str, default: Sequence[str], description: str) -> Param:
    return Param(
        name,
        {
            "type": "array",
            "items": {"type": "string"},
            "default": list(default),
            "description": description,
        },
    )


def integer_list(name: str, default: Sequence[int], description: str) -> Param:
    return Param(
        name,
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 65535},
            "default": list(default),
            "description": description,
        },
    )


def text(name: str, default: str, description: str) -> Param:
    return Param(name, {"type": "string", "default": default, "description": description})


class Config:
    """A policy's effective config: the stack's values over the schema's defaults.

    The CLI fills defaults in before Configure, but the pack must not depend on that: a
    caller that sends no config still gets the runbook's thresholds.
    """

    def __init__(self, params: Sequence[Param], given: Mapping[str, Any] | None = None) -> None:
        self._values = {param.name: param.default for param in params}
        for key, value in (given or {}).items():
            if key in self._values:
                self._values[key] = value

    def get_int(self, name: str) -> int:
        return int(self._values[name])

    def get_float(self, name: str) -> float:
        return float(self._values[name])

    def get_str(self, name: str) -> str:
        return str(self._values[name])

    def get_strs(self, name: str) -> list[str]:
        return [str(item) for item in self._values[name]]

    def get_ints(self, name: str) -> list[int]:
        return [int(item) for item in self._values[name]]

    def get_object(self, name: str) -> dict[str, Any]:
        value = self._values[name]
        return dict(value) if isinstance(value, Mapping) else {}


ResourceCheck = Callable[[Resource, Config], Iterable[str]]
StackFinding = tuple[str | None, str]
"""(urn or None for the stack as a whole, problem)."""
StackCheck = Callable[[Sequence[Resource], Config], Iterable[StackFinding]]


@dataclass(frozen=True)
class Rule:
    """One policy: what it checks, why (runbook, scanners), how to fix it, and its check."""

    name: str
    summary: str
    runbook: str
    remediation: str
    severity: Severity
    scanners: tuple[str, ...] = ()
    level: EnforcementLevel = MANDATORY
    params: tuple[Param, ...] = ()
    resource_types: tuple[str, ...] = ()
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if (self.check is None) == (self.stack_check is None):
            raise TypeError(f"rule {self.name}: give exactly one of check or stack_check")
        if self.check is not None and not self.resource_types:
            raise TypeError(f"rule {self.name}: a resource rule needs resource_types")

    @property
    def description(self) -> str:
        scanners = ", ".join(self.scanners) if self.scanners else "none"
        return f"{self.summary} Runbook: {self.runbook}. Scanner equivalents: {scanners}."

    @property
    def config_properties(self) -> dict[str, dict[str, Any]]:
        properties = {param.name: dict(param.schema) for param in self.params}
        properties[WAIVER_REASON] = dict(WAIVER_REASON_SCHEMA)
        return properties

    def config(self, given: Mapping[str, Any] | None = None) -> Config:
        return Config(self.params, given)

    def message(self, problem: str) -> str:
        """The violation text: the problem, then the fix."""
        return f"{problem.rstrip('.')}. Fix: {self.remediation}"


def rule_family(
    resource_types: tuple[str, ...], tags: tuple[str, ...], severity: Severity
) -> Callable[..., Rule]:
    """A Rule constructor for one area: its resource types, tags and default severity."""

    def make(
        name: str, summary: str, runbook: str, remediation: str, check: ResourceCheck, **extra: Any
    ) -> Rule:
        return Rule(
            name=name,
            summary=summary,
            runbook=runbook,
            remediation=remediation,
            resource_types=resource_types,
            check=check,
            tags=tags,
            **{"severity": severity, **extra},
        )

    return make
