"""Runs a Pulumi program under the SDK's mock runtime and records what it registers.

This is what `make preview` and the tests share: the real program and components, the real
pulumi-aws and pulumi-command SDKs, and a mock monitor in place of the engine. It records each
registration exactly as the engine would receive it (camelCase inputs, parent URNs, secrets
still marked), so the policy pack can later be fed the same data the CLI would feed it.
"""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT = "agent-sandbox"
MOCK_ACCOUNT_ID = "123456789012"
SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - the redaction marker, not a secret
_SECRET_SIG = rpc._special_sig_key
_SECRET_VALUE = rpc._special_secret_sig


@dataclass(frozen=True)
class RecordedResource:
    """One registration, as the engine would have received it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: Mapping[str, Any]
    """Inputs with secret values replaced by ``[secret]``; safe to print or write."""
    secret_inputs: Mapping[str, Any] = field(repr=False)
    """Inputs with secret values kept but wrapped as ``Secret(value)``; for tests that need them."""
    dependencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Secret:
    """A secret input value, kept apart so it is never printed by accident."""

    value: Any = field(repr=False)


@dataclass
class RecordedRun:
    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    """Stack outputs, with secret outputs replaced by ``[secret]``."""

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.type == type_]

    def named(self, name: str) -> RecordedResource:
        matches = [resource for resource in self.resources if resource.name == name]
        if len(matches) != 1:
            raise KeyError(f"expected one resource named {name!r}, found {len(matches)}")
        return matches[0]

    def children_of(self, urn: str) -> list[RecordedResource]:
        return [resource for resource in self.resources if resource.parent == urn]


def _normalize(value: Any, keep_secrets: bool) -> Any:
    """Protobuf structs carry every number as a float; give integral ones back as int."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            inner = _normalize(value.get("value"), keep_secrets)
            return Secret(inner) if keep_secrets else SECRET_PLACEHOLDER
        return {key: _normalize(item, keep_secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalize(item, keep_secrets) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _mock_outputs(type_: str, name: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Plausible provider outputs, so downstream Outputs resolve the way they would in AWS."""
    service = type_.split(":")[1].split("/", maxsplit=1)[0] if type_.count(":") >= 2 else "mock"
    kind = type_.rsplit(":", maxsplit=1)[-1].lower()
    physical_name = inputs.get("name") or f"{name}-0000000"
    if service == "iam":
        arn = f"arn:aws:iam::{MOCK_ACCOUNT_ID}:{kind}/{physical_name}"
    elif type_ == "aws:cloudwatch/logGroup:LogGroup":
        arn = f"arn:aws:logs:{region}:{MOCK_ACCOUNT_ID}:log-group:{physical_name}"
    else:
        arn = f"arn:aws:{service}:{region}:{MOCK_ACCOUNT_ID}:{kind}/{physical_name}"
    outputs: dict[str, Any] = {"arn": arn, "name": physical_name}
    if type_ == "aws:ec2/vpc:Vpc":
        outputs["defaultSecurityGroupId"] = "sg-0default0000000000"
    if type_ == "aws:ec2/vpcEndpoint:VpcEndpoint":
        outputs["prefixListId"] = "pl-0mock00000000000"
    if type_ == "aws:ecs/taskDefinition:TaskDefinition":
        outputs["arnWithoutRevision"] = arn
        outputs["revision"] = 1
    if type_.startswith("command:local:Command"):
        outputs["stdout"] = ""
        outputs["stderr"] = ""
    return {**inputs, **outputs}


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = _normalize(args.inputs, keep_secrets=False)
        resource_id = f"{args.name}-id"
        return resource_id, _mock_outputs(args.typ, args.name, inputs, self.region)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        answers = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": MOCK_ACCOUNT_ID,
                "arn": f"arn:aws:iam::{MOCK_ACCOUNT_ID}:user/offline-preview",
                "id": MOCK_ACCOUNT_ID,
            },
            "aws:index/getRegion:getRegion": {
                "name": self.region,
                "region": self.region,
                "id": self.region,
            },
            "aws:index/getPartition:getPartition": {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
            },
        }
        if args.token not in answers:
            raise NotImplementedError(f"the offline preview has no mock for {args.token!r}")
        return answers[args.token], []  # no check failures


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, plus a record of every registration and engine-accurate URNs."""

    def __init__(
        self, recording_mocks: _RecordingMocks, recorded: list[RecordedResource] | None = None
    ) -> None:
        super().__init__(recording_mocks)
        self.recorded: list[RecordedResource] = [] if recorded is None else recorded
        self._qualified_types: dict[str, str] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine prefixes a child's type with its parent's qualified type, except under
        # the root stack; the SDK's mock keeps only the last parent type.
        parent_type = self._qualified_types.get(parent, "")
        qualified = f"{parent_type}${type_}" if parent_type else type_
        urn = f"urn:pulumi:{settings.get_stack()}::{settings.get_project()}::{qualified}::{name}"
        if type_ != "pulumi:pulumi:Stack":
            self._qualified_types[urn] = qualified
        return urn

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=_normalize(raw, keep_secrets=False),
                    secret_inputs=_normalize(raw, keep_secrets=True),
                    dependencies=tuple(request.dependencies),
                )
            )
        return response


@contextmanager
def _config(values: Mapping[str, str], secret_keys: list[str]) -> Iterator[None]:
    saved_env = os.environ.pop("PULUMI_CONFIG", None)
    pulumi.runtime.set_all_config(dict(values), secret_keys)
    try:
        yield
    finally:
        pulumi.runtime.set_all_config({}, [])
        if saved_env is not None:
            os.environ["PULUMI_CONFIG"] = saved_env


def run_under_mocks(
    program: Callable[[], None],
    config: Mapping[str, str],
    *,
    stack: str = "test",
    secret_keys: list[str] | None = None,
    preview: bool = True,
    recorded: list[RecordedResource] | None = None,
) -> RecordedRun:
    """Run ``program`` under mocks with the given ``project:key`` -> string config.

    Exceptions from the program (a ConfigError, say) propagate unchanged; pass ``recorded`` to
    see what was registered before one was raised.
    """
    region = config.get("aws:region", "us-west-2")
    monitor = _RecordingMonitor(_RecordingMocks(region), recorded)
    with _config(config, secret_keys or []):
        settings.ROOT.set(None)
        mocks.set_mocks(
            monitor.mocks,
            project=PROJECT,
            stack=stack,
            preview=preview,
            monitor=monitor,
        )
        _sync_await(run_pulumi_func(program))
        outputs = _resolve_outputs()
        settings.ROOT.set(None)
    return RecordedRun(PROJECT, stack, tree_order(monitor.recorded), outputs)


def tree_order(resources: list[RecordedResource]) -> list[RecordedResource]:
    """Parents before children, siblings by type and name: registration order is a race."""
    by_parent: dict[str, list[RecordedResource]] = {}
    urns = {resource.urn for resource in resources}
    for resource in resources:
        parent = resource.parent if resource.parent in urns else ""
        by_parent.setdefault(parent, []).append(resource)
    ordered: list[RecordedResource] = []

    def visit(parent: str) -> None:
        for child in sorted(by_parent.get(parent, []), key=lambda item: (item.type, item.name)):
            ordered.append(child)
            visit(child.urn)

    visit("")
    return ordered


def _resolve_outputs() -> dict[str, Any]:
    root = settings.get_root_resource()
    exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
    resolved: dict[str, Any] = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        is_secret = _sync_await(output.is_secret())
        plain = _sync_await(output.future())
        resolved[key] = SECRET_PLACEHOLDER if is_secret else _normalize(plain, False)
    return resolved


def run_program_file(
    program_path: Path,
    config: Mapping[str, str],
    *,
    stack: str,
    secret_keys: list[str] | None = None,
    recorded: list[RecordedResource] | None = None,
) -> RecordedRun:
    """Run a Pulumi program file (``__main__.py``) the way the language host does."""
    directory = str(program_path.parent.resolve())
    cwd = os.getcwd()
    os.chdir(directory)

    def program() -> None:
        runpy.run_path(str(program_path.resolve()), run_name="__main__")

    try:
        return run_under_mocks(
            program,
            config,
            stack=stack,
            secret_keys=secret_keys,
            recorded=recorded,
        )
    finally:
        os.chdir(cwd)


def to_json(run: RecordedRun) -> str:
    """The preview.json document (without the policy verdict, which the caller adds)."""
    document = {
        "project": run.project,
        "stack": run.stack,
        "resources": [
            {
                "urn": resource.urn,
                "type": resource.type,
                "name": resource.name,
                "parent": resource.parent,
                "inputs": resource.inputs,
            }
            for resource in run.resources
        ],
    }
    return json.dumps(document, indent=2, sort_keys=False, default=str)
