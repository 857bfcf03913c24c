"""CloudWatch log group policies: sandbox output is kept long enough, and encrypted."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from .rule import ADVISORY, Config, Resource, Rule, integer
from .values import as_int, as_str, is_unknown

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _retention(resource: Resource, config: Config) -> Iterator[str]:
    value = resource.props.get("retentionInDays")
    if is_unknown(value):
        return
    days, minimum = as_int(value), config.get_int("minimumRetentionDays")
    if not days:
        yield "retentionInDays is not set, so logs are kept forever with no review"
    elif days < minimum:
        yield f"retentionInDays is {days}; allowed: at least {minimum}"


def _kms(resource: Resource, _: Config) -> Iterator[str]:
    key = resource.props.get("kmsKeyId")
    if not is_unknown(key) and not as_str(key):
        yield "the log group is not encrypted with a customer-managed KMS key"


RULES: tuple[Rule, ...] = (
    Rule(
        name="log-group-retention",
        summary="Log groups set a retention of at least the configured minimum.",
        runbook="Audit: the sandbox's output is kept for review",
        remediation="set retentionInDays (fargate.logRetentionDays) to at least the minimum",
        severity=Severity.MEDIUM,
        scanners=("Checkov CKV_AWS_66", "Security Hub CloudWatch.16"),
        params=(integer("minimumRetentionDays", 30, "Shortest allowed retention, in days.", 1),),
        resource_types=(LOG_GROUP,),
        check=_retention,
        tags=("logs",),
    ),
    Rule(
        name="log-group-kms",
        summary="Log groups are encrypted with a KMS key.",
        runbook="Secrets: logs may carry what the agent saw",
        remediation="set kmsKeyId to a customer-managed key whose policy admits CloudWatch Logs",
        severity=Severity.LOW,
        level=ADVISORY,
        scanners=("Checkov CKV_AWS_158", "Trivy AVD-AWS-0017"),
        resource_types=(LOG_GROUP,),
        check=_kms,
        tags=("logs",),
    ),
)
