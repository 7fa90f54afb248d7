"""PTB's Bot API transport on aiohttp: the same contract as `HTTPXRequest`, less CPU per call.

Timeouts map onto `aiohttp.ClientTimeout`: `connect` bounds waiting for a pooled connection
plus connecting (pool + connect), `sock_connect` the connect alone, `sock_read` the wait for
each read of the answer (armed once the request is written). aiohttp has no write timeout:
`write_timeout` is folded into `total` (pool + connect + write + read), so an upload must end
within its write budget plus the slack of the others, where httpx would bound each write alone.
A `None` anywhere in that sum leaves `total` unbounded.

Bot API URLs carry the bot token and some aiohttp errors quote the URL (a connect timeout, an
invalid URL): such errors are re-told without it, and chained from a stand-in that keeps their
traceback but not their text.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput, UploadFileDict
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class NoAnswer(NetworkError):
    """The request got no HTTP answer: refused, cut, or a URL aiohttp cannot use."""


class AiohttpRequest(BaseRequest):
    """A `telegram.request.BaseRequest` on one `aiohttp.ClientSession`, made in `initialize()`."""

    __slots__ = ("_connect", "_media_write", "_pool", "_pool_size", "_read", "_session", "_write")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read, self._write = read_timeout, write_timeout
        self._connect, self._pool = connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        """The default write timeout of uploads, as in HTTPXRequest."""
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        """Open the session (in the running loop, as aiohttp requires); again is a no-op."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections; again is a no-op."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One HTTP exchange: (status, body). Timeouts not passed (DEFAULT_NONE) take defaults."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write if files else self._write
        timeout = aiohttp.ClientTimeout(
            total=_sum(pool_timeout, connect_timeout, write_timeout, read_timeout),
            connect=_sum(pool_timeout, connect_timeout),
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        data = _body(request_data, files)
        try:
            async with session.request(
                method, url, data=data, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's ServerTimeoutError is one too
            cause = _scrubbed(error, url)
            failure: NetworkError = TimedOut(
                "Timed out waiting for a pooled connection or to connect: the request was not sent"
                if isinstance(error, aiohttp.ConnectionTimeoutError)
                else None
            )
        except aiohttp.ClientError as error:
            cause = _scrubbed(error, url)
            detail = cause.text if isinstance(cause, _Redacted) else str(error)
            failure = NoAnswer(f"aiohttp.{type(error).__name__}: {detail}")
        # Raised outside the except blocks, so an unscrubbed error is not left as __context__.
        raise failure from cause


def _sum(*parts: float | None) -> float | None:
    known = [part for part in parts if part is not None]
    return sum(known) if len(known) == len(parts) else None


def _body(
    request_data: RequestData | None, files: UploadFileDict | None
) -> aiohttp.FormData | dict[str, str] | None:
    """Parameters as form fields (JSON-encoded values, like HTTPXRequest); multipart with files."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields or None
    form = aiohttp.FormData(fields)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename or name, content_type=mime_type)
    return form


class _Redacted(Exception):
    """Stands in for an aiohttp error whose text (or cause's) quoted the token-bearing URL."""

    def __init__(self, error: BaseException, text: str) -> None:
        super().__init__(f"{type(error).__name__}: {text}")
        self.text = text


def _scrubbed(error: BaseException, url: str) -> BaseException:
    """`error`, or a stand-in with its traceback but without the URL's path if it shows it."""
    # Every segment but the method name may carry the token (…/bot<token>/sendMessage).
    secrets = {
        f"/{form}/"
        for segment in urlsplit(url).path.split("/")[:-1]
        if segment
        for form in (segment, quote(segment, safe=""))
    }
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    if not any(secret in f"{link!s} {link!r}" for link in chain for secret in secrets):
        return error
    text = str(error)
    for secret in secrets:
        text = text.replace(secret, "/<redacted>/")
    return _Redacted(error, text).with_traceback(error.__traceback__)
