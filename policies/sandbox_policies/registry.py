"""Every rule in the pack, in the order the README lists them."""

from __future__ import annotations

from . import (
    cost,
    ecr,
    ecs_service,
    ecs_task,
    fly,
    hardening,
    iam,
    logs,
    security_groups,
    stack,
)
from .rule import Rule

RULES: tuple[Rule, ...] = (
    *ecs_task.RULES,
    *ecs_service.RULES,
    *security_groups.RULES,
    *logs.RULES,
    *iam.RULES,
    *ecr.RULES,
    *fly.RULES,
    *hardening.RULES,
    *stack.RULES,
    *cost.RULES,
)


def rule(name: str) -> Rule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no rule named {name!r}")
