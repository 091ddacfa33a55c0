"""`prioscore erase ID`: remove an entity and everything stored about it."""

from __future__ import annotations

import click

from prioscore.clients.cli.common import client
from prioscore.clients.cli.output import emit, output_options


@click.command()
@click.argument("entity_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@output_options
def erase(entity_id: str, yes: bool, fmt: str) -> None:
    """Erase ENTITY_ID: its events, attributes, scores, history and tier changes.

    For data-subject deletion requests. Idempotent: erasing an unknown or already erased
    entity succeeds with zero counts. The server logs an audit line naming the caller.
    Asks for confirmation unless --yes is given.
    """
    if not yes:
        click.confirm(f"erase {entity_id} and everything stored about it?", abort=True, err=True)
    result = client().erase_entity(entity_id)
    record = {
        "entity_id": entity_id,
        "events_removed": result.events_removed,
        "scores_removed": result.scores_removed,
        "history_removed": result.history_removed,
    }
    emit([record], list(record), fmt)
