"""The runbook's controls and, per sandbox, what enforces each one."""
