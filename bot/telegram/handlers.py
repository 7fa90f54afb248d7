"""Every handler of the bot, registered in one place; order and groups matter, see comments."""

from __future__ import annotations

import contextlib
import logging

import asyncpg
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

from bot.delivery.redeliver import redeliver_handler
from bot.telegram import (
    access,
    budget,
    callbacks,
    commands,
    decisions,
    edits,
    lead_cards,
    pairing,
    steps,
    thread_answers,
    threads,
    trigger,
)
from bot.telegram import schedules as schedule_cmd
from bot.telegram import stats as stats_cmd
from web.errors import is_database_down

log = logging.getLogger(__name__)

FAILED = "⚠️ That did not work: the database is unreachable. Please try again shortly."
"""The answer when a command fails because the database is down."""


def register_handlers(application: Application) -> None:
    # Only new messages: an edited message (or a channel post) changes nothing.
    new = filters.UpdateType.MESSAGE

    # Group -2 first: while pairing, `/start <code>` makes its private chat the operator.
    private_start = new & filters.ChatType.PRIVATE
    application.add_handler(
        CommandHandler("start", pairing.pair_operator, private_start), group=-2
    )
    # Group -1 next: strangers are refused there and their update goes no further.
    application.add_handler(TypeHandler(Update, access.refuse_strangers), group=-1)

    application.add_handler(CommandHandler(["start", "help"], commands.show_help, new))
    application.add_handler(CommandHandler("drafts", commands.list_drafts, new))
    application.add_handler(CommandHandler("draft", commands.show_full_draft, new))
    application.add_handler(CommandHandler("leads", commands.list_leads, new))
    application.add_handler(CommandHandler("events", commands.list_events, new))
    application.add_handler(CommandHandler("threads", threads.list_threads, new))
    application.add_handler(CommandHandler("cancel", steps.cancel, new))
    application.add_handler(CommandHandler("trigger", trigger.trigger_citizen, new))
    application.add_handler(CommandHandler("stats", stats_cmd.send_stats, new))
    application.add_handler(CommandHandler("schedule", schedule_cmd.schedule_command, new))

    application.add_handler(
        CallbackQueryHandler(decisions.decide_draft, pattern=callbacks.DECISION_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(edits.ask_for_new_text, pattern=callbacks.EDIT_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(edits.ask_for_instruction, pattern=callbacks.REDRAFT_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(decisions.mark_sent, pattern=callbacks.SENT_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(steps.choose_reason, pattern=callbacks.WHY_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(commands.more_drafts, pattern=callbacks.MORE_DRAFTS_PATTERN)
    )
    application.add_handler(redeliver_handler())
    application.add_handler(
        CallbackQueryHandler(lead_cards.act_on_lead, pattern=callbacks.LEAD_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(budget.run_anyway, pattern=budget.BUDGET_RUN_PATTERN)
    )
    application.add_handler(
        CallbackQueryHandler(thread_answers.act_on_thread, pattern=callbacks.THREAD_PATTERN)
    )
    application.add_handler(CallbackQueryHandler(answer_unknown_button))

    # Last: any other text completes its sender's step in that chat (edit, reason, redraft,
    # the operator's own answer).
    plain_text = new & filters.TEXT & ~filters.COMMAND
    application.add_handler(MessageHandler(plain_text, steps.receive_text))

    application.add_error_handler(log_error)


async def answer_unknown_button(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button this bot does not know (an old version's?): answer so the spinner stops."""
    assert update.callback_query is not None
    await update.callback_query.answer("This button no longer does anything.")


async def log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a handler's failure; tell the operator their command did not work, and why."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %r", update_id, context.error, exc_info=context.error)
    if isinstance(update, Update) and update.message is not None and context.error is not None:
        with contextlib.suppress(TelegramError):
            # Plain text: the failure may be Telegram refusing our HTML.
            await update.message.reply_text(failure_text(context.error), parse_mode=None)


def failure_text(error: BaseException) -> str:
    """The operator's one line about a failed command, naming its real cause."""
    if is_database_down(error) or _refused_by_database(error):
        return FAILED
    if isinstance(error, TelegramError):
        return f"⚠️ That did not work: Telegram refused the answer ({error.message})."
    return f"⚠️ That did not work: an internal error ({type(error).__name__}); it is logged."


def _refused_by_database(error: BaseException) -> bool:
    """A database that refuses connections (`ALLOW_CONNECTIONS false`: SQLSTATE 55000)."""
    cause = getattr(error, "orig", None)
    cause = getattr(cause, "__cause__", None) or cause
    return isinstance(cause, asyncpg.ObjectNotInPrerequisiteStateError)
