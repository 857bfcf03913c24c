"""`make preview`: what `pulumi preview --policy-pack policies` would show, with no CLI or cloud.

Exit codes: 0 clean (advisory findings allowed), 1 a mandatory policy violation, 2 bad config.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import pulumi

from components.config import ConfigError
from tools.preview import artifacts
from tools.preview.pipeline import ROOT, PreviewResult, UnknownVariantError, preview_stack
from tools.preview.stack_file import StackFileError


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__)
    parser.add_argument("--stack", default="staging", help="stack name (default: staging)")
    parser.add_argument(
        "--variant", help="an insecure variant of the stack, to see the pack block it"
    )
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument("--out", type=Path, help="output folder (default: build/<stack>)")
    return parser.parse_args(argv)


def _print_report(result: PreviewResult) -> None:
    print(f"Preview of stack {result.stack!r}: {len(result.run.resources)} resources\n")
    print(artifacts.resource_table(result.run))
    for warning in result.warnings:
        print(f"warning: {warning}")
    by_resource: dict[str, list[str]] = defaultdict(list)
    for violation in result.violations:
        by_resource[violation.urn or "(stack)"].append(
            f"  [{violation.level}] {violation.policy}: {violation.message}"
        )
    if by_resource:
        print("\nPolicy violations:")
        for urn in sorted(by_resource):
            print(urn)
            print("\n".join(by_resource[urn]))
    mandatory = len(result.mandatory_violations)
    print(
        f"\nPolicies: {mandatory} mandatory, {len(result.violations) - mandatory} other violations"
    )
    for name, path in sorted(result.artifacts.items()):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({name})")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    try:
        result = preview_stack(
            args.stack, variant=args.variant, policy=not args.no_policy, out_dir=args.out
        )
    except (ConfigError, StackFileError, UnknownVariantError, pulumi.RunError) as error:
        print(f"error: invalid configuration for stack {args.stack!r}:\n{error}", file=sys.stderr)
        return 2
    _print_report(result)
    if result.exit_code:
        print(
            "error: the policy pack blocks this stack (mandatory violations above)", file=sys.stderr
        )
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
