"""Databases with no schema or an older one, for the migration and doctor tests.

A pytest plugin (tests/conftest.py): `empty_database` is on both backends like `database_url`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from storage.migrate import alembic_config


@pytest.fixture
def empty_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with nothing in it, as an operator would give it (plain URL, no driver).
    SQLite's file does not exist yet."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    databases = request.getfixturevalue("postgres_databases")
    url = databases.new_database(migrated=False)
    yield url
    databases.drop(url)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def revision_before(revision: str) -> str:
    """The migration `revision` follows."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision
