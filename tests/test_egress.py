"""The allowlist becomes exactly the listed security-group rules, and never allow-all."""

from __future__ import annotations

import ipaddress
import re

import pulumi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.aws.egress import (
    ANY_IPV4,
    ENFORCED_BY_SG,
    ENFORCED_BY_SG_AND_DNS,
    EgressRuleSpec,
    PlatformEgress,
    create_sandbox_security_group,
    egress_rule_specs,
)
from components.config import EC2_DESCRIPTION_PATTERN, EgressRule
from tests.stack_configs import staging_config
from tools.preview.mock_runtime import RecordedRun, run_under_mocks

EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$")
SG_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
TAGS = {"project": "agent-sandbox", "environment": "test"}


def _rule(**fields: object) -> EgressRule:
    return EgressRule.model_validate({"protocol": "tcp", "description": "test entry", **fields})


# --------------------------------------------------------------------------- staging


def test_staging_allowlist_is_dns_to_the_resolver_and_https_for_the_three_hosts() -> None:
    specs = egress_rule_specs(staging_config().egress)

    assert specs == [
        EgressRuleSpec(
            key="udp-53-169-254-169-253-32",
            ip_protocol="udp",
            from_port=53,
            to_port=53,
            cidr_ipv4="169.254.169.253/32",
            cidr_ipv6=None,
            description="DNS to the Route 53 Resolver of the VPC",
            destination="169.254.169.253/32",
            enforced_by=ENFORCED_BY_SG,
        ),
        EgressRuleSpec(
            key="tcp-443-hosts",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=ANY_IPV4,
            cidr_ipv6=None,
            description=(
                "HTTPS 443 to api.render.com, sentry.io, github.com "
                "(names enforced by the DNS firewall)"
            ),
            destination="api.render.com, sentry.io, github.com",
            enforced_by=ENFORCED_BY_SG_AND_DNS,
        ),
    ]


# --------------------------------------------------------------------------- properties

_ports = st.lists(
    st.integers(min_value=1, max_value=65535).filter(lambda port: port not in (53, 853)),
    min_size=1,
    max_size=4,
    unique=True,
)
_descriptions = st.from_regex(EC2_DESCRIPTION_PATTERN, fullmatch=True)


@st.composite
def _cidrs(draw: st.DrawFn) -> str:
    address = draw(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
    prefix = draw(st.integers(min_value=1, max_value=address.max_prefixlen))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


_hosts = st.from_regex(r"\A(\*\.)?[a-z][a-z0-9]{0,10}\.(com|io|dev)\Z")
_cidr_entries = st.builds(
    lambda cidr, ports, protocol, description: _rule(
        cidr=cidr, ports=ports, protocol=protocol, description=description
    ),
    _cidrs(),
    st.lists(st.integers(min_value=1, max_value=65535), min_size=1, max_size=4, unique=True),
    st.sampled_from(("tcp", "udp")),
    _descriptions,
)
_host_entries = st.builds(
    lambda host, ports, description: _rule(host=host, ports=ports, description=description),
    _hosts,
    _ports,
    _descriptions,
)
_allowlists = st.lists(st.one_of(_cidr_entries, _host_entries), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_allowlists)
def test_no_rule_ever_allows_all_protocols_or_all_ports(egress: list[EgressRule]) -> None:
    specs = egress_rule_specs(egress)

    for spec in specs:
        assert spec.ip_protocol in ("tcp", "udp")
        assert spec.from_port == spec.to_port
        assert spec.from_port in range(1, 65536)
        assert (spec.cidr_ipv4 is None) != (spec.cidr_ipv6 is None)
        assert spec.cidr_ipv6 != "::/0"
        if spec.cidr_ipv4 == ANY_IPV4:
            assert spec.ip_protocol == "tcp"
            assert spec.enforced_by == ENFORCED_BY_SG_AND_DNS
            assert spec.from_port not in (53, 853)
        assert EC2_DESCRIPTION.match(spec.description), spec.description
    assert len({spec.key for spec in specs}) == len(specs)


@settings(max_examples=150, deadline=None)
@given(_allowlists)
def test_rules_are_exactly_the_listed_ports_and_networks(egress: list[EgressRule]) -> None:
    specs = egress_rule_specs(egress)

    expected = {
        (rule.protocol, port, str(rule.cidr)) for rule in egress if rule.cidr for port in rule.ports
    } | {("tcp", port, ANY_IPV4) for rule in egress if rule.host for port in rule.ports}
    actual = {
        (spec.ip_protocol, spec.from_port, spec.cidr_ipv4 or spec.cidr_ipv6) for spec in specs
    }
    assert actual == expected
    assert len(specs) == len(expected)  # identical entries are merged, never repeated


def test_ipv6_networks_go_to_cidr_ipv6_with_their_own_key() -> None:
    specs = egress_rule_specs(
        [
            _rule(cidr="2001:db8::/32", ports=[443]),
            _rule(cidr="10.0.0.0/8", ports=[443]),
        ]
    )

    v6, v4 = specs
    assert (v6.cidr_ipv4, v6.cidr_ipv6, v6.key) == (
        None,
        "2001:db8::/32",
        "tcp-443-v6-2001-db8---32",
    )
    assert (v4.cidr_ipv4, v4.cidr_ipv6, v4.key) == ("10.0.0.0/8", None, "tcp-443-10-0-0-0-8")


def test_a_multi_port_entry_becomes_one_rule_per_port() -> None:
    specs = egress_rule_specs([_rule(cidr="192.0.2.0/24", ports=[443, 8443])])

    assert [(spec.from_port, spec.to_port) for spec in specs] == [(443, 443), (8443, 8443)]


def test_duplicate_entries_merge_and_keep_both_descriptions() -> None:
    specs = egress_rule_specs(
        [
            _rule(cidr="192.0.2.0/24", ports=[443], description="first"),
            _rule(cidr="192.0.2.0/24", ports=[443], description="second"),
            _rule(cidr="192.0.2.0/24", ports=[443], description="first"),
        ]
    )

    assert len(specs) == 1
    assert specs[0].description == "first; second"


def test_hosts_on_different_ports_get_separate_port_wide_rules() -> None:
    specs = egress_rule_specs(
        [
            _rule(host="api.example.com", ports=[443, 8443]),
            _rule(host="git.example.com", ports=[443]),
        ]
    )

    by_key = {spec.key: spec for spec in specs}
    assert set(by_key) == {"tcp-443-hosts", "tcp-8443-hosts"}
    assert by_key["tcp-443-hosts"].destination == "api.example.com, git.example.com"
    assert by_key["tcp-8443-hosts"].description.startswith("TCP 8443 to api.example.com")


def test_a_long_host_list_keeps_the_description_within_aws_limits() -> None:
    hosts = [f"service{index:02d}.example.com" for index in range(30)]
    specs = egress_rule_specs([_rule(host=host, ports=[443]) for host in hosts])

    (spec,) = specs
    assert len(spec.description) <= 255
    assert re.search(r"and \d+ more \(names enforced by the DNS firewall\)$", spec.description)
    assert spec.destination == ", ".join(hosts)


# --------------------------------------------------------------------------- table


def _security_group_run(platform_egress: PlatformEgress | None) -> RecordedRun:
    specs = egress_rule_specs(staging_config().egress)

    def program() -> None:
        parent = pulumi.ComponentResource("agent-sandbox:test:Parent", "ops-agent")
        create_sandbox_security_group("ops-agent", "vpc-0abc", specs, platform_egress, TAGS, parent)

    return run_under_mocks(program, {"aws:region": "us-west-2"})


def test_security_group_has_exactly_the_allowlist_rules_and_no_ingress() -> None:
    run = _security_group_run(None)
    parent = run.named("ops-agent")
    group = run.named("ops-agent-sg")

    assert group.parent == parent.urn
    assert group.inputs["vpcId"] == "vpc-0abc"
    assert "ingress" not in group.inputs and "egress" not in group.inputs
    assert EC2_DESCRIPTION.match(group.inputs["description"])
    assert not [r for r in run.resources if "ingress" in r.type.lower()]
    rules = {rule.name: rule for rule in run.of_type(SG_RULE)}
    assert set(rules) == {
        "ops-agent-egress-udp-53-169-254-169-253-32",
        "ops-agent-egress-tcp-443-hosts",
    }
    dns = rules["ops-agent-egress-udp-53-169-254-169-253-32"].inputs
    assert {key: dns[key] for key in ("ipProtocol", "fromPort", "toPort", "cidrIpv4")} == {
        "ipProtocol": "udp",
        "fromPort": 53,
        "toPort": 53,
        "cidrIpv4": "169.254.169.253/32",
    }
    https = rules["ops-agent-egress-tcp-443-hosts"].inputs
    assert (https["ipProtocol"], https["fromPort"], https["toPort"]) == ("tcp", 443, 443)
    for rule in rules.values():
        assert rule.parent == parent.urn
        assert rule.inputs["securityGroupId"] == "ops-agent-sg-id"
        assert rule.inputs["description"]
        assert rule.inputs["tags"] == TAGS
    assert len(run.resources) == 4  # parent, group, two rules: nothing else


def test_platform_egress_adds_https_to_each_endpoint_group_and_the_s3_prefix_list() -> None:
    platform = PlatformEgress(
        endpoint_security_group_ids={"ecr-api": "sg-0api", "logs": "sg-0logs"},
        s3_prefix_list_id="pl-0s3",
    )
    run = _security_group_run(platform)
    rules = {rule.name: rule.inputs for rule in run.of_type(SG_RULE)}

    platform_rules = {name: inputs for name, inputs in rules.items() if "hosts" not in name}
    platform_rules.pop("ops-agent-egress-udp-53-169-254-169-253-32")
    assert {
        name: (
            inputs.get("referencedSecurityGroupId") or inputs.get("prefixListId"),
            inputs["ipProtocol"],
            inputs["fromPort"],
            inputs["toPort"],
        )
        for name, inputs in platform_rules.items()
    } == {
        "ops-agent-egress-endpoint-ecr-api": ("sg-0api", "tcp", 443, 443),
        "ops-agent-egress-endpoint-logs": ("sg-0logs", "tcp", 443, 443),
        "ops-agent-egress-s3-gateway": ("pl-0s3", "tcp", 443, 443),
    }
    for inputs in platform_rules.values():
        assert "cidrIpv4" not in inputs and "cidrIpv6" not in inputs
        # Rules naming a group or prefix list reject "&" as well.
        assert EC2_DESCRIPTION.match(inputs["description"]) and "&" not in inputs["description"]
