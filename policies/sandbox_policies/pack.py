"""Turns Rules into the pulumi_policy policies the engine calls.

Each check runs on a plain copy of the properties (values.plain), and any exception a check
raises on input nobody anticipated becomes a violation of that policy: the pack fails closed
and never takes the engine's Analyze call down with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .registry import RULES
from .rule import Resource, Rule
from .values import plain

PACK_NAME = "agent-sandbox-policies"
PACK_LEVEL = EnforcementLevel.MANDATORY
INTERNAL_ERROR = "the policy could not evaluate this resource"


def _report_all(rule: Rule, problems: Callable[[], Iterable[Any]], report: ReportViolation) -> None:
    try:
        for problem in problems():
            if isinstance(problem, tuple):
                urn, text = problem
                report(rule.message(text), urn)
            else:
                report(rule.message(problem), None)
    except Exception as error:
        report(rule.message(f"{INTERNAL_ERROR} ({type(error).__name__})"), None)


def _resource_validate(rule: Rule) -> Any:
    assert rule.check is not None
    check = rule.check

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in rule.resource_types:
            return
        resource = Resource(
            type=args.resource_type,
            urn=args.urn,
            name=args.name,
            props=plain(args.props),
            parent=args.opts.parent,
        )
        _report_all(rule, lambda: check(resource, rule.config(args.get_config())), report)

    return validate


def _stack_validate(rule: Rule) -> Any:
    assert rule.stack_check is not None
    stack_check = rule.stack_check

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            Resource(
                type=item.resource_type,
                urn=item.urn,
                name=item.name,
                props=plain(item.props),
                parent=item.parent.urn if item.parent is not None else item.opts.parent,
                dependencies=tuple(
                    dict.fromkeys(
                        [dep.urn for dep in item.dependencies]
                        + [dep.urn for deps in item.property_dependencies.values() for dep in deps]
                    )
                ),
            )
            for item in args.resources
        ]
        _report_all(rule, lambda: stack_check(resources, rule.config(args.get_config())), report)

    return validate


def to_policy(rule: Rule) -> Policy:
    schema = PolicyConfigSchema(properties=rule.config_properties)
    common: dict[str, Any] = {
        "enforcement_level": rule.level,
        "config_schema": schema,
        "severity": rule.severity,
        "remediation_steps": rule.remediation,
        "tags": list(rule.tags),
    }
    if rule.check is not None:
        return ResourceValidationPolicy(
            rule.name, rule.description, _resource_validate(rule), **common
        )
    return StackValidationPolicy(rule.name, rule.description, _stack_validate(rule), **common)


def build_policies() -> list[Policy]:
    return [to_policy(rule) for rule in RULES]
