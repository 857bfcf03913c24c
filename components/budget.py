"""Registers the stack's monthly budget, so the policy pack judges cost against it.

The pack sees only registrations; this makes `monthlyBudgetUsd` from the stack config one of
them. `stack-monthly-cost` compares the estimate with the lower of this and its own ceiling.
"""

from __future__ import annotations

import pulumi

COMPONENT_TYPE = "agent-sandbox:stack:Budget"


class StackBudget(pulumi.ComponentResource):
    def __init__(
        self, name: str, monthly_budget_usd: float, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        properties = {"monthlyBudgetUsd": monthly_budget_usd}
        super().__init__(COMPONENT_TYPE, name, properties, opts)
        self.register_outputs(properties)
