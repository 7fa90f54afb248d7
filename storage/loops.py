"""The one way the service runs periodic and leased work in the background, and stops it.

A `Loop` is a claim plus a handler. `claim()` takes what is due and returns it as a batch
(rows claimed with a lease, schedules fired, expired rows deleted); an empty batch or None
means nothing is due. `handle(batch)` does what the batch asks. While batches come the loop
claims again at once; when a claim finds nothing it sleeps until `idle()` (seconds; default:
`every`) or a `kick()`, whichever comes first. A periodic job is the same shape: its claim
is "what is due now" (a tick, a pass of pruning), and it must not return the same work twice
(a claim takes what it returns). A claim or handler that raises is logged and retried after
`backoff(failures)`: a loop never ends by itself, so a database outage cannot leave the
service running without one of its loops (the failure shows in the logs, the sender's on
/health).

One shutdown rule for every loop: `stop()` asks the loop to stop (it claims no more; a long
handler can read `stopping` and end early), lets the current claim or handler finish within
`grace_s`, and only then cancels it. Work is never cancelled right away: cancelled inside a
transaction, it can leave SQLite's write lock held by a connection nobody rolls back, and
every later writer then fails with `database is locked`.

`Components` starts a process's background components (each an async context manager: a
Loop, a worker holding loops, the web server) one after another and stops them in reverse.

It lives in storage/ so that every layer above (citizens/, bot/) can use it; it imports
nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

GRACE_S = 10.0
"""How long `stop()` lets the current claim or handler finish before cancelling it."""
MIN_WAIT_S = 0.005

Batch = TypeVar("Batch")
T = TypeVar("T")


def doubling(first_s: float, most_s: float) -> Callable[[int], float]:
    """A backoff: `first_s` after one failure, doubling with each, at most `most_s`."""
    # The exponent is capped: 2 ** 1024 no longer fits a float, and an outage that long
    # must not end the loop.
    return lambda failures: min(most_s, first_s * 2 ** min(max(0, failures - 1), 60))


class Loop(Generic[Batch]):
    def __init__(
        self,
        name: str,
        *,
        claim: Callable[[], Awaitable[Batch | None]],
        handle: Callable[[Batch], Awaitable[None]],
        every: float,
        idle: Callable[[], Awaitable[float]] | None = None,
        grace_s: float = GRACE_S,
        backoff: Callable[[int], float] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """`idle()`: the seconds to sleep once a claim found nothing (None: `every`).

        `backoff(failures)`: the wait after `failures` failed rounds in a row (default:
        `every`). `on_error` is called with each failure after it was logged.
        """
        self.name = name
        self._claim = claim
        self._handle = handle
        self._every = every
        self._idle = idle
        self._grace_s = grace_s
        self._backoff = backoff or (lambda _failures: every)
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        """Claims (with the handling of their batch) completed without an error (tests wait
        on it)."""

    @property
    def stopping(self) -> bool:
        """`stop()` was called: a handler working through a batch may end after the current
        item (what it leaves stays claimed until handed back or its lease runs out)."""
        return self._stopping

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    def kick(self) -> None:
        """There is work now: claim without waiting out the current sleep."""
        self._wake.set()

    async def stop(self) -> None:
        """Ask the loop to stop, let its current claim or handler finish within the grace,
        then cancel it."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        await asyncio.wait({task}, timeout=self._grace_s)
        if not task.done():
            log.warning("%s did not stop within %gs: cancelling it", self.name, self._grace_s)
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def __aenter__(self) -> Loop[Batch]:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            # Cleared before the claim, so a kick during the round leads to another claim.
            self._wake.clear()
            try:
                wait = await self._round()
            except Exception as error:
                failures += 1
                wait = self._backoff(failures)
                log.warning(
                    "%s failed (%s: %s); next try in %.1fs",
                    self.name,
                    type(error).__name__,
                    error,
                    wait,
                )
                if self._on_error is not None:
                    self._on_error(error)
            else:
                failures = 0
                self.steps += 1
            if self._stopping:
                return
            if wait is None:
                await asyncio.sleep(0)  # a batch was handled: claim again, after the others
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(wait, MIN_WAIT_S))

    async def _round(self) -> float | None:
        """Claim and handle one batch (None: claim again at once); else the idle sleep."""
        batch = await self._claim()
        if batch:
            await self._handle(batch)
            return None
        return self._every if self._idle is None else await self._idle()


class Components:
    """A process's background components, started in order and stopped in reverse order.

    A component is an async context manager: entered, it runs; left, it has stopped (a Loop,
    the session runner, the Telegram component, the web server, the NOTIFY listener). One
    that failed to start is not stopped; those started before it are. The order is the
    caller's: `start()` them so that each may rely on those started before it while it runs
    and while it stops.

    Not aiohttp's `cleanup_ctx`: its contexts are entered before the site listens and left
    after it stopped, while citizens must start once the API answers and stop before it; and
    a worker has no web app. Not an `asyncio.TaskGroup`: on a failure it cancels its other
    tasks at once, the very thing the one shutdown rule avoids (a Loop does not fail: it
    backs off).
    """

    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Components:
        await self._stack.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        return bool(await self._stack.__aexit__(kind, error, traceback))

    async def start(self, name: str, component: AbstractAsyncContextManager[T]) -> T:
        """Start `component` (enter it); it is stopped before every one started earlier."""
        return await self._stack.enter_async_context(_named(name, component))


@contextlib.asynccontextmanager
async def _named(name: str, component: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    async with component as value:
        log.debug("started %s", name)
        try:
            yield value
        finally:
            log.info("stopping %s", name)
