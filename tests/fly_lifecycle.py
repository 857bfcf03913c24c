"""What pulumi-command (1.2.x) runs for a change, for testing the Fly scripts without the engine.

From the provider's source (provider/pkg/provider/local): Create runs ``create``; Update runs
``update`` or, without one, ``create``; Delete runs the ``delete`` stored in state, with the
environment and stdin stored in state. Each run is ``/bin/sh -c <command>`` in the working
directory, with the process's environment plus ``environment``, ``stdin`` when non-empty, and,
unless ``addPreviousOutputInEnv`` is false, PULUMI_COMMAND_STDOUT/STDERR from the previous
create or update (for updates and deletes). ``triggers`` is replaceOnChanges: a change replaces
(create the new one, then delete the old one at the end, Pulumi's default order). Any other
input change is an update; no change runs nothing. A failing command fails the step with
"<exit status>: running <command>:\\n<output>" and leaves the resource's state as it was.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.config import FlySandbox as FlySandboxConfig
from components.fly.sandbox import FlySandbox, FlySandboxArgs
from tests.stack_configs import hardening_for
from tools.preview.mock_runtime import RecordedResource, RecordedRun, Secret, run_under_mocks

COMMAND_TYPE = "command:local:Command"
INPUT_KEYS = (
    "create",
    "update",
    "delete",
    "environment",
    "stdin",
    "triggers",
    "dir",
    "interpreter",
    "addPreviousOutputInEnv",
)


class CommandError(Exception):
    """A step failed the way the engine reports it."""


def _plain(value: Any) -> Any:
    if isinstance(value, Secret):
        return _plain(value.value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@dataclass
class CommandState:
    name: str
    inputs: dict[str, Any]
    stdout: str = ""
    stderr: str = ""

    def differs(self, inputs: dict[str, Any]) -> bool:
        return any(self.inputs.get(k) != inputs.get(k) for k in INPUT_KEYS if k != "triggers")


@dataclass
class Step:
    resource: str
    operation: str  # create, update, delete
    stdout: str = ""
    stderr: str = ""


@dataclass
class Lifecycle:
    """The Commands' state across ``up``s and a ``destroy``, like one stack's."""

    cwd: Path
    env: dict[str, str]
    state: dict[str, CommandState] = field(default_factory=dict)
    history: list[Step] = field(default_factory=list)

    def up(self, run: RecordedRun, overrides: dict[str, str] | None = None) -> list[Step]:
        """Apply the program's registrations; returns the steps that ran a command."""
        desired = {
            r.name: {k: _plain(r.secret_inputs[k]) for k in INPUT_KEYS if k in r.secret_inputs}
            for r in dependency_order(run.of_type(COMMAND_TYPE))
        }
        steps: list[Step] = []
        replaced: list[CommandState] = []
        for name, inputs in desired.items():
            old = self.state.get(name)
            if old is None:
                steps.append(self._run(name, "create", inputs, None, overrides))
            elif old.inputs.get("triggers") != inputs.get("triggers"):
                steps.append(self._run(name, "create", inputs, None, overrides))
                replaced.append(old)
            elif old.differs(inputs):
                steps.append(self._run(name, "update", inputs, old, overrides))
        gone = [self.state[name] for name in reversed(list(self.state)) if name not in desired]
        for old in [*reversed(replaced), *gone]:
            steps.append(self._delete(old, overrides, forget=old in gone))
        return steps

    def destroy(self, overrides: dict[str, str] | None = None) -> list[Step]:
        return [self._delete(old, overrides) for old in reversed(list(self.state.values()))]

    def _run(
        self,
        name: str,
        operation: str,
        inputs: dict[str, Any],
        old: CommandState | None,
        overrides: dict[str, str] | None,
    ) -> Step:
        command = inputs.get("update") if operation == "update" and inputs.get("update") else None
        command = command or inputs.get("create")
        previous = old if old is not None else None
        stdout, stderr = ("", "")
        if command:
            stdout, stderr = self._execute(command, inputs, previous, overrides)
        self.state[name] = CommandState(name, inputs, stdout, stderr)
        step = Step(name, operation, stdout, stderr)
        self.history.append(step)
        return step

    def _delete(
        self, old: CommandState, overrides: dict[str, str] | None, forget: bool = True
    ) -> Step:
        stdout = stderr = ""
        if old.inputs.get("delete"):
            stdout, stderr = self._execute(old.inputs["delete"], old.inputs, old, overrides)
        if forget and self.state.get(old.name) is old:
            del self.state[old.name]
        step = Step(old.name, "delete", stdout, stderr)
        self.history.append(step)
        return step

    def _execute(
        self,
        command: str,
        inputs: dict[str, Any],
        previous: CommandState | None,
        overrides: dict[str, str] | None,
    ) -> tuple[str, str]:
        env = {**self.env, **(inputs.get("environment") or {})}
        if previous is not None and inputs.get("addPreviousOutputInEnv", True):
            if previous.stdout:
                env["PULUMI_COMMAND_STDOUT"] = previous.stdout
            if previous.stderr:
                env["PULUMI_COMMAND_STDERR"] = previous.stderr
        env.update(overrides or {})
        stdin = inputs.get("stdin") or None
        interpreter = inputs.get("interpreter") or ["/bin/sh", "-c"]
        result = subprocess.run(
            [*interpreter, command],
            cwd=inputs.get("dir") or self.cwd,
            env=env,
            input=stdin,
            stdin=None if stdin else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise CommandError(
                f"exit status {result.returncode}: running {command!r}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout.removesuffix("\n"), result.stderr.removesuffix("\n")


def dependency_order(resources: list[RecordedResource]) -> list[RecordedResource]:
    """The engine's order: a resource's step runs only after its dependencies' steps.

    The SDK registers resources concurrently, so registration order alone says nothing.
    """
    by_urn = {r.urn: r for r in resources}
    ordered: list[RecordedResource] = []
    visiting: set[str] = set()

    def visit(resource: RecordedResource) -> None:
        if resource in ordered:
            return
        if resource.urn in visiting:
            raise ValueError(f"dependency cycle through {resource.name}")
        visiting.add(resource.urn)
        for urn in resource.dependencies:
            if urn in by_urn:
                visit(by_urn[urn])
        ordered.append(resource)

    for resource in sorted(resources, key=lambda r: r.name):
        visit(resource)
    return ordered


def base_environment(path_dirs: list[Path], state_dir: Path, **extra: str) -> dict[str, str]:
    """A minimal process environment: only the given PATH, the fake's state folder, extras."""
    return {
        "PATH": os.pathsep.join(str(d) for d in path_dirs),
        "HOME": str(state_dir),
        "LANG": "C.UTF-8",
        "FAKE_FLYCTL_STATE": str(state_dir / "fly"),
        **extra,
    }


def record(
    sandbox: FlySandboxConfig, secret_values: dict[str, str], token: str | None = None
) -> RecordedRun:
    """Run the component under the mock runtime, as `pulumi up` would register it."""
    config = {f"agent-sandbox:{ref.config_key}": secret_values[ref.name] for ref in sandbox.secrets}
    if token is not None:
        config["agent-sandbox:flyApiToken"] = token

    def program() -> None:
        stack = pulumi.Config("agent-sandbox")
        FlySandbox(
            sandbox.name,
            FlySandboxArgs(
                sandbox=sandbox,
                hardening=hardening_for(sandbox),
                secrets={
                    ref.name: stack.require_secret(str(ref.config_key)) for ref in sandbox.secrets
                },
                fly_api_token=stack.get_secret("flyApiToken"),
            ),
        )

    return run_under_mocks(program, config, secret_keys=list(config), preview=False)
