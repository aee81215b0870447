"""Distinct values of an indexed column read by a skip scan (one index seek per value, not a scan)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session


def distinct_values(session: Session, table: str, column: str, *, headline_only: bool = False) -> list[Any]:
    """The distinct non-null values of an indexed column, in order, by a skip scan.

    One index seek per distinct value (a recursive query asking for the next value after the last one), so
    reading the ten kinds of a million audit events costs ten seeks, not a scan. ``headline_only`` keeps
    benchmark results that are headline scores. ``table`` and ``column`` are names from this module, never
    user input.
    """
    extra = " AND is_primary = :yes" if headline_only else ""
    next_value = f"SELECT {column} FROM {table} WHERE {column} > seen.v{extra} ORDER BY {column} LIMIT 1"
    first_value = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL{extra} ORDER BY {column} LIMIT 1"
    query = text(f"WITH RECURSIVE seen(v) AS (SELECT ({first_value}) UNION ALL SELECT ({next_value}) FROM seen "
                 f"WHERE seen.v IS NOT NULL) SELECT v FROM seen WHERE v IS NOT NULL")
    if headline_only:
        query = query.bindparams(bindparam("yes", True))
    return list(session.scalars(query))
