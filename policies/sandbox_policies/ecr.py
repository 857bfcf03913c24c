"""ECR repository policies, for stacks that declare their own image repository."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from .rule import Config, Resource, Rule
from .values import as_dict, is_unknown

REPOSITORY = "aws:ecr/repository:Repository"


def _scan_on_push(resource: Resource, _: Config) -> Iterator[str]:
    scanning = resource.props.get("imageScanningConfiguration")
    if is_unknown(scanning) or is_unknown(as_dict(scanning).get("scanOnPush")):
        return
    if as_dict(scanning).get("scanOnPush") is not True:
        yield "imageScanningConfiguration.scanOnPush is not true"


def _immutable_tags(resource: Resource, _: Config) -> Iterator[str]:
    mutability = resource.props.get("imageTagMutability")
    if not is_unknown(mutability) and mutability != "IMMUTABLE":
        yield f"imageTagMutability is {mutability!r}; it must be 'IMMUTABLE'"


RULES: tuple[Rule, ...] = (
    Rule(
        name="ecr-scan-on-push",
        summary="ECR repositories scan images on push.",
        runbook="Supply chain: images are scanned before they run",
        remediation="set imageScanningConfiguration.scanOnPush: true",
        severity=Severity.MEDIUM,
        scanners=("Checkov CKV_AWS_163", "Security Hub ECR.1", "Trivy AVD-AWS-0030"),
        resource_types=(REPOSITORY,),
        check=_scan_on_push,
        tags=("ecr",),
    ),
    Rule(
        name="ecr-immutable-tags",
        summary="ECR repositories make tags immutable.",
        runbook="Supply chain: a tag cannot be moved to another image",
        remediation="set imageTagMutability: IMMUTABLE",
        severity=Severity.MEDIUM,
        scanners=("Checkov CKV_AWS_51", "Security Hub ECR.2", "Trivy AVD-AWS-0031"),
        resource_types=(REPOSITORY,),
        check=_immutable_tags,
        tags=("ecr",),
    ),
)
