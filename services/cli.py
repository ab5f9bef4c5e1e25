"""The `sajtmaskin` command line: migrate the schema, serve one service, or run them all locally."""

import asyncio
import signal
import socket
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import get_args

import click
import uvicorn
from litestar import Litestar

from services import SERVICE_NAMES, app_factory_path
from services.gateway import create_gateway
from services.up import LayoutError, nginx_binary, open_layout
from shared.config import DataPlaneName, Settings, load_settings
from shared.errors import Problem
from shared.local_stack import DEV_HOST, DevStack, LocalStackError, open_dev_stack
from shared.migrations import (
    SUPABASE_DIR,
    MigrationError,
    create_missing_database,
    local_migrations,
    migrate,
    reset,
)

# Seconds `dev` lets open requests finish after Ctrl-C before it stops the servers under them.
DEV_GRACEFUL_SHUTDOWN_S = 5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

database_url_option = click.option(
    "--database-url",
    metavar="URL",
    help="Postgres URL of the database; defaults to $DATABASE_URL.",
)
data_plane_option = click.option(
    "--data-plane",
    type=click.Choice(get_args(DataPlaneName)),
    help="How services reach the database; defaults to $DATA_PLANE, else postgres.",
)
supabase_dir_option = click.option(
    "--supabase-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=SUPABASE_DIR,
    show_default="the repository's supabase/",
    help="Directory holding migrations/, local/ and seed.sql.",
)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Sajtmaskin backend."""
    ctx.obj = load_settings()


@main.group()
def db() -> None:
    """The database schema in supabase/."""


@db.command("migrate")
@database_url_option
@supabase_dir_option
@click.pass_obj
def migrate_command(settings: Settings, database_url: str | None, supabase_dir: Path) -> None:
    """Apply pending migrations.

    Creates the database first if it is missing on this machine. Outside Supabase, first applies
    the bootstrap in supabase/local/.
    """
    url = _require_url(database_url, settings)
    try:
        created = create_missing_database(url)
        if created is not None:
            click.echo(f"created database {created}")
        applied = migrate(url, supabase_dir)
    except MigrationError as error:
        raise click.ClickException(str(error)) from error
    _report_applied(applied, supabase_dir)


@db.command("reset")
@database_url_option
@supabase_dir_option
@click.pass_obj
def reset_command(settings: Settings, database_url: str | None, supabase_dir: Path) -> None:
    """Drop and recreate a local database, migrate it and load seed.sql."""
    try:
        outcome = reset(_require_url(database_url, settings), supabase_dir)
    except MigrationError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"recreated database {outcome.database}")
    _report_applied(outcome.applied, supabase_dir)
    if outcome.seeded:
        click.echo("loaded seed.sql")


@main.group()
def billing() -> None:
    """The diamond ledger."""


@billing.command("audit")
@click.pass_obj
def billing_audit_command(settings: Settings) -> None:
    """Check every user's ledger: diamonds equal the sum of the ledger rows, and each row's
    balance_after the running sum. Lists every user where it fails and exits 1; exits 0 when the
    ledger is clean.

    Runs as the service role: on DATABASE_URL (postgres plane), or through the Data API with
    SUPABASE_SERVICE_ROLE_KEY (postgrest plane).
    """
    # Imported here, as services are everywhere else, so `serve <service>` loads only that one.
    from services.billing.audit import described, ledger_discrepancies

    try:
        discrepancies = asyncio.run(ledger_discrepancies(settings))
    except (ValueError, Problem) as error:
        raise click.ClickException(str(error)) from error
    if not discrepancies:
        click.echo("the ledger is clean: every balance is the sum of its ledger rows")
        return
    for discrepancy in discrepancies:
        click.echo(described(discrepancy))
    raise click.exceptions.Exit(1)


@main.group()
def media() -> None:
    """Uploaded media and its object storage."""


@media.command("reap")
@click.option(
    "--fix",
    is_flag=True,
    help="Delete orphan objects and remove rows whose object is gone (default: report only).",
)
@click.pass_obj
def media_reap_command(settings: Settings, fix: bool) -> None:
    """Compare object storage with media's rows: objects no library item, site image or queued
    deletion names (uploads of the last hour are left alone), and rows whose object is gone.
    Prints one line per finding and a summary; exits 1 when it found some and --fix was not given.

    Runs as the service role, on Supabase Storage when SUPABASE_URL (or SUPABASE_STORAGE_URL) is
    set, else on MEDIA_DIR: on DATABASE_URL (postgres plane), or through the Data API with
    SUPABASE_SERVICE_ROLE_KEY (postgrest plane).
    """
    # Imported here, as services are everywhere else, so `serve <service>` loads only that one.
    from services.media.reaper import reap

    try:
        report = asyncio.run(reap(settings, fix=fix))
    except (ValueError, Problem) as error:
        raise click.ClickException(str(error)) from error
    for line in report.lines():
        click.echo(line)
    if not report.clean and not fix:
        raise click.exceptions.Exit(1)


@main.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Count what is due; delete nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=10_000),
    default=500,
    show_default=True,
    help="Rows deleted per transaction.",
)
@click.pass_obj
def cleanup_command(settings: Settings, dry_run: bool, batch_size: int) -> None:
    """Remove guest sites idle for 7 days, sites never saved after 24 hours, expired template
    cache entries and prompt handoffs consumed over 30 days ago; prints how many of each.

    Deletes in batches, skipping rows another run is deleting, so overlapping runs are safe:
    schedule it with cron or Supabase's pg_cron. Runs as the service role: on DATABASE_URL
    (postgres plane), or through the Data API with SUPABASE_SERVICE_ROLE_KEY (postgrest plane).
    """
    # Imported here, as services are everywhere else, so `serve <service>` loads only that one.
    from services.projects.cleanup import clean_up

    try:
        cleaned = asyncio.run(clean_up(settings, dry_run=dry_run, batch_size=batch_size))
    except (ValueError, Problem) as error:
        raise click.ClickException(str(error)) from error
    for kind in cleaned:
        click.echo(kind.described(dry_run))


@main.command("serve")
@click.argument("service", type=click.Choice(SERVICE_NAMES))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to listen on.")
@click.pass_obj
def serve_command(settings: Settings, service: str, host: str, port: int) -> None:
    """Run one service (settings from the environment) in WEB_CONCURRENCY processes."""
    uvicorn.run(
        app_factory_path(service),
        factory=True,
        host=host,
        port=port,
        workers=settings.web_concurrency,
        # Named, not "auto": auto quietly follows whatever happens to be installed. uvloop also
        # sets TCP_NODELAY on sockets accepted by several workers, which asyncio's loop does not.
        loop="uvloop",
        http="httptools",
        # One rule for who is a proxy: uvicorn takes the client and scheme (X-Forwarded-Proto)
        # from exactly the TRUSTED_PROXIES the app believes, and from nobody without them.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
        lifespan="on",
        # Our JSON logging (set up by the app) replaces uvicorn's, and our access line its own.
        log_config=None,
        access_log=False,
    )


@main.command("dev")
@data_plane_option
@click.option("--port", type=int, default=8000, show_default=True, help="The gateway's port.")
@click.pass_obj
def dev_command(settings: Settings, data_plane: DataPlaneName | None, port: int) -> None:
    """Run every service on one port, with whatever the environment does not provide.

    Without DATABASE_URL an embedded Postgres, without REDIS_URL an embedded Valkey (both keep
    their data in $SAJTMASKIN_STATE_DIR), with --data-plane postgrest also PostgREST 12; the
    schema is migrated first. Without V0_API_KEY or VERCEL_TOKEN, stand-ins of v0 and Vercel
    answer in their place. Ctrl-C stops everything it started.
    """
    _require_free_port(port)
    # SIGTERM and a closed terminal (SIGHUP) unwind like Ctrl-C, so the servers get stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    try:
        with ExitStack() as running:
            stack = running.enter_context(
                open_dev_stack(
                    settings, data_plane=data_plane or settings.data_plane, gateway_port=port
                )
            )
            # Registered last, so it runs first on the way out: a second Ctrl-C cannot cut the
            # stopping of the servers short.
            running.callback(_ignore_stop_signals)
            gateway_url = f"http://{DEV_HOST}:{port}"
            _report_stack(
                stack, port, [("gateway", f"{gateway_url}  (API docs: {gateway_url}/schema)")]
            )
            _serve_gateway(lambda: create_gateway(stack.settings), port)
    except KeyboardInterrupt:
        click.echo("stopped")
    except (LocalStackError, MigrationError) as error:
        raise click.ClickException(str(error)) from error


@main.command("up")
@data_plane_option
@click.option("--port", type=int, default=8080, show_default=True, help="The gateway's port.")
@click.pass_obj
def up_command(settings: Settings, data_plane: DataPlaneName | None, port: int) -> None:
    """Run the production layout on this machine: each service its own process, nginx in front.

    The database, Redis and stand-ins are those of `sajtmaskin dev` (embedded or started unless
    configured; the schema migrated). Each service runs as `sajtmaskin serve <service>` on a
    port of its own, trusting X-Forwarded-For from 127.0.0.1; nginx serves
    deploy/gateway/sajtmaskin.conf.template on --port. Needs nginx. Ctrl-C stops everything it
    started.
    """
    _require_free_port(port)
    # SIGTERM and a closed terminal (SIGHUP) unwind like Ctrl-C, so the processes get stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    try:
        # Before anything is started that would only be stopped again.
        nginx = nginx_binary()
        with ExitStack() as running:
            stack = running.enter_context(
                open_dev_stack(
                    settings, data_plane=data_plane or settings.data_plane, gateway_port=port
                )
            )
            layout = running.enter_context(
                open_layout(stack.settings, gateway_port=port, nginx=nginx)
            )
            # Registered last, so it runs first on the way out: a second Ctrl-C cannot cut the
            # stopping of the processes short.
            running.callback(_ignore_stop_signals)
            _report_stack(stack, port, layout.lines())
            layout.wait()
    except KeyboardInterrupt:
        click.echo("stopped")
    except (LocalStackError, MigrationError, LayoutError) as error:
        raise click.ClickException(str(error)) from error


def _report_stack(stack: DevStack, port: int, served: list[tuple[str, str]]) -> None:
    """Where each part runs (the stack's, then `served`: what serves the API), then what a
    newcomer needs to call the API at once."""
    lines = [*stack.endpoints.items(), *served]
    gateway_url = f"http://{DEV_HOST}:{port}"
    if stack.settings.public_base_url != gateway_url:
        lines.append(("public url", f"{stack.settings.public_base_url}  (PUBLIC_BASE_URL)"))
    lines += [("demo login", f"{login.email} / {login.password}") for login in stack.demo_logins]
    lines += [(f"{role} key", key) for role, key in stack.local_keys.items()]
    width = max(len(label) for label, _ in lines)
    for label, text in lines:
        click.echo(f"{label:<{width}}  {text}")


def _serve_gateway(factory: Callable[[], Litestar], port: int) -> None:
    config = uvicorn.Config(
        factory,
        factory=True,
        host=DEV_HOST,
        port=port,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=DEV_GRACEFUL_SHUTDOWN_S,
    )
    # Uvicorn shuts down on SIGINT/SIGTERM, then raises the signal again: KeyboardInterrupt here.
    uvicorn.Server(config).run()


def _require_free_port(port: int) -> None:
    """Refuse a taken port before starting servers that would only be stopped again."""
    with socket.socket() as probe:
        if probe.connect_ex((DEV_HOST, port)) == 0:
            raise click.UsageError(f"port {port} is in use; pass another with --port")


def _ignore_stop_signals() -> None:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _require_url(database_url: str | None, settings: Settings) -> str:
    url = database_url or settings.database_url
    if not url:
        raise click.UsageError("no database: pass --database-url or set DATABASE_URL")
    return url


def _report_applied(versions: list[str], supabase_dir: Path) -> None:
    if not versions:
        click.echo("database is up to date")
        return
    file_stems = {
        migration.version: migration.path.stem for migration in local_migrations(supabase_dir)
    }
    for version in versions:
        click.echo(f"applied {file_stems[version]}")
