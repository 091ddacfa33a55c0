"""The `prioscore` command (console script, or python -m prioscore.clients.cli)."""

from prioscore.clients.cli.main import main

__all__ = ["main"]
