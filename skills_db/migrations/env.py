"""Alembic environment: migrates the connection ``init_db`` hands over; run by hand (``alembic upgrade head`` with
the repository's alembic.ini), the database of ``-x url=…``, else CODEMEM_DATABASE_URL, else ``sqlalchemy.url``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import skills_db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from skills_db.connections import metadata as connections_metadata

config = context.config
# Every table the package defines: the SQLModel models, and the connection store's own tables.
TARGET_METADATA = [SQLModel.metadata, connections_metadata]


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=TARGET_METADATA, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line, e.g. `alembic upgrade head` or `alembic revision --autogenerate`
    url = (context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("CODEMEM_DATABASE_URL")
           or config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url)
    with engine.begin() as new_connection:
        _run(new_connection)
