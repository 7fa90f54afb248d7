"""Keyset pagination on (created_at, id), newest first: every row once, stable under inserts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, tuple_


def older_than(created_at: Any, row_id: Any, after: tuple[datetime, str]) -> ColumnElement[bool]:
    """Rows strictly after `after` in (created_at DESC, id DESC) order.

    A row-value comparison, not the equivalent OR of two conditions: PostgreSQL can then start
    a backward scan of a (…, created_at, id) index right at the cursor instead of sorting.
    """
    # A plain tuple on the right binds each value with its column's type (UTC handling included).
    return tuple_(created_at, row_id) < tuple(after)
