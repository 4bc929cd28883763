"""How the engine reaches the functions: in-process, or HTTP POST as the real runtime does."""

from __future__ import annotations

from typing import Protocol

import aiohttp

from sfidl.local.app import ClockedApp, LocalApp
from sfidl.local.clock import Clock, SystemClock
from sfidl.local.records import Address
from sfidl.wire import OCTET_STREAM


class TransportError(Exception):
    """The function could not be reached or did not answer with ``FromFunction`` bytes."""


class Transport(Protocol):
    async def call(self, target: Address, request: bytes) -> bytes:
        """Send ``ToFunction`` bytes for ``target``; return the ``FromFunction`` bytes."""
        ...

    async def close(self) -> None: ...


class InProcess:
    """Calls the application's handler directly (``RequestReplyHandler.handle_async``).

    Given the engine's ``clock``, it hands it to an application that can take one
    (:class:`~sfidl.local.app.ClockedApp`), so handlers read the engine's time; closing
    it gives the application the wall clock back (an application object outlives a test).
    """

    def __init__(self, app: LocalApp, clock: Clock | None = None) -> None:
        self._app = app
        self._clocked: ClockedApp | None = None
        if clock is not None and isinstance(app, ClockedApp):
            app.use_clock(clock.now_ms)
            self._clocked = app

    async def call(self, target: Address, request: bytes) -> bytes:
        try:
            return await self._app.handle(request)
        except Exception as exc:
            raise TransportError(f"the function raised {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._clocked is not None:
            self._clocked.use_clock(SystemClock().now_ms)
            self._clocked = None


class Http:
    """POSTs to the endpoint URL; ``{function.name}`` in it becomes the function type's name.

    One session keeps its connections alive between calls. The engine bounds each call
    (all attempts together) with its call timeout, so a request gets no timer of its own
    beyond ``timeout_s`` for connecting: a timer per request is a large part of aiohttp's
    work per call.
    """

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, str] = {}

    async def call(self, target: Address, request: bytes) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                # As the real runtime's HTTP client: a cookie a function sets is not sent back.
                cookie_jar=aiohttp.DummyCookieJar(),
                headers=_HEADERS,
                # Nothing the function answers is compressed: _HEADERS asks for identity.
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        url = self._urls.get(target.type)
        if url is None:
            url = self._urls[target.type] = self._url.replace("{function.name}", target.type)
        try:
            # Awaited rather than entered: the answer is read whole below, and reading to its
            # end gives the connection back (an exception while reading closes it).
            response = await self._session.post(url, data=request)
            content = response.content
            # An answer that came in whole is taken from the buffer without waiting.
            body = content.read_nowait() if content.is_eof() else await response.read()
            if not response.closed:  # read whole but never released: an upgraded connection
                response.close()
            if response.status // 100 != 2:
                text = body[:200].decode("utf-8", "replace")
                raise TransportError(f"POST {url} answered HTTP {response.status}: {text}")
            headers = response.headers
            encoding = headers.get("Content-Encoding", "identity")
            if encoding.lower() != "identity":
                raise TransportError(
                    f"POST {url} answered Content-Encoding {encoding!r} though the request asked"
                    " for identity: StateFun reads the answer as it comes"
                )
            content_type = headers.get("Content-Type", "")
            # The real runtime accepts exactly this content type, no parameters.
            if body and content_type.lower() != OCTET_STREAM:
                raise TransportError(
                    f"POST {url} answered Content-Type {content_type!r}; StateFun requires {OCTET_STREAM!r}"
                )
            return body
        except aiohttp.ClientError as exc:
            raise TransportError(f"POST {url} failed: {exc}") from exc
        except TimeoutError as exc:
            raise TransportError(f"POST {url} timed out") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# Identity: the answer is read as is (no decompression), so none may be compressed, by a
# proxy or a middleware in front of the function either.
_HEADERS = {"Content-Type": OCTET_STREAM, "Accept": OCTET_STREAM, "Accept-Encoding": "identity"}
