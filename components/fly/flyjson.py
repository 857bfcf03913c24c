"""Reads flyctl's --json output for the command scripts, so no script greps human-readable text.

Run as ``python3 flyjson.py <query> [arg]`` with the JSON on stdin (standard library only: it
runs under whatever python3 the operator has, outside the project's virtualenv). Exit status:
0 found/passing, 3 not found/not yet passing (the reason on stdout), 2 unreadable input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

FOUND, NOT_FOUND, UNREADABLE = 0, 3, 2


def app_org(apps: Any, app: str) -> str | None:
    """The org slug of ``app`` in ``flyctl apps list --json``, or None if it is not listed."""
    for entry in apps or []:
        if entry.get("Name") == app:
            organization = entry.get("Organization") or {}
            return str(organization.get("Slug", ""))
    return None


def volume(volumes: Any, name: str) -> tuple[str, int] | None:
    """(id, size in GB) of the first live volume called ``name`` in ``flyctl volumes list``."""
    for entry in volumes or []:
        if entry.get("name") == name and entry.get("state") not in ("destroyed", "destroying"):
            return str(entry["id"]), int(entry["size_gb"])
    return None


def machines(status: Any) -> list[dict[str, Any]]:
    return [
        machine
        for machine in (status or {}).get("Machines") or []
        if machine.get("state") not in ("destroyed", "destroying")
    ]


def health(status: Any) -> tuple[bool, str]:
    """Whether every machine of ``flyctl status --json`` is started with all checks passing."""
    live = machines(status)
    if not live:
        return False, "no machine is running"
    for machine in live:
        if machine.get("state") != "started":
            return False, f"machine {machine.get('id')} is {machine.get('state')}"
        checks = machine.get("checks") or []
        if not checks:
            return False, f"machine {machine.get('id')} reports no health check yet"
        for check in checks:
            if check.get("status") != "passing":
                output = str(check.get("output", "")).strip().splitlines()[:1]
                detail = f": {output[0]}" if output else ""
                return False, (
                    f"check {check.get('name')} on machine {machine.get('id')} is "
                    f"{check.get('status')}{detail}"
                )
    return True, "passing"


USAGE = "usage: flyjson.py app-org APP | volume NAME | health | machine-count"


def _app_org(document: Any, app: str) -> tuple[int, str]:
    org = app_org(document, app)
    return (NOT_FOUND, "") if org is None else (FOUND, org)


def _volume(document: Any, name: str) -> tuple[int, str]:
    found = volume(document, name)
    return (NOT_FOUND, "") if found is None else (FOUND, f"{found[0]} {found[1]}")


def _health(document: Any) -> tuple[int, str]:
    passing, reason = health(document)
    return (FOUND if passing else NOT_FOUND), reason


def _machine_count(document: Any) -> tuple[int, str]:
    return FOUND, str(len(machines(document)))


# No `match`: this file runs under the operator's python3, which may predate 3.10.
QUERIES: dict[str, Callable[..., tuple[int, str]]] = {
    "app-org": _app_org,
    "volume": _volume,
    "health": _health,
    "machine-count": _machine_count,
}
ARITY = {"app-org": 1, "volume": 1, "health": 0, "machine-count": 0}


def answer(query: list[str], document: Any) -> tuple[int, str]:
    """(exit status, line to print) for one query."""
    if not query or query[0] not in QUERIES or len(query) - 1 != ARITY[query[0]]:
        raise ValueError(USAGE)
    return QUERIES[query[0]](document, *query[1:])


def main(argv: list[str]) -> int:
    try:
        document = json.load(sys.stdin)
        status, line = answer(argv[1:], document)
    except json.JSONDecodeError as error:
        print(f"flyctl returned unreadable JSON: {error}", file=sys.stderr)
        return UNREADABLE
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"cannot answer {argv[1:]!r}: {error}", file=sys.stderr)
        return UNREADABLE
    if line:
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
