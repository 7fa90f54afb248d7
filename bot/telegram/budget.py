"""`budget_run:<session_id>`: the operator starts a session the daily budget holds back.

The button comes with the day's budget notice (citizens/notices.py). Strangers never get
here: the access check runs before every handler.
"""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram.deps import deps
from bot.telegram.trigger import RUNNER_KEY
from citizens.notices import BUDGET_RUN
from storage.repo import session_budget

BUDGET_RUN_PATTERN = rf"^{BUDGET_RUN}:"
_SESSION_ID = re.compile(r"^[0-9a-f-]{36}$")


async def run_anyway(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Let the tapped session past today's budget and wake the runner."""
    query = update.callback_query
    assert query is not None
    session_id = (query.data or "").partition(":")[2]
    row = None
    if _SESSION_ID.fullmatch(session_id):
        async with deps(context).db() as session, session.begin():
            row = await session_budget.run_anyway(session=session, session_id=session_id)
    if row is None:
        await query.answer("That session is not waiting any more.")
        return
    runner = context.bot_data.get(RUNNER_KEY)
    if runner is not None:
        runner.wake()
    await query.answer(f"Starting {row.citizen}'s session despite the daily budget.")
