"""One chat's updates are handled one at a time, in the order Telegram sent them.

python-telegram-bot handles updates concurrently (`concurrent_updates`), whatever their chat:
an operator's Edit tap and the text he types next could be handled in either order, and a
text meant for one step could complete the next one. Here each chat's updates wait for the
one before (an `asyncio.Lock` is first come, first served), while other chats' go on
concurrently, up to the processor's limit in all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class ChatOrderedUpdates(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}
        """Each chat with an update in hand: its lock, and how many of its updates hold or
        wait for it (the entry goes with the last)."""

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, holders = self._chats.get(chat.id, (asyncio.Lock(), 0))
        self._chats[chat.id] = (lock, holders + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, holders = self._chats[chat.id]
            if holders == 1:
                del self._chats[chat.id]
            else:
                self._chats[chat.id] = (lock, holders - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
