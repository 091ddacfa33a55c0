"""The `prioscore` command (console script, or python -m prioscore.clients.cli).

Its face is `main`, the click group: the console script's target and what tests invoke.
The commands and their helpers (file readers, table output, the demo generator) live
here rather than in the library because only the command uses them.
"""

from prioscore.clients.cli.main import main

__all__ = ["main"]
