"""How a failed call is told to a person (one line, with a hint) or a script (JSON).

A person needs the one thing to do next: "no server at 127.0.0.1:50051: start one with
`prioscore serve`" instead of grpc's connection text; field violations follow, one per
line. A script passing --json reads stdout, so there the same facts are one JSON object
{"error": {"code", "message", "reason", "violations", "resource"}} on stdout, exit 1.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import click
import grpc

from prioscore.clients.errors import PrioscoreClientError

_HINTS = {
    grpc.StatusCode.UNAUTHENTICATED: "pass --token or set PRIOSCORE_TOKEN",
    grpc.StatusCode.PERMISSION_DENIED: "this token lacks the scope; ask for one that has it",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the server is slow or busy; raise --timeout",
}


def fail(lines: list[str]) -> NoReturn:
    """Prints lines to stderr and exits 1."""
    for line in lines:
        click.echo(line, err=True)
    raise click.exceptions.Exit(1)


def fail_json(error: dict[str, Any]) -> NoReturn:
    """--json: the error as {"error": {...}} on stdout (where the script reads), exit 1."""
    click.echo(json.dumps({"error": error}, ensure_ascii=False))
    raise click.exceptions.Exit(1)


def _headline(error: PrioscoreClientError, target: str) -> str:
    if error.code == grpc.StatusCode.UNAVAILABLE and "connect" in error.message.lower():
        return (
            f"no prioscore server answering at {target}: start one with `prioscore serve`"
            " (or `make serve`), or point --target / PRIOSCORE_TARGET at one"
        )
    headline = error.describe()[0]
    hint = _HINTS.get(error.code) if error.code is not None else None
    return f"{headline} ({hint})" if hint else headline


def report_client_error(error: PrioscoreClientError, target: str, as_json: bool) -> NoReturn:
    headline = _headline(error, target)
    if as_json:
        fail_json(
            {
                "code": error.code.name if error.code is not None else "CLIENT",
                "message": headline,
                "reason": error.reason,
                "violations": [
                    {"field": v.field, "description": v.description} for v in error.violations
                ],
                "resource": error.resource,
            }
        )
    lines = [f"error: {headline}", *(f"  {v}" for v in error.violations)]
    if error.resource and error.resource not in error.message:
        lines.append(f"  not found: {error.resource}")
    fail(lines)
