"""Forum topics: one per client thread when the operator chat is a forum (CONTRACT §14).

When a chat is a forum supergroup (`getChat` says `is_forum`), where a message goes follows
one rule, the same for messages sent at once and for those queued in the outbox:

- a message about a thread (an outbox row with `thread_id`: its client messages, cards and
  their copies, notices, reminders) goes to that thread's topic, created the first time with
  `createForumTopic` and named after the client and the job;
- an answer goes where the question was asked: a command typed in a topic (`/drafts`,
  `/threads`, `/draft <id>`, `/stats`, `/help`, …) or a button tapped there is answered in
  that topic (`tapped_topic`; queued answers keep it as the row's `topic_id`). So `/drafts`
  typed anywhere lists in that place, while each draft's card copy goes to its thread's topic;
- anything else goes to the general topic.

The sender sends one chat's messages one after another, whichever process holds the chat's
claim, so a thread's topic is created once; its id is kept on the thread. A deleted thread
topic is opened again; the answer to a command whose topic was deleted goes to the general
topic.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from telegram import Bot
from telegram.error import BadRequest, Forbidden

from storage.models import OutboxMessage, Thread

log = logging.getLogger(__name__)

TOPIC_NAME_CHARS = 128


def topic_name(thread: Thread) -> str:
    """The topic's name (Telegram allows 1-128 characters): client · job."""
    name = " · ".join(part for part in (thread.client, thread.job_title) if part)
    return name if len(name) <= TOPIC_NAME_CHARS else name[: TOPIC_NAME_CHARS - 1] + "…"


def tapped_topic(message: object) -> int | None:
    """The forum topic a message is in: a tapped card's (a step's question goes there too) or a
    command's (its answer goes there). None: the general topic, or no forum."""
    if getattr(message, "is_topic_message", False):
        topic = getattr(message, "message_thread_id", None)
        return topic if isinstance(topic, int) else None
    return None


def lost_topic(error: BadRequest) -> bool:
    """Telegram refuses a message for a topic that was deleted (or closed)."""
    text = str(error).lower()
    return "thread not found" in text or "topic_deleted" in text or "topic_closed" in text


class ForumTopics:
    def __init__(self, bot: Bot, db: async_sessionmaker[AsyncSession]) -> None:
        self._bot = bot
        self._db = db
        self._forums: dict[int, bool] = {}
        """Whether each chat is a forum, as getChat said (asked once per chat)."""

    async def is_forum(self, chat_id: int) -> bool:
        if chat_id > 0:
            return False  # a private chat is never a forum
        known = self._forums.get(chat_id)
        if known is None:
            try:
                chat = await self._bot.get_chat(chat_id)
            except (BadRequest, Forbidden) as error:
                # Refused (not a network failure): send as to any group, in its one stream.
                log.warning("getChat %s refused (%s): topics are off for it", chat_id, error)
                known = False
            else:
                known = bool(chat.is_forum)
            self._forums[chat_id] = known
        return known

    async def topic_of(self, chat_id: int, thread_id: str | None) -> int | None:
        """The topic to send a message about `thread_id` in (None: the general topic)."""
        if thread_id is None or not await self.is_forum(chat_id):
            return None
        async with self._db() as session:
            thread = await session.get(Thread, thread_id)
        if thread is None:
            return None
        if thread.topic_id is not None:
            return thread.topic_id
        try:
            topic = await self._bot.create_forum_topic(chat_id, topic_name(thread))
        except (BadRequest, Forbidden) as error:
            # Not allowed to manage topics: the thread's messages go to the general topic.
            log.warning("could not create a topic for thread %s: %s", thread_id, error)
            return None
        async with self._db() as session, session.begin():
            await session.execute(
                update(Thread)
                .where(col(Thread.id) == thread_id, col(Thread.topic_id).is_(None))
                .values(topic_id=topic.message_thread_id)
            )
            stored = await session.get(Thread, thread_id, populate_existing=True)
        return stored.topic_id if stored is not None else topic.message_thread_id

    async def topic_for(self, row: OutboxMessage) -> int | None:
        """Where an outbox row goes: its thread's topic, else the topic it answers in."""
        if row.thread_id is not None:
            return await self.topic_of(row.chat_id, row.thread_id)
        return row.topic_id

    async def after_lost(self, row: OutboxMessage) -> int | None:
        """Where the row goes once Telegram said its topic is gone: a thread's new topic, or
        the general topic."""
        if row.thread_id is None:
            return None
        await self.forget(row.thread_id)
        return await self.topic_of(row.chat_id, row.thread_id)

    async def forget(self, thread_id: str) -> None:
        """The thread's topic is gone (deleted in Telegram): the next message opens a new one."""
        async with self._db() as session, session.begin():
            await session.execute(
                update(Thread).where(col(Thread.id) == thread_id).values(topic_id=None)
            )
