"""`codemem db …`: the skills database's schema, migrated by hand (serve, worker and chat also migrate at start)."""

from __future__ import annotations

import typer

from bot.settings import Settings

db_cli = typer.Typer(help="The skills database: its schema migrations.", no_args_is_help=True)


@db_cli.command("upgrade")
def upgrade() -> None:
    """Migrate the database CODEMEM_DATABASE_URL names (default: a SQLite file in CODEMEM_DATA_DIR) to the newest
    schema. Safe to run at any time, from several machines at once."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from bot import extras
    from skills_db.db import init_db, make_engine, schema_revision

    settings = Settings()
    url = settings.resolved_database_url
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        if settings.uses_postgres:
            extras.require("postgres", "CODEMEM_DATABASE_URL=postgresql…")
        else:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(url)
        try:
            before = schema_revision(engine)
            init_db(engine)
            after = schema_revision(engine)
        finally:
            engine.dispose()
    except extras.MissingExtra as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    except SQLAlchemyError as error:
        typer.echo(f"Cannot migrate {shown}: {type(error).__name__}: {str(error).splitlines()[0]}. "
                   "Check CODEMEM_DATABASE_URL and that the database server is running.", err=True)
        raise typer.Exit(2) from error
    if before == after:
        typer.echo(f"{shown} is already at the newest schema ({after}).")
    else:
        typer.echo(f"Migrated {shown} from {before or 'an empty database'} to {after}.")
