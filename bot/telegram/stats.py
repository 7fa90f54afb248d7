"""/stats [days]: the operator's numbers as charts (PNG photos) with a short text."""

from __future__ import annotations

from telegram import InputMediaPhoto, Update
from telegram.constants import ChatAction
from telegram.ext import ContextTypes

from bot.charts import KINDS, draw
from bot.telegram.deps import deps
from bot.telegram.render import esc, plural
from bot.telegram.topics import tapped_topic
from citizens.figures import duration
from storage.repo import stats
from storage.repo.stats import Stats
from storage.types import utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 365
USAGE = f"Usage: /stats [days], days from 1 to {MAX_DAYS} (default {DEFAULT_DAYS})."


async def send_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats [days]: five charts in one album, the summary as its caption."""
    message, chat = update.effective_message, update.effective_chat
    assert message is not None and chat is not None
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= MAX_DAYS)):
        await message.reply_text(USAGE)
        return
    days = int(args[0]) if args else DEFAULT_DAYS
    bot = deps(context)
    async with bot.db() as session:
        numbers = await stats.compute(session=session, days=days, tz=bot.settings.tz, now=utcnow())
    topic = tapped_topic(message)  # the album answers in the forum topic asked in
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO, message_thread_id=topic)
    pngs = {kind: await draw(kind, numbers) for kind in KINDS}
    caption = summary(numbers, bot.settings.timezone)
    media = [
        InputMediaPhoto(png, filename=f"{kind}.png", caption=caption if n == 0 else None)
        for n, (kind, png) in enumerate(pngs.items())
    ]
    await context.bot.send_media_group(chat.id, media, message_thread_id=topic)


def summary(numbers: Stats, timezone: str) -> str:
    """The album's caption (HTML, well under Telegram's 1024 characters)."""
    days = numbers["drafts_per_day"]
    total = {k: sum(d[k] for d in days) for k in ("approved", "edited", "rejected", "sent")}
    redrafted = sum(d["redrafted"] for d in days)
    superseded = sum(d["superseded"] for d in days)
    period = "Today" if numbers["days"] == 1 else f"The last {numbers['days']} days"
    lines = [
        f"📊 <b>{period}</b> ({esc(timezone)})",
        f"Drafts: {total['approved']} approved ({total['edited']} edited), "
        f"{total['rejected']} rejected, {redrafted} redrafted, {superseded} superseded; "
        f"{total['sent']} sent.",
    ]
    latest = next((d for d in reversed(numbers["response_time_per_day"]) if d["median_s"]), None)
    if latest is not None:
        lines.append(
            f"Response time on {latest['date']}: median {duration(latest['median_s'])}, "
            f"p90 {duration(latest['p90_s'])}."
        )
    sessions = sum(c["sessions"] for c in numbers["citizens"])
    cost = sum(c["cost_usd"] for c in numbers["citizens"])
    lines.append(f"Citizens: {plural(sessions, 'session')}, ${cost:,.2f}.")
    leads = numbers["leads"]
    lines.append(
        f"Leads: {leads['tracked']} tracked → {leads['go']} GO → "
        f"{plural(leads['proposal_drafted'], 'proposal')} → {leads['sent']} sent "
        f"({leads['no_go']} NO-GO)."
    )
    return "\n".join(lines)
