"""python -m prioscore.clients.cli: the same command as the `prioscore` console script."""

from prioscore.clients.cli.main import main

main()
