"""Runs the policy pack the way the Pulumi engine does, and collects its verdict.

The pack is started as its own process with the command the CLI uses for a Python policy
pack (``python -m pulumi.policy <engine> <pack dir>``, from the pack's folder); it prints
the port of its Analyzer gRPC server. This client then makes the engine's calls in the
engine's order: GetAnalyzerInfo, Configure (every policy, with levels and schema defaults
filled in from the policy config file, as the CLI does), ConfigureStack, Analyze for each
resource with its inputs, and AnalyzeStack over them all with parents and dependencies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from tools.preview.mock_runtime import RecordedResource, Secret

ROOT = Path(__file__).resolve().parent.parent
PACK_DIR = ROOT / "policies"
STARTUP_TIMEOUT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 60.0
SECRET_SIG_KEY = rpc._special_sig_key
SECRET_SIG = rpc._special_secret_sig
LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}


class PolicyPackError(RuntimeError):
    """The pack could not be started, or refused its config (the message says why)."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    urn: str
    message: str


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    level: str
    description: str
    config_schema: Mapping[str, Any]


# --------------------------------------------------------------------------- requests


def _plain_json(value: Any) -> Any:
    """Secret(...) becomes the engine's secret wrapper; anything else JSON-compatible."""
    if isinstance(value, Secret):
        return {SECRET_SIG_KEY: SECRET_SIG, "value": _plain_json(value.value)}
    if isinstance(value, Mapping):
        return {str(key): _plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def to_struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_plain_json(properties))
    return struct


def _inputs(resource: RecordedResource) -> Mapping[str, Any]:
    # The engine sends real values (secrets marked); the recording keeps them in secret_inputs.
    return resource.secret_inputs if resource.secret_inputs is not None else resource.inputs


def analyze_request(resource: RecordedResource) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        properties=to_struct(_inputs(resource)),
        urn=resource.urn,
        name=resource.name,
        options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent),
    )


def stack_request(resources: Sequence[RecordedResource]) -> analyzer_pb2.AnalyzeStackRequest:
    return analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                type=resource.type,
                properties=to_struct(_inputs(resource)),
                urn=resource.urn,
                name=resource.name,
                options=analyzer_pb2.AnalyzerResourceOptions(),
                parent=resource.parent,
                dependencies=list(resource.dependencies),
            )
            for resource in resources
        ]
    )


def _level_of(value: Any, where: str) -> str:
    if value not in LEVEL_VALUES:
        raise PolicyPackError(
            f"policy config {where}: enforcementLevel {value!r} is not allowed; allowed: "
            + ", ".join(sorted(LEVEL_VALUES))
        )
    return str(value)


def configure_request(
    policies: Sequence[PolicyInfo], policy_config: Mapping[str, Any] | None
) -> analyzer_pb2.ConfigureAnalyzerRequest:
    """What the CLI sends for --policy-pack-config: every policy, level and defaults filled in.

    The file maps a policy name (or "all") to a level string, or to an object of config
    properties with an optional enforcementLevel.
    """
    given = dict(policy_config or {})
    all_level = given.get("all")
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    names = {policy.name for policy in policies}
    for name in sorted(set(given) - names - {"all"}):
        # Unknown names are passed through so the pack itself names them in its refusal.
        entry = (
            given[name] if isinstance(given[name], Mapping) else {"enforcementLevel": given[name]}
        )
        level = _level_of(entry.get("enforcementLevel", "mandatory"), name)
        request.policyConfig[name].CopyFrom(
            analyzer_pb2.PolicyConfig(
                enforcementLevel=LEVEL_VALUES[level], properties=to_struct({})
            )
        )
    for policy in policies:
        entry = given.get(policy.name, {})
        if isinstance(entry, str):
            entry = {"enforcementLevel": entry}
        if not isinstance(entry, Mapping):
            raise PolicyPackError(f"policy config {policy.name}: expected a level or an object")
        level = entry.get(
            "enforcementLevel", all_level if isinstance(all_level, str) else policy.level
        )
        properties = {
            key: schema["default"]
            for key, schema in policy.config_schema.get("properties", {}).items()
            if "default" in schema
        }
        properties.update({key: value for key, value in entry.items() if key != "enforcementLevel"})
        request.policyConfig[policy.name].CopyFrom(
            analyzer_pb2.PolicyConfig(
                enforcementLevel=LEVEL_VALUES[_level_of(level, policy.name)],
                properties=to_struct(properties),
            )
        )
    return request


def to_violation(diagnostic: Any, default_urn: str) -> Violation:
    """A diagnostic as a Violation; the engine attributes Analyze's to the analyzed resource."""
    prefix = f"{diagnostic.description}\n"
    message = diagnostic.message
    if message.startswith(prefix):
        message = message[len(prefix) :]
    return Violation(
        policy=diagnostic.policyName,
        level=LEVELS.get(diagnostic.enforcementLevel, "advisory"),
        urn=diagnostic.urn or default_urn,
        message=message,
    )


# --------------------------------------------------------------------------- the process


class _Engine(engine_pb2_grpc.EngineServicer):
    """Stands in for the engine's own gRPC server, which the pack may send log messages to."""

    def __init__(self) -> None:
        self.logs: list[str] = []

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:  # noqa: N802 - gRPC name
        self.logs.append(request.message)
        return empty_pb2.Empty()


@contextmanager
def _fake_engine() -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    engine_pb2_grpc.add_EngineServicer_to_server(_Engine(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(0)


class PolicyPack:
    """A running pack process and an Analyzer client connected to it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def info(self) -> tuple[Any, list[PolicyInfo]]:
        reply = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_SECONDS)
        return reply, policy_infos(reply)

    def plugin_version(self) -> str:
        return str(self.stub.GetPluginInfo(empty_pb2.Empty(), timeout=CALL_TIMEOUT_SECONDS).version)

    def configure(self, request: analyzer_pb2.ConfigureAnalyzerRequest) -> None:
        try:
            self.stub.Configure(request, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise PolicyPackError(str(error.details())) from None
            raise

    def configure_stack(self, *, stack: str, project: str) -> None:
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack, project=project, organization="organization", dry_run=True
            ),
            timeout=CALL_TIMEOUT_SECONDS,
        )

    def analyze(self, resources: Sequence[RecordedResource]) -> list[Violation]:
        violations: list[Violation] = []
        for resource in resources:
            reply = self.stub.Analyze(analyze_request(resource), timeout=CALL_TIMEOUT_SECONDS)
            violations += [to_violation(item, resource.urn) for item in reply.diagnostics]
        reply = self.stub.AnalyzeStack(stack_request(resources), timeout=CALL_TIMEOUT_SECONDS)
        violations += [to_violation(item, "") for item in reply.diagnostics]
        return violations


def policy_infos(reply: Any) -> list[PolicyInfo]:
    """The policies a GetAnalyzerInfo reply declares, with their levels and config schemas."""
    return [
        PolicyInfo(
            name=policy.name,
            level=LEVELS[policy.enforcementLevel],
            description=policy.description,
            config_schema={
                "properties": dict(json_format.MessageToDict(policy.configSchema.properties)),
                "required": list(policy.configSchema.required),
            },
        )
        for policy in reply.policies
    ]


def _read_port(process: subprocess.Popen[bytes]) -> int:
    assert process.stdout is not None
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(STARTUP_TIMEOUT_SECONDS)
    text = line[0].decode().strip() if line else ""
    if not text.isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=10)
        raise PolicyPackError(
            "the policy pack did not start; it printed "
            f"{text!r} and on stderr:\n{stderr.decode(errors='replace')[-4000:]}"
        )
    return int(text)


@contextmanager
def policy_pack(*, stack: str, project: str, pack_dir: Path = PACK_DIR) -> Iterator[PolicyPack]:
    """Start the pack as the CLI does; always stops it, even when a call fails."""
    with _fake_engine() as engine_address:
        env = {
            **os.environ,
            "PULUMI_PROJECT": project,
            "PULUMI_STACK": stack,
            "PULUMI_DRY_RUN": "true",
            "PULUMI_CONFIG": "{}",
            "PYTHONUNBUFFERED": "1",
        }
        process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", engine_address, str(pack_dir)],
            cwd=pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            pack = PolicyPack(process, _read_port(process))
            try:
                yield pack
            finally:
                pack.channel.close()
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def run_policy_pack(
    resources: Sequence[RecordedResource],
    *,
    stack: str,
    project: str,
    policy_config: Mapping[str, Any] | None = None,
) -> list[Violation]:
    """The pack's violations for ``resources``, as ``pulumi preview --policy-pack`` finds them.

    Raises PolicyPackError when the pack cannot start or refuses the policy config (for
    example a waiver without a written reason).
    """
    with policy_pack(stack=stack, project=project) as pack:
        _, policies = pack.info()
        pack.configure(configure_request(policies, policy_config))
        pack.configure_stack(stack=stack, project=project)
        return pack.analyze(resources)


def load_policy_config(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise PolicyPackError(f"{path}: a policy config file holds a JSON object")
    return data
