"""The one way the service runs periodic and leased work in the background.

A `Loop` repeats a step (typically a claim statement plus the handler of what it claimed)
until it is stopped: after each step it sleeps until the step's answer (seconds), its
`every`, or a `kick()`, whichever comes first; a step that raises is logged and retried
after `backoff(failures)`.

One shutdown rule for every loop: `stop()` asks the loop to stop (a long step can read
`stopping` and end early), lets the current step finish within `grace_s`, and only then
cancels it. A step is never cancelled right away: cancelled inside a transaction, it can
leave SQLite's write lock held by a connection nobody rolls back, and every later writer
then fails with `database is locked`.

It lives in storage/ so that every layer above (citizens/, bot/) can use it; it imports
nothing but the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)

GRACE_S = 10.0
"""How long `stop()` lets the current step finish before cancelling it."""
MIN_WAIT_S = 0.005


def doubling(first_s: float, most_s: float) -> Callable[[int], float]:
    """A backoff: `first_s` after one failure, doubling with each, at most `most_s`."""
    # The exponent is capped: 2 ** 1024 no longer fits a float, and an outage that long
    # must not end the loop.
    return lambda failures: min(most_s, first_s * 2 ** min(max(0, failures - 1), 60))


class Loop:
    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[float | None]],
        *,
        every: float,
        grace_s: float = GRACE_S,
        backoff: Callable[[int], float] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """`step()` returns the seconds until it wants to run again (None: `every`).

        `backoff(failures)`: the wait after `failures` failed steps in a row (default:
        `every`). `on_error` is called with each failure after it was logged.
        """
        self.name = name
        self._step = step
        self._every = every
        self._grace_s = grace_s
        self._backoff = backoff or (lambda _failures: every)
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.steps = 0
        """Steps completed without an error (tests wait on it)."""

    @property
    def stopping(self) -> bool:
        """`stop()` was called: a step that loops over batches ends after the current one."""
        return self._stopping

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    def kick(self) -> None:
        """There is work now: run the next step without waiting out the current sleep."""
        self._wake.set()

    async def stop(self) -> None:
        """Ask the loop to stop, let its current step finish within the grace, then cancel."""
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

    @contextlib.asynccontextmanager
    async def running_until_exit(self) -> AsyncIterator[Loop]:
        """Started on entry, stopped (by the rule above) on exit: for an AsyncExitStack or
        aiohttp's `cleanup_ctx`."""
        self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            # Cleared before the step, so a kick during the step leads to another one.
            self._wake.clear()
            try:
                wait = await self._step()
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
            timeout = max(self._every if wait is None else wait, MIN_WAIT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
