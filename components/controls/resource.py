"""Registers a sandbox's control matrix as a resource of its own.

The policy pack sees only what the program registers, so the matrix is registered (parented to
its sandbox) rather than only exported: `sandbox-control-coverage` then judges it like any
other resource, in `pulumi preview --policy-pack` and in the offline preview alike.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.controls.matrix import Matrix, matrix_json

COMPONENT_TYPE = "agent-sandbox:controls:ControlMatrix"


class ControlMatrix(pulumi.ComponentResource):
    controls: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self,
        name: str,
        *,
        sandbox: str,
        platform: str,
        matrix: pulumi.Input[Matrix],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        controls = pulumi.Output.from_input(matrix).apply(matrix_json)
        properties: dict[str, Any] = {
            "sandbox": sandbox,
            "platform": platform,
            "controls": controls,
        }
        super().__init__(COMPONENT_TYPE, name, properties, opts)
        self.controls = controls
        self.register_outputs(properties)
