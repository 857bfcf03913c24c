"""The offline preview: evaluate a stack's program under mocks, then judge it with the policy pack.

Nothing here calls the Pulumi CLI, AWS or Fly. The program, the components and the policy pack
are the real ones; only the engine is replaced, by the SDK's mock monitor and by a client that
speaks the Analyzer protocol to the pack exactly as the engine does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox_policies.ecs_schema import validate_register_task_definition
from tools.preview import artifacts
from tools.preview.mock_runtime import RecordedRun, run_program_file, to_json
from tools.preview.stack_file import (
    project_values,
    read_stack_file,
    to_engine_config,
    with_project_values,
)

ROOT = Path(__file__).resolve().parents[2]
MANDATORY = "mandatory"


class UnknownVariantError(ValueError):
    """--variant named no known insecure variant."""


@dataclass
class PreviewResult:
    stack: str
    run: RecordedRun
    violations: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)

    @property
    def mandatory_violations(self) -> list[Any]:
        return [violation for violation in self.violations if violation.level == MANDATORY]

    @property
    def exit_code(self) -> int:
        return 1 if self.mandatory_violations else 0


def policy_config_path(stack: str, root: Path = ROOT) -> Path:
    return root / "policies" / "config" / f"{stack}.json"


def evaluate(
    stack: str, *, root: Path = ROOT, variant: str | None = None
) -> tuple[RecordedRun, list[str]]:
    """Run the program for ``stack`` under mocks; returns the registrations and warnings."""
    config = read_stack_file(root / f"Pulumi.{stack}.yaml")
    chosen = _variant(variant)
    if chosen is not None and chosen.apply_to_config is not None:
        config = with_project_values(config, chosen.apply_to_config(project_values(config)))
    engine = to_engine_config(config)
    run = run_program_file(
        root / "__main__.py", engine.values, stack=stack, secret_keys=engine.secret_keys
    )
    if chosen is not None and chosen.apply_to_resources is not None:
        run.resources = list(chosen.apply_to_resources(run.resources))
    return run, engine.warnings


def _variant(name: str | None) -> Any:
    if name is None:
        return None
    from tools.preview.variants import VARIANTS  # noqa: PLC0415 - only --variant needs it

    if name not in VARIANTS:
        raise UnknownVariantError(f"unknown variant {name!r}; known: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[name]


def judge(run: RecordedRun, stack: str, root: Path = ROOT) -> list[Any]:
    """The policy pack's verdict on ``run``, with the stack's policy config if it has one."""
    from tools.policy_runner import run_policy_pack  # noqa: PLC0415 - not with --no-policy

    config_path = policy_config_path(stack, root)
    policy_config = json.loads(config_path.read_text()) if config_path.is_file() else None
    return list(
        run_policy_pack(
            run.resources, stack=stack, project=run.project, policy_config=policy_config
        )
    )


def preview_stack(
    stack: str,
    *,
    root: Path = ROOT,
    variant: str | None = None,
    policy: bool = True,
    out_dir: Path | None = None,
) -> PreviewResult:
    """Evaluate, judge and write ``build/<stack>/`` (or ``out_dir``)."""
    run, warnings = evaluate(stack, root=root, variant=variant)
    result = PreviewResult(stack=stack, run=run, warnings=warnings)
    if policy:
        result.violations = judge(run, stack, root)
    result.artifacts = write_artifacts(result, out_dir or root / "build" / stack)
    return result


def write_artifacts(result: PreviewResult, directory: Path) -> dict[str, Path]:

    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    document = json.loads(to_json(result.run))
    document["policy"] = {
        "violations": [
            {"policy": v.policy, "level": v.level, "urn": v.urn, "message": v.message}
            for v in result.violations
        ]
    }
    written["preview"] = _write(directory / "preview.json", json.dumps(document, indent=2) + "\n")
    for name, request in artifacts.task_definitions(result.run).items():
        problems = validate_register_task_definition(request)
        if problems:
            raise ValueError(
                f"the task definition of {name!r} fails the ECS API schema:\n" + "\n".join(problems)
            )
        written[f"task-definition-{name}"] = _write(
            directory / f"task-definition-{name}.json", json.dumps(request, indent=2) + "\n"
        )
    for name, text in artifacts.fly_configs(result.run).items():
        written[f"fly-{name}"] = _write(directory / f"fly-{name}.toml", text)
    written["egress"] = _write(directory / "egress.txt", artifacts.egress_table(result.run))
    written["resources"] = _write(directory / "resources.txt", artifacts.resource_table(result.run))
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
