"""Waivers: a stack may lower a policy's enforcement level only with a written reason.

pulumi_policy gives a policy its own config properties but never its enforcement level, and
a disabled policy is not run at all, so no policy can notice that it was waived. The check
therefore sits where the levels arrive: the Analyzer's Configure call. The pack installs a
subclass of pulumi_policy's analyzer servicer that validates the whole policy config first,
and refuses it with INVALID_ARGUMENT (the CLI then stops before analyzing anything) when a
policy is lowered without a ``waiverReason``, or when a threshold does not match its schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import json_format
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy import policy as policy_module

from .config_schema import config_problems
from .rule import WAIVER_REASON, WAIVER_REASON_MIN_LENGTH

_RANK = {
    EnforcementLevel.DISABLED: 0,
    EnforcementLevel.ADVISORY: 1,
    EnforcementLevel.MANDATORY: 2,
    EnforcementLevel.REMEDIATE: 2,
}


def waiver_problems(
    declared: Mapping[str, EnforcementLevel],
    requested: Mapping[str, tuple[EnforcementLevel, Mapping[str, Any]]],
) -> list[str]:
    """Every policy lowered below its declared level without a written reason."""
    problems = []
    for name, (level, properties) in sorted(requested.items()):
        if name not in declared or _RANK[level] >= _RANK[declared[name]]:
            continue
        reason = properties.get(WAIVER_REASON)
        if not isinstance(reason, str) or len(reason.strip()) < WAIVER_REASON_MIN_LENGTH:
            problems.append(
                f"{name}: enforcementLevel {level.value!r} lowers the policy from "
                f"{declared[name].value!r} without a written reason; allowed: a "
                f"{WAIVER_REASON!r} of at least {WAIVER_REASON_MIN_LENGTH} characters saying why"
            )
    return problems


def configure_problems(
    policies: Sequence[Policy],
    requested: Mapping[str, tuple[EnforcementLevel, Mapping[str, Any]]],
    pack_level: EnforcementLevel,
) -> list[str]:
    """Everything wrong with a Configure request: unknown policies, bad values, bare waivers."""
    by_name = {policy.name: policy for policy in policies}
    problems = [
        f"{name}: no such policy in this pack; allowed: {', '.join(sorted(by_name))}"
        for name in sorted(requested)
        if name not in by_name and name != "all"
    ]
    for name, (_, properties) in sorted(requested.items()):
        policy = by_name.get(name)
        if policy is not None:
            schema = policy.config_schema.properties if policy.config_schema else {}
            problems += config_problems(name, properties, schema)
    declared = {policy.name: policy.enforcement_level or pack_level for policy in policies}
    return problems + waiver_problems(declared, requested)


class WaiverEnforcingServicer(policy_module._PolicyAnalyzerServicer):
    """pulumi_policy's servicer, with Configure refusing invalid config and bare waivers."""

    def __init__(
        self,
        name: str,
        version: str,
        policies: list[Policy],
        enforcement_level: EnforcementLevel,
        *args: Any,
    ) -> None:
        super().__init__(name, version, policies, enforcement_level, *args)
        self._sandbox_policies = list(policies)
        self._sandbox_pack_level = enforcement_level

    def Configure(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        requested = {
            name: (
                self._convert_enforcement_level(config.enforcementLevel),
                json_format.MessageToDict(config.properties),
            )
            for name, config in request.policyConfig.items()
        }
        problems = configure_problems(self._sandbox_policies, requested, self._sandbox_pack_level)
        if problems:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "invalid policy config for this stack:\n" + "\n".join(problems),
            )
        return super().Configure(request, context)  # type: ignore[no-untyped-call]


@contextmanager
def enforce_waiver_reasons() -> Iterator[None]:
    """Make PolicyPack serve through WaiverEnforcingServicer while the pack is built."""
    original = policy_module._PolicyAnalyzerServicer
    policy_module._PolicyAnalyzerServicer = WaiverEnforcingServicer  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        policy_module._PolicyAnalyzerServicer = original  # type: ignore[misc]
