"""Offline tooling: the mock-runtime preview and the Analyzer client for the policy pack.

The policy pack's modules live in policies/ (the folder the Pulumi CLI runs the pack from); the
tools import the same modules, so one copy of each check serves the pack and the preview.
"""

import sys
from pathlib import Path

_POLICIES = str(Path(__file__).resolve().parent.parent / "policies")
if _POLICIES not in sys.path:
    sys.path.append(_POLICIES)
