"""Alembic environment: runs against the engine vibedash hands over (see vibedash.registry.db.alembic_config)."""

from alembic import context
from sqlalchemy import create_engine, text

from vibedash.registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Every pending migration and its checks in ONE transaction, committed only when all of them pass.

    A migration that fails, or a check after it (foreign keys, SQLite's quick_check) that finds a problem,
    rolls back everything, the revision stamp included: the database stays exactly as it was, and the next
    open tries again instead of finding a half-upgraded schema marked as done.
    """
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate tables; enforced foreign keys would break them. The pragma is a
            # no-op inside a transaction, so commit before the migration transaction begins.
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            connection.commit()
        with connection.begin() as transaction:
            if sqlite:
                # Python's sqlite3 driver starts transactions only before INSERT/UPDATE/DELETE, so DDL would
                # commit on its own; an explicit BEGIN makes the schema changes part of the transaction too
                # (IMMEDIATE: take the write lock now rather than fail halfway).
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            # The connection is already in a transaction, so Alembic adds none of its own (and commits none).
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=True, compare_type=True)
            context.run_migrations()
            problems = post_migration_problems(connection) if sqlite else []
            if problems:
                transaction.rollback()
                raise RuntimeError("a check after migrating failed, so nothing was changed: "
                                   + "; ".join(problems[:3]))
        if sqlite:
            connection.execute(text("PRAGMA foreign_keys=ON"))
            connection.commit()


def post_migration_problems(connection) -> list[str]:
    """What SQLite finds wrong after the migrations ran (still inside their transaction): rows whose
    foreign key points nowhere, and pages the rebuild left inconsistent."""
    problems = [f"{table} row {rowid} points to a missing {parent}"
                for table, rowid, parent, _ in connection.execute(text("PRAGMA foreign_key_check")).fetchall()]
    integrity = [row[0] for row in connection.execute(text("PRAGMA quick_check(5)")).fetchall()]
    if integrity != ["ok"]:
        problems += integrity
    return problems


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
