"""IAM policies: least privilege for the roles a sandbox runs with.

Policy documents arrive as JSON text on several resource types (Policy, RolePolicy, the
Role's inline policies); each is parsed the same way. A document that does not parse is a
violation of ``iam-no-wildcard-actions``, since nothing about it can be vouched for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import Severity

from .rule import Config, Resource, Rule, string_list
from .values import UNKNOWN, JsonError, as_dict, as_list, as_str, is_unknown, json_property, strings

ROLE = "aws:iam/role:Role"
DOCUMENT_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ECS_TASKS = "ecs-tasks.amazonaws.com"
READ_ONLY_VERBS = (
    "Get",
    "List",
    "Describe",
    "BatchGet",
    "Head",
    "Lookup",
    "Search",
    "Query",
    "Scan",
    "View",
)


def documents(resource: Resource) -> Iterator[tuple[str, Any]]:
    """(label, parsed document or UNKNOWN or a JsonError) for each permission document."""
    sources: list[tuple[str, Any]] = []
    if resource.type in DOCUMENT_TYPES:
        sources.append(("policy", resource.props.get("policy")))
    elif resource.type == ROLE:
        for index, inline in enumerate(as_list(resource.props.get("inlinePolicies"))):
            name = as_str(as_dict(inline).get("name")) or str(index)
            sources.append((f"inline policy {name!r}", as_dict(inline).get("policy")))
    for label, text in sources:
        try:
            yield label, json_property(text, expect=dict)
        except JsonError as error:
            yield label, error


def allow_statements(document: Any) -> list[dict[str, Any]]:
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in as_list(statements) if isinstance(s, dict) and s.get("Effect") == "Allow"]


def _wildcard_actions(resource: Resource, _: Config) -> Iterator[str]:
    for label, document in documents(resource):
        if isinstance(document, JsonError):
            yield f"{label} is not a valid policy document: {document}"
            continue
        if document is UNKNOWN:
            continue
        for index, statement in enumerate(allow_statements(document)):
            if "NotAction" in statement:
                yield f"{label} statement {index} allows NotAction, which grants every other action"
            for action in strings(statement.get("Action")):
                if action == "*" or action.endswith(":*"):
                    yield f"{label} statement {index} allows the wildcard action {action!r}"


def _is_write(action: str) -> bool:
    _, _, verb = action.partition(":")
    return not verb.startswith(READ_ONLY_VERBS) if verb else True


def _wildcard_resources(resource: Resource, config: Config) -> Iterator[str]:
    exempt = set(config.get_strs("allowedWildcardResourceActions"))
    for label, document in documents(resource):
        if isinstance(document, JsonError) or document is UNKNOWN:
            continue
        for index, statement in enumerate(allow_statements(document)):
            everything = "*" in strings(statement.get("Resource")) or "NotResource" in statement
            if not everything:
                continue
            writes = sorted(
                action
                for action in strings(statement.get("Action")) or ["*"]
                if _is_write(action) and action not in exempt
            )
            if writes:
                yield f"{label} statement {index} allows write actions {writes} on every resource"


def _admin_attachments(resource: Resource, config: Config) -> Iterator[str]:
    forbidden = set(config.get_strs("forbiddenManagedPolicies"))
    arns: list[Any] = []
    if resource.type in ATTACHMENT_TYPES:
        arns.append(resource.props.get("policyArn"))
    elif resource.type == ROLE:
        arns.extend(as_list(resource.props.get("managedPolicyArns")))
    for arn in arns:
        if isinstance(arn, str) and arn.rsplit("/", 1)[-1] in forbidden:
            yield f"attaches the managed policy {arn.rsplit('/', 1)[-1]}"


def _principals(statement: dict[str, Any]) -> list[tuple[str, str]]:
    principal = statement.get("Principal")
    if principal == "*":
        return [("*", "*")]
    return [
        (kind, value) for kind, values in as_dict(principal).items() for value in strings(values)
    ]


def _task_role_trust(resource: Resource, _: Config) -> Iterator[str]:
    text = resource.props.get("assumeRolePolicy")
    try:
        document = json_property(text, expect=dict)
    except JsonError as error:
        yield f"assumeRolePolicy is not a valid policy document: {error}"
        return
    if is_unknown(document):
        return
    statements = allow_statements(document)
    principals = [principal for statement in statements for principal in _principals(statement)]
    if ("Service", ECS_TASKS) not in principals:
        return
    others = sorted(
        {f"{kind}:{value}" for kind, value in principals if (kind, value) != ("Service", ECS_TASKS)}
    )
    if others:
        yield f"the trust policy of this ECS task role also admits {others}"
    if any("NotPrincipal" in statement for statement in statements):
        yield "the trust policy uses NotPrincipal, which admits every other principal"


RULES: tuple[Rule, ...] = (
    Rule(
        name="iam-no-wildcard-actions",
        summary=(
            "No IAM policy allows the '*' action, a service-wide 'service:*' action, or NotAction."
        ),
        runbook="Least privilege: the agent's roles grant named actions only",
        remediation="list the exact actions the role needs",
        severity=Severity.CRITICAL,
        scanners=(
            "Checkov CKV_AWS_63",
            "Checkov CKV_AWS_62",
            "Security Hub IAM.1",
            "Trivy AVD-AWS-0057",
        ),
        resource_types=(*DOCUMENT_TYPES, ROLE),
        check=_wildcard_actions,
        tags=("iam",),
    ),
    Rule(
        name="iam-no-wildcard-resources-on-write",
        summary="No IAM policy allows a write action on Resource '*'.",
        runbook="Least privilege: writes are scoped to the sandbox's own resources",
        remediation="scope Resource to the ARNs the action writes to",
        severity=Severity.HIGH,
        scanners=("Checkov CKV_AWS_355", "Checkov CKV_AWS_290"),
        params=(
            string_list(
                "allowedWildcardResourceActions",
                (),
                "Write actions AWS only supports on Resource '*', allowed with a wildcard.",
            ),
        ),
        resource_types=(*DOCUMENT_TYPES, ROLE),
        check=_wildcard_resources,
        tags=("iam",),
    ),
    Rule(
        name="iam-no-admin-attachments",
        summary="No role, user or group gets AdministratorAccess or IAMFullAccess attached.",
        runbook="Least privilege: no administrative policies",
        remediation="attach a policy scoped to what the role needs",
        severity=Severity.CRITICAL,
        scanners=("Checkov CKV_AWS_274",),
        params=(
            string_list(
                "forbiddenManagedPolicies",
                ("AdministratorAccess", "IAMFullAccess"),
                "Managed policy names that may not be attached.",
            ),
        ),
        resource_types=(*ATTACHMENT_TYPES, ROLE),
        check=_admin_attachments,
        tags=("iam",),
    ),
    Rule(
        name="iam-task-role-trust",
        summary="A role that ECS tasks assume trusts only ecs-tasks.amazonaws.com.",
        runbook="Least privilege: only the sandbox's tasks can assume its roles",
        remediation="make ecs-tasks.amazonaws.com the only principal in assumeRolePolicy",
        severity=Severity.HIGH,
        scanners=("Checkov CKV_AWS_60", "Checkov CKV_AWS_61"),
        resource_types=(ROLE,),
        check=_task_role_trust,
        tags=("iam",),
    ),
)
