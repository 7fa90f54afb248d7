"""The web application served on a real loopback port from a thread of its own.

Synchronous clients (Schemathesis uses `requests`) can then talk to it from the test's thread
without blocking the server's event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from bot.settings import Settings
from storage.engine import create_engine
from storage.migrate import upgrade_to_head
from web.app import create_app
from web.endpoints import Endpoint

START_TIMEOUT_S = 30


def loopback_socket() -> socket.socket:
    """A listening socket on a free loopback port (bound here, so no other test can take it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def live_server(
    settings: Settings, extra_endpoints: list[Endpoint] | None = None
) -> Iterator[str]:
    """Serve `create_app(settings, engine, ...)` until the block ends; yields its base URL."""
    sock = loopback_socket()
    started = threading.Event()
    failure: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine)
            app = create_app(settings, engine, extra_endpoints=extra_endpoints)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.SockSite(runner, sock).start()
                started.set()
                await stop.wait()
            finally:
                await runner.cleanup()
        finally:
            await engine.dispose()

    def main() -> None:
        try:
            loop.run_until_complete(run())
        except BaseException as error:  # reported to the test's thread below
            failure.append(error)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=main, name="live-server", daemon=True)
    thread.start()
    started.wait(START_TIMEOUT_S)
    if failure:
        raise failure[0]
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(START_TIMEOUT_S)
        sock.close()
        if failure:
            raise failure[0]
