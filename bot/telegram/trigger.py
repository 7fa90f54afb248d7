"""/trigger <citizen> <message>: queue a citizen session from the operator's chat.

The answer is the session's notice (starting now, or queued behind others), which the runner
then edits in place as the session starts and ends.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

from telegram import Update
from telegram.ext import Application, ContextTypes

from bot.telegram.deps import deps
from bot.telegram.render import esc
from bot.telegram.topics import tapped_topic
from citizens import notices, prompts
from citizens.directory import citizen_dir, citizens_root, known_citizens
from storage.repo import citizen_queue

RUNNER_KEY = "citizen_runner"
# "/trigger" (or "/trigger@bot"), the citizen, then the message verbatim, newlines included.
TRIGGER_TEXT = re.compile(r"^/\S+\s+(\S+)\s+(.+)$", re.DOTALL)
MAX_MESSAGE_CHARS = 4000


class Waker(Protocol):
    def wake(self) -> None: ...


def attach_runner(application: Application, runner: Waker) -> None:
    """Let /trigger wake the session runner (without it, the runner's poll finds the session)."""
    application.bot_data[RUNNER_KEY] = runner


async def trigger_citizen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trigger <citizen> <message>: queue a session of that citizen and say so."""
    message, chat = update.effective_message, update.effective_chat
    assert message is not None and chat is not None
    bot = deps(context)
    root = citizens_root(bot.settings)
    match = TRIGGER_TEXT.match(message.text or "")
    if match is None or not match.group(2).strip():
        await message.reply_text(_usage(root))
        return
    # Citizens' folders are lower-case; a phone capitalises the first word typed after it.
    name, task = match.group(1).lower(), match.group(2).strip()
    if citizen_dir(root, name) is None:
        await message.reply_text(f"⛔ There is no citizen <b>{esc(name)}</b>.\n{_known(root)}")
        return
    if len(task) > MAX_MESSAGE_CHARS:
        await message.reply_text(f"⛔ The message is too long ({MAX_MESSAGE_CHARS} at most).")
        return
    async with bot.db() as session, session.begin():
        row = await citizen_queue.enqueue(
            session=session,
            citizen=name,
            trigger="telegram",
            prompt=prompts.operator_task(message=task, source="Telegram /trigger"),
            notify_chat_id=chat.id,
        )
        ahead = await citizen_queue.count_ahead(session=session, row=row)
        # The answer is the session's notice itself, edited as the session goes.
        notice = await notices.queue_notice(
            session=session, row=row, chat_id=chat.id, ahead=ahead, topic_id=tapped_topic(message)
        )
    runner = context.bot_data.get(RUNNER_KEY)
    if runner is not None:
        runner.wake()
    await bot.sender.deliver(notice or 0)


def _usage(root: Path) -> str:
    return "Usage: /trigger &lt;citizen&gt; &lt;message&gt;\n" + _known(root)


def _known(root: Path) -> str:
    names = known_citizens(root)
    return "Citizens: " + (", ".join(esc(n) for n in names) if names else "none found") + "."
