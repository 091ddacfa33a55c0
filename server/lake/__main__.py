"""`python -m prioscore.server.lake`: the same command as `prioscore-lake`."""

from prioscore.server.lake.cli import main

main()
