"""Every handler of the bot, registered in one place; order and groups matter, see comments."""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.telegram import access, callbacks, commands, decisions, edits, trigger
from bot.telegram import schedules as schedule_cmd
from bot.telegram import stats as stats_cmd

log = logging.getLogger(__name__)

FAILED = "⚠️ That did not work (the database may be unreachable); please try again shortly."


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    # Group -1 runs first: strangers are refused there and their update goes no further.
    application.add_handler(TypeHandler(Update, access.refuse_strangers), group=-1)

    application.add_handler(CommandHandler(["start", "help"], commands.show_help))
    application.add_handler(CommandHandler("drafts", commands.list_drafts))
    application.add_handler(CommandHandler("draft", commands.show_full_draft))
    application.add_handler(CommandHandler("leads", commands.list_leads))
    application.add_handler(CommandHandler("events", commands.list_events))
    application.add_handler(CommandHandler("cancel", edits.cancel_edit))
    application.add_handler(CommandHandler("trigger", trigger.trigger_citizen))
    application.add_handler(CommandHandler("stats", stats_cmd.send_stats))
    application.add_handler(CommandHandler("schedule", schedule_cmd.schedule_command))

    application.add_handler(
        CallbackQueryHandler(decisions.decide_draft, pattern=callbacks.DECISION_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(edits.ask_for_new_text, pattern=callbacks.EDIT_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(commands.more_drafts, pattern=callbacks.MORE_DRAFTS_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(answer_unknown_button))

    # Last: any other text is the new text of an edit pending in that chat.
    plain_text = filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(plain_text, edits.receive_new_text))

    application.add_error_handler(log_error)


async def answer_unknown_button(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button this bot does not know (an old version's?): answer so the spinner stops."""
    assert update.callback_query is not None
    await update.callback_query.answer("This button no longer does anything.")


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a handler's failure; tell the operator their command did not work."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %r", update_id, context.error, exc_info=context.error)
    if isinstance(update, Update) and update.message is not None:
        with contextlib.suppress(TelegramError):
            await update.message.reply_text(FAILED)
