"""`prioscore serve`: run the server by exec'ing `python -m prioscore.server`.

The client package must never import the server (an architecture test checks it), so
`serve` replaces this process with the server's own entry point: signals (SIGTERM from
an orchestrator, Ctrl-C) then reach the server directly and its graceful drain runs,
with no wrapper process in between to forward them or to be left orphaned.
"""

from __future__ import annotations

import os
import sys

import click

from prioscore.clients.cli.common import settings


def exec_server(argv: list[str]) -> None:
    """Replaces the current process (separate function so tests can intercept it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=True,
)
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
def serve(server_args: tuple[str, ...]) -> None:
    """Run the prioscore server in this process (exec of python -m prioscore.server).

    Every argument is passed to the server unchanged; see them with
    `prioscore serve -- --help`. Common ones:

    \b
      --address HOST:PORT   listen address (default 127.0.0.1:50051; port 0 = any free)
      --db PATH             SQLite file (default ./data/prioscore.db)
      --profiles DIR        directory of *.toml profiles (default ./profiles)
      --tokens-file PATH    require bearer tokens
      --tls-cert/--tls-key  serve TLS

    When --target was given to prioscore and no --address is passed, the server
    listens on the target address.
    """
    args = list(server_args)
    if args[:1] == ["--"]:
        args = args[1:]
    given = settings()
    if given.target_given and not any(a == "--address" or a.startswith("--address=") for a in args):
        args = ["--address", given.target, *args]
    exec_server([sys.executable, "-m", "prioscore.server", *args])
