"""The stack as a graph: parents and dependencies between the resources AnalyzeStack sees.

During a real preview most ids and ARNs are unknown, so resources are linked by URN (the
parent and dependency edges the engine records), never by id.
"""

from __future__ import annotations

from collections.abc import Sequence

from .rule import Resource

FARGATE_SANDBOX = "agent-sandbox:fargate:FargateSandbox"
FLY_SANDBOX = "agent-sandbox:fly:Sandbox"


class StackGraph:
    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = list(resources)
        self.by_urn = {resource.urn: resource for resource in self.resources}

    def of_type(self, *types: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type in types]

    def ancestors(self, resource: Resource) -> list[str]:
        chain: list[str] = []
        parent = resource.parent
        while parent and parent not in chain:
            chain.append(parent)
            parent_resource = self.by_urn.get(parent)
            parent = parent_resource.parent if parent_resource else None
        return chain

    def descendants(self, root: Resource, *types: str) -> list[Resource]:
        return [
            resource
            for resource in self.resources
            if root.urn in self.ancestors(resource) and (not types or resource.type in types)
        ]

    def dependencies(self, resource: Resource, *types: str) -> list[Resource]:
        found = [self.by_urn[urn] for urn in resource.dependencies if urn in self.by_urn]
        return [item for item in found if not types or item.type in types]

    def dependents(self, resource: Resource, *types: str) -> list[Resource]:
        return [
            item
            for item in self.resources
            if resource.urn in item.dependencies and (not types or item.type in types)
        ]
