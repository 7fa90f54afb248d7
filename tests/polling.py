"""Waiting in a test for something to become true: one bounded poll for every module."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

BOUND_S = 30.0
INTERVAL_S = 0.02


async def wait_until(check: Callable[[], Any], what: str, timeout: float = BOUND_S) -> Any:
    """Poll `check` (a function, or one returning an awaitable) until it gives something
    truthy, and return that; AssertionError naming `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(INTERVAL_S)
