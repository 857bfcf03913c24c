"""The stack's estimated monthly cost, checked against the configured budget.

The model counts what dominates a sandbox stack's bill and is knowable before deploying:
Fargate task hours, NAT gateway and public IPv4 hours, interface endpoint hours per AZ, and
Fly Machines and volumes. Data transfer and log ingestion depend on the agent's behaviour
and are left out, which is why the default budget keeps headroom.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pulumi_policy import Severity

from .ecs_service import SERVICE
from .ecs_task import TASK_DEFINITION
from .graph import FLY_SANDBOX, StackGraph
from .rule import Config, Resource, Rule, StackFinding, number
from .values import as_dict, as_int, as_list

HOURS_PER_MONTH = 730
# On-demand list prices, USD. AWS: us-west-2, Linux/x86 Fargate, from aws.amazon.com/fargate/
# pricing and aws.amazon.com/vpc/pricing; Fly: fly.io/docs/about/pricing. Table dated 2025-01.
PRICES_AS_OF = "2025-01"
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
NAT_GATEWAY_HOUR = 0.045
PUBLIC_IPV4_HOUR = 0.005
INTERFACE_ENDPOINT_AZ_HOUR = 0.01
# Fly bills a Machine as CPU plus RAM: shared-cpu-1x with 256 MB is $1.94/month, and each
# further GB of RAM is $5/month, so a shared vCPU alone is 1.94 - 0.25 * 5 = $0.69/month.
FLY_SHARED_CPU_MONTH = 0.69
FLY_PERFORMANCE_CPU_MONTH = 21.00
FLY_RAM_GB_MONTH = 5.00
FLY_VOLUME_GB_MONTH = 0.15
FLY_DEDICATED_IPV4_MONTH = 2.00

NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
STACK_BUDGET = "agent-sandbox:stack:Budget"
EIP = "aws:ec2/eip:Eip"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"


@dataclass(frozen=True)
class CostItem:
    urn: str
    what: str
    usd: float


def _fargate(graph: StackGraph) -> Iterator[CostItem]:
    for service in graph.of_type(SERVICE):
        desired = as_int(service.props.get("desiredCount"))
        count = 1 if desired is None else max(desired, 0)
        for task in graph.dependencies(service, TASK_DEFINITION):
            cpu, memory = as_int(task.props.get("cpu")), as_int(task.props.get("memory"))
            if cpu is None or memory is None:
                continue
            hourly = cpu / 1024 * FARGATE_VCPU_HOUR + memory / 1024 * FARGATE_GB_HOUR
            yield CostItem(
                service.urn,
                f"Fargate {service.name} ({count} x {cpu} cpu / {memory} MiB)",
                hourly * count * HOURS_PER_MONTH,
            )


def _network(graph: StackGraph) -> Iterator[CostItem]:
    for nat in graph.of_type(NAT_GATEWAY):
        yield CostItem(nat.urn, f"NAT gateway {nat.name}", NAT_GATEWAY_HOUR * HOURS_PER_MONTH)
    for address in graph.of_type(EIP):
        yield CostItem(
            address.urn, f"public IPv4 {address.name}", PUBLIC_IPV4_HOUR * HOURS_PER_MONTH
        )
    for endpoint in graph.of_type(VPC_ENDPOINT):
        if endpoint.props.get("vpcEndpointType") != "Interface":
            continue
        zones = max(len(as_list(endpoint.props.get("subnetIds"))), 1)
        yield CostItem(
            endpoint.urn,
            f"interface endpoint {endpoint.name} ({zones} AZ)",
            INTERFACE_ENDPOINT_AZ_HOUR * zones * HOURS_PER_MONTH,
        )


def _fly(graph: StackGraph) -> Iterator[CostItem]:
    for sandbox in graph.of_type(FLY_SANDBOX):
        spec = as_dict(sandbox.props.get("spec"))
        vm, volume = as_dict(spec.get("vm")), as_dict(spec.get("volume"))
        cpus, memory = as_int(vm.get("cpus")) or 1, as_int(vm.get("memoryMb")) or 256
        cpu_price = (
            FLY_PERFORMANCE_CPU_MONTH
            if vm.get("cpuKind") == "performance"
            else FLY_SHARED_CPU_MONTH
        )
        usd = cpus * cpu_price + memory / 1024 * FLY_RAM_GB_MONTH
        usd += (as_int(volume.get("sizeGb")) or 0) * FLY_VOLUME_GB_MONTH
        if spec.get("publicIps") is True:
            usd += FLY_DEDICATED_IPV4_MONTH
        yield CostItem(sandbox.urn, f"Fly {sandbox.name} ({cpus} cpu / {memory} MB)", usd)


def estimate(resources: Sequence[Resource]) -> list[CostItem]:
    """Every priced item of the stack; their sum is the monthly estimate."""
    graph = StackGraph(resources)
    return [*_fargate(graph), *_network(graph), *_fly(graph)]


def budget(resources: Sequence[Resource], config: Config) -> float:
    """The lower of the pack's ceiling and the budget the stack registers for itself."""
    ceiling = config.get_float("monthlyBudgetUsd")
    declared = [
        float(value)
        for resource in resources
        if resource.type == STACK_BUDGET
        and isinstance(value := resource.props.get("monthlyBudgetUsd"), int | float)
        and not isinstance(value, bool)
        and value > 0
    ]
    return min([ceiling, *declared])


def _within_budget(resources: Sequence[Resource], config: Config) -> Iterator[StackFinding]:
    items = estimate(resources)
    total, budget_usd = sum(item.usd for item in items), budget(resources, config)
    if total > budget_usd:
        largest = sorted(items, key=lambda item: -item.usd)[:5]
        breakdown = "; ".join(f"{item.what} ${item.usd:.2f}" for item in largest)
        yield (
            None,
            (
                f"estimated monthly cost ${total:.2f} exceeds the budget ${budget_usd:.2f} "
                f"(prices as of {PRICES_AS_OF}; largest: {breakdown})"
            ),
        )


RULES: tuple[Rule, ...] = (
    Rule(
        name="stack-monthly-cost",
        summary=(
            "The stack's estimated monthly cost is within its budget: the lower of the stack "
            "config's monthlyBudgetUsd and this policy's."
        ),
        runbook="Resources: 1 vCPU; 256 MB on Fly",
        remediation=(
            "shrink the sandboxes or shared network, or raise monthlyBudgetUsd for this stack"
        ),
        severity=Severity.MEDIUM,
        params=(number("monthlyBudgetUsd", 150, "Ceiling on any stack's monthly budget, in USD."),),
        stack_check=_within_budget,
        tags=("stack", "cost"),
    ),
)
