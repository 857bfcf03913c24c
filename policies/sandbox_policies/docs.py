"""The README's policy table, generated from the registry so the two cannot drift apart
(`make docs` writes it; tests/test_docs.py fails when they differ)."""

from __future__ import annotations

from .registry import RULES
from .rule import Rule


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _config(rule: Rule) -> str:
    if not rule.params:
        return "-"
    return ", ".join(f"`{param.name}`={param.default!r}" for param in rule.params)


def policy_table() -> str:
    """Markdown: name, level, what it checks, runbook item, scanner equivalents, config."""
    lines = [
        "| Policy | Level | What it checks | Runbook item | Scanner equivalent "
        "| Config (default) |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        scanners = ", ".join(rule.scanners) if rule.scanners else "-"
        lines.append(
            f"| `{rule.name}` | {rule.level.value} | {_cell(rule.summary)} | "
            f"{_cell(rule.runbook)} | {_cell(scanners)} | {_cell(_config(rule))} |"
        )
    return "\n".join(lines)
