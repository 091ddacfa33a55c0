"""`prioscore serve` (exec of `python -m prioscore.server`) and `prioscore init DIR`.

The client package must never import the server (an architecture test checks it), so
`serve` replaces this process with the server's own entry point: signals (SIGTERM from
an orchestrator, Ctrl-C) then reach the server directly and its graceful drain runs,
with no wrapper process in between to forward them or to be left orphaned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from prioscore.clients.cli.common import fail, settings


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
      --profiles DIR        directory of *.toml profiles (default: the bundled ones;
                            `prioscore init DIR` copies them to edit)
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


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Copy the bundled profiles into DIRECTORY to edit them; serve with --profiles DIRECTORY.

    Never overwrites: if any of the files is already there, nothing is copied. Runs the
    server package's own copier (python -m prioscore.server.profiles.bundled), so it
    needs the server installed (pip install 'prioscore[server]').
    """
    command = [sys.executable, "-m", "prioscore.server.profiles.bundled", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        fail([f"error: {(done.stderr.strip() or 'prioscore init failed').splitlines()[-1]}"])
    click.echo(done.stdout, nl=False)
