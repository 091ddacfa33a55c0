"""`prioscore dashboard`: serve the read-only web dashboard for this server."""

from __future__ import annotations

import click

from prioscore.clients.cli.common import settings


@click.command()
@click.option(
    "--address",
    default="127.0.0.1:8765",
    show_default=True,
    help="Where the dashboard listens, host:port (keep it on loopback unless proxied).",
)
@click.option(
    "--page-size", default=25, show_default=True, type=click.IntRange(1, 200), help="Rows per page."
)
def dashboard(address: str, page_size: int) -> None:
    """Serve the dashboard: ranked lists with names and reasons, entity pages with
    history charts, the at-risk view, a live feed of tier changes, shadow comparisons.

    It reads the server given by --target with the --token given (or PRIOSCORE_TOKEN),
    and shows only a message when the server needs a token it does not have. Needs the
    dashboard extra: pip install 'prioscore[dashboard]'.
    """
    try:
        from prioscore.clients.dashboard import DashboardSettings, serve
    except ImportError as error:  # the extra is not installed
        raise click.ClickException(
            f"the dashboard needs its extra ({error.name} is missing):"
            " pip install 'prioscore[dashboard]'"
        ) from None
    options = settings()
    dashboard_settings = DashboardSettings(
        options.target, token=options.token, timeout=options.timeout, page_size=page_size
    )
    try:
        serve(dashboard_settings, address)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--address") from None
    click.echo(f"dashboard on http://{address} stopped", err=True)
