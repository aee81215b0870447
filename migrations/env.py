"""Alembic environment: runs against the engine vibedash hands over (see vibedash.registry.db.alembic_config)."""

from alembic import context
from sqlalchemy import create_engine, text

from vibedash.registry.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate tables; enforced foreign keys would break them. The pragma is a
            # no-op inside a transaction, so commit before Alembic begins its own.
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.execute(text("PRAGMA foreign_keys=ON"))
            problems = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
            connection.commit()
            if problems:
                raise RuntimeError(f"foreign key check failed after migrating: {problems[:5]}")


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
