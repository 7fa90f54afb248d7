"""Keyset pagination on (created_at, id), newest first: every row once, stable under inserts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_


def older_than(created_at: Any, row_id: Any, after: tuple[datetime, str]) -> ColumnElement[bool]:
    """Rows strictly after `after` in (created_at DESC, id DESC) order."""
    last_created_at, last_id = after
    return or_(created_at < last_created_at, and_(created_at == last_created_at, row_id < last_id))
