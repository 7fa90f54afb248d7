"""How names are compared: as Python's `str.casefold()`, in every alphabet, on both databases.

SQLite's `lower()` folds ASCII only and PostgreSQL's depends on the collation, so the folded
form is computed here and stored beside the name (`threads.client_key`, `job_title_key`,
`drafts.client_key`); lookups compare keys with `=` and an index serves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload


@overload
def fold(text: str) -> str: ...
@overload
def fold(text: None) -> None: ...
def fold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def folded(column: str) -> Callable[[Any], str | None]:
    """A column default: `column`'s value of the row being inserted, folded."""

    def default(context: Any) -> str | None:
        return fold(context.get_current_parameters().get(column))

    return default
