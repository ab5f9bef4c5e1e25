"""The `sajtmaskin` command line."""

from pathlib import Path

import click

from shared.config import Settings, load_settings
from shared.migrations import SUPABASE_DIR, MigrationError, local_migrations, migrate, reset

database_url_option = click.option(
    "--database-url",
    metavar="URL",
    help="Postgres URL of the database; defaults to $DATABASE_URL.",
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

    Outside Supabase, first applies the bootstrap in supabase/local/.
    """
    try:
        applied = migrate(_require_url(database_url, settings), supabase_dir)
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
