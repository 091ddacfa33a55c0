"""`prioscore`: the command-line client (console script, or python -m prioscore.clients.cli).

This module only declares the group and its connection options and attaches the
commands, which live one concern per module beside it (scores.py, events.py, ...).
A new command attaches the same way: `main.add_command(...)`.
"""

from __future__ import annotations

from pathlib import Path

import click

from prioscore.clients.channel import DEFAULT_TARGET
from prioscore.clients.cli.at_risk import at_risk
from prioscore.clients.cli.batch import batch
from prioscore.clients.cli.common import ReportingGroup, Settings
from prioscore.clients.cli.dashboard import dashboard
from prioscore.clients.cli.entities import entities, erase
from prioscore.clients.cli.evaluation import backtest, calibrate, compare
from prioscore.clients.cli.events import demo, ingest
from prioscore.clients.cli.profiles import profiles
from prioscore.clients.cli.scores import explain, history, rank, score
from prioscore.clients.cli.serve import init, serve
from prioscore.clients.cli.watch import watch

_PEM = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group(
    cls=ReportingGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--target",
    envvar="PRIOSCORE_TARGET",
    default=DEFAULT_TARGET,
    show_default=True,
    help="Server address host:port [env PRIOSCORE_TARGET].",
)
@click.option(
    "--token",
    envvar="PRIOSCORE_TOKEN",
    help="Bearer token, for servers started with --tokens-file [env PRIOSCORE_TOKEN].",
)
@click.option(
    "--timeout",
    envvar="PRIOSCORE_TIMEOUT",
    type=click.FloatRange(min=0.001),
    default=30.0,
    show_default=True,
    help="Deadline in seconds of each call; failed reads are retried on UNAVAILABLE.",
)
@click.option("--ca-cert", type=_PEM, help="TLS: CA bundle (PEM) of the server certificate.")
@click.option("--client-cert", type=_PEM, help="Mutual TLS: client certificate (PEM).")
@click.option("--client-key", type=_PEM, help="Mutual TLS: client private key (PEM).")
@click.version_option(package_name="prioscore")
@click.pass_context
def main(
    ctx: click.Context,
    target: str,
    token: str | None,
    timeout: float,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
) -> None:
    """Rank contacts, accounts, subscriptions and tickets by behaviour (prioscore).

    \b
    Quick start:
      prioscore serve --db ./data/demo.db &   # a server on 127.0.0.1:50051
      prioscore demo                          # synthetic events for every profile
      prioscore rank lead_qualification       # who to call first, and why
      prioscore at-risk                       # accounts likely to churn, with trends

    Output is a table fitted to the terminal width by default; most commands take --json
    or --csv for scripts. The options above may also follow the command
    (`prioscore rank x --timeout 2`). Exit status: 0 ok, 1 the server or an input file
    said no (one line on stderr; with --json an {"error": {...}} object on stdout),
    2 bad usage.
    """
    source = ctx.get_parameter_source("target")
    ctx.obj = Settings(
        target=target,
        token=token,
        timeout=timeout,
        ca_cert=ca_cert,
        client_cert=client_cert,
        client_key=client_key,
        target_given=source == click.core.ParameterSource.COMMANDLINE,
    )


for command in (serve, init, ingest, demo, score, rank, explain, history, watch, batch, at_risk):
    main.add_command(command)
main.add_command(profiles)
main.add_command(backtest)
main.add_command(calibrate)
main.add_command(compare)
main.add_command(erase)
main.add_command(entities)
main.add_command(dashboard)
