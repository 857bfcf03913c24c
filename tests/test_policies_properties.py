"""Property-based: whatever a program registers, the pack answers and never crashes.

Random task definitions, security groups, IAM documents and Fly specs, with preview-time
unknowns mixed in, go through the pack's real servicer. A check that raised would surface
as the pack's fail-closed "could not evaluate" violation, so its absence is asserted too.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_policy import proxy

from sandbox_policies.pack import INTERNAL_ERROR
from tests.policy_fixtures import analyze, container, fly_spec, resource, task_inputs

UNKNOWNS = st.sampled_from(
    [
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_BOOLEAN_VALUE,
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["*", "ALL", "SYS_ADMIN", "host", "0.0.0.0/0", "::/0", "-1", "tcp", "0"]),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
PROPERTY = st.one_of(JSON, UNKNOWNS)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTAINER_KEYS = sorted(container())


def assert_no_crash(resources: list) -> None:
    violations = analyze(resources)
    crashed = [v for v in violations if INTERNAL_ERROR in v.message]
    assert crashed == [], crashed


@SETTINGS
@given(
    overrides=st.dictionaries(
        st.sampled_from([*CONTAINER_KEYS, "privileged", "user"]), JSON, max_size=5
    ),
    task=st.dictionaries(
        st.sampled_from(
            [
                "cpu",
                "memory",
                "networkMode",
                "pidMode",
                "ipcMode",
                "taskRoleArn",
                "executionRoleArn",
                "requiresCompatibilities",
            ]
        ),
        PROPERTY,
        max_size=4,
    ),
    raw=st.one_of(st.none(), st.text(max_size=40), UNKNOWNS),
)
def test_random_task_definitions_never_crash_the_pack(
    overrides: dict[str, Any], task: dict[str, Any], raw: str | None
) -> None:
    inputs = task_inputs([container(**overrides)], **task)
    if raw is not None:
        inputs["containerDefinitions"] = raw
    assert_no_crash([resource("aws:ecs/taskDefinition:TaskDefinition", "task", inputs)])


RULE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "protocol": PROPERTY,
        "ipProtocol": PROPERTY,
        "fromPort": PROPERTY,
        "toPort": PROPERTY,
        "cidrBlocks": PROPERTY,
        "ipv6CidrBlocks": PROPERTY,
        "cidrIpv4": PROPERTY,
        "cidrIpv6": PROPERTY,
        "description": PROPERTY,
        "type": st.sampled_from(["ingress", "egress", "x"]),
    },
)


@SETTINGS
@given(rules=st.lists(RULE_FIELDS, max_size=3), single=RULE_FIELDS, description=PROPERTY)
def test_random_security_groups_and_rules_never_crash_the_pack(
    rules: list[dict[str, Any]], single: dict[str, Any], description: Any
) -> None:
    assert_no_crash(
        [
            resource(
                "aws:ec2/securityGroup:SecurityGroup",
                "sg",
                {"description": description, "egress": rules, "ingress": rules},
            ),
            resource("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "e", single),
            resource("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "i", single),
            resource("aws:ec2/securityGroupRule:SecurityGroupRule", "r", single),
        ]
    )


STATEMENT = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny", 3])},
    optional={
        "Action": PROPERTY,
        "NotAction": JSON,
        "Resource": PROPERTY,
        "NotResource": JSON,
        "Principal": PROPERTY,
    },
)


@SETTINGS
@given(
    statements=st.one_of(st.lists(STATEMENT, max_size=3), STATEMENT, JSON),
    text=st.one_of(st.text(max_size=30), UNKNOWNS),
)
def test_random_iam_documents_never_crash_the_pack(statements: Any, text: str) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    assert_no_crash(
        [
            resource("aws:iam/rolePolicy:RolePolicy", "p", {"policy": document}),
            resource("aws:iam/policy:Policy", "q", {"policy": text}),
            resource(
                "aws:iam/role:Role",
                "r",
                {
                    "assumeRolePolicy": document,
                    "inlinePolicies": [{"name": "x", "policy": document}],
                    "managedPolicyArns": statements if isinstance(statements, list) else [],
                },
            ),
        ]
    )


@SETTINGS
@given(
    spec=st.dictionaries(st.sampled_from(sorted(fly_spec())), PROPERTY, max_size=5),
    toml=st.one_of(st.text(max_size=40), UNKNOWNS),
)
def test_random_fly_specs_never_crash_the_pack(spec: dict[str, Any], toml: str) -> None:
    fly = resource("agent-sandbox:fly:Sandbox", "fly", {"spec": fly_spec(**spec), "flyToml": toml})
    assert_no_crash([fly])
